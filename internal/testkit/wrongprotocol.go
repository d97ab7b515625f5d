package testkit

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
)

// WrongProtocol checks that err is a call's failure on a server of the
// other protocol: a *diracrpc.WrongProtocolError naming other, Silent as
// said, whose Fix names fixURL when it is not empty. An answer in the other
// protocol is CodeProtocol, ErrWrongProtocol and not reached; silence
// proves nothing, so its error does not match ErrWrongProtocol (its code is
// the caller's to check: a timeout, a closed connection). It returns the
// error found.
func WrongProtocol(t testing.TB, err error, other diracrpc.Protocol, silent bool, fixURL string) *diracrpc.WrongProtocolError {
	t.Helper()
	var wpe *diracrpc.WrongProtocolError
	require.ErrorAs(t, err, &wpe, "the error names the possible cause")
	assert.Equal(t, other, wpe.Other)
	assert.Equal(t, silent, wpe.Silent)
	if fixURL != "" {
		assert.Contains(t, wpe.Fix(), "call "+fixURL)
	}
	if silent {
		assert.NotErrorIs(t, err, diracrpc.ErrWrongProtocol, "silence proves nothing")
		return wpe
	}
	assert.Equal(t, diracrpc.CodeProtocol, diracrpc.CodeOf(err), "%v", err)
	assert.ErrorIs(t, err, diracrpc.ErrWrongProtocol)
	assert.False(t, diracrpc.Reached(err), "a server of the other protocol ran nothing")
	return wpe
}
