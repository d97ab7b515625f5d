package jencode

import (
	"bytes"
	"encoding/base64"
	"testing"

	"github.com/diracgo/diracrpc/internal/testkit/vectors"
	"github.com/diracgo/diracrpc/value"
)

// FuzzDecode checks that no input makes Decode panic, and that whatever it
// accepts encodes and decodes again to an equal value. The seed corpus
// (testdata/fuzz/FuzzDecode) holds the inputs of the golden vectors.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := Decode(data)
		var dec Decoder
		general, gerr := dec.decode(data, true)
		if (err == nil) != (gerr == nil) || err != nil && err.Error() != gerr.Error() || !value.Equal(v, general) {
			t.Fatalf("%q: %#v (%v) but %#v (%v) without the shortcuts", data, v, err, general, gerr)
		}
		if err != nil {
			return
		}
		text, err := Marshal(v)
		if err != nil {
			t.Fatalf("decoded %q to %#v, which does not encode: %v", data, v, err)
		}
		if events, _, err := appendMarshal(nil, v, true, 0); err != nil || !bytes.Equal(events, text) {
			t.Fatalf("%#v: %q, but %q (%v) without the shortcut", v, text, events, err)
		}
		for _, general := range []bool{false, true} {
			if got := inPieces(t, v, general); got != string(text) {
				t.Fatalf("%#v: %q, but %q in pieces (general %v)", v, text, got, general)
			}
		}
		back, err := Decode(text)
		if err != nil {
			if vectors.HasEarlyYear(v) {
				// DIRAC writes years below 1000 without zero padding
				// ("10-01-01"), which its own decoder then refuses: the
				// encoder reproduces that (vector datetime_y1).
				return
			}
			t.Fatalf("re-encoded %q as %q, which does not decode: %v", data, text, err)
		}
		if !value.Equal(v, back) {
			t.Fatalf("%q -> %#v -> %q -> %#v", data, v, text, back)
		}
	})
}

// FuzzB64Decode checks that the standard library's fast path of b64decode
// agrees with Python's lenient decoding wherever it accepts the input.
func FuzzB64Decode(f *testing.F) {
	for _, s := range []string{"", "aGk=", "aGVsbG8gRElSQUMgdHJhbnNmZXIK", "YQ==YQ==", "a GVs\nbG8=", "YWJj\r\nZA==", "Y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return
		}
		slow, err := b64decodeLenient(s)
		if err != nil || !bytes.Equal(fast, slow) {
			t.Fatalf("%q: standard %x, lenient %x (%v)", s, fast, slow, err)
		}
	})
}

// FuzzSkipPlain checks the plain-text scan (the word loops and, from
// wideScanMin bytes on, the wide scan) against the byte tables: it stops at
// the first byte that is not plain, or at the end. The low 9 bits of pad
// are a number of plain bytes put before the input, which move it across
// word and block borders; the high 7 bits where the scan starts, as after
// an escape (what comes before is never looked at).
func FuzzSkipPlain(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, pad uint16) {
		s := append(bytes.Repeat([]byte{'a'}, int(pad%512)), data...)
		start := min(int(pad>>9), len(s))
		for _, del := range []bool{false, true} {
			// The encoder's table (plain) goes with del, the decoder's
			// (strPlain) without.
			first := len(s)
			for i := start; i < len(s); i++ {
				if c := s[i]; del && !plain[c] || !del && !strPlain[c] {
					first = i
					break
				}
			}
			got := skipPlainBytes(s, start, del)
			if got != first {
				t.Fatalf("del %v: from %d, stopped at %d, first byte that is not plain at %d, in %q", del, start, got, first, s)
			}
		}
	})
}
