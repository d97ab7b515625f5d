package credentials_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/internal/x509pem"
	"github.com/diracgo/diracrpc/testharness/pki"
)

const proxyExtConf = `[ proxy ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment, dataEncipherment
proxyCertInfo = critical, language:id-ppl-inheritAll
[ limited ]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment, dataEncipherment
proxyCertInfo = critical, language:1.3.6.1.4.1.3536.1.1.1.9
[ pathlen ]
keyUsage = critical, digitalSignature, keyEncipherment, dataEncipherment
proxyCertInfo = critical, language:id-ppl-inheritAll, pathlen:0
`

// An RFC 3820 proxy made by `openssl x509 -req` (as the DIRAC oracle's
// make_certs.sh does) loads and verifies; a limited one is recognised.
func TestOpenSSLMadeProxy(t *testing.T) {
	openssl(t)
	ca := pki.NewT(t, pki.Options{RSA: true})
	user := pki.Must(t)(ca.User("ciuser"))
	files := ca.WriteDirT(t)
	dir := t.TempDir()
	userCert := writeFile(t, dir, "usercert.pem", pki.CertPEM(user), 0o644)
	userKey := writeFile(t, dir, "userkey.pem", pki.KeyPEM(user), 0o600)
	conf := writeFile(t, dir, "ext.cnf", []byte(proxyExtConf), 0o644)
	userDN := credentials.SubjectDN(user.Leaf())

	for _, tc := range []struct {
		section  string
		limited  bool
		pathLen0 bool
	}{{"proxy", false, false}, {"limited", true, false}, {"pathlen", false, true}} {
		t.Run(tc.section, func(t *testing.T) {
			key := filepath.Join(dir, tc.section+".key")
			csr := filepath.Join(dir, tc.section+".csr")
			crt := filepath.Join(dir, tc.section+".crt")
			runOpenSSL(t, "req", "-new", "-nodes", "-newkey", "rsa:2048", "-subj", userDN+"/CN=1234567890", "-keyout", key, "-out", csr)
			runOpenSSL(t, "x509", "-req", "-in", csr, "-CA", userCert, "-CAkey", userKey, "-set_serial", "1234567890",
				"-days", "1", "-sha256", "-extfile", conf, "-extensions", tc.section, "-out", crt)
			var pemData []byte
			for _, f := range []string{crt, key, userCert} {
				b, err := os.ReadFile(f)
				require.NoError(t, err)
				pemData = append(pemData, b...)
			}
			proxyPath := writeFile(t, dir, tc.section+"_proxy.pem", pemData, 0o600)
			c, err := credentials.LoadProxy(proxyPath, credentials.LoadOptions{})
			require.NoError(t, err)
			require.Len(t, c.Chain, 2)
			store, err := credentials.LoadCADir(files.CADir)
			require.NoError(t, err)
			pc, err := (&credentials.Verifier{CAs: store}).Verify(c.Chain)
			require.NoError(t, err)
			assert.True(t, pc.IsProxy)
			assert.Equal(t, tc.limited, pc.IsLimitedProxy)
			assert.Equal(t, userDN, pc.DN)
			assert.Equal(t, userDN+"/CN=1234567890", pc.Subject)
			if tc.pathLen0 {
				info, err := credentials.ClassifyProxy(c.Chain[0], c.Chain[1])
				require.NoError(t, err)
				assert.Equal(t, 0, info.PathLen)
				// A proxy below a pathlen:0 proxy is refused.
				sub := pki.Must(t)(ca.Proxy(c, pki.RFC3820))
				_, err = (&credentials.Verifier{CAs: store}).Verify(sub.Chain)
				assert.Error(t, err)
			}
		})
	}
}

