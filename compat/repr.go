package compat

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/diracgo/diracrpc/value"
)

// Repr writes v as Python's repr would, so that a DIRAC user reads the
// difference in familiar terms: None, True, 'str', b'..', (1,), {1: 'x'},
// datetime.datetime(2024, 1, 2, 3, 4, 5, 123456).
func Repr(v any) string {
	var b strings.Builder
	repr(&b, v, 0)
	return b.String()
}

// shortRepr is Repr cut to a readable length for reports.
func shortRepr(v any) string { return cut(Repr(v), 200) }

// cut shortens s to at most max bytes, on a rune boundary, marking the cut.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	i := max
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i] + "…"
}

func repr(b *strings.Builder, v any, depth int) {
	if depth > value.MaxDepth {
		b.WriteString("...")
		return
	}
	switch v := v.(type) {
	case nil:
		b.WriteString("None")
	case bool:
		if v {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case float64:
		switch {
		case math.IsNaN(v):
			b.WriteString("nan")
		case math.IsInf(v, 0):
			if v < 0 {
				b.WriteByte('-')
			}
			b.WriteString("inf")
		default:
			b.WriteString(value.FormatFloat(v))
		}
	case float32:
		repr(b, float64(v), depth)
	case string:
		pyQuote(b, v, false)
	case []byte:
		b.WriteByte('b')
		pyQuote(b, string(v), true)
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			repr(b, e, depth+1)
		}
		b.WriteByte(']')
	case value.Tuple:
		b.WriteByte('(')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			repr(b, e, depth+1)
		}
		if len(v) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
	case *value.Dict:
		reprDict(b, v, depth)
	case value.Dict:
		reprDict(b, &v, depth)
	case time.Time:
		t := v.UTC()
		fmt.Fprintf(b, "datetime.datetime(%d, %d, %d, %d, %d, %d", t.Year(), int(t.Month()), t.Day(),
			t.Hour(), t.Minute(), t.Second())
		if us := t.Nanosecond() / 1000; us != 0 {
			fmt.Fprintf(b, ", %d", us)
		}
		b.WriteByte(')')
	case value.Date:
		fmt.Fprintf(b, "datetime.date(%d, %d, %d)", v.Year, int(v.Month), v.Day)
	case value.TimeOfDay:
		fmt.Fprintf(b, "datetime.time(%d, %d, %d", v.Hour, v.Minute, v.Second)
		if v.Microsecond != 0 {
			fmt.Fprintf(b, ", %d", v.Microsecond)
		}
		b.WriteByte(')')
	case *value.Object:
		if v == nil {
			b.WriteString("None")
			return
		}
		fmt.Fprintf(b, "<%s.%s ", v.Module, v.Class)
		reprDict(b, v.Attrs, depth)
		b.WriteByte('>')
	case *big.Int:
		b.WriteString(v.String())
	case int:
		b.WriteString(strconv.Itoa(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	default:
		fmt.Fprintf(b, "%v", v)
	}
}

func reprDict(b *strings.Builder, d *value.Dict, depth int) {
	b.WriteByte('{')
	for i, e := range d.Entries() {
		if i > 0 {
			b.WriteString(", ")
		}
		repr(b, e.Key, depth+1)
		b.WriteString(": ")
		repr(b, e.Value, depth+1)
	}
	b.WriteByte('}')
}

// pyQuote quotes s as Python's repr does for str (runes) or bytes (bytes):
// single quotes unless the text holds a single quote and no double quote.
func pyQuote(b *strings.Builder, s string, asBytes bool) {
	q := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		q = '"'
	}
	b.WriteByte(q)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if asBytes || (r == utf8.RuneError && size == 1) {
			c := s[i]
			switch {
			case c == q || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c >= 0x7f:
				fmt.Fprintf(b, `\x%02x`, c)
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		switch {
		case r == rune(q) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	b.WriteByte(q)
}

// pathKey appends a dict key to a path, as Python subscripts it.
func pathKey(path string, k any) string { return path + "[" + Repr(k) + "]" }

func pathIndex(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }
