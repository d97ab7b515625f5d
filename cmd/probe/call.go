package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/jencode"
)

// callResult is the --json output of call and ping.
type callResult struct {
	OK    bool `json:"ok"`
	Value any  `json:"value,omitempty"`
	// Extra: the result's keys besides OK and Value (Result.Extra).
	Extra     any     `json:"extra,omitempty"`
	Errno     *int    `json:"errno,omitempty"`
	Message   string  `json:"message,omitempty"`
	Error     string  `json:"error,omitempty"`
	Fix       string  `json:"fix,omitempty"`
	Method    string  `json:"method"`
	Endpoint  string  `json:"endpoint"`
	Protocol  string  `json:"protocol,omitempty"`
	URL       string  `json:"url,omitempty"`
	ElapsedMS float64 `json:"elapsed_ms"`
	// Timing is the breakdown of the last attempt (-v).
	Timing *timingMS `json:"timing_ms,omitempty"`
}

// timingMS is diracrpc.Phases in milliseconds, for --json.
type timingMS struct {
	DNS      float64 `json:"dns"`
	Connect  float64 `json:"connect"`
	TLS      float64 `json:"tls"`
	Proposal float64 `json:"proposal"`
	Server   float64 `json:"server"`
	Transfer float64 `json:"transfer"`
	Total    float64 `json:"total"`
	Reused   bool    `json:"reused,omitempty"`
	Attempts int     `json:"attempts"`
}

// parseArgs reads each ARG as one DIRAC JSON value.
func parseArgs(raw []string) ([]any, error) {
	args := make([]any, 0, len(raw))
	for i, a := range raw {
		v, err := jencode.Decode([]byte(a))
		if err != nil {
			return nil, usageErr("argument %d (%s) is not a JSON value: %v (strings need quotes: '\"text\"')", i+1, a, err)
		}
		args = append(args, v)
	}
	return args, nil
}

// doCall makes one call and classifies the outcome into a result and an
// error carrying the exit code.
func doCall(ctx context.Context, c *common, e *env, endpointArg, method string, args []any) (*callResult, *diracrpc.Result, error) {
	out := &callResult{Method: method, Endpoint: endpointArg}
	t, err := c.resolveTarget(ctx, e, endpointArg)
	if err != nil {
		return nil, nil, err
	}
	out.Protocol = string(t.protocol)
	cl, err := c.caller(e, t)
	if err != nil {
		return out, nil, failure(out, err)
	}
	defer cl.Close()
	return doCallWith(ctx, c, e, cl, t, endpointArg, method, args)
}

// doCallWith is doCall on a client already built.
func doCallWith(ctx context.Context, c *common, e *env, cl diracrpc.Caller, t *target, endpointArg, method string, args []any) (*callResult, *diracrpc.Result, error) {
	out := &callResult{Method: method, Endpoint: endpointArg, Protocol: string(t.protocol)}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var tm *diracrpc.Timing
	if c.verbose {
		tm = &diracrpc.Timing{}
		ctx = diracrpc.WithTiming(ctx, tm)
	}
	start := time.Now()
	res, err := cl.Call(ctx, method, args...)
	out.ElapsedMS = millis(time.Since(start))
	if tm != nil {
		p := tm.Phases()
		out.Timing = &timingMS{DNS: millis(p.DNS), Connect: millis(p.Connect), TLS: millis(p.TLS),
			Proposal: millis(p.Proposal), Server: millis(p.Server), Transfer: millis(p.Transfer),
			Total: millis(p.Total), Reused: p.Reused, Attempts: p.Attempts}
	}
	if err != nil {
		return out, nil, failure(out, c.explainRefusal(e, err))
	}
	out.OK = true
	out.Value = diracJSON(res.Value)
	if res.Extra != nil {
		out.Extra = diracJSON(res.Extra)
	}
	out.Protocol, out.URL = string(res.Protocol), res.URL
	return out, res, nil
}

// frameworkRefusal is the S_ERROR DIRAC's framework (and the Go server)
// answers when the caller's identity may not call the method. A handler may
// return Errno 1111 with its own message: that is no refusal of the
// identity, and gets no hint about it.
var frameworkRefusal = diracrpc.FormatMessage(diracrpc.ENOAUTH, "Unauthorized query")

