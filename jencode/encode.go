package jencode

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/bits"
	"net"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/value"
)

// MaxIntDigits is the longest integer, in decimal digits, that Python 3.11
// converts to or from text by default (sys.get_int_max_str_digits()). DIRAC's
// JSON encoder fails on longer integers and its decoder rejects them, so this
// package does the same.
const MaxIntDigits = 4300

// ErrIntTooLong is wrapped by the errors for integers beyond MaxIntDigits.
var ErrIntTooLong = fmt.Errorf("integer longer than %d digits (Python's int/str conversion limit)", MaxIntDigits)

// UnsupportedError is returned by Marshal for values DIRAC's JSON encoder
// refuses with a Python TypeError: times of day, and dict keys that are not
// str, int, float, bool or None.
type UnsupportedError struct {
	// PyType is the Python type name of the refused value ("time", "tuple"...).
	PyType string
	// Key is set when the value was refused as a dict key.
	Key bool
}

func (e *UnsupportedError) Error() string {
	if e.Key {
		return "jencode: keys must be str, int, float, bool or None, not " + e.PyType
	}
	return "jencode: Object of type " + e.PyType + " is not JSON serializable"
}

// Marshal returns the JEncode text of v. v may hold the generic model of
// package value or ordinary Go values (see value.Walk).
func Marshal(v any) ([]byte, error) { return bufpool.Marshal(v, AppendMarshal) }

// AppendMarshal appends the JEncode text of v to dst. On error dst is
// returned unchanged (its spare capacity may have been written).
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	out, _, err := appendMarshal(dst, v, false, 0)
	return out, err
}

// AppendMarshalBuffers is AppendMarshal for a writer that sends a message
// in pieces: strings of at least minRef bytes that need no escape are not
// copied into the text but left in their own memory (a 10 MB answer is not
// copied before it goes out). It returns the text appended to dst, without
// those strings, and the whole message as pieces to write one after the
// other, or nil pieces when no string was left out (the text is then the
// whole message). Pieces that are strings' own bytes must never be written
// to, and neither v nor the text may change before the pieces are written.
func AppendMarshalBuffers(dst []byte, v any, minRef int) (text []byte, pieces net.Buffers, err error) {
	return appendMarshal(dst, v, false, max(minRef, 1))
}

// appendMarshal is AppendMarshalBuffers (minRef 0: no string left out); with
// general, without the shortcut for the generic model (tests compare both).
func appendMarshal(dst []byte, v any, general bool, minRef int) ([]byte, net.Buffers, error) {
	// The encoder escapes to value.Walk: recycled, it costs no allocation.
	e := encoderPool.Get().(*encoder)
	e.buf, e.stack, e.owned, e.minRef = dst, e.stack[:0], false, minRef
	var err error
	if general || !e.model(v, 0) {
		// Something the shortcut does not write: the general way, from the
		// start, over what the shortcut wrote (the buffer may have grown).
		e.buf = e.buf[:len(dst)]
		e.refs.Reset()
		err = value.Walk(v, e)
	}
	out, open, owned := e.buf, len(e.stack), e.owned
	var pieces net.Buffers
	if err == nil && open == 0 {
		pieces = e.refs.Pieces(out)
	}
	e.buf = nil
	e.refs.Reset()
	encoderPool.Put(e)
	if err == nil && open != 0 {
		err = errors.New("jencode: unterminated container")
	}
	if err != nil {
		if owned {
			bufpool.Put(&out)
		}
		return dst, nil, err
	}
	return out, pieces, nil
}

