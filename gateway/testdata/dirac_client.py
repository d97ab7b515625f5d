#!/usr/bin/python3
"""Calls one service with DIRAC's own client and prints the results as one JSON line.

    dirac_client.py TARGET      TARGET: a System/Component name (resolved by DIRAC, gateways included) or a URL
Written for diracrpc's gateway oracle test; uses only DIRAC's public client API.
"""
import json
import sys

from DIRAC.Core.Base.Script import Script

Script.parseCommandLine(ignoreErrors=True)

from DIRAC.Core.Base.Client import Client  # noqa: E402

target = Script.getPositionalArgs()[0]
rpc = Client(url=target)._getRPC()
out = {"class": type(rpc).__name__}
for name, args in [("whoami", ()), ("add", (2, 3)), ("echo", ("hello",)), ("failErrno", (1111, "custom")),
                   ("doesNotExist", ())]:
    res = getattr(rpc, name)(*args)
    res.pop("rpcStub", None)
    res.pop("CallStack", None)
    out[name] = res
print("RESULT " + json.dumps(out, default=str))
