package credentials_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// OpenSSL's s_client presenting a proxy chain (what M2Crypto clients do) is
// accepted by the Go server config and yields DIRAC's credentials.
func TestOpenSSLClientToGoServer(t *testing.T) {
	bin := openssl(t)
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	srvCfg, err := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: files.Host, CAs: ca.Store(), RequireClientCert: true})
	require.NoError(t, err)
	ln, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	require.NoError(t, err)
	defer ln.Close()

	type result struct {
		pc  *credentials.PeerCredentials
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		pc, err := credentials.PeerInfo(tc.ConnectionState())
		_, _ = tc.Write([]byte("ok\n"))
		done <- result{pc: pc, err: err}
	}()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// The proxy file holds proxy, key and user certificate; -cert_chain sends the user certificate too.
	cmd := exec.CommandContext(ctx, bin, "s_client", "-connect", ln.Addr().String(), "-CApath", files.CADir,
		"-cert", files.Proxy, "-key", files.Proxy, "-cert_chain", files.UserCert, "-verify_return_error", "-verify_hostname", "localhost", "-brief")
	cmd.Stdin = strings.NewReader("")
	out, _ := cmd.CombinedOutput()
	r := <-done
	require.NoError(t, r.err, "s_client output: %s", out)
	assert.True(t, r.pc.IsProxy)
	assert.Equal(t, "dirac_user", r.pc.Group)
	assert.Equal(t, credentials.SubjectDN(files.User.Leaf()), r.pc.DN)
}

// The Go client config presents its proxy chain to OpenSSL's s_server, which
// verifies it as DIRAC servers do (capath, proxies allowed, client cert
// required); a forged proxy is refused by OpenSSL too.
func TestGoClientToOpenSSLServer(t *testing.T) {
	bin := openssl(t)
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	forged := pki.Must(t)(ca.ForgedProxy(files.User))

	for _, tc := range []struct {
		name string
		cred *credentials.Credential
		ok   bool
	}{{"proxy", files.ProxyCred, true}, {"forged proxy", forged, false}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			port := freePort(t)
			cmd := exec.CommandContext(ctx, bin, "s_server", "-accept", "127.0.0.1:"+strconv.Itoa(port), "-naccept", "1",
				"-cert", files.HostCert, "-key", files.HostKey, "-CApath", files.CADir, "-Verify", "50",
				"-verify_return_error", "-allow_proxy_certs", "-www")
			stdout, err := cmd.StdoutPipe()
			require.NoError(t, err)
			cmd.Stderr = cmd.Stdout
			require.NoError(t, cmd.Start())
			defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
			sc := bufio.NewScanner(stdout)
			ready := false
			for !ready && sc.Scan() {
				ready = strings.HasPrefix(sc.Text(), "ACCEPT")
			}
			require.True(t, ready, "s_server did not start")
			serverOut := make(chan string, 1)
			go func() {
				var b strings.Builder
				for sc.Scan() {
					b.WriteString(sc.Text() + "\n")
				}
				serverOut <- b.String()
			}()

			client, err := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: tc.cred, CAs: ca.Store()})
			require.NoError(t, err)
			d := tls.Dialer{Config: client.Config("127.0.0.1"), NetDialer: &net.Dialer{Timeout: 5 * time.Second}}
			conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err == nil {
				defer conn.Close()
				_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
				_, err = conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
				if err == nil {
					var line string
					line, err = bufio.NewReader(conn).ReadString('\n')
					if err == nil {
						assert.Contains(t, line, "200")
					}
				}
			}
			if tc.ok {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			_ = cmd.Process.Kill()
			assert.Contains(t, <-serverOut, "verify error", "OpenSSL must refuse the forged proxy")
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
