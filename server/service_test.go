package server

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/value"
)

const (
	userDN  = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=ciuser"
	hostDN  = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=host.example.org"
	trustDN = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=gateway.example.org"
	caDN    = "/C=ch/O=DIRAC/OU=DIRAC CI/CN=DIRAC Oracle Test CA"
)

func testRegistry() *Registry {
	return &Registry{
		Users: map[string]User{
			"ciuser":  {DNs: []string{userDN}},
			"suspect": {DNs: []string{"/CN=suspect"}, Suspended: []string{"vo1"}},
		},
		Groups: map[string]Group{
			"dirac_user":  {Users: []string{"ciuser"}, Properties: []string{"NormalUser"}},
			"dirac_admin": {Users: []string{"ciuser"}, Properties: []string{"ServiceAdministrator"}, VO: "vo1"},
			"vo1_user":    {Users: []string{"suspect"}, Properties: []string{"NormalUser"}, VO: "vo1"},
		},
		Hosts: map[string]Host{
			"host.example.org":    {DN: hostDN, Properties: []string{"FullDelegation"}},
			"gateway.example.org": {DN: trustDN, Properties: []string{TrustedHost}},
		},
		DefaultGroups: []string{"dirac_user"},
	}
}

func certPeer(dn string) *credentials.PeerCredentials {
	return &credentials.PeerCredentials{Subject: dn, Issuer: caDN, DN: dn, SecondsLeft: 100}
}

func proxyPeer(dn, group string) *credentials.PeerCredentials {
	return &credentials.PeerCredentials{Subject: dn + "/CN=1234567890", Issuer: dn, DN: dn, Identity: dn,
		IsProxy: true, SecondsLeft: 100, Group: group}
}

var quiet = slog.New(slog.DiscardHandler)

func keys(d *value.Dict) []any { return d.Keys() }

func TestWhoamiShapes(t *testing.T) {
	reg := testRegistry()
	svc := &Service{Name: "Framework/Oracle", Registry: reg, Logger: quiet}
	call := func(peer *credentials.PeerCredentials, extra any) *value.Dict {
		req := &Request{Method: "whoami", Credentials: NewCredentials(peer, extra, reg)}
		res := svc.Dispatch(context.Background(), req)
		ok, _ := res.Lookup("OK")
		require.Equal(t, true, ok, res)
		v, _ := res.Lookup("Value")
		return v.(*value.Dict)
	}
	// Capture diset_raw_client_cases.txt: user certificate.
	d := call(certPeer(userDN), nil)
	assert.Equal(t, []any{"subject", "issuer", "secondsLeft", "isProxy", "isLimitedProxy", "validDN", "validGroup",
		"DN", "properties", "group", "username"}, keys(d))
	assert.True(t, value.Equal(value.NewDict("subject", userDN, "issuer", caDN, "secondsLeft", int64(100),
		"isProxy", false, "isLimitedProxy", false, "validDN", false, "validGroup", false, "DN", userDN,
		"properties", []any{"NormalUser"}, "group", "dirac_user", "username", "ciuser"), d), d)
	// Proxy.
	d = call(proxyPeer(userDN, "dirac_user"), nil)
	assert.Equal(t, []any{"subject", "issuer", "secondsLeft", "isProxy", "isLimitedProxy", "validDN", "validGroup",
		"DN", "identity", "group", "VO", "properties", "username"}, keys(d))
	// Proxy with extraCredentials: ignored for the group, kept in the dict.
	d = call(proxyPeer(userDN, "dirac_user"), "dirac_admin")
	g, _ := d.Lookup("group")
	assert.Equal(t, "dirac_user", g)
	assert.Equal(t, []any{"subject", "issuer", "secondsLeft", "isProxy", "isLimitedProxy", "validDN", "validGroup",
		"DN", "identity", "group", "VO", "extraCredentials", "properties", "username"}, keys(d))
	// A proxy of a group the DN is not in: demoted to visitor, the VO key
	// kept but emptied, as DIRAC has it (the claimed group's VO is not
	// vouched for).
	d = call(proxyPeer(userDN, "vo1_user"), nil)
	g, _ = d.Lookup("group")
	assert.Equal(t, "visitor", g)
	vo, ok := d.Lookup("VO")
	assert.True(t, ok, "VO key kept: %v", keys(d))
	assert.Equal(t, "", vo)
	// Anonymous.
	d = call(nil, nil)
	assert.True(t, value.Equal(value.NewDict("properties", []any{}), d))
	// Host certificate with "hosts".
	d = call(certPeer(hostDN), "hosts")
	u, _ := d.Lookup("username")
	assert.Equal(t, "host.example.org", u)
	p, _ := d.Lookup("properties")
	assert.Equal(t, []any{"FullDelegation"}, p)
}

