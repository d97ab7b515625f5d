package httpsclient

import (
	"fmt"

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
	const hex = "0123456789ABCDEF"
	for _, ch := range s {
		switch {
		case 'a' <= ch && ch <= 'z', 'A' <= ch && ch <= 'Z', '0' <= ch && ch <= '9',
			ch == '_', ch == '.', ch == '-', ch == '~':
			dst = append(dst, ch)
		case ch == ' ':
			dst = append(dst, '+')
		default:
			dst = append(dst, '%', hex[ch>>4], hex[ch&15])
		}
	}
	return dst
}

// form returns the request body for method(args...), byte for byte what
// DIRAC's TornadoClient sends. rawContent is set for downloads.
func (t *transport) form(method string, args []any, rawContent bool) ([]byte, error) {
	if args == nil {
		args = []any{}
	}
	b := make([]byte, 0, 64+len(method)+len(t.tail))
	b = append(b, "method="...)
	b = appendQueryEscape(b, []byte(method))
	b = append(b, "&args="...)
	js, err := jencode.Marshal(args)
	if err != nil {
		return nil, fmt.Errorf("httpsclient: encoding arguments of %s: %w", method, err)
	}
	b = appendQueryEscape(b, js)
	b = append(b, t.tail...)
	if rawContent {
		b = append(b, "&rawContent=True"...)
	}
	return b, nil
}
