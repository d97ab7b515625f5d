// Package csserver is a minimal DIRAC Configuration Service
// (Configuration/Server) in Go: it serves a configuration to clients that
// bootstrap from it (endpoint.Bootstrap, DIRAC's own clients) over any
// transport of package server. It answers getVersion, getCompressedData and
// getCompressedDataIfNewer with DIRAC's payload shapes; it has no write
// methods. It is meant for tests (endpoint.Bootstrap against a local CS).
package csserver

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// CS holds the configuration served and its version.
type CS struct {
	mu      sync.RWMutex
	conf    *cfg.Config
	version string
}

// New returns a CS serving a copy of c, with a fresh version.
func New(c *cfg.Config) *CS {
	cs := &CS{}
	cs.Update(c)
	return cs
}

// Version formats t as DIRAC's configuration versions (str(datetime)), which
// sort as strings.
func Version(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000000") }

// Update replaces the configuration served by a copy of c, with a new
// version (later than the previous one) written to
// /DIRAC/Configuration/Version, as DIRAC's master server does.
func (cs *CS) Update(c *cfg.Config) string {
	c = c.Clone()
	cs.mu.Lock()
	defer cs.mu.Unlock()
	v := Version(time.Now())
	if v <= cs.version {
		// Two updates within a microsecond: still sort after the previous.
		v = cs.version + "1"
	}
	if err := c.Set("/DIRAC/Configuration/Version", v); err != nil {
		panic(fmt.Sprint("csserver: ", err)) // only if /DIRAC/Configuration is an option
	}
	cs.conf, cs.version = c, v
	return v
}

// Config returns a copy of the configuration served.
func (cs *CS) Config() *cfg.Config {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.conf.Clone()
}

// snapshot returns the configuration served (not to be changed) and its
// version.
func (cs *CS) snapshot() (*cfg.Config, string) {
	cs.mu.RLock()
	defer cs.mu.RUnlock()
	return cs.conf, cs.version
}

// Service returns the Configuration/Server service, open to every caller
// (as DIRAC's: the configuration is public). Serve it with server.NewDISET
// and the HTTPS transport of package server.
func (cs *CS) Service() *server.Service {
	svc := server.NewService(endpoint.ConfigService)
	open := []string{"all"}
	svc.Handle("getVersion", server.Method{Auth: open, Types: []server.Type{},
		Func: func(context.Context, *server.Request) (any, error) {
			_, v := cs.snapshot()
			return v, nil
		}})
	svc.Handle("getCompressedData", server.Method{Auth: open, Types: []server.Type{},
		Func: func(_ context.Context, req *server.Request) (any, error) {
			c, _ := cs.snapshot()
			return endpoint.EncodeConfigData(c, req.Protocol), nil
		}})
	svc.Handle("getCompressedDataIfNewer", server.Method{Auth: open, Types: []server.Type{server.TypeStr},
		Func: func(_ context.Context, req *server.Request) (any, error) {
			c, v := cs.snapshot()
			out := value.NewDict("newestVersion", v)
			if client, _ := req.Args[0].(string); client < v {
				out.Set("data", endpoint.EncodeConfigData(c, req.Protocol))
			}
			return out, nil
		}})
	return svc
}
