package gateway

import (
	"time"

	"github.com/diracgo/diracrpc"
)

// Observer is told about every call the gateway handled, once it ended: the
// seam for metrics and traces (OpenTelemetry's RPC conventions map onto
// Event: rpc.system = In/Out, rpc.service, rpc.method, the duration, the
// error's diracrpc.CodeOf). Observe must not block.
type Observer interface {
	Observe(Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f.
func (f ObserverFunc) Observe(e Event) { f(e) }

// Event describes one call through the gateway.
type Event struct {
	// In is the protocol the caller used; Out the one the service was
	// reached with ("" when it was not).
	In, Out diracrpc.Protocol
	// Service and Method name the call; Action is the DISET action type
	// (RPC, FileTransfer...), "RPC" for HTTPS.
	Service, Method, Action string
	// CachedDelegation: the caller's delegated proxy came from the cache.
	CachedDelegation bool
	// Duration is the whole call, delegation and forwarding included.
	Duration time.Duration
	// Err is the call's error: the service's S_ERROR, a failure to reach
	// it, or the gateway's refusal; nil for S_OK.
	Err error
}
