package main

import (
	"flag"
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// common are the flags every network subcommand takes. Unset flags fall back
// to the variables DIRAC reads (X509_USER_PROXY, X509_CERT_DIR,
// X509_USER_CERT, X509_USER_KEY, BEARER_TOKEN...), through the library.
type common struct {
	cert, key, proxy, caDir string
	configs                 stringList
	setup, vo               string
	timeout                 time.Duration
	encoding                string
	insecure                bool
	useServerCert           bool
	json                    bool
	noCS, verbose           bool
	confState
	// tracer, when set, receives the spans of the clients caller builds
	// (call -v's span tree).
	tracer trace.TracerProvider
}

// stringList is a repeatable string flag.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ",") }

func (s *stringList) Set(v string) error {
	*s = append(*s, v)
	return nil
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.cert, "cert", "", "user or host certificate (PEM); with --key instead of a proxy")
	fs.StringVar(&c.key, "key", "", "private key of --cert (PEM)")
	fs.StringVar(&c.proxy, "proxy", "", "grid proxy file (default: $X509_USER_PROXY, then /tmp/x509up_u<uid>)")
	fs.StringVar(&c.caDir, "ca-dir", "", "CA directory (default: as DIRAC finds it: the configuration's /DIRAC/Security/CALocation, then $X509_CERT_DIR, then /etc/grid-security/certificates)")
	fs.Var(&c.configs, "config", "DIRAC cfg `FILE` for System/Component names (repeatable; later files win; default: $DIRAC_ROOT_PATH/etc/dirac.cfg (or $DIRAC/etc/dirac.cfg), $DIRACSYSCONFIG and ~/.dirac.cfg, merged as DIRAC does)")
	fs.BoolVar(&c.noCS, "no-cs", false, "resolve names with the local configuration only, without asking the Configuration Service")
	fs.BoolVar(&c.verbose, "v", false, "verbose, on stderr: where the configuration comes from and what the Configuration Servers answer; for call, where the time went (DNS, connect, TLS, proposal, server, transfer) and the call's spans as a tree (attempts, failover, bans)")
	fs.StringVar(&c.setup, "setup", "", "DIRAC setup (default: the configuration's /DIRAC/Setup)")
	fs.StringVar(&c.vo, "vo", "", "virtual organisation announced to the service")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "overall time limit of each call")
	fs.StringVar(&c.encoding, "encoding", "json", "what DISET payloads are written in: json or dencode")
	fs.BoolVar(&c.useServerCert, "use-server-certificate", false, "present the host certificate and announce a host, as DIRAC's clients do with /DIRAC/Security/UseServerCertificate (also read from the local configuration); --cert/--key then name the host certificate (default: $DIRAC_X509_HOST_CERT/KEY, the configuration's CertFile/KeyFile, then <grid-security>/hostcert.pem)")
	fs.BoolVar(&c.insecure, "insecure", false, "DANGEROUS: do not verify the server's certificate (DIRAC's skipCACheck)")
	fs.BoolVar(&c.json, "json", false, "machine-readable output: the whole result as JSON")
}

func (c *common) check(e *env) error {
	switch c.encoding {
	case "json", "dencode":
	default:
		return usageErr("--encoding must be json or dencode, not %q", c.encoding)
	}
	if (c.cert == "") != (c.key == "") {
		return usageErr("--cert and --key go together")
	}
	if c.cert != "" && c.proxy != "" {
		return usageErr("give either --proxy or --cert/--key, not both")
	}
	if c.useServerCert && c.proxy != "" {
		return usageErr("--use-server-certificate presents the host certificate: give --cert/--key, not --proxy")
	}
	if c.timeout <= 0 {
		return usageErr("--timeout must be positive")
	}
	if c.insecure {
		fmt.Fprintln(e.stderr, "probe: WARNING: --insecure: the server's certificate is NOT verified; anyone on the path can impersonate it")
	}
	return nil
}

// flagSet returns the flag set of subcommand name with the common flags
// registered on it; the caller adds its own before calling parse.
func (c *common) flagSet(e *env, name string) *flag.FlagSet {
	fs := newFlagSet(e, name)
	c.register(fs)
	return fs
}

// parse parses args with fs (see parseInterleaved for maxPos), checks the
// common flags and returns the positional arguments.
func (c *common) parse(e *env, fs *flag.FlagSet, args []string, maxPos int) ([]string, error) {
	pos, err := parseInterleaved(fs, args, maxPos)
	if err != nil {
		return nil, err
	}
	if err := c.check(e); err != nil {
		return nil, err
	}
	return pos, nil
}