// model appends v, if it is made of the generic model's usual types only
// (nil, bool, int64 and int, float64, string, []byte, []any, []string and
// Tuple, *Dict and Dict with string keys, time.Time and Date), as value.Walk and
// the encoder's events would write it, without the events. It reports
// false as soon as it meets anything else, or a value the events refuse:
// AppendMarshal then encodes the whole value the general way, which knows
// every type and gives the errors.
func (e *encoder) model(v any, depth int) bool {
	b := e.room(e.buf, slack)
	switch x := v.(type) {
	case nil:
		b = append(b, "null"...)
	case string:
		b = e.string(b, x)
	case int64:
		b = strconv.AppendInt(b, x, 10)
	case int:
		b = strconv.AppendInt(b, int64(x), 10)
	case bool:
		b = append(b, boolText(x)...)
	case float64:
		b = appendFloat(b, x)
	case time.Time:
		if b = appendTime(b, x); b == nil {
			return false
		}
	case value.Date:
		if b = appendDate(b, x); b == nil {
			return false
		}
	case []byte:
		b = appendBytes(e.room(b, base64.StdEncoding.EncodedLen(len(x))+slack), x)
	case []any:
		return e.list(b, x, depth)
	case []string:
		if depth >= value.MaxDepth {
			return false
		}
		// The strings straight in, without model's type switch.
		b = append(b, '[')
		for i, item := range x {
			b = e.room(b, slack)
			if i > 0 {
				b = append(b, ", "...)
			}
			b = e.string(b, item)
		}
		b = append(b, ']')
	case value.Tuple:
		return e.list(b, x, depth)
	case *value.Dict:
		if x == nil {
			b = append(b, "null"...)
			break
		}
		return e.dict(b, x, depth)
	case value.Dict:
		return e.dict(b, &x, depth)
	default:
		return false
	}
	e.buf = b
	return true
}

// string appends s as a JSON string, or only its quotes when it is left
// in its own memory (see AppendMarshalBuffers).
func (e *encoder) string(b []byte, s string) []byte {
	if e.minRef > 0 && len(s) >= e.minRef && needsNoEscape(s) {
		b = append(b, '"')
		e.refs.Add(len(b), s)
		return append(b, '"')
	}
	if len(s) > slack/2 {
		b = e.room(b, len(s)+slack)
	}
	return appendString(b, s)
}

// list is model for lists and tuples.
func (e *encoder) list(b []byte, l []any, depth int) bool {
	if depth >= value.MaxDepth {
		return false
	}
	e.buf = append(b, '[')
	for i, item := range l {
		if i > 0 {
			e.buf = append(e.buf, ", "...)
		}
		if !e.model(item, depth+1) {
			return false
		}
	}
	e.buf = append(e.buf, ']')
	return true
}

// dict is model for dicts.
func (e *encoder) dict(b []byte, d *value.Dict, depth int) bool {
	if depth >= value.MaxDepth {
		return false
	}
	b = append(b, '{')
	for i, en := range d.Entries() {
		k, ok := en.Key.(string)
		if !ok {
			return false
		}
		b = e.room(b, len(k)+slack)
		if i > 0 {
			b = append(b, ", "...)
		}
		e.buf = append(appendString(b, k), ": "...)
		if !e.model(en.Value, depth+1) {
			return false
		}
		b = e.buf
	}
	e.buf = append(b, '}')
	return true
}

var encoderPool = sync.Pool{New: func() any { return &encoder{stack: make([]frame, 0, 16)} }}

// Container states.
const (
	inList      uint8 = iota
	inDictKey         // next event is a key
	inDictValue       // next event is the value of the key just written
	inAttrKey         // next event is an attribute name of an Object
	inAttrValue       // next event is an attribute value (None values are skipped)
	inObject          // Object called; its attribute dict must come next
)

type frame struct {
	state uint8
	first bool
	mark  int // inAttrValue: where the pending attribute starts in buf
}

// encoder turns value.Walk's events into JSON text. It keeps a stack of open
// containers to place separators and to tell keys from values.
//
// Each event stores e.buf once: the helpers take and return the buffer, so
// that the pointer store (and its GC write barrier) happens once per event.
type encoder struct {
	buf   []byte
	stack []frame
	owned bool // buf is not the caller's dst but grown from package bufpool
	// minRef: strings of at least this length that need no escape are left
	// in refs rather than copied into buf (0: never).
	minRef int
	refs   bufpool.Refs
}

