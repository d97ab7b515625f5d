package compat

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/value"
)

// fakeCaller answers from a table of method -> outcome.
type fakeCaller struct {
	protocol diracrpc.Protocol
	answers  map[string]Outcome
	calls    []string
}

func (f *fakeCaller) Call(ctx context.Context, method string, args ...any) (*diracrpc.Result, error) {
	f.calls = append(f.calls, method)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o, ok := f.answers[method]
	if !ok {
		return nil, fmt.Errorf("fake: no answer for %s", method)
	}
	if o.Err != nil {
		return nil, o.Err
	}
	return &diracrpc.Result{Value: o.Value, Protocol: f.protocol, URL: string(f.protocol) + "://fake"}, nil
}

// http500 stands for the HTTPS transport's classified 500 answer.
var http500 = &diracrpc.TransportError{Protocol: diracrpc.HTTPS, URL: "https://h/S/C", Code: diracrpc.CodeServerFailure,
	Reached: true, Err: errors.New("500 Internal Server Error")}

func ok(v any) Outcome       { return Outcome{Value: v} }
func fail(err error) Outcome { return Outcome{Err: err} }
func serr(n int, m string) error {
	return &diracrpc.Error{Errno: n, Message: m}
}

func TestCompareOutcomesTable(t *testing.T) {
	netErr := errors.New("dial tcp 127.0.0.1:1: connect: connection refused")
	tests := []struct {
		name  string
		a, b  Outcome
		kinds []Kind
	}{
		{"same value", ok(int64(5)), ok(5), nil},
		{"same S_ERROR", fail(serr(0, "boom")), fail(serr(0, "boom")), nil},
		{"same errno S_ERROR", fail(serr(1111, "Unauthorized query ( 1111 : custom)")),
			fail(serr(1111, "Unauthorized query ( 1111 : custom)")), nil},
		{"S_OK vs S_ERROR", ok(int64(5)), fail(serr(0, "boom")), []Kind{OutcomeMismatch}},
		{"S_ERROR vs S_OK", fail(serr(0, "boom")), ok(nil), []Kind{OutcomeMismatch}},
		{"errno differs", fail(serr(1, "x")), fail(serr(2, "x")), []Kind{ErrnoMismatch}},
		{"message differs", fail(serr(0, "x")), fail(serr(0, "y")), []Kind{MessageMismatch}},
		{"both differ", fail(serr(1, "x")), fail(serr(2, "y")), []Kind{ErrnoMismatch, MessageMismatch}},
		{"unknown method", fail(serr(0, "Unknown method doesNotExist")),
			fail(&diracrpc.Error{Errno: 38, Message: "Function not implemented ( 38 : doesNotExist is not implemented)", Local: true}),
			[]Kind{NotImplementedForm}},
		{"unauthorized", fail(serr(1111, "Unauthorized query ( 1111 : Unauthorized query)")),
			fail(&diracrpc.Error{Errno: 13, Message: "Permission denied ( 13 : No access to https://h/S/C)", Local: true}),
			[]Kind{UnauthorizedForm}},
		{"two 1111 refusals with other messages", fail(serr(1111, "Unauthorized query ( 1111 : a)")),
			fail(serr(1111, "Unauthorized query ( 1111 : b)")), []Kind{MessageMismatch}},
		{"unauthorized sentinel", fail(serr(1111, "Unauthorized query ( 1111 : Unauthorized query)")),
			fail(fmt.Errorf("refused: %w", diracrpc.ErrUnauthorized)), []Kind{UnauthorizedForm}},
		{"exception vs DIRAC's 500 text", fail(serr(0, "Server error while serving crash: integer division or modulo by zero")),
			fail(serr(0, "500 Server Error: Internal Server Error for url: https://h/S/C: <html>...")),
			[]Kind{ExceptionForm}},
		{"exception vs a typed 500", fail(serr(0, "Server error while serving crash: boom")),
			fail(http500), []Kind{ExceptionForm}},
		{"DISET's argument check vs a 500", fail(serr(0, "Function getJobsStatus expects at least 1 arguments")),
			fail(http500), []Kind{ExceptionForm}},
		{"a 500 vs DISET's type check", fail(http500),
			fail(serr(0, "Type mismatch in parameter 0 (starting with param 0) Received <class 'str'>, expected <class 'int'>")),
			[]Kind{ExceptionForm}},
		{"a handler's S_ERROR vs a 500: both answered", fail(serr(0, "no such job")), fail(http500),
			[]Kind{MessageMismatch}},
		{"transport failure on B", ok(int64(1)), fail(netErr), []Kind{CallFailed}},
		{"transport failure on A", fail(netErr), ok(int64(1)), []Kind{CallFailed}},
		{"transport failure vs S_ERROR", fail(serr(0, "boom")), fail(netErr), []Kind{CallFailed}},
		{"both sides unreachable", fail(netErr), fail(netErr), []Kind{CallFailed, CallFailed}},
		{"a 500 against S_OK", ok(int64(1)), fail(http500), []Kind{OutcomeMismatch}},
		{"value differences pass through", ok(value.Tuple{int64(1)}), ok([]any{int64(1)}), []Kind{TupleBecameList}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := CompareOutcomes(tc.a, tc.b)
			want := tc.kinds
			if want == nil {
				want = []Kind{}
			}
			assert.Equal(t, want, kinds(got), "%+v", got)
		})
	}
}

