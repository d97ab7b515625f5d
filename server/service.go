package server

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/value"
)

// MethodFunc is a service method. The returned value becomes the call's
// result:
//   - Answer(d), d a DIRAC result structure (S_OK/S_ERROR, as DIRAC handlers
//     return), is sent as it is, its top-level CallStack removed;
//   - a *diracrpc.Error (errors.As) becomes that S_ERROR, CallStack removed;
//   - any other error is a failure: S_ERROR("Server error while serving
//     <m>: <err>") on DISET, a 500 page on HTTPS, what DIRAC's servers send
//     when a handler raises;
//   - anything else v becomes S_OK(v), a *value.Dict with an "OK" key
//     included (over HTTPS with rawContent, a RawContent or io.Reader v is
//     sent as raw bytes). A *value.Encoded v is sent as its stored bytes:
//     an answer that many calls get unchanged costs its encoding once.
//
// A panic is recovered and answered as a failure; failures are logged to
// Service.Logger.
type MethodFunc func(ctx context.Context, req *Request) (any, error)

// Method describes one exported method (DIRAC's export_<name>).
type Method struct {
	// Func runs the call; required.
	Func MethodFunc
	// Auth is the hard-coded authorisation rule (DIRAC's auth_<name>): a list
	// of "all"/"any" (everybody, anonymous included), "authenticated" (any
	// known user or host), "group:<g>" and "vo:<v>" (restrict groups) and
	// property names (case-insensitive; the caller needs one of them).
	// Service.Authorization overrides it; nil falls back to
	// Service.DefaultAuth.
	Auth []string
	// Types are DIRAC's types_<name> checks, one per leading argument: a call
	// with fewer arguments fails with "Function <m> expects at least <n>
	// arguments", a mismatch with DIRAC's "Type mismatch in parameter ..."
	// text. Any (0) accepts every type. Nil: no checks.
	Types []Type
	// MinArgs requires at least this many arguments (in addition to Types).
	MinArgs int
	// MaxArgs is the most arguments the method takes, as a Python method's
	// parameters bound them (Types does not: DIRAC's types_ check leading
	// arguments only, also of methods taking *args). A call with more fails
	// as the Python call would, with its TypeError text ("export_add() takes
	// 3 positional arguments but 4 were given", self counted), answered as a
	// handler's failure: S_ERROR("Server error while serving <m>: ...") on
	// DISET, a 500 page on HTTPS. 0: no maximum, the handler gets every
	// argument; NoArgs: the method takes none. The built-in ping and whoami
	// take none, echo one, as DIRAC's export functions.
	MaxArgs int
	// Delegate asks DISET callers to delegate a proxy (PROTOCOL.md §4.12)
	// before the call, given to the handler as Request.Delegated. HTTPS has
	// no delegation: there Request.Delegated stays nil.
	Delegate bool
}

// NoArgs is Method.MaxArgs for a method that takes no argument.
const NoArgs = -1

// Service is one DIRAC service ("System/Component") and its methods. Fill it,
// then call Handle for each method; do not change it once it serves calls.
type Service struct {
	// Name is "System/Component"; DISET clients must send exactly this.
	Name string
	// Aliases are further names the service answers to (DIRAC: the module
	// name next to the load name). A call reached over HTTPS under an alias
	// has it as Request.Service, and ping reports it, as Tornado does for
	// each instance it serves; DISET's ping reports Name, as DIRAC's does.
	Aliases []string
	// Version is reported by ping. Default DefaultVersion.
	Version string
	// Registry resolves callers; nil means an empty registry (only anonymous
	// and "all" rules can pass).
	Registry *Registry
	// Authorization overrides the rules of methods by name, as DIRAC's CS
	// section <service>/Authorization does.
	Authorization map[string][]string
	// DefaultAuth applies to methods without a rule (DIRAC's
	// Authorization/Default). Nil means []string{"authenticated"}; DIRAC's
	// own default is open to all: use []string{"all"} to get it.
	DefaultAuth []string
	// PreHandlerCallStack adds the Go stack to errors produced before the
	// handler runs (refused authorisation, bad proposal...), as DIRAC adds its
	// Python stack. Off by default: unauthenticated callers learn nothing
	// about the server's insides.
	PreHandlerCallStack bool
	// NoBuiltins leaves out ping, echo and whoami.
	NoBuiltins bool
	// Fallback, when set, serves every method the service does not
	// register (a gateway forwarding whatever it is asked). Nil: "Unknown
	// method" (DISET) or 501 (HTTPS).
	Fallback *Method
	// Logger receives one line per refused or failed call; nil: slog.Default().
	Logger *slog.Logger
	// TransferLimits bound the file transfers (HandleTransfer).
	TransferLimits TransferLimits

	xfer      transferState
	mu        sync.RWMutex
	methods   map[string]*Method
	started   time.Time
	hostStats hostStats // what ping reports, cached
	// configured is what ApplyConfig installed; when set it replaces
	// Registry, Authorization and DefaultAuth, swapped as one while calls
	// are served.
	configured atomic.Pointer[policy]
}

