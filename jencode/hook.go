package jencode

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/diracgo/diracrpc/internal/slab"
	"github.com/diracgo/diracrpc/value"
)

// hook is DIRAC's object hook (DJSONDecoder.dict_to_object): it pops
// "__dCls" and turns the dict into what that class names. Datetimes are boxed
// in tree.
func (dec *Decoder) hook(d *value.Dict, tree *slab.Tree) (any, error) {
	cls, _ := d.Get("__dCls")
	d.Delete("__dCls")
	switch cls {
	case "dt", "date":
		obj, ok := d.Get("obj")
		if !ok {
			return nil, fmt.Errorf("__dCls %q without \"obj\" (Python KeyError)", cls)
		}
		s, ok := obj.(string)
		if !ok {
			return nil, fmt.Errorf("__dCls %q: strptime() argument 1 must be str, not %s", cls, value.TypeName(obj))
		}
		if cls == "date" {
			f, err := strptime(s, false)
			if err != nil {
				return nil, err
			}
			return value.Date{Year: f[0], Month: time.Month(f[1]), Day: f[2]}, nil
		}
		f, err := strptime(s, true)
		if err != nil {
			return nil, err
		}
		return tree.Time(time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], 0, time.UTC)), nil
	case "b64":
		obj, ok := d.Get("obj")
		if !ok {
			return nil, errors.New(`__dCls "b64" without "obj" (Python KeyError)`)
		}
		s, ok := obj.(string)
		if !ok {
			return nil, fmt.Errorf("__dCls \"b64\": argument should be a bytes-like object or ASCII string, not %s", value.TypeName(obj))
		}
		return b64decode(s)
	}
	if !value.Truthy(cls) {
		return d, nil
	}
	mod, ok := d.Get("__dMod")
	if !ok {
		return nil, fmt.Errorf("__dCls %v without \"__dMod\" (Python KeyError)", cls)
	}
	d.Delete("__dMod")
	class, ok := cls.(string)
	if !ok {
		return nil, fmt.Errorf("__dCls must be a class name, not %s", value.TypeName(cls))
	}
	module, ok := mod.(string)
	if !ok || module == "" {
		return nil, fmt.Errorf("__dMod of %q must be a module name, not %s", class, value.TypeName(mod))
	}
	if dec != nil && dec.Object != nil {
		if err := dec.Object(class, module); err != nil {
			return nil, err
		}
	}
	// DIRAC does not set attributes whose value is None.
	attrs := &value.Dict{}
	for _, e := range d.Entries() {
		if e.Value != nil {
			attrs.Set(e.Key, e.Value)
		}
	}
	return &value.Object{Class: class, Module: module, Attrs: attrs}, nil
}

// Python's _strptime regular expressions for the fields DIRAC's formats use
// ("%Y-%m-%d %H:%M:%S" and "%Y-%m-%d"). Each field is a list of
// alternatives tried in order, each alternative a sequence of character
// classes; \d is any Unicode decimal digit, as in Python's re.
type charClass func(r rune) bool

func ascii(lo, hi rune) charClass { return func(r rune) bool { return r >= lo && r <= hi } }

var (
	anyDigit charClass = func(r rune) bool { return r >= '0' && r <= '9' || r >= 0x80 && unicode.IsDigit(r) }
	space    charClass = func(r rune) bool { return r == ' ' }
)

type field [][]charClass

var (
	fieldY = field{{anyDigit, anyDigit, anyDigit, anyDigit}}
	fieldm = field{{ascii('1', '1'), ascii('0', '2')}, {ascii('0', '0'), ascii('1', '9')}, {ascii('1', '9')}}
	fieldd = field{{ascii('3', '3'), ascii('0', '1')}, {ascii('1', '2'), anyDigit}, {ascii('0', '0'), ascii('1', '9')}, {ascii('1', '9')}, {space, ascii('1', '9')}}
	fieldH = field{{ascii('2', '2'), ascii('0', '3')}, {ascii('0', '1'), anyDigit}, {anyDigit}}
	fieldM = field{{ascii('0', '5'), anyDigit}, {anyDigit}}
	fieldS = field{{ascii('6', '6'), ascii('0', '1')}, {ascii('0', '5'), anyDigit}, {anyDigit}}
)

// token is one element of a format: a field, a literal rune, or (for a
// space in the format) one or more whitespace characters.
type token struct {
	f   field
	lit rune
	ws  bool
}

var (
	fmtDateTime = []token{{f: fieldY}, {lit: '-'}, {f: fieldm}, {lit: '-'}, {f: fieldd}, {ws: true}, {f: fieldH}, {lit: ':'}, {f: fieldM}, {lit: ':'}, {f: fieldS}}
	fmtDate     = fmtDateTime[:5]
)

// strptime parses s as Python's datetime.strptime(s, "%Y-%m-%d %H:%M:%S")
// (or "%Y-%m-%d" when withTime is false) does, including its leniencies:
// single-digit fields, " 5" for a day, any run of whitespace between date and
// time, Unicode digits. It returns year, month, day, hour, minute, second.
func strptime(s string, withTime bool) ([6]int, error) {
	if f, ok := canonical(s, withTime); ok {
		return f, nil
	}
	return strptimeSlow(s, withTime)
}

