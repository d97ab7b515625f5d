package testkit_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const module = "github.com/diracgo/diracrpc"

// isTestkit reports whether path is internal/testkit or below it.
func isTestkit(path string) bool {
	const kit = module + "/internal/testkit"
	return path == kit || strings.HasPrefix(path, kit+"/")
}

// TestProductionDoesNotLinkTestCode: no package outside internal/testkit
// (the library, testharness, cmd/probe) depends on testing or on a testkit
// package, so that neither ends up in a program built from this module.
func TestProductionDoesNotLinkTestCode(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("the go command is not on PATH")
	}
	// One line per package: its path, then its dependencies (non-test
	// builds: go list -deps without -test).
	out, err := exec.Command(goTool, "list", "-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, module+"/...").Output()
	require.NoError(t, err)
	var checked []string
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		pkg, deps := fields[0], fields[1:]
		if isTestkit(pkg) {
			continue
		}
		checked = append(checked, pkg)
		for _, d := range deps {
			assert.False(t, d == "testing" || isTestkit(d), "%s depends on %s", pkg, d)
		}
	}
	assert.Contains(t, checked, module+"/cmd/probe")
	assert.Contains(t, checked, module+"/testharness")
}
