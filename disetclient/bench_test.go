package disetclient_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"testing"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/internal/testkit/benchkit"
	"github.com/diracgo/diracrpc/internal/testkit/benchservers"
)

// floorCall is the floor: a bare crypto/tls dial and the call's frames
// written and read by hand, no diracrpc code on the wire path.
func floorCall(addr string, cfg *tls.Config) error {
	res, err := benchservers.DISETCall(addr, cfg, benchservers.EchoProposal, benchservers.EchoArgs)
	if err == nil && !bytes.Contains(res, []byte(`"OK": true`)) {
		err = fmt.Errorf("answer %q", res)
	}
	return err
}

// BenchmarkCall measures one DISET call of the client (connect, TLS
// handshake with a proxy chain, proposal, arguments, result, decoding and
// the call loop) next to the floor, both against the same bare TLS server
// in a child process (benchservers), alternately (benchkit.Pair: cpu-ratio
// is the client's CPU time over the floor's); "full" makes a full TLS
// handshake per call, "resumed" resumes the session.
func BenchmarkCall(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	addr := srv.Addr(benchservers.BareDISETName(benchservers.Hello))
	ctx := context.Background()
	for _, handshake := range []string{"full", "resumed"} {
		resume := handshake == "resumed"
		c, err := disetclient.New([]string{"dips://" + addr + "/" + benchservers.Service}, srv.ClientOptions(),
			disetclient.Options{ResumeSessions: resume})
		if err != nil {
			b.Fatal(err)
		}
		cfg := srv.ClientTLS(b, resume)
		calls := map[string]func() error{
			"diracrpc": func() error { _, err := c.Call(ctx, "echo", "hello"); return err },
			"bare":     func() error { return floorCall(addr, cfg) },
		}
		b.Run("handshake="+handshake, func(b *testing.B) {
			benchkit.Pair(b, 1, benchkit.Side{Name: "diracrpc", Call: calls["diracrpc"]}, benchkit.Side{Name: "bare", Call: calls["bare"]})
		})
	}
}

// BenchmarkResumption compares calls of the client with full TLS handshakes
// and with resumed sessions to diracrpc's server, alternately; the metric
// wall-ratio (full/resumed) is the speed-up.
func BenchmarkResumption(b *testing.B) {
	srv := benchservers.StartServers(b, benchservers.Options{})
	ctx := context.Background()
	call := func(resume bool) func() error {
		c, err := disetclient.New([]string{srv.URL(diracrpc.DIPS)}, srv.ClientOptions(), disetclient.Options{ResumeSessions: resume})
		if err != nil {
			b.Fatal(err)
		}
		return func() error { _, err := c.Call(ctx, "echo", "hello"); return err }
	}
	benchkit.Pair(b, 1, benchkit.Side{Name: "full", Call: call(false)}, benchkit.Side{Name: "resumed", Call: call(true)})
}
