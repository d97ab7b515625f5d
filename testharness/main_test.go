package testharness_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Close must stop every goroutine the harness and its clients started.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
