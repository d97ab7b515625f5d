package dencode

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"strconv"
	"time"
	"unsafe"

	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/value"
)

// Marshal returns the DEncode bytes of v.
//
// Encoding rules beyond value.Walk's: strings (and []byte) are written as
// their bytes with the "s" code; floats exactly as Python's repr; a time.Time
// becomes a naive datetime in UTC (converted from its location, sub-microsecond
// digits dropped; years outside 1..9999 are refused, as Python has no such
// datetimes); a *value.Object (a JSON-only JSerializable) is refused, as DIRAC's
// DEncode refuses it; so are dict keys that are lists or dicts.
func Marshal(v any) ([]byte, error) { return bufpool.Marshal(v, AppendMarshal) }

// AppendMarshal appends the DEncode bytes of v to dst and returns the
// extended buffer, so that callers can reuse buffers. On error it returns
// dst as it was given.
func AppendMarshal(dst []byte, v any) ([]byte, error) {
	out, _, err := appendMarshal(dst, v, false, 0)
	return out, err
}

// AppendMarshalBuffers is AppendMarshal for a writer that sends a message
// in pieces: strings (and bytes) of at least minRef bytes are not copied
// into the text but left in their own memory (a 10 MB answer is not copied
// before it goes out). It returns the text appended to dst, without those
// strings, and the whole message as pieces to write one after the other, or
// nil pieces when nothing was left out (the text is then the whole
// message). Pieces that are strings' own bytes must never be written to,
// and neither v nor the text may change before the pieces are written.
func AppendMarshalBuffers(dst []byte, v any, minRef int) (text []byte, pieces net.Buffers, err error) {
	return appendMarshal(dst, v, false, max(minRef, 1))
}

// appendMarshal is AppendMarshalBuffers (minRef 0: nothing left out); with
// general, without the shortcut for the generic model (tests compare both).
func appendMarshal(dst []byte, v any, general bool, minRef int) ([]byte, net.Buffers, error) {
	e := encoder{buf: dst, minRef: minRef}
	if general || !e.model(v, 0) {
		// Something the shortcut does not write: the general way, from the
		// start, over what the shortcut wrote (the buffer may have grown).
		e.buf = e.buf[:len(dst)]
		e.refs.Reset()
		if err := value.Walk(v, &e); err != nil {
			if e.owned {
				bufpool.Put(&e.buf)
			}
			return dst, nil, fmt.Errorf("dencode: %w", err)
		}
	}
	return e.buf, e.refs.Pieces(e.buf), nil
}

// model writes v, if it is made of the generic model's usual types only
// (nil, bool, int64 and int, float64, string, []byte, []any, []string and
// Tuple, *Dict and Dict with string keys, time.Time and Date), as
// value.Walk's events would, calling the encoder's methods directly rather
// than through the Emitter interface, and without the checks string keys
// need not. It reports false as soon as it meets anything else, or a value
// the events refuse: appendMarshal then encodes the whole value the general
// way, which knows every type and gives the errors.
func (e *encoder) model(v any, depth int) bool {
	switch x := v.(type) {
	case nil:
		_ = e.Nil()
	case string:
		_ = e.String(x)
	case int64:
		_ = e.Int(x)
	case int:
		_ = e.Int(int64(x))
	case bool:
		_ = e.Bool(x)
	case float64:
		_ = e.Float(x)
	case []byte:
		_ = e.Bytes(x)
	case time.Time:
		// Time reads only the instant: the walker's UTC() changes nothing
		// it writes.
		return e.Time(x) == nil
	case value.Date:
		return e.Date(x) == nil
	case []any:
		return e.list(x, 'l', depth)
	case value.Tuple:
		return e.list(x, 't', depth)
	case []string:
		if depth >= value.MaxDepth {
			return false
		}
		_ = e.BeginList(len(x))
		for _, s := range x {
			_ = e.String(s)
		}
		_ = e.End()
	case *value.Dict:
		if x == nil {
			_ = e.Nil()
			break
		}
		return e.dict(x, depth)
	case value.Dict:
		return e.dict(&x, depth)
	default:
		return false
	}
	return true
}

// list is model for lists (code 'l') and tuples ('t').
func (e *encoder) list(l []any, code byte, depth int) bool {
	if depth >= value.MaxDepth {
		return false
	}
	e.commit(append(e.spare(1), code))
	for _, item := range l {
		if !e.model(item, depth+1) {
			return false
		}
	}
	_ = e.End()
	return true
}