// policy is who the callers are and what they may call: the part of a
// service that a DIRAC configuration sets and may change while it serves.
type policy struct {
	registry      *Registry
	authorization map[string][]string
	defaultAuth   []string
}

// policy returns the rules in force: the configuration's when ApplyConfig
// installed one, else the fields.
func (s *Service) policy() *policy {
	p, _ := s.policyAndKey()
	return p
}

// policyAndKey returns the policy and what identifies it while the service
// serves: the installed configuration, or nil for the Service's own fields
// (which do not change once it serves).
func (s *Service) policyAndKey() (p, key *policy) {
	if p := s.configured.Load(); p != nil {
		return p, p
	}
	return &policy{registry: s.Registry, authorization: s.Authorization, defaultAuth: s.DefaultAuth}, nil
}

// CurrentRegistry returns the registry in force: the one ApplyConfig
// installed last, else Registry.
func (s *Service) CurrentRegistry() *Registry {
	if p := s.configured.Load(); p != nil {
		return p.registry
	}
	return s.Registry
}

// DefaultVersion is the version ping reports when Service.Version is empty.
const DefaultVersion = "diracrpc-go"

// NewService returns a service named name ("System/Component") with the
// built-in methods.
func NewService(name string) *Service {
	return &Service{Name: name}
}

