package disetclient_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc/internal/testkit/benchservers"
)

// TestMain fails the package if a test leaves a goroutine behind (a call that
// outlived its context, a server connection never closed).
func TestMain(m *testing.M) {
	benchservers.ChildMain() // the benchmarks' server process
	goleak.VerifyTestMain(m)
}
