package httpsclient_test

import (
	"testing"

	"go.uber.org/goleak"

	"github.com/diracgo/diracrpc/internal/testkit/benchservers"
)

func TestMain(m *testing.M) {
	benchservers.ChildMain() // the benchmarks' server process
	goleak.VerifyTestMain(m)
}