func TestJudgeStatus(t *testing.T) {
	yes, no := true, false
	n1111 := 1111
	tests := []struct {
		name string
		call Call
		a, b Outcome
		opts Options
		want Status
	}{
		{"identical", Call{Method: "m"}, ok(int64(1)), ok(int64(1)), Options{}, Identical},
		{"expected", Call{Method: "m"}, ok(value.Tuple{}), ok([]any{}), Options{}, Expected},
		{"strict option", Call{Method: "m"}, ok(value.Tuple{}), ok([]any{}), Options{Strict: true}, Divergent},
		{"strict expectation", Call{Method: "m", Expect: &Expect{Strict: true}}, ok(value.Tuple{}), ok([]any{}), Options{}, Divergent},
		{"strict but allowed", Call{Method: "m", Expect: &Expect{Strict: true, Allow: []Kind{TupleBecameList}}},
			ok(value.Tuple{}), ok([]any{}), Options{}, Expected},
		{"divergent", Call{Method: "m"}, ok(int64(1)), ok(1.0), Options{}, Divergent},
		{"allowed by options", Call{Method: "utcnow"}, ok(t0), ok(t0.Add(time.Second)), Options{Allow: []Kind{ValueMismatch}}, Expected},
		{"allowed by the call", Call{Method: "m", Expect: &Expect{Allow: []Kind{KeyOrder}}},
			ok(value.NewDict("a", nil, "b", nil)), ok(value.NewDict("b", nil, "a", nil)), Options{}, Expected},
		{"failed", Call{Method: "m"}, ok(int64(1)), fail(errors.New("tls: bad certificate")), Options{}, Failed},
		{"expectation met", Call{Method: "add", Expect: &Expect{OK: &yes, Value: 5, HasValue: true}},
			ok(int64(5)), ok(int64(5)), Options{}, Identical},
		{"expected value met modulo protocol", Call{Method: "m", Expect: &Expect{Value: []any{int64(1)}, HasValue: true}},
			ok(value.Tuple{int64(1)}), ok([]any{int64(1)}), Options{}, Expected},
		{"expected value missed on both sides", Call{Method: "add", Expect: &Expect{Value: 6, HasValue: true}},
			ok(int64(5)), ok(int64(5)), Options{}, Divergent},
		{"expected error met", Call{Method: "failErrno", Expect: &Expect{OK: &no, Errno: &n1111, MessageContains: "custom"}},
			fail(serr(1111, "Unauthorized query ( 1111 : custom)")), fail(serr(1111, "Unauthorized query ( 1111 : custom)")),
			Options{}, Identical},
		{"expected error, got S_OK", Call{Method: "m", Expect: &Expect{OK: &no}}, ok(nil), ok(nil), Options{}, Divergent},
		{"expected message missed", Call{Method: "m", Expect: &Expect{Message: "boom"}},
			fail(serr(0, "bang")), fail(serr(0, "bang")), Options{}, Divergent},
		{"expected errno but S_OK", Call{Method: "m", Expect: &Expect{Errno: &n1111}}, ok(nil), ok(nil), Options{}, Divergent},
		{"expected value but S_ERROR", Call{Method: "m", Expect: &Expect{Value: nil, HasValue: true}},
			fail(serr(0, "x")), fail(serr(0, "x")), Options{}, Divergent},
		{"expectation on a failed side stays failed", Call{Method: "m", Expect: &Expect{OK: &yes}},
			ok(nil), fail(errors.New("eof")), Options{}, Failed},
		{"divergent beats failed", Call{Method: "m", Expect: &Expect{OK: &no}},
			ok(nil), fail(errors.New("eof")), Options{}, Divergent},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := Judge(tc.call, tc.a, tc.b, tc.opts)
			assert.Equal(t, tc.want, c.Status, "%+v", c.Differences)
		})
	}
}

