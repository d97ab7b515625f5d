# Calls a service with DIRAC's own client (RPCClient or TornadoClient, by the
# URL) as one identity and prints, on its last line, the outcome of each call
# as JSON: {"<method>": {"OK": bool, "Errno": int, "Message": str, "Value": ...}}.
#   configuredcalls.py URL MODE
# MODE: proxy (X509_USER_PROXY), cert (useCertificates: the certificate of
# DIRAC_X509_HOST_CERT/KEY, which sends extraCredentials "hosts"), cert:GROUP
# (the same certificate claiming GROUP in extraCredentials).
# Used by TestDIRACClientsMeetAConfiguredService (opt-in, needs ../shared/oracle).
import json
import sys

from DIRAC.Core.Base.Script import Script

Script.parseCommandLine(ignoreErrors=True)

from DIRAC.Core.Base.Client import Client  # noqa: E402

url, mode = sys.argv[-2], sys.argv[-1]
kwargs = {}
if mode.startswith("cert"):
    kwargs["useCertificates"] = True
    if ":" in mode:
        kwargs["extraCredentials"] = mode.split(":", 1)[1]
rpc = Client(url=url, **kwargs)._getRPC()
calls = {"whoami": (), "add": (2, 3), "echo": ("x",), "echoAny": (1,), "types": ()}
out = {}
for method, args in calls.items():
    res = getattr(rpc, method)(*args)
    entry = {"OK": bool(res.get("OK")), "Errno": res.get("Errno", 0), "Message": res.get("Message", "")}
    if method == "whoami" and res.get("OK"):
        entry["Value"] = {k: res["Value"].get(k) for k in ("username", "group", "properties")}
    out[method] = entry
print(json.dumps(out, default=str))