// The directory WriteDir writes is a valid OpenSSL capath, the hash matches
// `openssl x509 -subject_hash`, and OpenSSL accepts our proxies.
func TestOpenSSLAcceptsPKIDir(t *testing.T) {
	openssl(t)
	ca := pki.NewT(t, pki.Options{})
	files := ca.WriteDirT(t)
	hash := strings.TrimSpace(runOpenSSL(t, "x509", "-in", files.CACert, "-noout", "-subject_hash"))
	_, err := os.Stat(filepath.Join(files.CADir, hash+".0"))
	require.NoError(t, err, "CA dir must hold %s.0", hash)
	h, err := credentials.SubjectHash(ca.Cert)
	require.NoError(t, err)
	assert.Equal(t, hash, h)

	out := runOpenSSL(t, "verify", "-CApath", files.CADir, files.HostCert, files.UserCert)
	assert.Contains(t, out, files.HostCert+": OK")
	assert.Contains(t, out, files.UserCert+": OK")

	// OpenSSL verifies the Go-made proxies (RFC 3820 and proxy of proxy).
	dir := t.TempDir()
	pop := pki.Must(t)(ca.ProxyWith(files.ProxyCred, pki.RFC3820, credentials.ProxyOptions{Group: "g"}))
	for name, c := range map[string]*credentials.Credential{"proxy": files.ProxyCred, "pop": pop} {
		leaf := writeFile(t, dir, name+"_leaf.pem", x509pem.Certificates(c.Chain[0]), 0o644)
		untrusted := writeFile(t, dir, name+"_chain.pem", x509pem.Certificates(c.Chain[1:]...), 0o644)
		out := runOpenSSL(t, "verify", "-allow_proxy_certs", "-CApath", files.CADir, "-untrusted", untrusted, leaf)
		assert.Contains(t, out, ": OK", name)
	}
}

// Encrypted PKCS#8 (PBES2) keys as OpenSSL 3 writes them open with the passphrase.
func TestOpenSSLEncryptedPKCS8(t *testing.T) {
	openssl(t)
	ca := pki.NewT(t, pki.Options{})
	user := pki.Must(t)(ca.User("enc"))
	dir := t.TempDir()
	cert := writeFile(t, dir, "c.pem", pki.CertPEM(user), 0o644)
	plain := writeFile(t, dir, "k.pem", pki.KeyPEM(user), 0o600)
	for _, args := range [][]string{
		{"-v2", "aes256"},
		{"-v2", "aes128", "-v2prf", "hmacWithSHA512"},
		{"-v2", "des3", "-v2prf", "hmacWithSHA1"},
	} {
		enc := filepath.Join(dir, "enc.pem")
		runOpenSSL(t, append([]string{"pkcs8", "-topk8", "-in", plain, "-out", enc, "-passout", "pass:s3cret"}, args...)...)
		require.NoError(t, os.Chmod(enc, 0o600))
		_, err := credentials.LoadCertKey(cert, enc, credentials.LoadOptions{})
		assert.ErrorIs(t, err, credentials.ErrEncryptedKey, "%v", args)
		assert.ErrorContains(t, err, "passphrase")
		_, err = credentials.LoadCertKey(cert, enc, credentials.LoadOptions{Passphrase: []byte("wrong")})
		assert.ErrorIs(t, err, credentials.ErrBadPassphrase, "%v", args)
		c, err := credentials.LoadCertKey(cert, enc, credentials.LoadOptions{Passphrase: []byte("s3cret")})
		require.NoError(t, err, "%v", args)
		assert.Equal(t, user.Leaf().Raw, c.Leaf().Raw)
	}
	// Legacy "Proc-Type: 4,ENCRYPTED" RSA key from openssl.
	rsaUser := pki.Must(t)(ca.Issue(pki.CertSpec{CommonName: "rsa", RSA: true}))
	rc := writeFile(t, dir, "rc.pem", pki.CertPEM(rsaUser), 0o644)
	rk := writeFile(t, dir, "rk.pem", pki.KeyPEM(rsaUser), 0o600)
	legacy := filepath.Join(dir, "legacy.pem")
	runOpenSSL(t, "rsa", "-in", rk, "-aes256", "-traditional", "-passout", "pass:s3cret", "-out", legacy)
	require.NoError(t, os.Chmod(legacy, 0o600))
	_, err := credentials.LoadCertKey(rc, legacy, credentials.LoadOptions{})
	assert.ErrorIs(t, err, credentials.ErrEncryptedKey)
	_, err = credentials.LoadCertKey(rc, legacy, credentials.LoadOptions{Passphrase: []byte("s3cret")})
	require.NoError(t, err)
}

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
