// Package server is a DIRAC-compatible service framework: Go handlers served
// to DIRAC clients (Python or Go) over DISET (dips://, dip://) and over
// DIRAC's Tornado HTTPS protocol (https://), the same handlers for both.
//
// A Service is protocol-neutral: it holds the methods, their authorisation
// rules and argument checks, the built-in ping, echo and whoami, and the
// Registry that maps certificates to users, groups and properties (what DIRAC
// reads from its Configuration Service). The two transports only read their
// wire format and answer in it:
//
//   - DISET (NewDISET) serves one Service on its own port, as DIRAC does, one
//     call per connection: proposal, authorisation, arguments, result.
//   - HTTPS (NewHTTPS) serves many Services on one port (DefaultHTTPSPort),
//     routed by path (/<System>/<Component>); it is also an http.Handler.
//
// Both build a Request, authorise it (Service.Authorize) and run it through
// the one call path of Service (Service.Call; Service.Dispatch does both). A
// handler's value, its *diracrpc.Error and the S_OK/S_ERROR it marks with Answer are
// answered alike by both. They differ where DIRAC's two servers differ: an
// unknown method, a refusal or a handler's failure (an error that is not a
// *diracrpc.Error, or a panic) is an S_ERROR on DISET but a 501, 401 or 500
// page on HTTPS. Both take their limits from a config struct whose zero value
// gives DIRAC's behaviour (DISETConfig, HTTPSConfig: each field's doc gives
// its default).
//
// ServeBoth serves one Service over both at once, the server side of DIRAC's
// migration from dips:// to https://:
//
//	svc := server.NewService("Framework/Hello")
//	svc.HandleFunc("hello", func(_ context.Context, r *server.Request) (any, error) {
//		return "hello " + r.Credentials.Username, nil
//	})
//	dtls, _ := server.NewDISETTLSConfig(host, cas) // client certificate required
//	htls, _ := server.NewHTTPSTLSConfig(host, cas) // client certificate optional
//	dl, _ := net.Listen("tcp", ":9135")
//	hl, _ := net.Listen("tcp", ":8443")
//	err := server.ServeBoth(ctx, svc, dl, hl,
//		server.DISETConfig{TLS: dtls}, server.HTTPSConfig{TLS: htls})
//
// Clients then reach it as dips://host:9135/Framework/Hello and
// https://host:8443/Framework/Hello; ServeBoth returns when ctx ends, after
// letting the calls in flight finish.
//
// Joining an installation: a service takes its Registry and its section's
// Authorization rules from a DIRAC configuration (Service.ApplyConfig;
// RegistryFromConfig and ServiceSectionFromConfig read them, with the
// section's Port and Protocol), and a Follower keeps them current, swapping
// them at once while calls are served, from a local file or from the
// Configuration Service through an endpoint.Bootstrap:
//
//	b, _ := endpoint.NewBootstrap(endpoint.BootstrapConfig{Local: local, Dial: dial})
//	f := &server.Follower{Source: b, Services: []*server.Service{svc}}
//	go f.Run(ctx) // applies now, then every /DIRAC/Configuration/RefreshTime
//
// File transfers (DIRAC's transfer_<direction> handlers) register per
// direction with Service.HandleTransfer: the same handler serves DISET's
// ["FileTransfer", <Direction>] actions (FromClient, ToClient,
// BulkFromClient, BulkToClient, ListBulk: 1 MiB acknowledged chunks and an
// MD5, streamed both ways) and, for FromClient and ToClient, DIRAC's HTTPS
// streamFromClient and streamToClient (raw body) methods. They are
// authorised under "FileTransfer/<Direction>" and bounded by
// Service.TransferLimits (size, concurrent transfers, idle time between
// chunks).
//
// # Metrics and traces
//
// With MeterProvider or TracerProvider set in DISETConfig or HTTPSConfig, a
// server reports each call with OpenTelemetry, following the RPC semantic
// conventions of version 1.26.0, as the client does (see package diracrpc):
// rpc.system ("dirac.diset" or "dirac.https"), rpc.service (the name the
// client asked for), rpc.method (a transfer's is "FileTransfer/<Direction>"),
// server.address and server.port (the listening socket), and error.type, the
// diracrpc.Code of what was answered ("unauthorized", "service_error",
// "server_failure"...; "unreachable" when the client went away unanswered).
//
// A call is measured from its proposal (DISET) or its method (HTTPS) on:
// a connection that fails its handshake or sends no valid proposal, and an
// HTTPS request that names no method (an unknown path, a bad or too large
// body), are no RPC and are not measured.
//
// Metrics: rpc.server.duration (histogram, ms, proposal or request to
// answer) and dirac.rpc.server.transfer.size (bytes of file transfers, by
// dirac.transfer.direction). Spans: one server span per call,
// "{rpc.service}/{rpc.method}", with network.peer.address and port, the
// handler's context carrying it. DIRAC's protocols carry no trace context
// and none is added to the wire: a server span is always a root, never the
// child of the client's span. Package promexport serves the metrics to
// Prometheus.
//
// Differences from DIRAC, on purpose:
//   - A method without any authorisation rule is open only to authenticated
//     callers (DIRAC: to everybody). Set Service.DefaultAuth to []string{"all"}
//     for DIRAC's behaviour.
//   - Errors produced before the handler runs carry no CallStack unless
//     Service.PreHandlerCallStack is set (DIRAC sends its Python stack).
//   - HTTPS checks Method.Types as DISET does (Tornado does not), answering a
//     mismatch with DISET's S_ERROR text.
//   - A transfer direction without any rule falls back to DefaultAuth (DIRAC:
//     open to everybody). A direction without a handler is refused at once
//     ("Service can't transfer files <direction>"), where DIRAC accepts and
//     then fails. Uploads are checked against the declared size (DIRAC does
//     not) and the MD5 check is skipped when the token says NoCheckSum (as
//     DIRAC's StorageElement does). A handler that fails after sending some
//     data answers its S_ERROR in place of the next chunk (DISET) or cuts the
//     body short (HTTPS), never a complete-looking transfer.
package server
