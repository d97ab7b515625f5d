package compat

import (
	"testing"

	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/value"
)

// FuzzDiff: for any two DEncode values, Diff never panics, finds nothing
// exactly when the values are Equal, and finds only expected kinds between a
// value and its JSON normalisation.
func FuzzDiff(f *testing.F) {
	f.Add([]byte("ds1:tti3ei4ees1:kdi1es1:xee"), []byte("ds1:tli3ei4ees1:kds1:1s1:xee"))
	f.Add([]byte("zati2024ei1ei2ei3ei4ei5ei123456en"), []byte("zati2024ei1ei2ei3ei4ei5ei0en"))
	f.Add([]byte("li1ef2.5en"), []byte("li1ei2ee"))
	f.Add([]byte("di1es1:as1:1s1:be"), []byte("ds1:1s1:be"))
	f.Fuzz(func(t *testing.T, x, y []byte) {
		a, _, err := dencode.Decode(x)
		if err != nil {
			return
		}
		b, _, err := dencode.Decode(y)
		if err != nil {
			return
		}
		diffs := Diff(a, b)
		if (len(diffs) == 0) != value.Equal(a, b) {
			t.Fatalf("Diff(%s, %s) = %v but Equal = %v", Repr(a), Repr(b), diffs, value.Equal(a, b))
		}
		n, err := value.NormalizeJSON(a)
		if err != nil {
			return
		}
		for _, d := range Diff(a, n) {
			if !d.Kind.Expected() {
				t.Fatalf("value vs its JSON form: %+v (%s vs %s)", d, Repr(a), Repr(n))
			}
		}
	})
}
