package cfg

import (
	"strings"
	"testing"
)

// FuzzParse checks that the parser never panics, that its errors are
// *ParseError, and that serialisation reaches a fixed point: what String
// writes parses back, and writing that again is stable (the first round may
// lose trailing blanks of comment lines, as diraccfg does), for every
// configuration whose names the format can express.
func FuzzParse(f *testing.F) {
	f.Add([]byte(specExample))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz", data)
		if err != nil {
			if _, ok := err.(*ParseError); !ok {
				t.Fatalf("error %T is not a *ParseError: %v", err, err)
			}
			return
		}
		if !writable(c) {
			return
		}
		first := c.String()
		c2, err := Parse("again", []byte(first))
		if err != nil {
			t.Fatalf("serialised text does not parse: %v\n%s", err, first)
		}
		if !sameValues(c, c2) {
			t.Fatalf("values changed through serialisation:\n%s", first)
		}
		text := c2.String()
		c3, err := Parse("third", []byte(text))
		if err != nil {
			t.Fatalf("serialised text does not parse: %v\n%s", err, text)
		}
		if again := c3.String(); again != text {
			t.Fatalf("serialisation is not stable:\n%s\n---\n%s", text, again)
		}
	})
}

// writable reports whether every name of c survives serialisation: the
// parser accepts names that the writer cannot express (a name holding '{'
// or '}', or starting with '#', which only arise from the quirks of
// option lines and of names following a '{' on the same line).
func writable(s *Section) bool {
	for _, e := range s.entries {
		if strings.HasPrefix(e.name, "#") {
			return false
		}
		for _, r := range e.name {
			switch r {
			case '{', '}', '=', '+', '\r':
				return false
			}
		}
		if e.sec != nil && !writable(e.sec) {
			return false
		}
	}
	return true
}

// sameValues compares structure and values, lists compared item-wise.
func sameValues(a, b *Section) bool {
	if len(a.entries) != len(b.entries) {
		return false
	}
	for i, e := range a.entries {
		o := b.entries[i]
		if e.name != o.name || (e.sec == nil) != (o.sec == nil) {
			return false
		}
		if e.sec != nil {
			if !sameValues(e.sec, o.sec) {
				return false
			}
			continue
		}
		if strings.Join(SplitList(e.value), ",") != strings.Join(SplitList(o.value), ",") {
			return false
		}
	}
	return true
}
