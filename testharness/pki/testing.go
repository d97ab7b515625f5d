package pki

import (
	"testing"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// NewT creates a CA or fails the test.
func NewT(tb testing.TB, opts Options) *CA {
	tb.Helper()
	ca, err := New(opts)
	if err != nil {
		tb.Fatalf("pki.New: %v", err)
	}
	return ca
}

// Must returns c or fails the test on err: pki.Must(t)(ca.User("alice")).
func Must(tb testing.TB) func(*credentials.Credential, error) *credentials.Credential {
	return func(c *credentials.Credential, err error) *credentials.Credential {
		tb.Helper()
		if err != nil {
			tb.Fatalf("pki: %v", err)
		}
		return c
	}
}

// WriteDirT writes the layout of WriteDir into a fresh t.TempDir.
func (ca *CA) WriteDirT(tb testing.TB) *Files {
	tb.Helper()
	f, err := ca.WriteDir(tb.TempDir())
	if err != nil {
		tb.Fatalf("pki.WriteDir: %v", err)
	}
	return f
}