func TestAuthorizationRules(t *testing.T) {
	reg := testRegistry()
	svc := &Service{Name: "S/C", Registry: reg, Logger: quiet}
	noop := func(context.Context, *Request) (any, error) { return "ran", nil }
	svc.Handle("open", Method{Func: noop, Auth: []string{"all"}})
	svc.Handle("authn", Method{Func: noop, Auth: []string{"authenticated"}})
	svc.Handle("admin", Method{Func: noop, Auth: []string{"ServiceAdministrator"}})
	svc.Handle("grp", Method{Func: noop, Auth: []string{"group:dirac_admin", "all"}})
	svc.Handle("vo", Method{Func: noop, Auth: []string{"vo:vo1", "authenticated"}})
	svc.Handle("default", Method{Func: noop})
	svc.Handle("hostsOnly", Method{Func: noop, Auth: []string{"FullDelegation"}})

	type who struct {
		peer  *credentials.PeerCredentials
		extra any
	}
	anon := who{}
	user := who{peer: proxyPeer(userDN, "dirac_user")}
	admin := who{peer: proxyPeer(userDN, "dirac_admin")}
	stranger := who{peer: certPeer("/CN=stranger")}
	host := who{peer: certPeer(hostDN), extra: "hosts"}
	hostNoExtra := who{peer: certPeer(hostDN)}
	forwarded := who{peer: certPeer(trustDN), extra: []any{userDN, "dirac_admin"}}
	badForward := who{peer: certPeer(hostDN), extra: []any{userDN, "dirac_admin"}}
	suspended := who{peer: proxyPeer("/CN=suspect", "vo1_user")}
	certAsGroup := who{peer: certPeer(userDN), extra: "dirac_admin"}

	cases := []struct {
		method string
		who    who
		ok     bool
	}{
		{"open", anon, true}, {"open", stranger, true}, {"open", suspended, true},
		{"authn", anon, false}, {"authn", stranger, false}, {"authn", user, true}, {"authn", host, true},
		{"authn", hostNoExtra, false}, {"authn", suspended, false},
		{"admin", user, false}, {"admin", admin, true}, {"admin", forwarded, true}, {"admin", badForward, false},
		{"admin", certAsGroup, true},
		{"grp", user, false}, {"grp", admin, true}, {"grp", anon, false},
		{"vo", user, false}, {"vo", admin, true},
		{"default", anon, false}, {"default", user, true},
		{"ping", anon, true}, {"whoami", anon, true}, {"echo", anon, false},
		{"hostsOnly", host, true}, {"hostsOnly", user, false},
		{"nosuch", anon, false},
	}
	for _, c := range cases {
		req := &Request{Method: c.method, Args: []any{"x"}, Credentials: NewCredentials(c.who.peer, c.who.extra, reg)}
		err := svc.Authorize(context.Background(), req)
		if c.ok {
			assert.Nil(t, err, "%s should be allowed for %+v", c.method, c.who)
		} else if assert.NotNil(t, err, "%s should be refused for %+v", c.method, c.who) {
			assert.Equal(t, "Unauthorized query ( 1111 : Unauthorized query)", err.Message)
			assert.ErrorIs(t, err, diracrpc.ErrUnauthorized)
		}
	}
	// Forwarded identity replaces the host's.
	req := &Request{Method: "admin", Credentials: NewCredentials(forwarded.peer, forwarded.extra, reg)}
	require.Nil(t, svc.Authorize(context.Background(), req))
	assert.Equal(t, userDN, req.Credentials.DN)
	assert.Equal(t, "dirac_admin", req.Credentials.Group)
	assert.Equal(t, "ciuser", req.Credentials.Username)
	assert.Equal(t, []string{"ServiceAdministrator"}, req.Credentials.Properties)
	// DIRAC's open default.
	svc.DefaultAuth = []string{"all"}
	require.Nil(t, svc.Authorize(context.Background(), &Request{Method: "default"}))
	require.Nil(t, svc.Authorize(context.Background(), &Request{Method: "echo"}))
	// CS override.
	svc.Authorization = map[string][]string{"open": {"authenticated"}}
	require.NotNil(t, svc.Authorize(context.Background(), &Request{Method: "open"}))
}

