package pki

import (
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// TB is the part of testing.TB the test helpers here and in testharness use;
// *testing.T, *testing.B and *testing.F satisfy it. Taking it rather than
// testing.TB keeps package testing out of programs that use the harness
// (cmd/probe), as testify's TestingT does.
type TB interface {
	Helper()
	TempDir() string
	Cleanup(func())
	Errorf(format string, args ...any)
	Fatalf(format string, args ...any)
}

// NewT creates a CA or fails the test.
func NewT(tb TB, opts Options) *CA {
	tb.Helper()
	ca, err := New(opts)
	if err != nil {
		tb.Fatalf("pki.New: %v", err)
	}
	return ca
}

// Must returns c or fails the test on err: pki.Must(t)(ca.User("alice")).
func Must(tb TB) func(*credentials.Credential, error) *credentials.Credential {
	return func(c *credentials.Credential, err error) *credentials.Credential {
		tb.Helper()
		if err != nil {
			tb.Fatalf("pki: %v", err)
		}
		return c
	}
}

// WriteDirT writes the layout of WriteDir into a fresh t.TempDir.
func (ca *CA) WriteDirT(tb TB) *Files {
	tb.Helper()
	f, err := ca.WriteDir(tb.TempDir())
	if err != nil {
		tb.Fatalf("pki.WriteDir: %v", err)
	}
	return f
}

// IdentitiesT issues the Identities of a user with common name cn, or fails
// the test.
func (ca *CA) IdentitiesT(tb TB, cn string) Identities {
	tb.Helper()
	ids, err := ca.Identities(cn)
	if err != nil {
		tb.Fatalf("pki: %v", err)
	}
	return ids
}
