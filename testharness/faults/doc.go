// Package faults injects network faults in front of, or inside, the servers a
// test talks to, so that clients and servers can be tested against failures
// with assertions on counters rather than on timing.
//
// Three vehicles share one programmable Plan:
//
//   - Proxy is a TCP proxy on 127.0.0.1 in front of any server. It can
//     terminate TLS itself (with deliberately broken certificates, or to see
//     the DISET frames of a dips:// call) and knows where a request ends for
//     DISET (frames from the client) and HTTP (the request body fully
//     received), so it can fail a call before or after the request reached the
//     service. Stop and Start make the address refuse connections and come
//     back, for restart tests.
//   - Listener wraps a server's net.Listener and applies the connection-level
//     faults (refuse, hang, delay before accept or before the first byte).
//   - Middleware (HTTPMiddleware) wraps an http.Handler and applies the
//     call-level faults to each HTTP request, inside a real TLS server, so
//     client certificates still reach the service.
//
// A Plan holds rules: which connection or call (Nth, FirstN, After, Every,
// Chance with a seeded random source) gets which Fault. Connection-level
// faults (Refuse, Hang, DelayAccept, DelayHandshake) are matched against the
// connection number, call-level faults (DelayAnswer, DropBeforeRequest,
// DropAfterRequest, ResetMidFrame, Garbage, HTTPStatus) against the call
// number (for DISET one connection is one call; for HTTP one request is one
// call). Each vehicle counts what it saw (Stats): connections accepted,
// requests fully received, requests passed on, faults applied by kind.
//
// Broken server certificates: give Proxy a TLS config built from
// testharness/pki, for example
//
//	ca := pki.NewT(t, pki.Options{})
//	cred := pki.Must(t)(ca.ExpiredHost("localhost", "127.0.0.1")) // or ca.Host("wrong.example")
//	tlsCfg, _ := credentials.NewServerTLSConfig(credentials.ServerTLSOptions{Credential: cred, CAs: ca.Store()})
//	p, _ := faults.StartProxy(faults.ProxyConfig{Target: backend, Protocol: faults.DISET, TLS: tlsCfg})
//
// and a client that trusts ca must refuse the handshake (Stats.HandshakeErrors
// counts it, Stats.Requests stays 0).
package faults
