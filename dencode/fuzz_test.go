package dencode

import (
	"bytes"
	"testing"

	"github.com/diracgo/diracrpc/value"
)

// FuzzDecode: decoding never panics; what decodes encodes (the same in
// pieces), and decodes again to an equal value. The seed corpus in testdata/fuzz/FuzzDecode holds the
// golden vectors' inputs and PROTOCOL.md's worked examples.
func FuzzDecode(f *testing.F) {
	f.Add([]byte("ds2:OKb1s5:Valueli1es1:aee"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, n, err := Decode(data)
		if err != nil {
			return
		}
		if n <= 0 || n > len(data) {
			t.Fatalf("consumed %d of %d bytes", n, len(data))
		}
		enc, err := Marshal(v)
		if err != nil {
			t.Fatalf("decoded %q but cannot encode it: %v", data[:n], err)
		}
		if general, _, err := appendMarshal(nil, v, true, 0); err != nil || !bytes.Equal(general, enc) {
			t.Fatalf("%#v: %q, but %q (%v) without the shortcut", v, enc, general, err)
		}
		if got := inPieces(t, v); got != string(enc) {
			t.Fatalf("%#v: %q, but %q in pieces", v, enc, got)
		}
		var again any
		if err := Unmarshal(enc, &again); err != nil {
			t.Fatalf("cannot decode own encoding %q of %q: %v", enc, data[:n], err)
		}
		if !value.Equal(v, again) {
			t.Fatalf("%q decoded to %#v, re-encoded as %q, decoded to %#v", data[:n], v, enc, again)
		}
	})
}

// inPieces is the message AppendMarshalBuffers gives when every string is
// left out of the text.
func inPieces(t testing.TB, v any) string {
	text, pieces, err := AppendMarshalBuffers([]byte("prefix"), v, 1)
	if err != nil {
		t.Fatal(err)
	}
	if pieces != nil {
		text = bytes.Join(pieces, nil)
	}
	if !bytes.HasPrefix(text, []byte("prefix")) {
		t.Fatalf("%q: the text does not start with dst", text)
	}
	return string(text[len("prefix"):])
}
