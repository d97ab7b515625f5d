// Package selector turns what DIRAC users hold, a service name such as
// "WorkloadManagement/JobMonitoring" or a URL, into a diracrpc.Caller of the
// right protocol: DISET (dips://, dip://, package disetclient) or HTTPS
// (https://, package httpsclient). It is DIRAC's RPCClientSelector
// (ClientSelector.py), with three differences:
//
//   - Nothing fails silently: where DIRAC logs a warning and falls back to
//     DISET (a name that does not resolve, a DiracX legacy adapter without a
//     DiracX client), Select returns the error.
//   - A service whose main URLs mix dips:// and https:// is an error in Auto
//     mode, instead of a protocol drawn at random, unless the service's
//     Protocol option (/Systems/<System>/<Instance>/Services/<Component>/Protocol)
//     says which one serves it.
//   - Operators steer a DISET → HTTPS migration per service without code
//     changes, through a Mode set in Options or in the configuration.
//
// The configuration options (any case for the values):
//
//	DIRAC
//	{
//	  Selector
//	  {
//	    # auto (default: the URLs' scheme decides), dips, https, prefer-https
//	    Protocol = auto
//	    Services
//	    {
//	      WorkloadManagement
//	      {
//	        # HTTPS, and DISET while the HTTPS circuit breaker is open
//	        JobMonitoring = prefer-https
//	      }
//	    }
//	  }
//	}
//
// with both kinds of URL listed for a service that is migrating
// (/Systems/<System>/<Instance>/URLs/<Component> = dips://..., https://...).
// Options.Services wins over /DIRAC/Selector/Services/<System>/<Component>,
// which wins over Options.Mode, which wins over /DIRAC/Selector/Protocol.
//
// Names are resolved by an endpoint.Resolver over a configuration: a static
// one (endpoint.Static of what cfg.Load read) or, as DIRAC's clients do, one
// fetched from the Configuration Service (NewFromConfig). Replay repeats a
// call from its stub, as DIRAC's executeRPCStub does.
package selector
