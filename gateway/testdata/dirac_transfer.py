#!/usr/bin/python3
"""File transfers with DIRAC's own TransferClient to one service; prints the results as one JSON line.

    dirac_transfer.py System/Component     (resolved by DIRAC, /DIRAC/Gateways included)
Written for diracrpc's gateway oracle test; uses only DIRAC's public client API.
"""
import hashlib
import io
import json
import tempfile

from DIRAC.Core.Base.Script import Script

Script.parseCommandLine(ignoreErrors=True)

from DIRAC.Core.DISET.TransferClient import TransferClient  # noqa: E402

target = Script.getPositionalArgs()[0]
tc = TransferClient(target)
out = {}
for fid in ["text", "gen:3000000", "nope"]:
    buf = io.BytesIO()
    r = tc.receiveFile(buf, fid)
    out["get " + fid] = {"OK": r["OK"], "md5": hashlib.md5(buf.getvalue()).hexdigest(), "len": len(buf.getvalue()),
                         "Message": r.get("Message", "")}
data = bytes((7 * i + 3) % 256 for i in range(2500000))
with tempfile.NamedTemporaryFile() as f:
    f.write(data)
    f.flush()
    r = tc.sendFile(f.name, "up-gw", token="tok")
v = r.get("Value") or {}
out["put up-gw"] = {"OK": r["OK"], "md5": v.get("md5"), "size": v.get("size"), "want": hashlib.md5(data).hexdigest(),
                    "Message": r.get("Message", "")}
print("RESULT " + json.dumps(out, default=str))
