package periodic_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/internal/periodic"
)

// TestRunStepsUntilCancelled: the step runs after every interval and Run
// returns the context's error once the step cancels it.
func TestRunStepsUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	asked, steps := 0, 0
	err := periodic.Run(ctx, func() time.Duration { asked++; return time.Millisecond }, func(context.Context) {
		steps++
		if steps == 3 {
			cancel()
		}
	})
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, 3, steps)
	assert.Equal(t, 4, asked, "the interval is asked before the first wait and after every step")
}

// TestRunEndedContext: an ended context returns at once, without a step.
func TestRunEndedContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := periodic.Run(ctx, func() time.Duration { return time.Hour }, func(context.Context) { t.Fatal("step ran") })
	assert.ErrorIs(t, err, context.Canceled)
}
