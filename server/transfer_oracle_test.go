package server_test

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/testkit/captures"
	"github.com/diracgo/diracrpc/server"
)

// TestDIRACTransferClients runs DIRAC's own TransferClient (dips://) and
// TornadoClient.receiveFile/sendFile (https://) against the Go server's
// transfer handlers (testdata/dirac_transfer_client.py), then checks what
// arrived on the Go side. Opt-in: see loadOracleEnv.
func TestDIRACTransferClients(t *testing.T) {
	o := loadOracleEnv(t, "DIRAC's TransferClient and TornadoClient transfers")
	svc, st := newTransferService(t)
	svc.Registry = o.reg
	svc.DefaultAuth = nil // authenticated callers only
	go func() {
		for range st.ended { // the Python client makes many transfers
		}
	}()
	go func() {
		for range st.inside {
		}
	}()
	defer close(st.ended)
	defer close(st.inside)

	dtls, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: o.host, CAs: o.cas, RequireClientCert: true})
	require.NoError(t, err)
	dsrv := server.NewDISET(svc, server.DISETConfig{TLS: dtls, Logger: quiet})
	dl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = dsrv.Serve(dl) }()
	defer dsrv.Close()
	htls, err := server.NewHTTPSTLSConfig(o.host, o.cas)
	require.NoError(t, err)
	hsrv := server.NewHTTPS(server.HTTPSConfig{TLS: htls, Logger: quiet}, svc)
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = hsrv.Serve(hl) }()
	defer hsrv.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	script, err := filepath.Abs("testdata/dirac_transfer_client.py")
	require.NoError(t, err)
	cmd := exec.CommandContext(ctx, "bash", "-c",
		`. "$1/env.sh" && export X509_USER_PROXY="$2" && $PY "$3" "$4" "$5"`,
		"bash", filepath.Join(captures.Dir(), "..", "oracle"), filepath.Join(o.gs, "user", "proxy_dirac.pem"), script,
		"dips://localhost:"+strconv.Itoa(dl.Addr().(*net.TCPAddr).Port)+"/"+xferName,
		"https://localhost:"+strconv.Itoa(hl.Addr().(*net.TCPAddr).Port)+"/"+xferName)
	cmd.Env = append(os.Environ(), "ORACLE="+o.dir)
	out, err := cmd.CombinedOutput()
	t.Logf("DIRAC transfer clients against the Go server:\n%s", out)
	assert.NoError(t, err)
	assert.NotContains(t, string(out), "FAIL ")

	// The Go side's view of the uploads.
	for _, proto := range []string{"dips", "https"} {
		for _, n := range []int{0, 1024, 3000000} {
			id := "py-" + proto + "-" + strconv.Itoa(n)
			st.mu.Lock()
			got, ok := st.files[id]
			st.mu.Unlock()
			if assert.True(t, ok, id) {
				assert.True(t, bytes.Equal(gen(n), got), "%s: %d bytes", id, len(got))
			}
		}
	}
}
