package diracrpc

import (
	"context"
	"log/slog"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// Transport is the protocol seam: it makes ONE attempt of a call against ONE
// URL and returns the Result, or an error already classified (a
// *TransportError, or the service's *Error). Everything above one attempt
// (URL choice, failover, bans, retries, idempotency, breakers, stubs) is the
// Client's. Packages disetclient and httpsclient implement it; users build
// clients with their New functions, not with this interface.
//
// File transfer hangs off the Client the same way: a transport that can
// move files also implements FileTransport, which the Client checks with a
// type assertion, so that the loop stays the one place for retries and
// failover; it counts the bytes it moves with c.tel.transferred (the
// dirac.rpc.client.transfer.size counter, a no-op when instrumentation is
// off).
type Transport interface {
	// Attempt runs a on a.URL. It must honour ctx (cancellation ends it at
	// once) and a.Deadline.
	Attempt(ctx context.Context, a *Attempt) (*Result, error)
	// Close releases what the transport keeps between calls (idle
	// connections). Calls in flight finish normally.
	Close() error
}

// Attempt is one try of a call on one URL. The client reuses it for the
// call's next attempt once Transport.Attempt returned: transports must not
// keep it.
type Attempt struct {
	URL    string
	Method string
	Args   []any
	// Transfer is set for a file transfer (FileTransport.Transfer); Method
	// is then "FileTransfer/<Direction>" and Args nil.
	Transfer *Transfer
	// Undecoded asks for an S_OK undecoded (WithRawResult): the transport
	// returns Result.Raw with Undecoded set when the answer starts as an
	// S_OK (mixed.OKHead), and decodes anything else as usual.
	Undecoded bool

	state callState // the call's budget; zero outside the client's loop
}

// Again is for transports whose protocol itself defines a same-URL retry
// (HTTP 502/503/504 with Retry-After): it spends one attempt of the call's
// budget and returns how long to wait first (at least atLeast, else the
// loop's backoff). It returns false when the budget is spent or the wait
// would outlast ctx's deadline: the transport must then return its outcome.
func (a *Attempt) Again(ctx context.Context, atLeast time.Duration) (time.Duration, bool) {
	st := &a.state
	if st.left <= 1 {
		return 0, false
	}
	wait := max(atLeast, st.backoff())
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= wait {
		return 0, false
	}
	st.left--
	st.attempts++
	return wait, true
}

// TransportConfig is what NewClient gives a protocol's transport
// constructor: the client's Options with defaults applied and the DIRAC
// keywords as they go on the wire.
type TransportConfig struct {
	// URLs are every URL the client may call, main ones first.
	URLs []string
	// Setup, VO and ExtraCredentials are sent with every call
	// (ExtraCredentials: "" for none, a string, or [DN, group]).
	Setup, VO        string
	ExtraCredentials any
	// Timeout is the effective timeout keyword (see Options.Timeout);
	// ConnectTimeout bounds connect plus handshake.
	Timeout, ConnectTimeout time.Duration
	Logger                  *slog.Logger

	opts Options
}

// NewTransport builds a protocol's transport from the client's
// configuration.
type NewTransport func(cfg *TransportConfig) (Transport, error)

// Locator is the client's credential locator (for transports that find more
// than certificates, such as bearer tokens).
func (c *TransportConfig) Locator() credentials.Locator { return c.opts.Locator }