// strptimeSlow is strptime through the general matcher.
func strptimeSlow(s string, withTime bool) ([6]int, error) {
	format, pyFormat := fmtDateTime, "%Y-%m-%d %H:%M:%S"
	if !withTime {
		format, pyFormat = fmtDate, "%Y-%m-%d"
	}
	var out [6]int
	end, ok := matchTokens(s, 0, format, out[:0])
	if !ok {
		return out, fmt.Errorf("time data %s does not match format '%s' (Python ValueError)", strconv.Quote(s), pyFormat)
	}
	if end != len(s) {
		return out, fmt.Errorf("unconverted data remains: %s (Python ValueError)", s[end:])
	}
	// out holds the values of the successful match: each field value is
	// written again by the path that finally succeeds.
	y, mo, d := out[0], out[1], out[2]
	if y < 1 {
		return out, fmt.Errorf("year %d is out of range (Python ValueError)", y)
	}
	if d > daysIn(time.Month(mo), y) {
		return out, errors.New("day is out of range for month (Python ValueError)")
	}
	if out[5] > 59 {
		return out, errors.New("second must be in 0..59 (Python ValueError)")
	}
	return out, nil
}

// canonical parses the form DIRAC writes ("2024-01-02 03:04:05", zero-padded,
// four-digit year) without the general matcher. It accepts only strings that
// strptime accepts with the same result; anything else goes the long way.
func canonical[T string | []byte](s T, withTime bool) ([6]int, bool) {
	var f [6]int
	n := len("2024-01-02")
	if withTime {
		n = len("2024-01-02 03:04:05")
	}
	if len(s) != n || s[4] != '-' || s[7] != '-' || withTime && (s[10] != ' ' || s[13] != ':' || s[16] != ':') {
		return f, false
	}
	// The fields, each at its place.
	y1, ok1 := two(s, 0)
	y2, ok2 := two(s, 2)
	mo, ok3 := two(s, 5)
	d, ok4 := two(s, 8)
	f[0], f[1], f[2] = y1*100+y2, mo, d
	ok := ok1 && ok2 && ok3 && ok4
	if withTime {
		h, ok5 := two(s, 11)
		mi, ok6 := two(s, 14)
		sec, ok7 := two(s, 17)
		f[3], f[4], f[5] = h, mi, sec
		ok = ok && ok5 && ok6 && ok7
	}
	if !ok || f[0] < 1 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > daysIn(time.Month(f[1]), f[0]) || f[3] > 23 || f[4] > 59 || f[5] > 59 {
		return f, false
	}
	return f, true
}