// slack is the room every event finds free in the buffer (see room): more
// than any event but strings, bytes and big integers writes, which make
// room for themselves.
const slack = 64

// room returns b with at least n free bytes. The buffer grows by doubling,
// from recycled memory (bufpool.Grow): a large answer is not copied over and
// over as append would grow it, and costs no new memory once one of its size
// has been recycled.
func (e *encoder) room(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b
	}
	b = bufpool.Grow(b, n, e.owned)
	e.owned = true
	return b
}

func (e *encoder) top() *frame {
	if len(e.stack) == 0 {
		return nil
	}
	return &e.stack[len(e.stack)-1]
}

// keyPos reports whether the next event is a dict key.
func (e *encoder) keyPos() bool {
	f := e.top()
	return f != nil && (f.state == inDictKey || f.state == inAttrKey)
}

// sep appends to b what comes before a value that is not a key.
func (e *encoder) sep(b []byte) ([]byte, error) {
	b = e.room(b, slack)
	f := e.top()
	if f == nil {
		return b, nil
	}
	switch f.state {
	case inList:
		if !f.first {
			b = append(b, ", "...)
		}
		f.first = false
	case inDictValue:
		f.state = inDictKey
	case inAttrValue:
		f.state = inAttrKey
	case inObject:
		return b, errors.New("jencode: object attributes must be a dict")
	default:
		return b, errors.New("jencode: dict key expected")
	}
	return b, nil
}

// keyStart appends to b what comes before a dict key; the caller then
// appends the quoted key text and ": ". An Object attribute remembers where
// it starts, so that it can be taken back if its value turns out to be None.
func (e *encoder) keyStart(b []byte) []byte {
	b = e.room(b, slack)
	f := e.top()
	if f.state == inAttrKey {
		f.mark = len(b)
		f.state = inAttrValue
		return append(b, ", "...)
	}
	if !f.first {
		b = append(b, ", "...)
	}
	f.first = false
	f.state = inDictValue
	return b
}

// plainKey writes a key that needs no conversion work (a literal).
func (e *encoder) plainKey(quoted string) error {
	e.buf = append(append(e.keyStart(e.buf), quoted...), ": "...)
	return nil
}

// notKey refuses a value of pyType in key position, else returns the buffer
// with the separator the value needs.
func (e *encoder) notKey(pyType string) ([]byte, error) {
	if e.keyPos() {
		return e.buf, &UnsupportedError{PyType: pyType, Key: true}
	}
	return e.sep(e.buf)
}

