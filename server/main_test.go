package server_test

import (
	"testing"

	"github.com/diracgo/diracrpc/internal/testkit/benchservers"
)

func TestMain(m *testing.M) { benchservers.Main(m) }
