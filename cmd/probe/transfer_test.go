package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc/testharness"
)

// probeIn runs probe in this process against the harness's environment.
func probeIn(t *testing.T, h *testharness.Harness, terminal bool, stdin string, args ...string) result {
	t.Helper()
	var out, errb strings.Builder
	code := run(ctxT(t), args, &env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb,
		isTerminal: terminal, getenv: func(k string) string { return h.Env[k] }})
	return result{code: code, stdout: out.String(), stderr: errb.String()}
}

func TestGetPut(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	dir := t.TempDir()
	data, _ := io.ReadAll(testharness.GenReader(3 << 20))
	src := filepath.Join(dir, "src")
	require.NoError(t, os.WriteFile(src, data, 0o600))
	for _, u := range []string{h.DIPSURL, h.HTTPSURL} {
		t.Run(u[:strings.Index(u, ":")], func(t *testing.T) {
			r := probeIn(t, h, false, "", "put", "--token", "tok", u, `"f1"`, src)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stdout, `"size": 3145728`, "put prints the S_OK value as call does")
			assert.Empty(t, r.stderr, "no progress when not on a terminal")

			out := filepath.Join(dir, "out-"+u[:4])
			r = probeIn(t, h, true, "", "get", "-o", out, u, `"f1"`)
			require.Equal(t, exitOK, r.code, r.stderr)
			got, err := os.ReadFile(out)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(data, got))
			st, err := os.Stat(out)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o666)&^umask(), st.Mode().Perm(), "a new file as the umask makes it")
			require.NoError(t, os.Chmod(out, 0o640))
			r = probeIn(t, h, false, "", "get", "-o", out, u, `"f1"`)
			require.Equal(t, exitOK, r.code, r.stderr)
			st, err = os.Stat(out)
			require.NoError(t, err)
			assert.Equal(t, os.FileMode(0o640), st.Mode().Perm(), "a file replaced keeps its mode")
			r = probeIn(t, h, false, "", "get", "-o", dir, u, `"f1"`)
			assert.Equal(t, exitUsage, r.code, "-o a directory, refused before the transfer: %s", r.stderr)
			r = probeIn(t, h, true, "", "get", "-o", out, u, `"f1"`)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stderr, "3.0 MiB", "progress on a terminal")
			assert.Contains(t, r.stderr, "/s")
			r = probeIn(t, h, true, "", "put", u, `"f1"`, src)
			require.Equal(t, exitOK, r.code, r.stderr)
			assert.Contains(t, r.stderr, "100%", "a known size gives a percentage")

			// stdout, flags after the arguments
			r = probeIn(t, h, false, "", "get", u, `["gen:1000", {}]`)
			require.Equal(t, exitOK, r.code, r.stderr)
			want, _ := io.ReadAll(testharness.GenReader(1000))
			assert.Equal(t, string(want), r.stdout)

			// Unknown file: exit 1, no file left behind, not even a temporary one.
			missing := filepath.Join(dir, "missing-"+u[:4])
			r = probeIn(t, h, false, "", "get", u, `"nope"`, "-o", missing)
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stderr, "unknown file")
			assert.NoFileExists(t, missing)
			// Failure after data: nothing left either.
			r = probeIn(t, h, false, "", "get", "-o", missing, u, `"fail-after:2000000"`)
			assert.NotEqual(t, exitOK, r.code, r.stderr) // DISET: the S_ERROR (1); HTTPS: a cut body (3)
			assert.NoFileExists(t, missing)
			left, _ := filepath.Glob(filepath.Join(dir, ".missing*"))
			assert.Empty(t, left, "temporary files are removed")

			// put from stdin
			r = probeIn(t, h, false, "hello", "put", u, `"f2"`, "-")
			require.Equal(t, exitOK, r.code, r.stderr)
			b, _ := h.Store.Stored("f2")
			assert.Equal(t, "hello", string(b))
			// A device or a FIFO (no size known ahead): spooled for HTTPS.
			r = probeIn(t, h, false, "", "put", u, `"f3"`, os.DevNull)
			require.Equal(t, exitOK, r.code, r.stderr)
			b, ok := h.Store.Stored("f3")
			assert.True(t, ok)
			assert.Empty(t, b)
			r = probeIn(t, h, false, "", "put", u, `"f3"`, dir)
			assert.Equal(t, exitUsage, r.code, "a directory: %s", r.stderr)
			r = probeIn(t, h, false, "", "put", u, `"refuse"`, src)
			assert.Equal(t, exitFail, r.code)
			r = probeIn(t, h, false, "", "get", "--json", u, `"nope"`)
			assert.Equal(t, exitFail, r.code)
			assert.Contains(t, r.stdout, `"ok":false`)
		})
	}
	t.Run("bulk", func(t *testing.T) {
		r := probeIn(t, h, false, "", "put", "--bulk", "tar", h.DIPSURL, `"b1"`, src)
		require.Equal(t, exitOK, r.code, r.stderr)
		r = probeIn(t, h, false, "", "get", "--bulk", "tar", "--list", h.DIPSURL, `"b1"`)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "[3145728]\n", r.stdout)
		out := filepath.Join(dir, "bulk")
		r = probeIn(t, h, false, "", "get", "--bulk", "tar", "-o", out, h.DIPSURL, `"b1"`)
		require.Equal(t, exitOK, r.code, r.stderr)
		got, _ := os.ReadFile(out)
		assert.True(t, bytes.Equal(data, got))
		r = probeIn(t, h, false, "", "get", "--bulk", "tar", h.HTTPSURL, `"b1"`)
		assert.Equal(t, exitUsage, r.code, r.stderr)
		assert.Contains(t, r.stderr, "--bulk needs a DISET endpoint")
	})
	t.Run("usage", func(t *testing.T) {
		for _, args := range [][]string{
			{"get", h.DIPSURL},
			{"get", h.DIPSURL, "not-json"},
			{"get", "--bulk", "zip", h.DIPSURL, `"x"`},
			{"get", "--list", h.DIPSURL, `"x"`},
			{"get", "--bulk", "tar", h.DIPSURL, `["x"]`},
			{"put", h.DIPSURL, `"x"`},
		} {
			r := probeIn(t, h, false, "", args...)
			assert.Equal(t, exitUsage, r.code, "%v: %s", args, r.stderr)
		}
	})
}

// TestCompareDownload: compare --get fetches a file over both protocols.
func TestCompareDownload(t *testing.T) {
	h := testharness.NewT(t, testharness.Options{})
	r := probeIn(t, h, false, "", "compare", "--get", `"gen:3000000"`, h.DIPSURL, h.HTTPSURL)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "identical bytes")
	assert.Contains(t, r.stdout, "3000000 bytes")
	assert.Contains(t, r.stdout, "md5 ")
	// Both refuse alike: no divergence.
	r = probeIn(t, h, false, "", "compare", "--get", `"nope"`, h.DIPSURL, h.HTTPSURL)
	assert.Equal(t, exitOK, r.code, r.stdout+r.stderr)
	assert.Contains(t, r.stdout, "both refused")
	// A failure after data on both sides is no success.
	r = probeIn(t, h, false, "", "compare", "--get", `"fail-after:100"`, h.DIPSURL, h.HTTPSURL)
	assert.NotEqual(t, exitOK, r.code, r.stdout)
	r = probeIn(t, h, false, "", "compare", "--get", `"x"`, h.DIPSURL, h.HTTPSURL, "echo")
	assert.Equal(t, exitUsage, r.code)
}

// umask is the process's file mode creation mask.
func umask() os.FileMode {
	m := syscall.Umask(0)
	syscall.Umask(m)
	return os.FileMode(m)
}
