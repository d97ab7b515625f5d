# Runs DIRAC's AuthManager.authQuery on the credential dictionaries read from stdin
# (a JSON list of {"method", "cred"}) with the configuration file argv[1] and
# the Authorization section argv[2]; prints the verdicts as JSON. Used by
# TestAuthorizationMatchesDIRAC (opt-in, needs the oracle of ../shared/oracle).
import json, sys
from diraccfg import CFG
from DIRAC.ConfigurationSystem.Client.ConfigurationData import gConfigurationData
cfgtext = open(sys.argv[1]).read()
gConfigurationData.mergeWithLocal(CFG().loadFromBuffer(cfgtext))
from DIRAC.Core.DISET.AuthManager import AuthManager
am = AuthManager(sys.argv[2])
out = []
for case in json.load(sys.stdin):
    cd = dict(case["cred"])
    ok = am.authQuery(case["method"], cd, case.get("hardcoded"))
    out.append({"ok": bool(ok), "username": cd.get("username", ""), "group": cd.get("group", ""), "properties": cd.get("properties", [])})
print(json.dumps(out))
