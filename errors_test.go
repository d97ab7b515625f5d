package diracrpc

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/value"
)

func TestMessageRule(t *testing.T) {
	assert.Equal(t, "Unauthorized query ( 1111 : Unauthorized query)", FormatMessage(ENOAUTH, "Unauthorized query"))
	assert.Equal(t, "Permission denied ( 13 : No access to x)", FormatMessage(EACCES, "No access to x"))
	assert.Equal(t, "Function not implemented ( 38 : m is not implemented)", FormatMessage(ENOSYS, "m is not implemented"))
	assert.Equal(t, "plain", FormatMessage(0, "plain"))
	assert.Equal(t, "Unknown error 9999 ( 9999 : x)", FormatMessage(9999, "x"))
	assert.Equal(t, "Undefined error", StrError(0))
}

func TestErrorMatchesSentinels(t *testing.T) {
	e := NewError(ENOAUTH, "Unauthorized query")
	wrapped := fmt.Errorf("calling: %w", e)
	assert.ErrorIs(t, wrapped, ErrUnauthorized)
	assert.NotErrorIs(t, wrapped, ErrNotImplemented)
	var got *Error
	require.ErrorAs(t, wrapped, &got)
	assert.Equal(t, 1111, got.Errno)

	// Older peers omit Errno: DIRAC's cmpError then looks for the text.
	assert.ErrorIs(t, &Error{Message: "Unauthorized query ( 1111 : x)"}, ErrUnauthorized)
	assert.ErrorIs(t, NewError(ENOSYS, "m"), ErrNotImplemented)

	// DISET's "not up in this server" as a result (through a gateway) is
	// what it is as a refusal: no such service there. The call stays
	// reached: a service may relay what its own call was told.
	notUp := NotUp("Framework/Nope")
	assert.Equal(t, "Framework/Nope is not up in this server", notUp.Message)
	assert.Equal(t, CodeNotFound, CodeOf(fmt.Errorf("calling: %w", notUp)))
	assert.ErrorIs(t, notUp, ErrNotFound)
	assert.True(t, Reached(notUp))
	assert.Equal(t, CodeServiceError, (&Error{Errno: 2, Message: "x is not up in this server"}).Code(), "a service's own errno wins")
	assert.Equal(t, "S_ERROR: Unauthorized query ( 1111 : Unauthorized query)", e.Error())
	assert.Equal(t, "S_ERROR 5: boom", (&Error{Errno: 5, Message: "boom"}).Error())
}

func TestParseResult(t *testing.T) {
	v, err := ParseResult(OK(int64(3)))
	require.NoError(t, err)
	assert.Equal(t, int64(3), v)

	v, err = ParseResult(value.NewDict("OK", true, "Value", nil, "rpcStub", []any{}))
	require.NoError(t, err)
	assert.Nil(t, v)

	_, err = ParseResult(value.NewDict("OK", false, "Errno", int64(1111), "Message", "m", "CallStack", []any{"a", "b"}))
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, &Error{Errno: 1111, Message: "m", CallStack: []string{"a", "b"}}, e)

	_, err = ParseResult(value.NewDict("OK", false, "Message", "no errno"))
	require.ErrorAs(t, err, &e)
	assert.Equal(t, 0, e.Errno)

	for _, bad := range []any{nil, "x", value.NewDict("Value", 1), value.NewDict("OK", true), value.NewDict("OK", false)} {
		_, err := ParseResult(bad)
		assert.ErrorIs(t, err, ErrProtocol, "%#v", bad)
	}
}

func TestErrorDictKeyOrder(t *testing.T) {
	e := &Error{Errno: 0, Message: "boom", CallStack: []string{"frame"}}
	assert.Equal(t, []any{"OK", "Errno", "Message", "CallStack"}, e.Dict(true).Keys())
	assert.Equal(t, []any{"OK", "Errno", "Message"}, e.Dict(false).Keys())
	assert.Equal(t, []any{"OK", "Value"}, OK(nil).Keys())
}

func TestStubRoundTrip(t *testing.T) {
	s := &Stub{Service: "Framework/Foo", Options: value.NewDict("timeout", int64(600)), Method: "add", Args: []any{int64(1), int64(2)}}
	got, err := ParseStub(s.Value())
	require.NoError(t, err)
	assert.Equal(t, s, got)

	// The HTTPS client's tuple form parses too.
	got, err = ParseStub(value.Tuple{value.Tuple{"Framework/Foo", value.NewDict()}, "ping", []any{}})
	require.NoError(t, err)
	assert.Equal(t, "ping", got.Method)

	_, err = ParseStub([]any{"x"})
	require.Error(t, err)
	assert.False(t, errors.Is(err, ErrProtocol))
}

// A CallError reads and matches as its cause; StubOf finds its stub.
func TestCallErrorIsTransparent(t *testing.T) {
	cause := NewError(ENOAUTH, "no")
	stub := &Stub{Service: "Framework/Foo", Method: "m", Args: []any{1}}
	err := fmt.Errorf("context: %w", &CallError{Err: cause, Stub: stub})
	assert.Equal(t, "context: "+cause.Error(), err.Error())
	assert.ErrorIs(t, err, ErrUnauthorized)
	var de *Error
	require.ErrorAs(t, err, &de)
	assert.Same(t, cause, de)
	assert.Same(t, stub, StubOf(err))
	assert.Nil(t, StubOf(cause))
	assert.Nil(t, StubOf(nil))
}

// TestWrongProtocolError: the hint names the server and what to call; a
// server that only stayed silent is a possible cause, not a match.
func TestWrongProtocolError(t *testing.T) {
	e := &WrongProtocolError{URL: "https://h.example:9135/S/C", Other: DIPS, Answer: []byte(`31:{"OK": false}`)}
	assert.Equal(t, `the server at h.example:9135 answered like a DISET server ("31:{\"OK\": false}"): `+
		`is this an https:// URL for a dips:// port? (call dips://h.example:9135/S/C, or use the service's https:// port)`, e.Error())
	assert.ErrorIs(t, e, ErrWrongProtocol)

	timeout := errors.New("i/o timeout")
	s := &WrongProtocolError{URL: "dips://h.example:8443/S/C", Other: HTTPS, Silent: true, Err: timeout}
	assert.NotErrorIs(t, s, ErrWrongProtocol)
	assert.ErrorIs(t, s, timeout)
	assert.Contains(t, s.Error(), "i/o timeout (possible cause: the server at h.example:8443 completed the TLS handshake")
	assert.Contains(t, s.Error(), "is this a dips:// URL for an https:// port?")
	assert.Contains(t, s.Fix(), "call https://h.example:8443/S/C")
}