func captureCallers() (*fakeCaller, *fakeCaller) {
	d := value.NewDict
	dips := &fakeCaller{protocol: diracrpc.DIPS, answers: map[string]Outcome{
		"echo":         ok("hello"),
		"echoAny":      ok(d("t", value.Tuple{int64(3), int64(4)}, "k", d(int64(1), "x"))),
		"now":          ok(t0),
		"fail":         fail(serr(0, "boom")),
		"doesNotExist": fail(serr(0, "Unknown method doesNotExist")),
		"add":          ok(int64(5)),
	}}
	https := &fakeCaller{protocol: diracrpc.HTTPS, answers: map[string]Outcome{
		"echo":         ok("hello"),
		"echoAny":      ok(d("t", []any{int64(3), int64(4)}, "k", d("1", "x"))),
		"now":          ok(t0sec),
		"fail":         fail(serr(0, "boom")),
		"doesNotExist": fail(&diracrpc.Error{Errno: 38, Message: "Function not implemented ( 38 : doesNotExist is not implemented)"}),
		"add":          ok(5.0),
	}}
	return dips, https
}

func TestRunAndReports(t *testing.T) {
	dips, https := captureCallers()
	calls := []Call{
		{Method: "echo", Args: []any{"hello"}},
		{Method: "echoAny", Args: []any{value.NewDict("t", value.Tuple{int64(3), int64(4)})}},
		{Method: "now"},
		{Method: "fail", Args: []any{"boom"}},
		{Method: "doesNotExist"},
		{Name: "add two ints", Method: "add", Args: []any{2, 3}},
		{Method: "missing"},
	}
	rep := Run(context.Background(), dips, https, calls, Options{NameA: "dips", NameB: "https", URLA: "dips://x/S/C"})
	require.Len(t, rep.Cases, len(calls))
	var got []Status
	for _, c := range rep.Cases {
		got = append(got, c.Status)
	}
	assert.Equal(t, []Status{Identical, Expected, Expected, Identical, Expected, Divergent, Failed}, got)
	assert.Equal(t, Summary{Total: 7, Identical: 2, Expected: 3, Divergent: 1, Failed: 1}, rep.Summary())
	assert.True(t, rep.Divergent())
	assert.True(t, rep.Failed())
	assert.Equal(t, diracrpc.DIPS, rep.Cases[0].A.Protocol)
	assert.Equal(t, []string{"echo", "echoAny", "now", "fail", "doesNotExist", "add", "missing"}, dips.calls)

	var text bytes.Buffer
	require.NoError(t, rep.WriteText(&text))
	out := text.String()
	assert.Contains(t, out, "compat: A = dips (dips://x/S/C), B = https")
	assert.Contains(t, out, "identical  echo('hello')")
	assert.Contains(t, out, "~ tuple-became-list at $['t']")
	assert.Contains(t, out, "~ key-became-string at $['k'][1]")
	assert.Contains(t, out, "~ microseconds-dropped at $")
	assert.Contains(t, out, "DIVERGENT  add two ints")
	assert.Contains(t, out, "! type-mismatch at $: A 5 | B 5.0 (int vs float)")
	assert.Contains(t, out, "FAILED     missing()")
	assert.Contains(t, out, "7 calls: 2 identical, 3 expected differences only, 1 divergent, 1 failed")

	var js bytes.Buffer
	require.NoError(t, rep.WriteJSON(&js))
	var parsed map[string]any
	require.NoError(t, json.Unmarshal(js.Bytes(), &parsed), js.String())
	assert.Equal(t, map[string]any{"total": 7.0, "identical": 2.0, "expected": 3.0, "divergent": 1.0, "failed": 1.0}, parsed["summary"])
	cases := parsed["cases"].([]any)
	nowCase := cases[2].(map[string]any)
	assert.Equal(t, map[string]any{"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, nowCase["a"].(map[string]any)["value"])
	assert.Equal(t, "datetime.datetime(2024, 1, 2, 3, 4, 5, 123456)", nowCase["a"].(map[string]any)["repr"])
	failCase := cases[3].(map[string]any)
	assert.Equal(t, 0.0, failCase["a"].(map[string]any)["errno"])
	assert.Equal(t, "boom", failCase["a"].(map[string]any)["message"])
	assert.Equal(t, []any{}, failCase["differences"])
	assert.Contains(t, cases[6].(map[string]any)["b"].(map[string]any)["error"], "no answer for missing")

	var junit bytes.Buffer
	require.NoError(t, rep.WriteJUnit(&junit))
	var suites struct {
		Suites []struct {
			Tests    int `xml:"tests,attr"`
			Failures int `xml:"failures,attr"`
			Errors   int `xml:"errors,attr"`
			Cases    []struct {
				Name    string `xml:"name,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
				Error *struct{} `xml:"error"`
				Out   string    `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	require.NoError(t, xml.Unmarshal(junit.Bytes(), &suites), junit.String())
	require.Len(t, suites.Suites, 1)
	s := suites.Suites[0]
	assert.Equal(t, 7, s.Tests)
	assert.Equal(t, 1, s.Failures)
	assert.Equal(t, 1, s.Errors)
	assert.Equal(t, "add two ints", s.Cases[5].Name)
	require.NotNil(t, s.Cases[5].Failure)
	assert.Contains(t, s.Cases[5].Failure.Message, "type-mismatch")
	assert.NotNil(t, s.Cases[6].Error)
	assert.Contains(t, s.Cases[1].Out, "tuple-became-list")
}

func TestRunHonoursContext(t *testing.T) {
	dips, https := captureCallers()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep := Run(ctx, dips, https, []Call{{Method: "echo"}}, Options{})
	assert.Equal(t, Failed, rep.Cases[0].Status)
}

const yamlCalls = `
calls:
  - method: add
    args: [2, 3]
    expect: {ok: true, value: 5}
  - name: echo a tuple
    method: echoAny
    args: [{t: !tuple [3, 4], k: {1: x}, d: {__dCls: dt, obj: "2024-01-02 03:04:05"}, b: !!binary AP8=, f: 2.0, n: null, big: 1180591620717411303424}]
  - method: failErrno
    args: [1111, custom]
    expect: {ok: false, errno: 1111, message_contains: custom, allow: [key-order], strict: true}
  - method: now
`

func TestParseYAML(t *testing.T) {
	calls, err := ParseYAML([]byte(yamlCalls))
	require.NoError(t, err)
	require.Len(t, calls, 4)
	assert.Equal(t, "add", calls[0].Method)
	assert.True(t, value.Equal([]any{int64(2), int64(3)}, calls[0].Args))
	require.NotNil(t, calls[0].Expect)
	assert.True(t, *calls[0].Expect.OK)
	assert.True(t, calls[0].Expect.HasValue)
	assert.Equal(t, int64(5), calls[0].Expect.Value)

	assert.Equal(t, "echo a tuple", calls[1].Label())
	want := value.NewDict("t", value.Tuple{int64(3), int64(4)}, "k", value.NewDict(int64(1), "x"),
		"d", t0sec, "b", []byte{0, 0xff}, "f", 2.0, "n", nil, "big", big70)
	assert.True(t, value.Equal([]any{want}, calls[1].Args), Repr(calls[1].Args))

	x := calls[2].Expect
	assert.False(t, *x.OK)
	assert.Equal(t, 1111, *x.Errno)
	assert.Equal(t, "custom", x.MessageContains)
	assert.Equal(t, []Kind{KeyOrder}, x.Allow)
	assert.True(t, x.Strict)
	assert.Equal(t, []any{}, calls[3].Args)
	assert.Equal(t, "now()", calls[3].Label())
}

func TestParseJSON(t *testing.T) {
	calls, err := ParseJSON([]byte(`[{"method": "echoAny", "args": [{"__dCls": "b64", "obj": "AP8="}, NaN, 1.0, {"1": 2}],
		"expect": {"value": {"__dCls": "date", "obj": "2024-01-02"}}}]`))
	require.NoError(t, err)
	require.Len(t, calls, 1)
	require.Len(t, calls[0].Args, 4)
	assert.Equal(t, []byte{0, 0xff}, calls[0].Args[0])
	assert.Equal(t, 1.0, calls[0].Args[2])
	assert.Equal(t, value.DateOf(t0), calls[0].Expect.Value)
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{
		`{"calls": 1}`,
		`{"cals": []}`,
		`[1]`,
		`[{"args": []}]`,
		`[{"method": 1}]`,
		`[{"method": "m", "args": 1}]`,
		`[{"method": "m", "bogus": 1}]`,
		`[{"method": "m", "expect": {"allow": ["nope"]}}]`,
		`[{"method": "m", "expect": {"ok": 1}}]`,
		`[{"method": "m", "expect": {"errno": "x"}}]`,
		`[{"method": "m", "expect": {"whatever": 1}}]`,
		`[{"method": "m", "expect": 3}]`,
		`[{"method": "m", "expect": {"strict": 1}}]`,
		`not json`,
	} {
		_, err := ParseJSON([]byte(bad))
		assert.Error(t, err, bad)
	}
	for _, bad := range []string{"", "calls: [{method: m, args: [{[1]: x}]}]", "- {method: m, args: [!!float x]}"} {
		_, err := ParseYAML([]byte(bad))
		assert.Error(t, err, bad)
	}
}

func TestLoadFile(t *testing.T) {
	dir := t.TempDir()
	y := filepath.Join(dir, "calls.yaml")
	require.NoError(t, os.WriteFile(y, []byte(yamlCalls), 0o600))
	calls, err := LoadFile(y)
	require.NoError(t, err)
	assert.Len(t, calls, 4)
	j := filepath.Join(dir, "calls.json")
	require.NoError(t, os.WriteFile(j, []byte(`{"calls": [{"method": "ping"}]}`), 0o600))
	calls, err = LoadFile(j)
	require.NoError(t, err)
	assert.Equal(t, "ping", calls[0].Method)
	_, err = LoadFile(filepath.Join(dir, "none.json"))
	assert.Error(t, err)
}