func TestCallShapes(t *testing.T) {
	svc := &Service{Name: "S/C", DefaultAuth: []string{"all"}, Logger: quiet}
	svc.Handle("add", Method{Types: []Type{TypeInt, TypeInt}, Func: func(_ context.Context, r *Request) (any, error) {
		return r.Args[0].(int64) + r.Args[1].(int64), nil
	}})
	svc.HandleFunc("fail", func(context.Context, *Request) (any, error) {
		return nil, &diracrpc.Error{Message: "boom", CallStack: []string{"x"}}
	})
	svc.HandleFunc("failErrno", func(context.Context, *Request) (any, error) {
		return nil, diracrpc.NewError(1111, "custom")
	})
	svc.HandleFunc("goerr", func(context.Context, *Request) (any, error) { return nil, errors.New("disk full") })
	svc.HandleFunc("crash", func(context.Context, *Request) (any, error) { panic("kaboom") })
	svc.HandleFunc("dict", func(context.Context, *Request) (any, error) {
		return Answer(value.NewDict("OK", false, "Errno", int64(0), "Message", "m", "CallStack", []any{"s"})), nil
	})
	svc.HandleFunc("notresult", func(context.Context, *Request) (any, error) {
		return Answer(value.NewDict("OK", true)), nil
	})
	// Data that looks like a result is data: a method returning what the
	// client sent cannot be made to answer the client's S_ERROR.
	svc.HandleFunc("echoDict", func(_ context.Context, r *Request) (any, error) { return r.Args[0], nil })
	svc.Handle("anyfloat", Method{Types: []Type{TypeFloat | TypeInt, Any, TypeTuple}, Func: func(context.Context, *Request) (any, error) { return nil, nil }})

	call := func(m string, args ...any) *value.Dict {
		return svc.Dispatch(context.Background(), &Request{Method: m, Args: args})
	}
	eq := func(want, got *value.Dict) {
		t.Helper()
		assert.True(t, value.Equal(want, got), "got %v", got.Entries())
	}
	eq(diracrpc.OK(int64(5)), call("add", int64(2), int64(3)))
	eq(errDict("Type mismatch in parameter 0 (starting with param 0) Received <class 'str'>, expected <class 'int'>"), call("add", "2", int64(3)))
	eq(errDict("Function add expects at least 2 arguments"), call("add", int64(1)))
	assert.Empty(t, checkArgs("add", &Method{Types: []Type{TypeInt, TypeDate}}, []any{true, time.Now()}))
	eq(errDict("Unknown method doesNotExist"), call("doesNotExist"))
	eq(errDict("boom"), call("fail"))
	eq(value.NewDict("OK", false, "Errno", int64(1111), "Message", "Unauthorized query ( 1111 : custom)"), call("failErrno"))
	eq(errDict("Server error while serving goerr: disk full"), call("goerr"))
	eq(errDict("Server error while serving crash: kaboom"), call("crash"))
	eq(errDict("m"), call("dict"))
	injected := value.NewDict("OK", false, "Errno", int64(1111), "Message", "injected")
	eq(diracrpc.OK(injected), call("echoDict", injected))
	eq(diracrpc.OK(value.NewDict("OK", true, "Value", int64(5))), call("echoDict", value.NewDict("OK", true, "Value", int64(5))))
	eq(diracrpc.OK(value.NewDict("OK", int64(3))), call("echoDict", value.NewDict("OK", int64(3))))
	eq(errDict("Method notresult for action RPC does not return a S_OK/S_ERROR!"), call("notresult"))
	eq(errDict("Type mismatch in parameter 2 (starting with param 0) Received <class 'list'>, expected <class 'tuple'>"), call("anyfloat", 1.5, nil, []any{}))
	eq(errDict("Type mismatch in parameter 0 (starting with param 0) Received <class 'str'>, expected (<class 'int'>, <class 'float'>)"), call("anyfloat", "x"))
	eq(diracrpc.OK("hello"), call("echo", "hello"))
	eq(errDict("Function echo expects at least 1 arguments"), call("echo"))
}

