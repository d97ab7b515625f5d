package deps

import (
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestDeps(t *testing.T) { require.NotNil(t, goleak.VerifyNone) }
