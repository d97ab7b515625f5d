package gateway_test

import (
	"context"
	"log"
	"net"
	"net/http"
	"os/signal"
	"syscall"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/gateway"
	"github.com/diracgo/diracrpc/selector"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/shadow"
)

// A gateway for one site: DIRAC clients with /DIRAC/Gateways/<site> =
// dips://gw.example.org:9159/Framework/Gateway reach JobMonitoring over
// HTTPS (DISET while its breaker is open), and a tenth of the read-only
// calls is compared with a candidate.
func Example() {
	conf, err := cfg.ParseFile("/opt/dirac/etc/dirac.cfg")
	if err != nil {
		log.Fatal(err)
	}
	host, err := credentials.LoadCertKey("/etc/grid-security/hostcert.pem", "/etc/grid-security/hostkey.pem",
		credentials.LoadOptions{Kind: credentials.KeyHost})
	if err != nil {
		log.Fatal(err)
	}
	cas, err := credentials.LoadCADir("/etc/grid-security/certificates")
	if err != nil {
		log.Fatal(err)
	}
	sh, err := shadow.New(shadow.Config{
		Candidates: map[string]string{"WorkloadManagement/JobMonitoring": "https://new.example.org:8443/WorkloadManagement/TornadoJobMonitoring"},
		ReadOnly:   []string{"getJobsStatus", "getJobAttributes"},
		Rate:       0.1,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer sh.Close()
	g, err := gateway.New(gateway.Config{
		Selector: selector.Options{
			Resolver: &endpoint.Resolver{Source: endpoint.Static(conf)},
			Services: map[string]selector.Mode{"WorkloadManagement/JobMonitoring": selector.PreferHTTPS},
			Client:   diracrpc.Options{CAs: cas},
		},
		HostCredential: host,
		Shadow:         sh,
	})
	if err != nil {
		log.Fatal(err)
	}
	dtls, err := server.NewDISETTLSConfig(host, cas)
	if err != nil {
		log.Fatal(err)
	}
	srv := gateway.NewServer(g, gateway.ServerConfig{
		DISET: server.DISETConfig{TLS: dtls},
		Admin: map[string]http.Handler{"/shadow/": http.StripPrefix("/shadow", sh.Handler())},
	})
	dl, err := net.Listen("tcp", ":9159")
	if err != nil {
		log.Fatal(err)
	}
	al, err := net.Listen("tcp", "127.0.0.1:9160") // /healthz, /readyz, /shadow/
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		_ = srv.Shutdown(context.Background()) // calls in flight finish
	}()
	if err := srv.Serve(dl, nil, al); err != nil {
		log.Fatal(err)
	}
}
