#!/usr/bin/python3
"""DIRAC's own transfer clients against the Go server (written for diracrpc's tests).

    dirac_transfer_client.py DIPS_URL HTTPS_URL

DISET: TransferClient receiveFile/sendFile/sendBulk/receiveBulk/listBulk; HTTPS: TornadoClient
receiveFile/sendFile. Contents follow the "gen:<n>" rule (byte i = (7*i + 3) % 256). Prints one
PASS/FAIL line per check; exit status 1 if any failed.
"""
import hashlib
import io
import os
import sys
import tempfile

from DIRAC.Core.Base.Script import Script

Script.parseCommandLine(ignoreErrors=True)

from DIRAC.Core.DISET.TransferClient import TransferClient  # noqa: E402
from DIRAC.Core.Tornado.Client.TornadoClient import TornadoClient  # noqa: E402

DIPS, HTTPS = Script.getPositionalArgs()[:2]
failed = 0


def check(label, ok, detail=""):
    global failed
    print(f"{'PASS' if ok else 'FAIL'} {label}{': ' + str(detail) if detail else ''}", flush=True)
    if not ok:
        failed += 1


def gen(n):
    return bytes((7 * i + 3) % 256 for i in range(n))


def md5(b):
    return hashlib.md5(b).hexdigest()


tc = TransferClient(DIPS)
for n in (0, 1024, 3000000):
    buf = io.BytesIO()
    r = tc.receiveFile(buf, f"gen:{n}")
    check(f"dips receiveFile gen:{n}", r["OK"] and buf.getvalue() == gen(n), r if not r["OK"] else len(buf.getvalue()))
r = tc.receiveFile(io.BytesIO(), "nope")
check("dips receiveFile unknown is S_ERROR", not r["OK"], r.get("Message"))
for n in (0, 1024, 3000000):
    with tempfile.NamedTemporaryFile() as f:
        f.write(gen(n))
        f.flush()
        r = tc.sendFile(f.name, f"py-dips-{n}", token="tok")
    check(f"dips sendFile {n}", r["OK"] and r["Value"]["md5"] == md5(gen(n)) and r["Value"]["declaredSize"] == n, r)

with tempfile.TemporaryDirectory() as d:
    paths = []
    for name, n in (("first.bin", 5000), ("second.txt", 12)):
        p = os.path.join(d, name)
        with open(p, "wb") as f:
            f.write(gen(n))
        paths.append(p)
    for compress in (True, False):
        r = tc.sendBulk(paths, f"pybulk{int(compress)}", compress=compress)
        check(f"dips sendBulk compress={compress}", r["OK"] and sorted(r["Value"]) == ["first.bin", "second.txt"], r)
        r = tc.listBulk(f"pybulk{int(compress)}", compress=compress)
        check(f"dips listBulk compress={compress}", r["OK"] and sorted(r["Value"]) == ["first.bin", "second.txt"], r)
with tempfile.TemporaryDirectory() as d:
    r = tc.receiveBulk(d, "anybulk", compress=True)
    got = sorted(os.path.relpath(os.path.join(w, f), d) for w, _, fs in os.walk(d) for f in fs)
    check("dips receiveBulk tar.bz2", r["OK"] and got == ["a.txt", "dir/b.bin"], (r, got))
with tempfile.TemporaryDirectory() as d:
    r = tc.receiveBulk(d, "anybulk", compress=False)
    got = sorted(os.listdir(d))
    ok = r["OK"] and got == ["one.txt", "two.bin"] and open(os.path.join(d, "two.bin"), "rb").read() == gen(7000)
    check("dips receiveBulk tar", ok, (r, got))

hc = TornadoClient(HTTPS)
for n in (0, 1024, 3000000):
    buf = io.BytesIO()
    r = hc.receiveFile(buf, f"gen:{n}")
    check(f"https receiveFile gen:{n}", r["OK"] and buf.getvalue() == gen(n), r if not r["OK"] else len(buf.getvalue()))
buf = io.BytesIO()
r = hc.receiveFile(buf, "nope")
# DIRAC's TornadoClient writes the S_ERROR into the file and returns S_OK.
check("https receiveFile unknown: S_ERROR JSON in the body", b'"OK": false' in buf.getvalue(), buf.getvalue()[:200])
for n in (0, 1024, 3000000):
    with tempfile.NamedTemporaryFile() as f:
        f.write(gen(n))
        f.flush()
        r = hc.sendFile(f.name, f"py-https-{n}")
    # (the result's rpcStub holds the whole file: leave it out)
    check(f"https sendFile {n}", r["OK"] and r["Value"]["md5"] == md5(gen(n)), r.get("Value", r.get("Message")))

print(f"dirac_transfer_client failed={failed}")
sys.exit(1 if failed else 0)
