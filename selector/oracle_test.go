package selector_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/internal/testkit/oracle"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/testharness/csserver"
)

// oracleDir skips the test unless variable names the directory of one of
// the oracle's extensions (../shared/oracle/CS.md, WMS.md), whose servers
// must be running; the credentials come from X509_USER_PROXY and
// X509_CERT_DIR.
func oracleDir(t *testing.T, variable, what string) string {
	t.Helper()
	return oracle.Require(t, variable, fmt.Sprintf("the directory (e.g. %s) with the servers of ../shared/oracle/%s running, and X509_USER_PROXY, X509_CERT_DIR,",
		map[string]string{"CS.md": "/tmp/dirac-oracle-cs", "WMS.md": "/tmp/dirac-oracle-wms"}[what], what))
}

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// clientSelector is what a DIRAC client does with its dirac.cfg: the local
// file, completed by the Configuration Service it names.
func clientSelector(t *testing.T, file string) (*selector.RPCClientSelector, *endpoint.Bootstrap) {
	t.Helper()
	local, err := cfg.LoadFiles(file)
	require.NoError(t, err)
	s, b, err := selector.NewFromConfig(local, selector.Options{Client: diracrpc.Options{Timeout: 20 * time.Second}, Logger: quietLog},
		endpoint.BootstrapConfig{Logger: quietLog})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s, b
}

// TestOracleNamesThroughTheRealCS: client configurations that list only
// DIRAC's real Configuration Servers (dips JSON, dips DEncode, https, and a
// dead one first) resolve every kind of entry the CS serves and call it
// over its protocol: plain names, Tornado services, aliases (called at the
// URL as given), failover entries whose main URL is dead, two main URLs one
// of which is dead.
func TestOracleNamesThroughTheRealCS(t *testing.T) {
	dir := oracleDir(t, oracle.CSDir, "CS.md")
	for _, client := range []string{"client-dips", "client-denc", "client-https", "client-all"} {
		t.Run(client, func(t *testing.T) {
			s, b := clientSelector(t, filepath.Join(dir, client, "etc", "dirac.cfg"))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			conf, err := b.Config(ctx)
			require.NoError(t, err)
			assert.Equal(t, "served-by-the-real-DIRAC-CS", conf.GetDefault("/OracleCS/Marker", ""))
			assert.Equal(t, "2024-10-17 12:00:00.000000", b.Version())
			for name, proto := range map[string]diracrpc.Protocol{
				"Framework/Oracle":                diracrpc.DIPS,
				"Framework/OraclePlain":           diracrpc.DIP,
				"Framework/OracleTornado":         diracrpc.HTTPS,
				"Framework/OracleAlias":           diracrpc.DIPS,
				"Framework/OracleTornadoAlias":    diracrpc.HTTPS,
				"Framework/OracleFailover":        diracrpc.DIPS,
				"Framework/OracleTornadoFailover": diracrpc.HTTPS,
				"Framework/OracleTwoURLs":         diracrpc.DIPS,
			} {
				// Three calls: a random main URL order meets the dead one.
				for i := range 3 {
					res, err := s.Call(ctx, name, "echo", fmt.Sprintf("x%d", i))
					if !assert.NoError(t, err, name) {
						break
					}
					assert.Equal(t, fmt.Sprintf("x%d", i), res.Value, name)
					assert.Equal(t, proto, res.Protocol, name)
				}
			}
			res, err := s.Call(ctx, "Framework/OracleTornadoAlias", "ping")
			require.NoError(t, err)
			assert.Equal(t, "https://localhost:8443/Framework/OracleTornado", res.URL, "an alias is called at its URL as given")
			res, err = s.Call(ctx, "Framework/OracleTornadoFailover", "ping")
			require.NoError(t, err)
			assert.Equal(t, "https://localhost:8443/Framework/OracleTornado", res.URL, "the failover URL answers")
		})
	}
}