func TestPingAndCallStackPolicy(t *testing.T) {
	svc := &Service{Name: "Framework/Oracle", Version: "9.0.0", Logger: quiet}
	svc.Start()
	res := svc.Dispatch(context.Background(), &Request{Method: "ping"})
	v, _ := res.Lookup("Value")
	d := v.(*value.Dict)
	assert.Equal(t, []any{"version", "time", "host uptime", "service start time", "service uptime", "load", "name", "cpu times"}, d.Keys())
	tm, _ := d.Lookup("time")
	assert.WithinDuration(t, time.Now(), tm.(time.Time), time.Minute)
	cpu, _ := d.Lookup("cpu times")
	assert.Equal(t, []any{"user time", "system time", "children user time", "children system time", "elapsed real time"}, cpu.(*value.Dict).Keys())

	refused := svc.Dispatch(context.Background(), &Request{Method: "echo", Args: []any{"x"}})
	assert.False(t, refused.Has("CallStack"))
	svc.PreHandlerCallStack = true
	refused = svc.Dispatch(context.Background(), &Request{Method: "echo", Args: []any{"x"}})
	assert.True(t, refused.Has("CallStack"))
}

// TestPingStatsCachedForASecond: ping reads the host's uptime, load and CPU
// times at most once a second; the uptime moves on with the clock meanwhile.
func TestPingStatsCachedForASecond(t *testing.T) {
	var h hostStats
	t0 := time.Now()
	a := h.get(t0)
	b := h.get(t0.Add(500 * time.Millisecond))
	assert.Equal(t, a.load, b.load)
	assert.Equal(t, a.times, b.times)
	if a.uptime > 0 { // /proc/uptime exists
		assert.InDelta(t, a.uptime+0.5, b.uptime, 1e-6, "served from the cache")
		c := h.get(t0.Add(statsTTL))
		assert.InDelta(t, a.uptime, c.uptime, 0.5, "read again: the real uptime, not the clock's")
	}
}

// TestInvokeOutcomes: the one call path tells the transports how a call
// ended (HTTPS answers failures with 500, DISET with the S_ERROR in result)
// and which calls reached a handler.
func TestInvokeOutcomes(t *testing.T) {
	svc := &Service{Name: "S/C", Logger: quiet}
	svc.Handle("add", Method{Types: []Type{TypeInt, TypeInt}, Func: func(_ context.Context, r *Request) (any, error) {
		return r.Args[0].(int64) + r.Args[1].(int64), nil
	}})
	svc.HandleFunc("fail", func(context.Context, *Request) (any, error) { return nil, diracrpc.NewError(0, "boom") })
	svc.HandleFunc("goerr", func(context.Context, *Request) (any, error) { return nil, errors.New("disk full") })
	svc.HandleFunc("crash", func(context.Context, *Request) (any, error) { panic("kaboom") })
	var ran int
	for _, tc := range []struct {
		method string
		args   []any
		kind   outcomeKind
		result *value.Dict
	}{
		{"add", []any{int64(2), int64(3)}, returnedValue, diracrpc.OK(int64(5))},
		{"add", []any{int64(2)}, notRun, errDict("Function add expects at least 2 arguments")},
		{"nope", nil, notRun, errDict("Unknown method nope")},
		{"fail", nil, returnedError, errDict("boom")},
		{"goerr", nil, failed, errDict("Server error while serving goerr: disk full")},
		{"crash", nil, failed, errDict("Server error while serving crash: kaboom")},
	} {
		o := svc.invoke(context.Background(), &Request{Method: tc.method, Args: tc.args})
		assert.Equal(t, tc.kind, o.kind, tc.method)
		if o.kind != notRun {
			ran++
		}
		assert.True(t, value.Equal(tc.result, o.result), "%s: got %v", tc.method, o.result.Entries())
	}
	assert.Equal(t, 4, ran, "calls that reached a handler")
}

