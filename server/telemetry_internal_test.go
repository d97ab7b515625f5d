package server

import (
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/diracgo/diracrpc"
)

// The telemetry hooks of both transports allocate nothing when
// instrumentation is off (nil *serverTelemetry, so nil *serverCall).
func TestTelemetryOffAllocatesNothing(t *testing.T) {
	assert.Nil(t, newServerTelemetry(diracrpc.DIPS, nil, nil))
	d := diracrpc.OK(nil)
	w := httptest.NewRecorder()
	n := testing.AllocsPerRun(100, func() {
		var sc *serverCall
		sc.answer(d)
		sc.fail(diracrpc.CodeServerFailure)
		sc.transferred(ToClient, 10)
		callOf(w).answer(d)
		sc.end()
	})
	assert.Zero(t, n)
}
