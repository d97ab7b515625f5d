package diracrpc

import (
	"context"
	"net/http/httptrace"
	"sync"
	"time"
)

// Timing records where the time of a call went, httpstat-style: DNS,
// connect, TLS handshake, DISET proposal, server, transfer. Put one in the
// call's context with WithTiming and read Phases after Call returns; it
// describes the call's last attempt. Without one, transports record nothing
// and pay nothing.
//
// Transports report into it with Begin, Step and Reuse (all no-ops on a nil
// *Timing, which TimingOf returns when the context has none), so that tools
// learn the breakdown without knowing either protocol's internals.
type Timing struct {
	mu    sync.Mutex
	p     Phases
	begin time.Time
	mark  time.Time
}

// Phases is one attempt's breakdown. A phase that did not happen is zero:
// a reused connection has no DNS, connect or TLS; HTTPS has no proposal;
// an IP address needs no DNS.
type Phases struct {
	URL      string
	Attempts int  // attempts the call made
	Reused   bool // the attempt ran on a kept-alive connection
	DNS      time.Duration
	Connect  time.Duration // TCP
	TLS      time.Duration // the handshake
	Proposal time.Duration // DISET: the proposal and the server's S_OK
	// Server is from the end of the previous phase (the request being
	// written) to the first byte of the answer; Transfer from that byte to
	// the answer read whole.
	Server, Transfer time.Duration
	Total            time.Duration
}

// Phase names a step of an attempt, in the order they happen.
type Phase int

// The phases transports step through.
const (
	PhaseDNS Phase = iota
	PhaseConnect
	PhaseTLS
	PhaseProposal
	PhaseServer
	PhaseTransfer
)

type timingKey struct{}

// WithTiming returns ctx carrying t, for Client.Call to fill.
func WithTiming(ctx context.Context, t *Timing) context.Context {
	return context.WithValue(ctx, timingKey{}, t)
}

// TimingOf returns the Timing ctx carries, nil if none (transports).
func TimingOf(ctx context.Context) *Timing {
	t, _ := ctx.Value(timingKey{}).(*Timing)
	return t
}

// Phases returns the breakdown of the last attempt.
func (t *Timing) Phases() Phases {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.p
}

// Begin starts an attempt on url, forgetting the previous one's phases.
// (Begin, Step, Reuse and HTTPTrace check for nil in small functions that
// inline: without a Timing, transports pay no call.)
func (t *Timing) Begin(url string) {
	if t != nil {
		t.start(url)
	}
}

func (t *Timing) start(url string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := time.Now()
	t.p = Phases{URL: url, Attempts: t.p.Attempts + 1}
	t.begin, t.mark = now, now
}

// Step ends phase p: the time since the previous step (or Begin) is added
// to it. PhaseTransfer, the last, also sets Total.
func (t *Timing) Step(p Phase) {
	if t != nil {
		t.step(p)
	}
}

func (t *Timing) step(p Phase) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.begin.IsZero() {
		return
	}
	now := time.Now()
	d := now.Sub(t.mark)
	t.mark = now
	switch p {
	case PhaseDNS:
		t.p.DNS += d
	case PhaseConnect:
		t.p.Connect += d
	case PhaseTLS:
		t.p.TLS += d
	case PhaseProposal:
		t.p.Proposal += d
	case PhaseServer:
		t.p.Server += d
	case PhaseTransfer:
		t.p.Transfer += d
		t.p.Total = now.Sub(t.begin)
	}
}

// Reuse says the attempt got a kept-alive connection: the time spent
// getting it counts in no phase.
func (t *Timing) Reuse() {
	if t != nil {
		t.reuse()
	}
}

func (t *Timing) reuse() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.p.Reused = true
	t.mark = time.Now()
}

// HTTPTrace returns ctx with net/http's trace hooks stepping t through DNS,
// connect, reuse and the first byte of the answer (for HTTP transports;
// ctx unchanged when t is nil).
func (t *Timing) HTTPTrace(ctx context.Context) context.Context {
	if t == nil {
		return ctx
	}
	return t.httpTrace(ctx)
}

func (t *Timing) httpTrace(ctx context.Context) context.Context {
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		DNSDone:     func(httptrace.DNSDoneInfo) { t.step(PhaseDNS) },
		ConnectDone: func(string, string, error) { t.step(PhaseConnect) },
		GotConn: func(i httptrace.GotConnInfo) {
			if i.Reused {
				t.reuse()
			}
		},
		GotFirstResponseByte: func() { t.step(PhaseServer) },
	})
}