// TestOracleRefreshAfterTheLocalCSDies: a client whose dirac.cfg lists only
// one CS (a Go CS serving what DIRAC's real CS serves, started for this
// test) bootstraps from it; that CS then dies, and refreshes keep working
// through the CS servers the configuration served (DIRAC's real ones). A
// client with the same local file and nothing served cannot start; a
// client listing a dead CS first keeps refreshing.
func TestOracleRefreshAfterTheLocalCSDies(t *testing.T) {
	dir := oracleDir(t, oracle.CSDir, "CS.md")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	_, real := clientSelector(t, filepath.Join(dir, "client-dips", "etc", "dirac.cfg"))
	served, err := real.Config(ctx)
	require.NoError(t, err)

	own := csserver.New(served) // a newer version than the real CS's
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := server.NewDISET(own.Service(), server.DISETConfig{Logger: quietLog})
	go func() { _ = srv.Serve(l) }()
	ownURL := "dip://" + l.Addr().String() + "/Configuration/Server"
	local, err := cfg.Parse("local", []byte("DIRAC\n{\n  Setup = Oracle\n  Configuration\n  {\n    Servers = "+ownURL+"\n  }\n}\n"))
	require.NoError(t, err)

	var mu sync.Mutex
	var answered []string
	s := selector.New(selector.Options{Client: diracrpc.Options{Timeout: 20 * time.Second}, Logger: quietLog})
	defer s.Close()
	dial := func(ctx context.Context, url string) (diracrpc.Caller, error) {
		c, err := s.DialURL(ctx, url)
		if err != nil {
			return nil, err
		}
		return recorder{c, func(ok bool) {
			if ok {
				mu.Lock()
				answered = append(answered, url)
				mu.Unlock()
			}
		}}, nil
	}
	b, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: dial, Logger: quietLog})
	require.NoError(t, err)
	conf, err := b.Config(ctx)
	require.NoError(t, err)
	assert.Equal(t, "served-by-the-real-DIRAC-CS", conf.GetDefault("/OracleCS/Marker", ""))
	assert.Equal(t, []string{ownURL}, answered)
	ownVersion := b.Version()

	require.NoError(t, srv.Close()) // the local CS dies
	answered = nil
	require.NoError(t, b.Refresh(ctx), "refresh through the served CS list")
	require.Len(t, answered, 1)
	assert.Contains(t, []string{"dips://localhost:9235/Configuration/Server", "dips://localhost:9239/Configuration/Server",
		"https://localhost:8444/Configuration/Server"}, answered[0], "one of DIRAC's real CSs answered")
	assert.Equal(t, ownVersion, b.Version(), "the real CS has nothing newer than the dead one served")

	// Without the served list the same local file leads nowhere.
	fresh, err := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: dial, Logger: quietLog})
	require.NoError(t, err)
	_, err = fresh.Config(ctx)
	require.ErrorIs(t, err, endpoint.ErrConfigServers, "the local list alone holds only the dead CS")

	sel, boot := clientSelector(t, filepath.Join(dir, "client-all", "etc", "dirac.cfg"))
	_, err = boot.Config(ctx)
	require.NoError(t, err)
	for range 3 {
		require.NoError(t, boot.Refresh(ctx), "refresh with the dead 9299 in both lists")
	}
	res, err := sel.Call(ctx, "Framework/Oracle", "echo", "after refresh")
	require.NoError(t, err)
	assert.Equal(t, "after refresh", res.Value)
}

// recorder reports whether each call of a Caller succeeded.
type recorder struct {
	diracrpc.Caller
	done func(ok bool)
}

func (r recorder) Close() error {
	if c, ok := r.Caller.(io.Closer); ok {
		return c.Close()
	}
	return nil
}

func (r recorder) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	res, err := r.Caller.Call(ctx, method, args...)
	r.done(err == nil)
	return res, err
}

// TestOracleWMSByName: the client configurations of DIRAC's real
// WorkloadManagement services (WMS.md: dips:// URLs, and https:// URLs
// naming the Tornado<Handler> services) work by name through the selector.
func TestOracleWMSByName(t *testing.T) {
	dir := oracleDir(t, oracle.WMSDir, "WMS.md")
	for client, proto := range map[string]diracrpc.Protocol{"client-dips": diracrpc.DIPS, "client-https": diracrpc.HTTPS} {
		t.Run(client, func(t *testing.T) {
			s, _ := clientSelector(t, filepath.Join(dir, client, "etc", "dirac.cfg"))
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			for _, name := range []string{"WorkloadManagement/JobManager", "WorkloadManagement/JobMonitoring",
				"WorkloadManagement/JobStateUpdate", "WorkloadManagement/SandboxStore"} {
				res, err := s.Call(ctx, name, "ping")
				require.NoError(t, err, name)
				assert.Equal(t, proto, res.Protocol, name)
			}
			res, err := s.Call(ctx, "WorkloadManagement/JobMonitoring", "getJobs", map[string]any{})
			require.NoError(t, err)
			ids, ok := res.Value.([]any)
			require.True(t, ok, "getJobs returns a list: %#v", res.Value)
			if len(ids) > 0 {
				st, err := s.Call(ctx, "WorkloadManagement/JobMonitoring", "getJobsStatus", ids[0])
				require.NoError(t, err)
				assert.NotNil(t, st.Value)
			}
			res, err = s.Call(ctx, "WorkloadManagement/JobManager", "getMaxParametricJobs")
			require.NoError(t, err)
			assert.EqualValues(t, 100, res.Value)
		})
	}
}