// Handle registers (or replaces) method name.
func (s *Service) Handle(name string, m Method) {
	if m.Func == nil {
		panic("server: Handle " + name + " without Func")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.methods == nil {
		s.methods = make(map[string]*Method)
	}
	mm := m
	s.methods[name] = &mm
}

// HandleFunc registers a method with no rule of its own and no type checks.
func (s *Service) HandleFunc(name string, f MethodFunc) { s.Handle(name, Method{Func: f}) }

// Lookup returns the method called name, built-ins included.
func (s *Service) Lookup(name string) (*Method, bool) {
	s.mu.RLock()
	m, ok := s.methods[name]
	s.mu.RUnlock()
	if ok {
		return m, true
	}
	if !s.NoBuiltins {
		if b, ok := builtins[name]; ok {
			return b, true
		}
	}
	if s.Fallback != nil {
		return s.Fallback, true
	}
	return nil, false
}

// HasName reports whether name is this service's name or one of its aliases.
func (s *Service) HasName(name string) bool {
	if name == s.Name {
		return true
	}
	for _, a := range s.Aliases {
		if a == name {
			return true
		}
	}
	return false
}

// Start records the service start time reported by ping; transports call it
// when they start serving. Calling it again has no effect.
func (s *Service) Start() {
	s.mu.Lock()
	if s.started.IsZero() {
		s.started = time.Now()
	}
	s.mu.Unlock()
}

func (s *Service) startTime() time.Time {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.started.IsZero() {
		return time.Now()
	}
	return s.started
}

func (s *Service) logger() *slog.Logger {
	return cmp.Or(s.Logger, slog.Default())
}

func (s *Service) version() string {
	if s.Version != "" {
		return s.Version
	}
	return DefaultVersion
}

// Request is one call as a transport received it.
type Request struct {
	// Service is the service name the client asked for.
	Service string
	// Method and Args are the call.
	Method string
	Args   []any
	// Credentials is the caller's credential dictionary; Authorize completes
	// it (group, username, properties). Never nil once a transport built the
	// request.
	Credentials *Credentials
	// Protocol is the transport (dips, dip or https) and RemoteAddr the
	// client's address.
	Protocol   diracrpc.Protocol
	RemoteAddr string
	// ClientSetup, ClientVO and ClientVersion are what the client announced
	// (DISET proposal, HTTPS clientSetup/clientVO); informational only.
	ClientSetup, ClientVO, ClientVersion string
	// Delegated is the proxy the caller delegated, for methods with
	// Method.Delegate over DISET; held in memory only.
	Delegated *credentials.Credential
}

// Dispatch authorises req, then runs it (Call). It always returns a result
// dictionary to send.
func (s *Service) Dispatch(ctx context.Context, req *Request) *value.Dict {
	if err := s.Authorize(ctx, req); err != nil {
		return s.PreHandlerError(err)
	}
	return s.Call(ctx, req)
}

// PreHandlerError turns an error produced before the handler ran into the
// S_ERROR dictionary to send, with a CallStack only if PreHandlerCallStack.
func (s *Service) PreHandlerError(e *diracrpc.Error) *value.Dict {
	if s.PreHandlerCallStack {
		ee := *e
		if ee.CallStack == nil {
			ee.CallStack = goStack(2)
		}
		return ee.Dict(true)
	}
	return e.Dict(false)
}

// Call looks the method up, checks the arguments and runs the handler,
// without authorisation (see Authorize). The result has no top-level
// CallStack. A handler's failure (an error that is not a *diracrpc.Error,
// or a panic) is answered as DIRAC's DISET server answers an exception.
func (s *Service) Call(ctx context.Context, req *Request) *value.Dict {
	return s.invoke(ctx, req).result
}

// outcomeKind tells how a call ended, for the transports that answer the
// kinds differently (HTTPS: a failure is a 500 page).
type outcomeKind uint8

const (
	// notRun: the handler did not run (unknown method, arguments refused);
	// result is the S_ERROR.
	notRun outcomeKind = iota
	// returnedValue: the handler returned a value and a nil error; value holds it
	// and result is its shaped form (see MethodFunc).
	returnedValue
	// returnedError: the handler returned a *diracrpc.Error; result is that S_ERROR.
	returnedError
	// failed: the handler returned another error or panicked; result is
	// DIRAC's "Server error while serving" S_ERROR.
	failed
)

// outcome is the end of one call, as invoke reports it.
type outcome struct {
	kind   outcomeKind
	result *value.Dict // what DISET sends; never nil
	value  any         // the handler's value when kind == returnedValue
}

// invoke is the one core step both transports use: look the method up, check
// the arguments, run the handler with panics recovered, and shape what it
// returned. A failure is logged here, once for both transports.
func (s *Service) invoke(ctx context.Context, req *Request) (o outcome) {
	m, ok := s.Lookup(req.Method)
	if !ok {
		return outcome{kind: notRun, result: errDict("Unknown method " + req.Method)}
	}
	if msg := checkArgs(req.Method, m, req.Args); msg != "" {
		return outcome{kind: notRun, result: errDict(msg)}
	}
	if msg := tooManyArgs(req.Method, m, len(req.Args)); msg != "" {
		// DIRAC's call of the export function raises: a handler's failure.
		return s.run(ctx, req, func(context.Context) (any, error) { return nil, errors.New(msg) })
	}
	return s.run(ctx, req, func(ctx context.Context) (any, error) { return m.Func(ctx, req) })
}

// run runs a handler with panics recovered, and shapes what it returned; a
// failure is logged here, once for both transports and for methods and
// transfers.
func (s *Service) run(ctx context.Context, req *Request, f func(context.Context) (any, error)) (o outcome) {
	defer func() {
		if p := recover(); p != nil {
			s.logger().ErrorContext(ctx, "diracrpc server: handler panicked", "service", s.Name,
				"method", req.Method, "protocol", req.Protocol, "remote", req.RemoteAddr,
				"panic", fmt.Sprint(p), "stack", string(stackBytes()))
			o = outcome{kind: failed, result: failureDict(req.Method, p)}
		}
	}()
	v, err := f(withService(ctx, s))
	if err == nil {
		return outcome{kind: returnedValue, result: shapeValue(req.Method, v), value: v}
	}
	var de *diracrpc.Error
	if errors.As(err, &de) {
		return outcome{kind: returnedError, result: de.Dict(false)}
	}
	level := slog.LevelError
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) || peerStopped(err) {
		level = slog.LevelInfo // the caller went away or the server is closing
	}
	s.logger().Log(ctx, level, "diracrpc server: handler failed", "service", s.Name, "method", req.Method,
		"protocol", req.Protocol, "remote", req.RemoteAddr, "err", err)
	return outcome{kind: failed, result: failureDict(req.Method, err)}
}