// Nil implements value.Emitter.
func (e *encoder) Nil() error {
	if e.keyPos() {
		return e.plainKey(`"null"`)
	}
	f := e.top()
	if f != nil {
		switch f.state {
		case inAttrValue: // DIRAC does not write None attributes
			e.buf = e.buf[:f.mark] // no string was left out after the mark: only a key
			f.state = inAttrKey
			return nil
		case inObject: // an Object without attributes
			e.buf = append(e.buf, '}')
			e.stack = e.stack[:len(e.stack)-1]
			return nil
		}
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = append(b, "null"...)
	return nil
}

// Bool implements value.Emitter.
func (e *encoder) Bool(v bool) error {
	s := boolText(v)
	if e.keyPos() {
		return e.plainKey(`"` + s + `"`)
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = append(b, s...)
	return nil
}

func boolText(v bool) string {
	if v {
		return "true"
	}
	return "false"
}

// Int implements value.Emitter.
func (e *encoder) Int(i int64) error {
	if e.keyPos() {
		b := append(e.keyStart(e.buf), '"')
		e.buf = append(strconv.AppendInt(b, i, 10), `": `...)
		return nil
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = strconv.AppendInt(b, i, 10)
	return nil
}

// Uint implements value.Emitter.
func (e *encoder) Uint(u uint64) error {
	if e.keyPos() {
		b := append(e.keyStart(e.buf), '"')
		e.buf = append(strconv.AppendUint(b, u, 10), `": `...)
		return nil
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = strconv.AppendUint(b, u, 10)
	return nil
}

// BigInt implements value.Emitter.
func (e *encoder) BigInt(i *big.Int) error {
	text := i.Append(nil, 10)
	digits := len(text)
	if i.Sign() < 0 {
		digits--
	}
	if digits > MaxIntDigits {
		return fmt.Errorf("jencode: %w: %d digits", ErrIntTooLong, digits)
	}
	if e.keyPos() {
		b := append(e.keyStart(e.buf), '"')
		e.buf = append(append(b, text...), `": `...)
		return nil
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = append(b, text...)
	return nil
}

// appendFloat writes f as Python's json module does: repr, with NaN,
// Infinity and -Infinity for the special values.
func appendFloat(dst []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(dst, "NaN"...)
	case math.IsInf(f, 1):
		return append(dst, "Infinity"...)
	case math.IsInf(f, -1):
		return append(dst, "-Infinity"...)
	}
	return value.AppendFloat(dst, f)
}

// Float implements value.Emitter.
func (e *encoder) Float(f float64) error {
	if e.keyPos() {
		b := append(e.keyStart(e.buf), '"')
		e.buf = append(appendFloat(b, f), `": `...)
		return nil
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = appendFloat(b, f)
	return nil
}

// String implements value.Emitter.
func (e *encoder) String(s string) error {
	if e.keyPos() {
		if len(s) > slack/2 {
			e.buf = e.room(e.buf, len(s)+slack)
		}
		e.buf = append(appendString(e.keyStart(e.buf), s), ": "...)
		return nil
	}
	b, err := e.sep(e.buf)
	if err != nil {
		return err
	}
	e.buf = e.string(b, s)
	return nil
}

// Bytes implements value.Emitter.
func (e *encoder) Bytes(v []byte) error {
	b, err := e.notKey("bytes")
	if err != nil {
		return err
	}
	e.buf = appendBytes(e.room(b, base64.StdEncoding.EncodedLen(len(v))+slack), v)
	return nil
}

// appendBytes appends v as a b64 object.
func appendBytes(b, v []byte) []byte {
	b = append(b, `{"__dCls": "b64", "obj": "`...)
	b = base64.StdEncoding.AppendEncode(b, v)
	return append(b, `"}`...)
}

func (e *encoder) open(b []byte, state uint8, bracket byte) error {
	if len(e.stack) >= value.MaxDepth {
		return fmt.Errorf("jencode: %w", value.ErrTooDeep)
	}
	e.buf = append(b, bracket)
	e.stack = append(e.stack, frame{state: state, first: true})
	return nil
}

// BeginList implements value.Emitter.
func (e *encoder) BeginList(int) error {
	b, err := e.notKey("list")
	if err != nil {
		return err
	}
	return e.open(b, inList, '[')
}

// BeginTuple implements value.Emitter: JSON has no tuples, they become
// arrays as in Python.
func (e *encoder) BeginTuple(int) error {
	b, err := e.notKey("tuple")
	if err != nil {
		return err
	}
	return e.open(b, inList, '[')
}

// BeginDict implements value.Emitter.
func (e *encoder) BeginDict(int) error {
	if f := e.top(); f != nil && f.state == inObject {
		f.state = inAttrKey
		return nil
	}
	b, err := e.notKey("dict")
	if err != nil {
		return err
	}
	return e.open(b, inDictKey, '{')
}

// End implements value.Emitter.
func (e *encoder) End() error {
	f := e.top()
	if f == nil {
		return errors.New("jencode: End without an open container")
	}
	switch f.state {
	case inList:
		e.buf = append(e.buf, ']')
	case inDictKey, inAttrKey:
		e.buf = append(e.buf, '}')
	default:
		return errors.New("jencode: dict entry without a value")
	}
	e.stack = e.stack[:len(e.stack)-1]
	return nil
}

// appendDateTime writes t as Python's strftime("%Y-%m-%d %H:%M:%S") on
// glibc: the year is not zero-padded (year 1 gives "1-01-01 00:00:00").
func appendDateTime(dst []byte, y int, mo time.Month, d, h, mi, s int, withTime bool) []byte {
	dst = strconv.AppendInt(dst, int64(y), 10)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	if withTime {
		dst = append(dst, ' ')
		dst = append2(dst, h)
		dst = append(dst, ':')
		dst = append2(dst, mi)
		dst = append(dst, ':')
		dst = append2(dst, s)
	}
	return dst
}

func append2(dst []byte, n int) []byte {
	return append(dst, byte('0'+n/10%10), byte('0'+n%10))
}

// Time implements value.Emitter: a datetime goes as UTC, to the second.
func (e *encoder) Time(t time.Time) error {
	b, err := e.notKey("datetime")
	if err != nil {
		return err
	}
	if e.buf = appendTime(b, t); e.buf == nil {
		e.buf = b
		return fmt.Errorf("jencode: datetime year %d out of Python's range 1..9999", t.UTC().Year())
	}
	return nil
}

// appendTime appends t as a datetime object, in UTC to the second, or
// returns nil when Python has no such year.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	y, mo, d := t.Date()
	if y < 1 || y > 9999 {
		return nil
	}
	h, mi, s := t.Clock()
	b = append(b, `{"__dCls": "dt", "obj": "`...)
	b = appendDateTime(b, y, mo, d, h, mi, s, true)
	return append(b, `"}`...)
}

// appendDate appends d as a date object, or returns nil for an invalid
// date.
func appendDate(b []byte, d value.Date) []byte {
	if d.Year < 1 || d.Year > 9999 || d.Month < 1 || d.Month > 12 || d.Day < 1 || d.Day > daysIn(d.Month, d.Year) {
		return nil
	}
	b = append(b, `{"__dCls": "date", "obj": "`...)
	b = appendDateTime(b, d.Year, d.Month, d.Day, 0, 0, 0, false)
	return append(b, `"}`...)
}

// Date implements value.Emitter.
func (e *encoder) Date(d value.Date) error {
	b, err := e.notKey("date")
	if err != nil {
		return err
	}
	if e.buf = appendDate(b, d); e.buf == nil {
		e.buf = b
		return fmt.Errorf("jencode: invalid date %s", d)
	}
	return nil
}

// TimeOfDay implements value.Emitter: DIRAC's JSON encoder refuses
// datetime.time.
func (e *encoder) TimeOfDay(value.TimeOfDay) error {
	return &UnsupportedError{PyType: "time", Key: e.keyPos()}
}

// Object implements value.Emitter.
func (e *encoder) Object(class, module string) error {
	b, err := e.notKey(class)
	if err != nil {
		return err
	}
	if err := e.open(b, inObject, '{'); err != nil {
		return err
	}
	b = append(e.buf, `"__dCls": `...)
	b = appendString(b, class)
	b = append(b, `, "__dMod": `...)
	e.buf = appendString(b, module)
	return nil
}

const hexDigits = "0123456789abcdef"

// skipPlain returns the index of the first byte from s[i:] on that is not
// plain (see plain and strPlain; with del, 0x7f is not plain), or len(s),
// reading 8 then 32 bytes at a time: long texts are mostly plain, and most
// short ones fit in a word or two.
func skipPlain(s string, i int, del bool) int {
	// The string's bytes, only read.
	return skipPlainBytes(unsafe.Slice(unsafe.StringData(s), len(s)), i, del)
}

// wideScanMin is how many bytes a text must have shown plain, and how many
// must be left, before skipPlainBytes hands the rest to the wide scan (where
// it has one): below, the call costs more than it saves. Its input alone
// says nothing of a text's length, since the decoder scans from a string's
// start to the end of the whole message: a 50,000-row listing has 300,000
// short strings, each with megabytes after it.
const wideScanMin = 128

// skipPlainBytes is skipPlain for a byte slice.
func skipPlainBytes(s []byte, i int, del bool) int {
	if i < 0 || i > len(s) {
		panic("jencode: skipPlainBytes: index out of range")
	}
	// Words are loaded without bounds checks (each loop keeps i+8 or i+32
	// within s): a 10 MB string is scanned once by the server and once by
	// the client, on the path of the call.
	p := unsafe.Pointer(unsafe.SliceData(s))
	word := func(k int) uint64 { return binary.LittleEndian.Uint64(unsafe.Slice((*byte)(unsafe.Add(p, k)), 8)) }
	var delta uint64
	if del {
		delta = delDelta
	}
	// Most texts are short (keys, statuses, names): they end in the first
	// words, before the long stride.
	for end := i + 16; i+8 <= len(s) && i < end; i += 8 {
		if m := notPlain(word(i), delta); m != 0 {
			return i + firstFlagged(m)
		}
	}
	hi := byte(0x7f) // the last plain byte, for the wide scan
	if del {
		hi = 0x7e
	}
	for wideAt := i + wideScanMin; i+32 <= len(s); i += 32 {
		if i >= wideAt && useWideScan && len(s)-i >= wideScanMin {
			// Plain so far and long: the wide scan takes the rest.
			i += scanPlainAVX2(&s[i], len(s)-i, hi)
			wideAt = len(s)
			if i+32 > len(s) {
				break
			}
		}
		if notPlain(word(i), delta)|notPlain(word(i+8), delta)|notPlain(word(i+16), delta)|notPlain(word(i+24), delta) != 0 {
			break
		}
	}
	for ; i+8 <= len(s); i += 8 {
		if m := notPlain(word(i), delta); m != 0 {
			return i + firstFlagged(m)
		}
	}
	if i == len(s) {
		return i
	}
	// Fewer than 8 bytes left, the end of most short texts: one more word,
	// the last 8 bytes of s shifted down to start at i (the bytes before i
	// may be anything, even where the caller started), or the rest of a
	// text shorter than a word; either way topped up with plain bytes.
	var w uint64
	if k := len(s) - 8; k >= 0 {
		w = word(k) >> uint(8*(i-k))
	} else {
		var pad [8]byte
		copy(pad[:], s[i:])
		w = binary.LittleEndian.Uint64(pad[:])
	}
	if m := notPlain(plainAbove(w, len(s)-i), delta); m != 0 {
		return i + firstFlagged(m)
	}
	return len(s)
}

// delDelta is notPlain's delta that makes 0x7f not plain.
const delDelta = 0x0101010101010101

// plainAbove is w with its bytes from the n-th on (n < 8) replaced by plain
// ones: the first n bytes of a text in a word, topped up.
func plainAbove(w uint64, n int) uint64 {
	const plainWord = 0x6161616161616161 // "aaaaaaaa"
	mask := uint64(1)<<(8*n) - 1
	return w&mask | plainWord&^mask
}

// firstFlagged is the index in its word of the first byte notPlain flagged
// in m (non-zero): its flag is exact, as no byte below it started a borrow
// or carry.
func firstFlagged(m uint64) int { return bits.TrailingZeros64(m) / 8 }

// needsNoEscape reports whether json.dumps writes s as it is.
func needsNoEscape(s string) bool { return skipPlain(s, 0, true) == len(s) }

// notPlain is non-zero when the word x holds a byte that is not plain:
// below 0x20, '"', '\\', 0x80 and above, and 0x7f too when delta is
// delDelta (delta is 0 otherwise). Per byte, the high bit of a
// term is set by exactly these bytes as long as no lower byte is one of
// them: a borrow or carry only ever starts at such a byte and only spreads
// upwards, so the word is flagged exactly when it holds one, without the
// masking an exact per-byte answer would need.
func notPlain(x, delta uint64) uint64 {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	q, b := x^(lo*'"'), x^(lo*'\\')
	return ((x - lo*0x20) | (q - lo) | (b - lo) | x | (x + delta)) & hi
}

// plain[b] is true for the bytes json.dumps copies as they are.
var plain = func() (t [256]bool) {
	for b := ' '; b <= '~'; b++ {
		t[b] = b != '"' && b != '\\'
	}
	return t
}()

// appendString writes s as a JSON string with Python's ensure_ascii escapes.
// Bytes that are not valid UTF-8 are written as \udcXX, the lone surrogate
// Python's surrogateescape error handler gives such a byte.
func appendString(dst []byte, s string) []byte {
	if n := len(dst); len(s) < 8 && cap(dst)-n >= 9 {
		// A text shorter than a word, the most common (keys, statuses,
		// names): copied, then checked as one word read where it landed,
		// the bytes after it taken as plain.
		dst = append(append(dst, '"'), s...)
		if notPlain(plainAbove(binary.LittleEndian.Uint64(dst[n+1:n+9]), len(s)), delDelta) == 0 {
			return append(dst, '"')
		}
		dst = dst[:n]
	}
	dst = append(dst, '"')
	// The scan runs at the start and after each escape; it stops at each
	// byte to escape.
	start := 0
	for i := skipPlain(s, 0, true); i < len(s); {
		c := s[i]
		dst = append(dst, s[start:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		default:
			if c < utf8.RuneSelf {
				dst = appendU(dst, rune(c))
				break
			}
			r, size := utf8.DecodeRuneInString(s[i:])
			switch {
			case r == utf8.RuneError && size == 1:
				dst = appendU(dst, 0xdc00+rune(c))
			case r >= 0x10000:
				r -= 0x10000
				dst = appendU(dst, 0xd800+(r>>10))
				dst = appendU(dst, 0xdc00+(r&0x3ff))
			default:
				dst = appendU(dst, r)
			}
			i += size - 1
		}
		i++
		start = i
		i = skipPlain(s, i, true)
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendU(dst []byte, r rune) []byte {
	return append(dst, '\\', 'u', hexDigits[r>>12&0xf], hexDigits[r>>8&0xf], hexDigits[r>>4&0xf], hexDigits[r&0xf])
}

func daysIn(m time.Month, year int) int {
	switch {
	case m == time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case m >= time.January && m <= time.December:
		return 30 + int(0x15aa>>m&1) // 31 days: January, March, May, July, August, October, December
	}
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day() // normalised as time.Date does
}

// KeyDialect, EncodeKey and RawKey implement value.KeyEmitter: struct field
// names are quoted once per type instead of once per value.
func (e *encoder) KeyDialect() string { return "jencode" }

// EncodeKey implements value.KeyEmitter: the quoted name and ": ".
func (e *encoder) EncodeKey(name string) []byte {
	return append(appendString(nil, name), ": "...)
}

// RawKey implements value.KeyEmitter.
func (e *encoder) RawKey(k []byte) error {
	if !e.keyPos() {
		return errors.New("jencode: dict key out of place")
	}
	e.buf = append(e.keyStart(e.buf), k...)
	return nil
}

// EncodedDialect, EncodeValue and Encoded implement value.EncodedEmitter: a
// *value.Encoded is encoded once and written as that text.
func (e *encoder) EncodedDialect() string { return "jencode" }

// EncodeValue implements value.EncodedEmitter.
func (e *encoder) EncodeValue(v any) ([]byte, error) { return Marshal(v) }

// Encoded implements value.EncodedEmitter. A long text is left in its own
// memory, as long strings are (see AppendMarshalBuffers).
func (e *encoder) Encoded(text string) error {
	if text == "null" {
		return e.Nil() // None attributes of an Object are left out
	}
	b, err := e.notKey("encoded value")
	if err != nil {
		return err
	}
	if e.minRef > 0 && len(text) >= e.minRef {
		e.refs.Add(len(b), text)
		e.buf = b
		return nil
	}
	e.buf = append(e.room(b, len(text)), text...)
	return nil
}
