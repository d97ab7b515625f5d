package disetclient_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a call that
// outlived its context, a server connection never closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
