package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// configuration is what a DIRAC client reads before it can resolve a name:
// the local files, then the Configuration Service they name. It is built
// once per command (scan resolves every service through one bootstrap).
type configuration struct {
	files  []string        // local files, in merge order (later wins)
	origin string          // how they were found, for messages
	local  *cfg.Config     // the merged local files
	source endpoint.Source // local only, or bootstrapped from the CS
	boot   *endpoint.Bootstrap
}

// loadLocal reads the local configuration: the --config files (repeatable,
// later files win) when given; otherwise what DIRAC's LocalConfiguration
// reads for a client (cfg.Load): <root>/etc/dirac.cfg with root
// $DIRAC_ROOT_PATH (else $DIRAC), the files of DIRACSYSCONFIG (a comma list, the first
// winning) and ~/.dirac.cfg, merged in that order. files are the files
// read; none is a configuration error.
func (c *common) loadLocal(e *env) (conf *cfg.Config, files []string, origin string, err error) {
	c.localOnce.Do(func() { c.local, c.localFiles, c.localOrigin, c.localErr = c.readLocal(e) })
	return c.local, c.localFiles, c.localOrigin, c.localErr
}

func (c *common) readLocal(e *env) (conf *cfg.Config, files []string, origin string, err error) {
	if len(c.configs) > 0 {
		conf, err = cfg.LoadFiles(c.configs...)
		return conf, c.configs, "--config", err
	}
	// DIRAC's root is DIRAC_ROOT_PATH, else its Python's prefix: the $DIRAC
	// that DIRACOS's environment script sets.
	origin = "DIRACSYSCONFIG, ~/.dirac.cfg"
	root := ""
	for _, v := range []string{"DIRAC_ROOT_PATH", "DIRAC"} {
		if root = e.getenv(v); root != "" {
			origin = "$" + v + "/etc/dirac.cfg, " + origin
			break
		}
	}
	conf, files, err = cfg.Load(cfg.LoadOptions{DIRACRoot: root, Home: e.getenv("HOME"), NoHome: e.getenv("HOME") == "",
		Getenv: e.getenv})
	return conf, files, origin, err
}

// configErr is a problem with the configuration itself (missing, unreadable,
// a name it does not define): exit code 4, not "unreachable".
func configErr(format string, args ...any) error {
	return &exitError{code: exitConfig, msg: fmt.Sprintf(format, args...)}
}

// config returns the configuration for names, loading the local files and
// preparing the bootstrap from /DIRAC/Configuration/Servers on first use
// (--no-cs: the local files only). The CS is asked on the first
// resolution, not here.
func (c *common) config(e *env) (*configuration, error) {
	c.confOnce.Do(func() { c.conf, c.confErr = c.loadConfig(e) })
	return c.conf, c.confErr
}

func (c *common) loadConfig(e *env) (*configuration, error) {
	local, files, origin, err := c.loadLocal(e)
	if err != nil {
		return nil, configErr("%v", err)
	}
	if len(files) == 0 {
		return nil, configErr("no DIRAC configuration to resolve names with: give --config FILE, set DIRACSYSCONFIG, " +
			"or DIRAC_ROOT_PATH or $DIRAC (reads <root>/etc/dirac.cfg)")
	}
	conf := &configuration{files: files, origin: origin, local: local, source: endpoint.Static(local)}
	c.debugf(e, "configuration: local %s (from %s)", strings.Join(files, ", "), origin)
	servers, _ := local.GetList("/DIRAC/Configuration/Servers")
	switch {
	case c.noCS:
		c.debugf(e, "configuration: --no-cs: not asking the Configuration Service")
		return conf, nil
	case len(servers) == 0:
		c.debugf(e, "configuration: no /DIRAC/Configuration/Servers: local configuration only")
		return conf, nil
	}
	c.debugf(e, "configuration: Configuration Servers %s", strings.Join(servers, ", "))
	// Each server's answer is reported by dialCS's callers, not the log.
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: c.dialCS(e), Logger: logger})
	if err != nil {
		return nil, configErr("%v", err)
	}
	conf.boot, conf.source = b, b
	return conf, nil
}