// failureDict is what DIRAC's DISET server sends when a handler raises.
func failureDict(method string, failure any) *value.Dict {
	return errDict(fmt.Sprintf("Server error while serving %s: %v", method, failure))
}

// Answer marks d as the method's own result structure, S_OK or S_ERROR as
// a DIRAC handler returns it (extra keys such as a submitted job's
// requireProxyUpload included): the call answers d itself rather than
// S_OK(d). A *value.Dict returned without the mark is data, whatever its
// keys, so that a method returning what a client sent cannot be made to
// answer an S_ERROR of the client's choosing. d must be a result structure
// (diracrpc.ParseResult), or the call answers DIRAC's "does not return a
// S_OK/S_ERROR" error.
func Answer(d *value.Dict) any { return answer{d} }

// answer is a result structure marked by Answer.
type answer struct{ d *value.Dict }

// shapeValue applies the MethodFunc rules to a value returned without error.
func shapeValue(method string, v any) *value.Dict {
	if a, ok := v.(answer); ok {
		d := a.d
		if d == nil || !isResult(d) {
			return errDict("Method " + method + " for action RPC does not return a S_OK/S_ERROR!")
		}
		if !d.Has("CallStack") && !d.Has("ExecInfo") {
			return d
		}
		out := value.NewDict()
		for _, e := range d.Entries() {
			if e.Key == "CallStack" || e.Key == "ExecInfo" {
				continue
			}
			out.Set(e.Key, e.Value)
		}
		return out
	}
	return diracrpc.OK(v)
}

// isResult is DIRAC's isReturnStructure, which diracrpc.ParseResult applies.
func isResult(d *value.Dict) bool {
	_, err := diracrpc.ParseResult(d)
	return !errors.Is(err, diracrpc.ErrProtocol)
}

// errDict is S_ERROR(msg) without CallStack.
func errDict(msg string) *value.Dict {
	return value.NewDict("OK", false, "Errno", int64(0), "Message", msg)
}

// goStack formats the Go stack as DIRAC formats Python frames.
func goStack(skip int) []string {
	pcs := make([]uintptr, 32)
	n := runtime.Callers(skip+1, pcs)
	frames := runtime.CallersFrames(pcs[:n])
	var out []string
	for {
		f, more := frames.Next()
		out = append(out, "  File \""+f.File+"\", line "+strconv.Itoa(f.Line)+", in "+f.Function+"\n")
		if !more {
			break
		}
	}
	return out
}

func stackBytes() []byte {
	buf := make([]byte, 16<<10)
	return buf[:runtime.Stack(buf, false)]
}

type serviceKey struct{}

func withService(ctx context.Context, s *Service) context.Context {
	return context.WithValue(ctx, serviceKey{}, s)
}

// ServiceFrom returns the service running the current call, for handlers
// shared between services.
func ServiceFrom(ctx context.Context) (*Service, bool) {
	s, ok := ctx.Value(serviceKey{}).(*Service)
	return s, ok
}
