package server_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package if a test leaves a goroutine behind (a server
// connection or watcher never closed).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
