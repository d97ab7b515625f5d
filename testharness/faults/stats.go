package faults

import (
	"context"
	"sync/atomic"
	"time"
)

// Stats is a snapshot of what a vehicle saw.
type Stats struct {
	// Conns is the number of connections accepted (Middleware: 0).
	Conns int64
	// Active is the number of connections open now (Proxy only).
	Active int64
	// HandshakeErrors counts failed TLS handshakes (Proxy with TLS).
	HandshakeErrors int64
	// Requests counts requests fully received from clients: for DISET the
	// arguments frame (the RequestFrames-th frame) arrived, for HTTP the whole
	// body. Raw mode counts none.
	Requests int64
	// Forwarded counts requests passed on to the backend or the next handler
	// (Requests minus those a fault stopped).
	Forwarded int64
	// BackendErrors counts failures to reach the backend (Proxy).
	BackendErrors int64
	// Faults counts the faults applied, by kind (None is not counted).
	Faults map[Kind]int64
}

// Total returns the number of faults applied, all kinds together.
func (s Stats) Total() int64 {
	var n int64
	for _, v := range s.Faults {
		n += v
	}
	return n
}

type counters struct {
	conns, active, handshakeErrors, requests, forwarded, backendErrors atomic.Int64
	faults                                                             [numKinds]atomic.Int64
}

func (c *counters) fault(k Kind) {
	if k != None {
		c.faults[k].Add(1)
	}
}

func (c *counters) snapshot() Stats {
	s := Stats{
		Conns:           c.conns.Load(),
		Active:          c.active.Load(),
		HandshakeErrors: c.handshakeErrors.Load(),
		Requests:        c.requests.Load(),
		Forwarded:       c.forwarded.Load(),
		BackendErrors:   c.backendErrors.Load(),
		Faults:          make(map[Kind]int64),
	}
	for k := Kind(1); k < numKinds; k++ {
		if v := c.faults[k].Load(); v != 0 {
			s.Faults[k] = v
		}
	}
	return s
}

// WaitStats polls stats until cond holds or ctx ends; it returns the last
// snapshot and whether cond held. Use it where an event happens on the server
// after the client already returned (the server noticing a close).
func WaitStats(ctx context.Context, stats func() Stats, cond func(Stats) bool) (Stats, bool) {
	t := time.NewTicker(2 * time.Millisecond)
	defer t.Stop()
	for {
		s := stats()
		if cond(s) {
			return s, true
		}
		select {
		case <-ctx.Done():
			return stats(), false
		case <-t.C:
		}
	}
}