// failure fills out for err and returns the exit error: 1 when the service
// answered (an S_ERROR, a refusal of the identity, a failure of its
// handler, no such method), 3 for anything that kept the call from the
// service (no such service at the URL included), 130 when interrupted. The
// code of the error (diracrpc.CodeOf) decides, the same for both protocols.
func failure(out *callResult, err error) error {
	code := diracrpc.CodeOf(err)
	var se *diracrpc.Error
	isS := errors.As(err, &se)
	switch {
	case code == diracrpc.CodeUnauthorized && isS && se.Local:
		// An HTTPS 401/403: the server refused the credentials before any
		// method ran.
		n := se.Errno
		out.Errno, out.Message = &n, se.Message
		out.Error = se.Message
		out.Fix = "the service refused your credentials: check that your proxy is valid, issued by a CA the service trusts, and that your DN and group are registered (probe tls ENDPOINT)"
		return &exitError{code: exitUnreachable, msg: unreachable(se.Message, out.Fix).Error(), err: err}
	case code == diracrpc.CodeNotFound:
		// No such service at this URL: DISET answers an S_ERROR, HTTPS a
		// 404; both are the same mistake, with the same exit code.
		what, fix := explain(err)
		out.Error, out.Fix = what, fix
		return &exitError{code: exitUnreachable, msg: strings.TrimSpace(unreachable(what, fix).Error()), err: err}
	case code == diracrpc.CodeCanceled:
		out.Error = err.Error()
		return &exitError{code: exitInterrupted, msg: "interrupted: " + err.Error(), err: err}
	case isS:
		n := se.Errno
		out.Errno, out.Message = &n, se.Message
		msg := fmt.Sprintf("S_ERROR Errno %d: %s", se.Errno, se.Message)
		if code == diracrpc.CodeUnauthorized && se.Message == frameworkRefusal {
			msg += "\n  hint: the service refused this identity; check the group/properties of your proxy (probe call ENDPOINT whoami)"
		}
		return &exitError{code: exitFail, msg: msg, err: err}
	case code == diracrpc.CodeServerFailure && diracrpc.Reached(err):
		// The service was reached and its handler failed (an HTTP 500):
		// DIRAC's client reports this as S_ERROR(0, "500 Server Error: ...").
		var te *diracrpc.TransportError
		errors.As(err, &te)
		n := 0
		out.Errno, out.Message = &n, te.Err.Error()
		return &exitError{code: exitFail, err: err,
			msg: "S_ERROR Errno 0: " + out.Message + "\n  (the handler failed on the server; the details are only in the server's log)"}
	case code == diracrpc.CodeNotImplemented:
		// An HTTPS 501 (DISET's "Unknown method" is an S_ERROR, above): the
		// service answered that it has no such method.
		out.Error = err.Error()
		return &exitError{code: exitFail, msg: err.Error(), err: err}
	}
	what, fix := explain(err)
	out.Error, out.Fix = what, fix
	return &exitError{code: exitUnreachable, msg: strings.TrimSpace(unreachable(what, fix).Error()), err: err}
}

func runCall(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "call")
	var format string
	registerFormat(fs, &format, "format")
	pos, err := c.parse(e, fs, args, 2)
	if err != nil {
		return err
	}
	if err := checkFormat("format", format); err != nil {
		return err
	}
	if len(pos) < 2 {
		return usageErr("want ENDPOINT and METHOD")
	}
	callArgs, err := parseArgs(pos[2:])
	if err != nil {
		return err
	}
	var spans *spanRecorder
	if c.verbose && !c.json {
		var tp *sdktrace.TracerProvider
		tp, spans = newSpanRecorder()
		c.tracer = tp
	}
	out, res, err := doCall(ctx, &c, e, pos[0], pos[1], callArgs)
	if c.verbose && out != nil && out.Timing != nil && !c.json {
		writeTiming(e.stderr, out)
	}
	if spans != nil {
		if s := spans.ended(); len(s) > 0 {
			fmt.Fprintln(e.stderr, "spans:")
			writeSpanTree(e.stderr, s)
		}
	}
	if c.json && out != nil {
		return writeJSONResult(e, out, err)
	}
	if err != nil {
		return err
	}
	text, merr := display(format, res.Value)
	if merr != nil {
		// Values DIRAC JSON cannot hold (a datetime.time over DEncode): Python repr.
		fmt.Fprintln(e.stderr, "probe call: note: DIRAC JSON cannot hold this value; shown in Python repr")
		text = reprOf(res.Value)
	} else if format == formatDIRACJSON {
		warnLossy(e.stderr, "call", "format", res.Value)
	}
	_, err = fmt.Fprintln(e.stdout, text)
	return err
}

// jsonExit keeps err's exit code but prints only a short line: the JSON on
// stdout says the rest.
func jsonExit(err error) error {
	var ee *exitError
	if errors.As(err, &ee) {
		return &exitError{code: ee.code, msg: firstLine(ee.Error())}
	}
	return err
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
