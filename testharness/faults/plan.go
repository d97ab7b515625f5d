package faults

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"
)

// Kind names a fault.
type Kind int

// The faults. The first four act on a connection as a whole, the others on
// one call (the answer to one request).
const (
	// None lets the connection or call through untouched.
	None Kind = iota
	// Refuse resets the connection (TCP RST) as soon as it is accepted,
	// before any byte is read.
	Refuse
	// Hang accepts the connection, reads and discards what the client sends
	// and never answers, until the client goes away or the vehicle closes.
	Hang
	// DelayAccept waits Fault.Delay before handling the connection at all
	// (Listener: before Accept returns it), so the TLS handshake or the first
	// request waits too.
	DelayAccept
	// DelayHandshake waits until the client's first bytes (a TLS ClientHello,
	// a DISET proposal, an HTTP request line) arrived, then Fault.Delay before
	// letting them through.
	DelayHandshake

	// DelayAnswer lets the request reach the service, then holds the answer
	// for Fault.Delay; a zero Delay holds it until the client goes away or the
	// vehicle closes (a hung server).
	DelayAnswer
	// DropBeforeRequest closes the connection once the request was fully
	// received, without passing it on: the service never runs.
	DropBeforeRequest
	// DropAfterRequest passes the request on, waits for the service's answer
	// (so the service has run) and closes the client's connection (FIN)
	// without sending it.
	DropAfterRequest
	// ResetMidFrame passes the request on, sends the first Fault.KeepBytes
	// bytes of the answer (default: half of what the service sent first) and
	// resets the connection (TCP RST).
	ResetMidFrame
	// Garbage passes the request on and sends Fault.Garbage (or a default
	// non-protocol byte string) instead of the answer, then closes.
	Garbage
	// HTTPStatus answers Fault.Status (default 503) with a Retry-After header
	// when Fault.RetryAfter is set. The request is not passed on unless
	// Fault.Forward is set, in which case the service runs and its answer is
	// replaced. HTTP only (Proxy in HTTP mode, Middleware).
	HTTPStatus

	numKinds
)

var kindNames = [numKinds]string{
	"None", "Refuse", "Hang", "DelayAccept", "DelayHandshake",
	"DelayAnswer", "DropBeforeRequest", "DropAfterRequest", "ResetMidFrame", "Garbage", "HTTPStatus",
}

func (k Kind) String() string {
	if k >= 0 && k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// connLevel reports whether k acts on a whole connection.
func (k Kind) connLevel() bool { return k >= Refuse && k <= DelayHandshake }

// DefaultGarbage is what Garbage sends when Fault.Garbage is empty: neither a
// DISET frame header nor an HTTP status line.
var DefaultGarbage = []byte("\x00\xffgarbage:not a frame\r\n\x16\x03")

// Fault is what to do to a connection or a call.
type Fault struct {
	Kind Kind
	// Delay for DelayAccept, DelayHandshake, DelayAnswer. Zero means
	// forever: until the client goes away or the vehicle closes.
	Delay time.Duration
	// Status for HTTPStatus; default 503.
	Status int
	// RetryAfter is the Retry-After header value sent with HTTPStatus
	// ("" omits the header).
	RetryAfter string
	// Forward makes HTTPStatus pass the request to the service first.
	Forward bool
	// Garbage replaces the answer for Garbage; default DefaultGarbage.
	Garbage []byte
	// KeepBytes is how many answer bytes ResetMidFrame sends before the
	// reset; 0 means half of the first chunk the service sent.
	KeepBytes int
}

func (f Fault) garbage() []byte {
	if len(f.Garbage) > 0 {
		return f.Garbage
	}
	return DefaultGarbage
}

func (f Fault) status() int {
	if f.Status != 0 {
		return f.Status
	}
	return 503
}

// When selects connections or calls by their number (1 for the first) and,
// for Chance, the plan's seeded random source. It runs with the plan locked.
type When func(n int, r *rand.Rand) bool

// Nth matches the listed numbers.
func Nth(ns ...int) When {
	return func(n int, _ *rand.Rand) bool {
		for _, x := range ns {
			if x == n {
				return true
			}
		}
		return false
	}
}

// FirstN matches numbers 1..k.
func FirstN(k int) When { return func(n int, _ *rand.Rand) bool { return n <= k } }

// After matches every number above k.
func After(k int) When { return func(n int, _ *rand.Rand) bool { return n > k } }

// Every matches everything.
func Every() When { return func(int, *rand.Rand) bool { return true } }

// Chance matches with probability p, drawn from the plan's seeded source, so
// that a run is reproducible for a given seed and order of events.
func Chance(p float64) When { return func(_ int, r *rand.Rand) bool { return r.Float64() < p } }

type rule struct {
	when  When
	fault Fault
}

// Plan decides, for each connection and each call, which fault applies: the
// first matching rule of the right level wins, no match means None. Rules can
// be changed while the plan is in use (for example Clear to let a "server
// recover"). A Plan numbers connections and calls itself, so one plan shared
// by several vehicles numbers their events together. The zero value is not
// usable: call NewPlan. A nil *Plan applies no fault.
type Plan struct {
	mu           sync.Mutex
	rng          *rand.Rand
	rules        []rule
	conns, calls int
}

// NewPlan returns an empty plan whose Chance rules draw from a source seeded
// with seed.
func NewPlan(seed uint64) *Plan {
	return &Plan{rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
}

// Add appends a rule and returns the plan, for chaining.
func (p *Plan) Add(when When, f Fault) *Plan {
	p.mu.Lock()
	p.rules = append(p.rules, rule{when, f})
	p.mu.Unlock()
	return p
}

// Clear removes every rule: from now on everything passes (numbering goes on).
func (p *Plan) Clear() {
	p.mu.Lock()
	p.rules = nil
	p.mu.Unlock()
}

// nextConn numbers a new connection and returns its fault.
func (p *Plan) nextConn() (int, Fault) { return p.next(true) }

// nextCall numbers a new call and returns its fault.
func (p *Plan) nextCall() (int, Fault) { return p.next(false) }

// next numbers a new connection (conn) or call and returns its fault.
func (p *Plan) next(conn bool) (int, Fault) {
	if p == nil {
		return 0, Fault{}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	n := &p.calls
	if conn {
		n = &p.conns
	}
	*n++
	return *n, p.match(*n, conn)
}

func (p *Plan) match(n int, conn bool) Fault {
	for _, r := range p.rules {
		if r.fault.Kind == None || r.fault.Kind.connLevel() != conn {
			continue
		}
		if r.when == nil || r.when(n, p.rng) {
			return r.fault
		}
	}
	return Fault{}
}