// dict is model for dicts with string keys.
func (e *encoder) dict(d *value.Dict, depth int) bool {
	if depth >= value.MaxDepth {
		return false
	}
	_ = e.BeginDict(d.Len())
	for _, en := range d.Entries() {
		k, ok := en.Key.(string)
		if !ok {
			return false
		}
		_ = e.String(k)
		if !e.model(en.Value, depth+1) {
			return false
		}
	}
	_ = e.End()
	return true
}

// encoder writes DEncode; it implements value.Emitter.
//
// Each method reserves room first (spare), appends into that room through a
// local slice, then records the new length (commit). Storing a whole slice
// into e.buf would cost a GC write barrier per event while a collection is
// running; re-slicing e.buf in place stores only its length.
type encoder struct {
	buf   []byte
	owned bool // buf is not the caller's dst but grown from package bufpool
	// minRef: strings of at least this length are left in refs rather than
	// copied into buf (0: never).
	minRef int
	refs   bufpool.Refs
}

// spare returns an empty slice over at least k free bytes after e.buf. The
// buffer grows by doubling, from recycled memory (bufpool.Grow), so that a
// large message is neither copied over and over nor new memory each time.
func (e *encoder) spare(k int) []byte {
	if cap(e.buf)-len(e.buf) < k {
		e.buf = bufpool.Grow(e.buf, k, e.owned)
		e.owned = true
	}
	return e.buf[len(e.buf):len(e.buf)]
}

// commit records b, written into the room spare returned.
func (e *encoder) commit(b []byte) {
	e.buf = e.buf[:len(e.buf)+len(b)]
}

// maxIntLen is the room for "i" + an int64 or uint64 + "e".
const maxIntLen = 22

func (e *encoder) Nil() error {
	e.commit(append(e.spare(1), 'n'))
	return nil
}

func (e *encoder) Bool(b bool) error {
	c := byte('0')
	if b {
		c = '1'
	}
	e.commit(append(e.spare(2), 'b', c))
	return nil
}

func (e *encoder) Int(i int64) error {
	b := append(e.spare(maxIntLen), 'i')
	if i >= 0 {
		b = appendUint(b, uint64(i))
	} else {
		b = strconv.AppendInt(b, i, 10)
	}
	e.commit(append(b, 'e'))
	return nil
}

// appendUint is strconv.AppendUint with a shortcut for the small numbers
// (lengths, date fields) that make up most of the output.
func appendUint(b []byte, u uint64) []byte {
	switch {
	case u < 10:
		return append(b, byte('0'+u))
	case u < 100:
		return append(b, byte('0'+u/10), byte('0'+u%10))
	case u < 10000:
		if u < 1000 {
			return append(b, byte('0'+u/100), byte('0'+u/10%10), byte('0'+u%10))
		}
		return append(b, byte('0'+u/1000), byte('0'+u/100%10), byte('0'+u/10%10), byte('0'+u%10))
	}
	return strconv.AppendUint(b, u, 10)
}

func (e *encoder) Uint(u uint64) error {
	b := append(e.spare(maxIntLen), 'i')
	b = appendUint(b, u)
	e.commit(append(b, 'e'))
	return nil
}

func (e *encoder) BigInt(i *big.Int) error {
	// Decimal digits <= bits*log10(2)+1 < bits/3+2.
	b := append(e.spare(i.BitLen()/3+4), 'i')
	b = i.Append(b, 10)
	e.commit(append(b, 'e'))
	return nil
}

func (e *encoder) Float(f float64) error {
	b := append(e.spare(32), 'f') // repr is at most 24 bytes
	b = value.AppendFloat(b, f)
	e.commit(append(b, 'e'))
	return nil
}

func (e *encoder) String(s string) error {
	if e.minRef > 0 && len(s) >= e.minRef {
		// The header here, the bytes from where they are (see
		// AppendMarshalBuffers).
		b := append(e.spare(maxIntLen), 's')
		b = appendUint(b, uint64(len(s)))
		e.commit(append(b, ':'))
		e.refs.Add(len(e.buf), s)
		return nil
	}
	b := append(e.spare(len(s)+maxIntLen), 's')
	b = appendUint(b, uint64(len(s)))
	b = append(b, ':')
	e.commit(append(b, s...))
	return nil
}

// Bytes is written as a string (DEncode has no bytes type).
func (e *encoder) Bytes(p []byte) error {
	return e.String(unsafe.String(unsafe.SliceData(p), len(p))) // only read
}

func (e *encoder) BeginList(int) error {
	e.commit(append(e.spare(1), 'l'))
	return nil
}

func (e *encoder) BeginTuple(int) error {
	e.commit(append(e.spare(1), 't'))
	return nil
}

func (e *encoder) BeginDict(int) error {
	e.commit(append(e.spare(1), 'd'))
	return nil
}