// dialCS is the bootstrap's dialer: a client for one Configuration Server
// built from the command's flags (credentials, CAs, timeout), whose calls
// are reported with -v.
func (c *common) dialCS(e *env) endpoint.DialFunc {
	return func(ctx context.Context, url string) (diracrpc.Caller, error) {
		u, err := endpoint.ParseURL(url)
		if err != nil {
			return nil, err
		}
		cl, err := c.caller(e, &target{arg: url, urls: []string{u.String()}, protocol: u.Protocol})
		if err != nil {
			c.debugf(e, "configuration: %s: %v", url, err)
			return nil, err
		}
		return &loggedCaller{Client: cl, c: c, e: e, url: url}, nil
	}
}

// loggedCaller reports each call to a Configuration Server with -v.
type loggedCaller struct {
	*diracrpc.Client
	c   *common
	e   *env
	url string
}

func (l *loggedCaller) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	res, err := l.Client.Call(ctx, method, args...)
	if err != nil {
		l.c.debugf(l.e, "configuration: %s %s: failed: %s", l.url, method, firstLine(err.Error()))
	} else {
		l.c.debugf(l.e, "configuration: %s %s: answered", l.url, method)
	}
	return res, err
}

// resolver returns the resolver of names over the configuration.
func (c *common) resolver(e *env) (*endpoint.Resolver, error) {
	conf, err := c.config(e)
	if err != nil {
		return nil, err
	}
	return &endpoint.Resolver{Source: conf.source, Setup: c.setup, VO: c.vo}, nil
}

// fetch returns the configuration names are resolved in, asking the
// Configuration Service on first use. The Configuration Service unreachable
// is exit code 3.
func (c *common) fetch(ctx context.Context, e *env, r *endpoint.Resolver) (*cfg.Config, error) {
	conf, err := c.config(e)
	if err != nil {
		return nil, err
	}
	merged, err := r.Config(ctx)
	if err != nil {
		if errors.Is(err, endpoint.ErrConfigServers) {
			return nil, configServersFailure(err, conf.files,
				"that your proxy is valid (-v shows each server's answer); --no-cs uses the local files only")
		}
		what, fix := explain(err)
		return nil, &exitError{code: exitUnreachable, msg: strings.TrimSpace(unreachable(what, fix).Error()), err: err}
	}
	if conf.boot != nil {
		c.debugf(e, "configuration: Configuration Service version %s", conf.boot.Version())
	}
	return merged, nil
}

// configServersFailure is the exit-3 error when no Configuration Server
// answered: a credential that cannot be used keeps its own fix (the servers
// were not the problem); anything else points at the servers files list,
// then at check.
func configServersFailure(err error, files []string, check string) error {
	what, fix := explain(err)
	var fe *credentials.FileError
	if !errors.As(err, &fe) {
		fix = "check /DIRAC/Configuration/Servers in " + strings.Join(files, ", ") + " and " + check
	}
	return &exitError{code: exitUnreachable, err: err,
		msg: strings.TrimSpace(unreachable("no Configuration Server answered: "+what, fix).Error())}
}

// resolveName resolves a System/Component name, classifying the failure:
// the Configuration Service unreachable is 3, a name the configuration does
// not define (or a bad URL in it) is 4.
func (c *common) resolveName(ctx context.Context, e *env, r *endpoint.Resolver, name string) (*endpoint.Resolution, error) {
	if _, err := c.fetch(ctx, e, r); err != nil {
		return nil, err
	}
	res, err := r.Resolve(ctx, name)
	if err != nil {
		conf, _ := c.config(e)
		where := strings.Join(conf.files, ", ")
		if conf.boot != nil {
			where += " and the Configuration Service (version " + conf.boot.Version() + ")"
		}
		return nil, &exitError{code: exitConfig, err: err,
			msg: err.Error() + "\n  fix: " + name + " is not defined in " + where + "; check the name, --setup and /DIRAC/Setups"}
	}
	failover := ""
	if len(res.Failover) > 0 {
		failover = "; failover " + strings.Join(res.Failover, ", ")
	}
	c.debugf(e, "configuration: %s -> main %s%s", name, strings.Join(res.Main, ", "), failover)
	return res, nil
}

// debugf prints one line on stderr with -v.
func (c *common) debugf(e *env, format string, args ...any) {
	if c.verbose {
		fmt.Fprintf(e.stderr, "probe: "+format+"\n", args...)
	}
}

// confState is embedded in common: the configuration loaded once.
type confState struct {
	confOnce sync.Once
	conf     *configuration
	confErr  error

	localOnce   sync.Once
	local       *cfg.Config
	localFiles  []string
	localOrigin string
	localErr    error
}