// TestMaxArgs: a call with more arguments than the method takes fails as
// DIRAC's call of the export function raises (Python's TypeError text, the
// handler never runs); without MaxArgs every argument reaches the handler.
func TestMaxArgs(t *testing.T) {
	svc := &Service{Name: "S/C", DefaultAuth: []string{"all"}, Logger: quiet}
	var runs atomic.Int64
	count := func(_ context.Context, r *Request) (any, error) { runs.Add(1); return int64(len(r.Args)), nil }
	svc.Handle("add", Method{Types: []Type{TypeInt, TypeInt}, MaxArgs: 2, Func: count})
	svc.Handle("opt", Method{MinArgs: 1, MaxArgs: 2, Func: count})
	svc.Handle("now", Method{Types: []Type{}, MaxArgs: NoArgs, Func: count})
	svc.Handle("many", Method{Types: []Type{}, Func: count})
	call := func(m string, args ...any) *value.Dict {
		return svc.Dispatch(context.Background(), &Request{Method: m, Args: args})
	}
	eq := func(want, got *value.Dict) {
		t.Helper()
		assert.True(t, value.Equal(want, got), "got %v", got.Entries())
	}
	raised := func(m, msg string) *value.Dict { return errDict("Server error while serving " + m + ": " + msg) }

	eq(raised("add", "export_add() takes 3 positional arguments but 4 were given"), call("add", int64(2), int64(3), int64(4)))
	eq(raised("opt", "export_opt() takes from 2 to 3 positional arguments but 4 were given"), call("opt", 1, 2, 3))
	eq(raised("now", "export_now() takes 1 positional argument but 2 were given"), call("now", 1))
	eq(raised("ping", "RequestHandler.export_ping() takes 1 positional argument but 2 were given"), call("ping", int64(1)))
	eq(raised("whoami", "RequestHandler.export_whoami() takes 1 positional argument but 3 were given"), call("whoami", int64(1), int64(2)))
	eq(raised("echo", "RequestHandler.export_echo() takes 1 positional argument but 2 were given"), call("echo", "a", "b"))
	// Types are checked first, as DIRAC does before calling.
	eq(errDict("Type mismatch in parameter 0 (starting with param 0) Received <class 'str'>, expected <class 'int'>"),
		call("add", "2", int64(3), int64(4)))
	assert.Zero(t, runs.Load(), "the handler never runs")

	eq(diracrpc.OK(int64(2)), call("add", int64(2), int64(3)))
	eq(diracrpc.OK(int64(1)), call("opt", 1))
	eq(diracrpc.OK(int64(0)), call("now"))
	eq(diracrpc.OK(int64(5)), call("many", 1, 2, 3, 4, 5))
	eq(diracrpc.OK("a"), call("echo", "a"))

	// A failure, as a raising handler: HTTPS answers it with a 500.
	o := svc.invoke(context.Background(), &Request{Method: "ping", Args: []any{int64(1)}})
	assert.Equal(t, failed, o.kind)
}

// BenchmarkPing is ping's handler over each protocol, its host statistics
// served from the cache but once a second.
func BenchmarkPing(b *testing.B) {
	svc := &Service{Name: "Framework/Bench", Version: "9.0.0", Logger: quiet}
	svc.Start()
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		b.Run(string(p), func(b *testing.B) {
			req := &Request{Method: "ping", Protocol: p}
			b.ReportAllocs()
			for b.Loop() {
				svc.Dispatch(context.Background(), req)
			}
		})
	}
}