func (e *encoder) End() error {
	e.commit(append(e.spare(1), 'e'))
	return nil
}

// errYearRange is returned for datetimes and dates Python cannot hold.
var errYearRange = errors.New("year outside 1..9999 (Python's datetime range)")

// ints writes z, the subtype, and a tuple of date and time fields
// (non-negative once validated) with, for datetimes and times, the None
// tzinfo.
func (e *encoder) ints(kind byte, tz bool, vals ...int) {
	b := append(e.spare(8+len(vals)*maxIntLen), 'z', kind, 't')
	for _, v := range vals {
		b = append(b, 'i')
		b = appendUint(b, uint64(v))
		b = append(b, 'e')
	}
	if tz {
		b = append(b, 'n')
	}
	e.commit(append(b, 'e'))
}

func (e *encoder) Time(t time.Time) error {
	y, mo, d, h, mi, sec := civil(t.Unix())
	if y < 1 || y > 9999 {
		return fmt.Errorf("datetime %s: %w", t.UTC().Format(time.RFC3339), errYearRange)
	}
	e.ints('a', true, y, mo, d, h, mi, sec, t.Nanosecond()/1000)
	return nil
}

// civil splits Unix seconds into the UTC calendar date and clock, as
// t.UTC().Date() and Clock() do, in one cheaper step (the days-to-civil
// algorithm of the proleptic Gregorian calendar, as in Howard Hinnant's
// public-domain date algorithms).
func civil(unix int64) (y, m, d, hh, mm, ss int) {
	days, secs := unix/86400, unix%86400
	if secs < 0 {
		secs += 86400
		days--
	}
	hh, mm, ss = int(secs/3600), int(secs/60%60), int(secs%60)
	z := days + 719468 // days since 0000-03-01
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // day of the 400-year era
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the March-based year
	mp := (5*doy + 2) / 153                                // March-based month
	d = int(doy - (153*mp+2)/5 + 1)
	m = int(mp + 3)
	if mp >= 10 {
		m = int(mp - 9)
	}
	y = int(yoe + era*400)
	if m <= 2 {
		y++
	}
	return y, m, d, hh, mm, ss
}

func (e *encoder) Date(d value.Date) error {
	if err := checkDate(int64(d.Year), int64(d.Month), int64(d.Day)); err != nil {
		return fmt.Errorf("date %s: %w", d, err)
	}
	e.ints('d', false, d.Year, int(d.Month), d.Day)
	return nil
}

func (e *encoder) TimeOfDay(t value.TimeOfDay) error {
	if err := checkClock(int64(t.Hour), int64(t.Minute), int64(t.Second), int64(t.Microsecond)); err != nil {
		return fmt.Errorf("time %s: %w", t, err)
	}
	e.ints('t', true, t.Hour, t.Minute, t.Second, t.Microsecond)
	return nil
}

// ErrObject is returned when encoding a *value.Object: JSerializable objects
// exist only in DIRAC's JSON encoding.
var ErrObject = errors.New("a JSerializable object (value.Object) cannot be written as DEncode")

func (e *encoder) Object(class, module string) error {
	return fmt.Errorf("%w: %s.%s", ErrObject, module, class)
}

// KeyDialect, EncodeKey and RawKey implement value.KeyEmitter: struct field
// names are encoded once per type instead of once per value.
func (e *encoder) KeyDialect() string { return "dencode" }

// EncodeKey implements value.KeyEmitter.
func (e *encoder) EncodeKey(name string) []byte {
	var k encoder
	_ = k.String(name)
	return k.buf
}

// RawKey implements value.KeyEmitter.
func (e *encoder) RawKey(k []byte) error {
	e.commit(append(e.spare(len(k)), k...))
	return nil
}

// EncodedDialect, EncodeValue and Encoded implement value.EncodedEmitter: a
// *value.Encoded is encoded once and written as those bytes.
func (e *encoder) EncodedDialect() string { return "dencode" }

// EncodeValue implements value.EncodedEmitter.
func (e *encoder) EncodeValue(v any) ([]byte, error) {
	b, err := Marshal(v)
	if err != nil {
		err = errors.Unwrap(err) // the enclosing Marshal names the package
	}
	return b, err
}

// Encoded implements value.EncodedEmitter. Long bytes are left in their own
// memory, as long strings are (see AppendMarshalBuffers).
func (e *encoder) Encoded(text string) error {
	if e.minRef > 0 && len(text) >= e.minRef {
		e.refs.Add(len(e.buf), text)
		return nil
	}
	e.commit(append(e.spare(len(text)), text...))
	return nil
}
