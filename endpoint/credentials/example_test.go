package credentials_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/testharness/pki"
)

// A DIRAC-style TLS server and client: the client presents its proxy chain and
// checks the server's host name with DIRAC's rules; the server verifies the
// proxy and reports the caller's DIRAC credentials.
func ExampleNewServerTLSConfig() {
	ca, _ := pki.New(pki.Options{})
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	files, _ := ca.WriteDir(dir)

	// Server side: host certificate and CA directory, as a DISET server finds them.
	loc := credentials.Locator{LookupEnv: files.LookupEnv}
	host, err := loc.HostCredential(credentials.LoadOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	cas, _ := loc.CAs()
	srvCfg, _ := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: host, CAs: cas, RequireClientCert: true})
	ln, _ := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		_ = tc.SetDeadline(time.Now().Add(5 * time.Second))
		if tc.Handshake() != nil {
			return
		}
		info, _ := credentials.PeerInfo(tc.ConnectionState())
		fmt.Fprintf(tc, "%s %v %s\n", info.DN, info.IsProxy, info.Group)
	}()

	// Client side: the default proxy (X509_USER_PROXY here).
	proxy, _ := loc.Proxy(credentials.LoadOptions{})
	client, _ := credentials.NewClientTLS(credentials.ClientTLSOptions{Credential: proxy, CAs: cas})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	d := tls.Dialer{Config: client.Config("localhost")}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	buf := make([]byte, 200)
	n, _ := conn.Read(buf)
	fmt.Print(string(buf[:n]))
	// Output: /C=ch/O=DIRAC/OU=diracrpc test/CN=testuser true dirac_user
}