// two reads the two decimal digits at s[i:].
func two[T string | []byte](s T, i int) (int, bool) {
	a, b := s[i]-'0', s[i+1]-'0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

// matchTokens matches format against s from byte i with backtracking, as
// Python's regular expression does, appending field values to vals. It
// returns the end of the first match.
func matchTokens(s string, i int, format []token, vals []int) (int, bool) {
	if len(format) == 0 {
		return i, true
	}
	t := format[0]
	switch {
	case t.ws:
		// \s+ is greedy; try the longest run first, then shorter ones.
		var endBuf [8]int
		ends := endBuf[:0]
		for j := i; j < len(s); {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !isPySpace(r) {
				break
			}
			j += size
			ends = append(ends, j)
		}
		for k := len(ends) - 1; k >= 0; k-- {
			if end, ok := matchTokens(s, ends[k], format[1:], vals); ok {
				return end, true
			}
		}
		return 0, false
	case t.f == nil:
		r, size := utf8.DecodeRuneInString(s[i:])
		if size == 0 || r != t.lit {
			return 0, false
		}
		return matchTokens(s, i+size, format[1:], vals)
	}
alternatives:
	for _, alt := range t.f {
		j, n := i, 0
		for _, class := range alt {
			r, size := utf8.DecodeRuneInString(s[j:])
			if size == 0 || !class(r) {
				continue alternatives
			}
			if r != ' ' {
				n = n*10 + digitValue(r)
			}
			j += size
		}
		if end, ok := matchTokens(s, j, format[1:], append(vals, n)); ok {
			return end, true
		}
	}
	return 0, false
}

// isPySpace is Python's str.isspace(), which re's \s follows.
func isPySpace(r rune) bool {
	return r >= 0x1c && r <= 0x1f || unicode.IsSpace(r)
}

// digitValue returns the value of a Unicode decimal digit. Decimal digits
// come in runs of ten starting at zero (a Unicode stability guarantee).
func digitValue(r rune) int {
	if r <= '9' {
		return int(r - '0')
	}
	start := r
	for unicode.IsDigit(start - 1) {
		start--
	}
	return int(r-start) % 10
}

// b64 maps the standard base64 alphabet to values; 0xff elsewhere.
var b64 = func() (t [256]byte) {
	for i := range t {
		t[i] = 0xff
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
	for i := range len(alphabet) {
		t[alphabet[i]] = byte(i)
	}
	return t
}()

// b64decode is Python's base64.b64decode(s) (binascii.a2b_base64 in its
// default, non-strict mode): characters outside the alphabet are skipped,
// and decoding stops at the first complete padding.
func b64decode(s string) ([]byte, error) {
	// Canonical input (what every encoder writes, file transfer chunks
	// included) decodes the same with the standard library, several times
	// faster; anything else takes Python's lenient path below.
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, nil
	}
	return b64decodeLenient(s)
}

// b64decodeLenient is the decoding itself, character by character.
func b64decodeLenient(s string) ([]byte, error) {
	for i := range len(s) {
		if s[i] >= utf8.RuneSelf {
			return nil, errors.New("string argument should contain only ASCII characters (Python ValueError)")
		}
	}
	out := make([]byte, 0, len(s)/4*3+3)
	quad, pads := 0, 0
	var left byte
	for i := range len(s) {
		c := s[i]
		if c == '=' {
			if quad >= 2 {
				pads++
				if quad+pads >= 4 {
					return out, nil
				}
			}
			continue
		}
		v := b64[c]
		if v == 0xff {
			continue
		}
		pads = 0
		switch quad {
		case 0:
			left = v
		case 1:
			out = append(out, left<<2|v>>4)
			left = v & 0x0f
		case 2:
			out = append(out, left<<4|v>>2)
			left = v & 0x03
		case 3:
			out = append(out, left<<6|v)
		}
		quad = (quad + 1) % 4
	}
	switch quad {
	case 0:
		return out, nil
	case 1:
		//lint:ignore ST1005 Python's message, as DIRAC reports it
		return nil, fmt.Errorf("Invalid base64-encoded string: number of data characters (%d) cannot be 1 more than a multiple of 4 (Python binascii.Error)", len(out)/3*4+1)
	}
	//lint:ignore ST1005 Python's message, as DIRAC reports it
	return nil, errors.New("Incorrect padding (Python binascii.Error)")
}

// toUTF8 undoes the character encoding Python's json.loads detects on bytes
// input: a UTF-8 byte-order mark is dropped, UTF-16 and UTF-32 (by BOM or by
// the pattern of zero bytes) are converted to UTF-8, keeping lone surrogates
// in WTF-8 as Python's "surrogatepass" does. Other input is returned as is.
func toUTF8(b []byte) ([]byte, error) {
	var (
		unit    int
		big     bool
		skipBOM int
	)
	switch {
	case hasPrefix(b, "\x00\x00\xfe\xff"):
		unit, big, skipBOM = 4, true, 4
	case hasPrefix(b, "\xff\xfe\x00\x00"):
		unit, big, skipBOM = 4, false, 4
	case hasPrefix(b, "\xfe\xff"):
		unit, big, skipBOM = 2, true, 2
	case hasPrefix(b, "\xff\xfe"):
		unit, big, skipBOM = 2, false, 2
	case hasPrefix(b, "\xef\xbb\xbf"):
		return b[3:], nil
	case len(b) >= 4 && b[0] == 0:
		unit, big = 4, true
		if b[1] != 0 {
			unit = 2
		}
	case len(b) >= 4 && b[1] == 0:
		unit = 4
		if b[2] != 0 || b[3] != 0 {
			unit = 2
		}
	case len(b) == 2 && b[0] == 0:
		unit, big = 2, true
	case len(b) == 2 && b[1] == 0:
		unit = 2
	default:
		return b, nil
	}
	b = b[skipBOM:]
	if len(b)%unit != 0 {
		return nil, fmt.Errorf("jencode: truncated UTF-%d data", unit*8)
	}
	out := make([]byte, 0, len(b))
	get := func(i int) rune {
		if unit == 2 {
			if big {
				return rune(b[i])<<8 | rune(b[i+1])
			}
			return rune(b[i+1])<<8 | rune(b[i])
		}
		if big {
			return rune(b[i])<<24 | rune(b[i+1])<<16 | rune(b[i+2])<<8 | rune(b[i+3])
		}
		return rune(b[i+3])<<24 | rune(b[i+2])<<16 | rune(b[i+1])<<8 | rune(b[i])
	}
	for i := 0; i < len(b); i += unit {
		r := get(i)
		if unit == 2 && r >= 0xd800 && r < 0xdc00 && i+3 < len(b) {
			if r2 := get(i + 2); r2 >= 0xdc00 && r2 < 0xe000 {
				r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
				i += 2
			}
		}
		if r < 0 || r > unicode.MaxRune {
			return nil, fmt.Errorf("jencode: code point out of range in UTF-32 input at offset %d", i)
		}
		if r >= 0xd800 && r < 0xe000 {
			out = append(out, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
			continue
		}
		out = utf8.AppendRune(out, r)
	}
	return out, nil
}

func hasPrefix(b []byte, p string) bool {
	return len(b) >= len(p) && string(b[:len(p)]) == p
}
