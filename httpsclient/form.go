package httpsclient

import (
	"fmt"
	"slices"

	"github.com/diracgo/diracrpc/jencode"
)

// formTail is the constant end of every form: extraCredentials (only when
// set), clientVO, clientSetup.
func formTail(extra any, vo, setup string) ([]byte, error) {
	var b []byte
	if extra != nil && extra != "" {
		js, err := jencode.Marshal(extra)
		if err != nil {
			return nil, fmt.Errorf("httpsclient: extraCredentials: %w", err)
		}
		b = append(b, "&extraCredentials="...)
		b = appendQueryEscape(b, js)
	}
	b = append(b, "&clientVO="...)
	b = appendQueryEscape(b, []byte(vo))
	b = append(b, "&clientSetup="...)
	b = appendQueryEscape(b, []byte(setup))
	return b, nil
}

// appendQueryEscape is Python's quote_plus (what urlencode applies): letters,
// digits and "_.-~" stay, space becomes "+", every other byte %XX.
func appendQueryEscape(dst, s []byte) []byte {
	return escapeFrom(append(dst, s...), len(dst))
}

// escapeFrom query-escapes b[from:] where it stands (see appendQueryEscape),
// growing b by what the escapes take; it works from the end, so that
// nothing is overwritten before it is read.
func escapeFrom(b []byte, from int) []byte {
	const hex = "0123456789ABCDEF"
	end, extra := len(b), 0
	for _, ch := range b[from:] {
		if !unreserved(ch) && ch != ' ' {
			extra += 2
		}
	}
	b = slices.Grow(b, extra)[:end+extra]
	w := len(b)
	for r := end - 1; r >= from; r-- {
		switch ch := b[r]; {
		case unreserved(ch):
			w--
			b[w] = ch
		case ch == ' ':
			w--
			b[w] = '+'
		default:
			w -= 3
			b[w], b[w+1], b[w+2] = '%', hex[ch>>4], hex[ch&15]
		}
	}
	return b
}

func unreserved(ch byte) bool {
	return 'a' <= ch && ch <= 'z' || 'A' <= ch && ch <= 'Z' || '0' <= ch && ch <= '9' ||
		ch == '_' || ch == '.' || ch == '-' || ch == '~'
}

// formCap is the room a form's buffer starts with besides the method, the
// arguments' JSON and its escapes: what a short call needs, in one
// allocation.
const formCap = 112

// form returns the request body for method(args...), byte for byte what
// DIRAC's TornadoClient sends. rawContent is set for downloads. The
// arguments are encoded into the body's own buffer and escaped in place.
func (t *transport) form(method string, args []any, rawContent bool) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	b := make([]byte, 0, formCap+3*len(method)+len(t.tail))
	b = append(b, "method="...)
	b = appendQueryEscape(b, []byte(method))
	b = append(b, "&args="...)
	start := len(b)
	b, err := jencode.AppendMarshal(b, args)
	if err != nil {
		return nil, fmt.Errorf("httpsclient: encoding arguments of %s: %w", method, err)
	}
	b = escapeFrom(b, start)
	b = append(b, t.tail...)
	if rawContent {
		b = append(b, "&rawContent=True"...)
	}
	return b, nil
}
