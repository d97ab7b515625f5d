package dencode

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/diracgo/diracrpc/internal/slab"
	"math/big"
	"sync"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// Sentinel causes of decoding errors, for errors.Is.
var (
	// ErrTruncated: the input ends inside a value. DIRAC silently accepts a
	// string shorter than its declared length (s5:ab); this decoder does not.
	ErrTruncated = errors.New("dencode: input ends inside a value")
	// ErrSyntax: a byte or number DIRAC's decoder would also reject.
	ErrSyntax = errors.New("dencode: invalid input")
	// ErrTrailingData: Unmarshal found bytes after the value (Decode allows
	// them, as DIRAC's callers do).
	ErrTrailingData = errors.New("dencode: trailing data after the value")
	// ErrEmpty: the input is empty (DIRAC's decode returns it unchanged, and
	// its callers then report that it could not be decoded).
	ErrEmpty = errors.New("dencode: empty input")
)

// SyntaxError describes invalid input and where it was found.
type SyntaxError struct {
	Offset int    // byte offset of the value at fault
	Msg    string // what is wrong
	Err    error  // ErrTruncated, ErrSyntax, ErrTrailingData, ErrEmpty or value.ErrTooDeep
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("dencode: %s at offset %d", e.Msg, e.Offset)
}

func (e *SyntaxError) Unwrap() error { return e.Err }

// Unmarshal decodes the single DEncode value in data into v, which must be a
// non-nil pointer. Into *any it stores the generic model (see the package
// doc); other targets are filled with value.Assign (structs, maps, slices,
// time.Time...).
//
// Unlike DIRAC, Unmarshal rejects bytes after the value (ErrTrailingData):
// DIRAC ignores them, but in a DISET frame they can only mean corruption. Use
// Decode to get DIRAC's behaviour.
func Unmarshal(data []byte, v any) error {
	x, n, err := Decode(data)
	if err != nil {
		return err
	}
	if n != len(data) {
		return &SyntaxError{Offset: n, Msg: fmt.Sprintf("%d bytes after the value", len(data)-n), Err: ErrTrailingData}
	}
	if p, ok := v.(*any); ok && p != nil {
		*p = x
		return nil
	}
	if err := value.Assign(v, x); err != nil {
		return fmt.Errorf("dencode: %w", err)
	}
	return nil
}

// Decode decodes the DEncode value at the start of data and returns it (in
// the generic model) with the number of bytes it took, as DIRAC's decode
// does; what follows is not looked at.
func Decode(data []byte) (v any, n int, err error) {
	var dec Decoder
	return dec.Decode(data)
}

// Decoder decodes DEncode with options. The zero value decodes as Decode
// does.
type Decoder struct {
	// ShareInput says the caller hands the input over and never modifies it
	// afterwards (a message just read into a buffer of its own). Strings
	// that make up most of it then point into it instead of being copied: a
	// 10 MB string answer is held once, not twice (see slab.Tree.Share).
	ShareInput bool
}

// Decode is the package's Decode with dec's options.
func (dec Decoder) Decode(data []byte) (v any, n int, err error) {
	if len(data) == 0 {
		return nil, 0, &SyntaxError{Msg: "empty input", Err: ErrEmpty}
	}
	d := decoderPool.Get().(*decoder)
	d.data, d.pos = data, 0
	d.small = len(data) <= smallInput
	d.tree.Start(len(data))
	if dec.ShareInput {
		d.tree.Share(data)
	}
	v, err = d.value(0)
	n = d.pos
	d.release(err != nil)
	if err != nil {
		return nil, 0, err
	}
	return v, n, nil
}

// decoderPool recycles the decoders' scratch space, string caches and
// pointer-free batches.
var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// smallInput is the size up to which an input counts as small (see
// decoder.small).
const smallInput = 512

// release returns d to the pool, keeping what is safe to share: the scratch
// stacks (emptied), the caches of strings (each in an allocation of its own),
// and the batches of pointer-free values (see slab.Tree.Finish).
//
// A pooled decoder must hold no pointer into a tree it returned: it would
// keep the tree alive as long as the decoder lives, and the garbage collector
// would trace it over and over (on the benchmark payload that doubled the CPU
// time of a decode; TestPooledDecoderKeepsLittle checks it).
func (d *decoder) release(failed bool) {
	d.data = nil
	if failed {
		// Error paths truncate the stacks without clearing them.
		clear(d.stack[:cap(d.stack)])
		clear(d.entries[:cap(d.entries)])
	}
	d.stack = d.stack[:0]
	d.entries = d.entries[:0]
	clear(d.shapes[:])
	d.tree.Finish()
	if cap(d.stack) > 1<<16 || cap(d.entries) > 1<<16 {
		return // let an unusually large one go
	}
	decoderPool.Put(d)
}

// decoder is a single pass over the input.
type decoder struct {
	data []byte
	pos  int
	// small: the input is short (a typical result), so each small dict gets
	// one allocation with its entries (value.CopyDict) instead of a share
	// of batches.
	small bool
	// stack holds the items of the containers being decoded, so that each
	// list or dict is allocated once, at its final size, when it ends.
	stack   []any
	entries []value.Entry
	// Caches of short strings that repeat across the records of a reply
	// and across replies. Keys and values have their own, so that unique
	// values (IDs, file names) do not evict the keys.
	keys, vals slab.StringCache
	// shapes holds the entries of the last dict decoded at each depth, whose
	// keys the next dict at that depth probably repeats.
	shapes [8][]value.Entry
	// tree: where the decoded values are cut from, in batches.
	tree slab.Tree
}

func (d *decoder) fail(at int, err error, format string, args ...any) error {
	return &SyntaxError{Offset: at, Msg: fmt.Sprintf(format, args...), Err: err}
}

func (d *decoder) truncated(at int, what string) error {
	return d.fail(at, ErrTruncated, "input ends inside %s", what)
}

func (d *decoder) value(depth int) (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.truncated(d.pos, "a container")
	}
	start := d.pos
	switch c := d.data[d.pos]; c {
	case 's', 'u':
		b, err := d.str()
		if err != nil {
			return nil, err
		}
		return d.vals.Box(b, &d.tree), nil
	case 'i', 'I':
		return d.integer()
	case 'd':
		return d.dict(depth)
	case 'l', 't':
		return d.list(c == 't', depth)
	case 'b':
		if d.pos+1 >= len(d.data) {
			return nil, d.truncated(start, "a bool")
		}
		d.pos += 2
		return d.data[start+1] != '0', nil // DIRAC: anything but "0" is True
	case 'n':
		d.pos++
		return nil, nil
	case 'f':
		return d.float()
	case 'z':
		return d.datetime(depth)
	}
	return nil, d.fail(start, ErrSyntax, "unknown type byte %q", d.data[start])
}

// text returns the bytes from after the type byte up to the next sep, and
// moves past sep.
func (d *decoder) text(sep byte, what string) ([]byte, error) {
	start := d.pos + 1
	i := bytes.IndexByte(d.data[start:], sep)
	if i < 0 {
		return nil, d.fail(d.pos, ErrTruncated, "%s without its %q terminator", what, sep)
	}
	d.pos = start + i + 1
	return d.data[start : start+i], nil
}

func (d *decoder) str() ([]byte, error) {
	start := d.pos
	// Fast path: plain decimal length, as encoders write it.
	p, size := start+1, 0
	for ; p < len(d.data) && p-start <= 9; p++ {
		c := d.data[p]
		if c < '0' || c > '9' {
			break
		}
		size = size*10 + int(c-'0')
	}
	if p < len(d.data) && d.data[p] == ':' && p > start+1 && p-start <= 9 {
		p++
		if size > len(d.data)-p {
			return nil, d.fail(start, ErrTruncated, "string of %d bytes with %d left", size, len(d.data)-p)
		}
		d.pos = p + size
		return d.data[p : p+size], nil
	}
	lenText, err := d.text(':', "string length")
	if err != nil {
		return nil, err
	}
	n, huge, ok := parseInt(lenText)
	if !ok || huge != nil || n < 0 {
		return nil, d.fail(start, ErrSyntax, "bad string length %q", lenText)
	}
	if n > int64(len(d.data)-d.pos) {
		return nil, d.fail(start, ErrTruncated, "string of %d bytes with %d left", n, len(d.data)-d.pos)
	}
	b := d.data[d.pos : d.pos+int(n)]
	d.pos += int(n)
	return b, nil
}

func (d *decoder) integer() (any, error) {
	i, b, err := d.intRaw()
	if err != nil {
		return nil, err
	}
	if b != nil {
		return b, nil
	}
	return d.tree.Int(i), nil
}

// intRaw reads "i...e" (or "I...e"). The plain form encoders write is read
// in place; anything else goes through Python's int() rules (parseInt).
func (d *decoder) intRaw() (int64, *big.Int, error) {
	if v, end := plainInt(d.data, d.pos); end > 0 {
		d.pos = end
		return v, nil, nil
	}
	start := d.pos
	t, err := d.text('e', "integer")
	if err != nil {
		return 0, nil, err
	}
	n, b, ok := parseInt(t)
	if !ok {
		return 0, nil, d.fail(start, ErrSyntax, "invalid integer %q", clip(t))
	}
	return n, b, nil
}

// plainInt reads the integer at data[at] ('i' or 'I') if it has the plain
// form encoders write: an optional '-', 1 to 18 digits, 'e'. It returns the
// value and the offset after the 'e', or end 0 for any other form.
func plainInt(data []byte, at int) (v int64, end int) {
	p := at + 1
	neg := p < len(data) && data[p] == '-'
	if neg {
		p++
	}
	first := p
	for ; p < len(data) && p-first < 19; p++ {
		c := data[p] - '0'
		if c > 9 {
			break
		}
		v = v*10 + int64(c)
	}
	if p == first || p-first > 18 || p >= len(data) || data[p] != 'e' {
		return 0, 0
	}
	if neg {
		v = -v
	}
	return v, p + 1
}

func (d *decoder) float() (any, error) {
	start := d.pos
	t, err := d.text('e', "float")
	if err != nil {
		return nil, err
	}
	// The terminator doubles as the exponent marker: "f1e+20e".
	if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
		d.pos--
		exp, err := d.text('e', "float exponent")
		if err != nil {
			return nil, err
		}
		f, ok := parseExpFloat(t, exp)
		if !ok {
			return nil, d.fail(start, ErrSyntax, "invalid float %q", clip(d.data[start+1:d.pos-1]))
		}
		return d.tree.Float(f), nil
	}
	f, ok := parseFloat(t)
	if !ok {
		return nil, d.fail(start, ErrSyntax, "invalid float %q", clip(t))
	}
	return d.tree.Float(f), nil
}

func clip(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

func (d *decoder) enter(depth int) error {
	if depth >= value.MaxDepth {
		return d.fail(d.pos, value.ErrTooDeep, "containers nested deeper than %d", value.MaxDepth)
	}
	return nil
}

func (d *decoder) list(tuple bool, depth int) (any, error) {
	if err := d.enter(depth); err != nil {
		return nil, err
	}
	start := d.pos
	d.pos++
	base := len(d.stack)
	for {
		if d.pos >= len(d.data) {
			d.stack = d.stack[:base]
			return nil, d.truncated(start, "a list or tuple")
		}
		if d.data[d.pos] == 'e' {
			d.pos++
			break
		}
		v, err := d.value(depth + 1)
		if err != nil {
			d.stack = d.stack[:base]
			return nil, err
		}
		d.stack = append(d.stack, v)
	}
	items := d.tree.Items(len(d.stack) - base)
	copy(items, d.stack[base:])
	clear(d.stack[base:])
	d.stack = d.stack[:base]
	if tuple {
		return d.tree.Tuple(items), nil
	}
	return d.tree.List(items), nil
}

// key reads a dict key. guess is the key the previous dict at this depth had
// at this position: records in a list share their keys, and when it matches,
// it is reused without a cache lookup.
func (d *decoder) key(depth int, guess any) (any, error) {
	if d.pos < len(d.data) && d.data[d.pos] == 's' {
		b, err := d.str()
		if err != nil {
			return nil, err
		}
		if g, ok := guess.(string); ok && g == string(b) {
			return guess, nil
		}
		return d.keys.Box(b, &d.tree), nil
	}
	start := d.pos
	k, err := d.value(depth + 1)
	if err != nil {
		return nil, err
	}
	if !value.Hashable(k) {
		return nil, d.fail(start, ErrSyntax, "unhashable dict key of type %s", value.TypeName(k))
	}
	return k, nil
}

func (d *decoder) dict(depth int) (any, error) {
	if err := d.enter(depth); err != nil {
		return nil, err
	}
	start := d.pos
	d.pos++
	base := len(d.entries)
	var prev []value.Entry
	if depth < len(d.shapes) {
		prev = d.shapes[depth]
	}
	for {
		if d.pos >= len(d.data) {
			d.entries = d.entries[:base]
			return nil, d.truncated(start, "a dict")
		}
		if d.data[d.pos] == 'e' {
			d.pos++
			break
		}
		var guess any
		if i := len(d.entries) - base; i < len(prev) {
			guess = prev[i].Key
		}
		k, err := d.key(depth, guess)
		if err != nil {
			d.entries = d.entries[:base]
			return nil, err
		}
		if d.pos < len(d.data) && d.data[d.pos] == 'e' {
			d.entries = d.entries[:base]
			return nil, d.fail(d.pos, ErrSyntax, "dict key without a value")
		}
		v, err := d.value(depth + 1)
		if err != nil {
			d.entries = d.entries[:base]
			return nil, err
		}
		d.entries = append(d.entries, value.Entry{Key: k, Value: v})
	}
	var dict *value.Dict
	if n := len(d.entries) - base; d.small && n <= 4 {
		dict = value.CopyDict(d.entries[base:])
	} else {
		entries := d.tree.Entries(n)
		copy(entries, d.entries[base:])
		dict = d.tree.Dict()
		dict.SetEntries(entries)
	}
	clear(d.entries[base:])
	d.entries = d.entries[:base]
	if depth < len(d.shapes) {
		d.shapes[depth] = dict.Entries()
	}
	return dict, nil
}

// datetime decodes "z" + subtype + arguments. The arguments are normally a
// tuple of ints (and a None tzinfo), read here without building the tuple;
// DIRAC passes whatever value follows to the constructor, so a list works too.
func (d *decoder) datetime(depth int) (any, error) {
	start := d.pos
	if d.pos+1 >= len(d.data) {
		return nil, d.truncated(start, "a datetime")
	}
	kind := d.data[d.pos+1]
	if kind != 'a' && kind != 'd' && kind != 't' {
		return nil, d.fail(start, ErrSyntax, "unknown datetime subtype %q", kind)
	}
	d.pos += 2
	if err := d.enter(depth); err != nil {
		return nil, err
	}
	if d.pos >= len(d.data) {
		return nil, d.truncated(start, "a datetime")
	}
	if c := d.data[d.pos]; c != 't' && c != 'l' {
		// DIRAC would spread a string or dict into the constructor's
		// arguments; no encoder writes that, so refuse it.
		return nil, d.fail(start, ErrSyntax, "datetime arguments must be a tuple or list, not %q", c)
	}
	var args [8]int64
	var tz [8]bool // argument i is None
	n := 0
	d.pos++
	for {
		if d.pos >= len(d.data) {
			return nil, d.truncated(start, "a datetime")
		}
		c := d.data[d.pos]
		if c == 'e' {
			d.pos++
			break
		}
		if n == len(args) {
			return nil, d.fail(start, ErrSyntax, "too many datetime arguments")
		}
		switch c {
		case 'i', 'I':
			if v, end := plainInt(d.data, d.pos); end > 0 {
				args[n], d.pos = v, end
				break
			}
			at := d.pos
			i, b, err := d.intRaw()
			if err != nil {
				return nil, err
			}
			if b != nil {
				return nil, d.fail(at, ErrSyntax, "datetime argument out of range")
			}
			args[n] = i
		case 'n':
			d.pos++
			tz[n] = true
		default:
			at := d.pos
			v, err := d.value(depth + 1)
			if err != nil {
				return nil, err
			}
			return nil, d.fail(at, ErrSyntax, "datetime argument of type %s", value.TypeName(v))
		}
		n++
	}
	t, other, err := buildDatetime(kind, args[:n], tz[:n], func(msg string) error { return d.fail(start, ErrSyntax, "%s", msg) })
	if err != nil || other != nil {
		return other, err
	}
	return d.tree.Time(t), nil
}

// buildDatetime applies the constructors' rules: datetime(y, m, d[, H, M, S,
// us, tzinfo]), date(y, m, d), time([H, M, S, us, tzinfo]); ints only, and
// tzinfo None. A datetime comes back as t, the others as other (a datetime
// is not boxed here, so that the caller can box it without an allocation).
func buildDatetime(kind byte, args []int64, none []bool, fail func(string) error) (t time.Time, other any, err error) {
	tzAt, minArgs, maxArgs := 7, 3, 8
	switch kind {
	case 'd':
		tzAt, maxArgs = -1, 3
	case 't':
		tzAt, minArgs, maxArgs = 4, 0, 5
	}
	if len(args) < minArgs || len(args) > maxArgs {
		return t, nil, fail(fmt.Sprintf("%d datetime arguments", len(args)))
	}
	for i, isNone := range none {
		if isNone != (i == tzAt) {
			if isNone {
				return t, nil, fail("None where a datetime argument must be an int")
			}
			return t, nil, fail("a tzinfo that is not None")
		}
	}
	var f [7]int64 // fields past the given ones default to 0
	copy(f[:], args)
	switch kind {
	case 'a':
		if err := checkDate(f[0], f[1], f[2]); err != nil {
			return t, nil, fail(err.Error())
		}
		if err := checkClock(f[3], f[4], f[5], f[6]); err != nil {
			return t, nil, fail(err.Error())
		}
		return utcTime(f), nil, nil
	case 'd':
		if err := checkDate(f[0], f[1], f[2]); err != nil {
			return t, nil, fail(err.Error())
		}
		return t, value.Date{Year: int(f[0]), Month: time.Month(f[1]), Day: int(f[2])}, nil
	}
	if err := checkClock(f[0], f[1], f[2], f[3]); err != nil {
		return t, nil, fail(err.Error())
	}
	return t, value.TimeOfDay{Hour: int(f[0]), Minute: int(f[1]), Second: int(f[2]), Microsecond: int(f[3])}, nil
}

// utcTime is time.Date(y, m, d, H, M, S, us*1000, time.UTC) for fields
// already checked to be in range, without time.Date's normalisation: the day
// number comes from the proleptic Gregorian calendar's closed form (400-year
// eras starting in March, so that the leap day ends a year).
func utcTime(f [7]int64) time.Time {
	y, m := f[0], f[1]
	if m <= 2 {
		y--
	}
	era := y / 400 // y >= 0 for years 1..9999
	yoe := y - era*400
	mp := (m + 9) % 12 // March = 0
	doy := (153*mp+2)/5 + f[2] - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	days := era*146097 + doe - 719468 // days since 1970-01-01
	return time.Unix(days*86400+f[3]*3600+f[4]*60+f[5], f[6]*1000).UTC()
}

func checkDate(y, m, day int64) error {
	switch {
	case y < 1 || y > 9999:
		return errYearRange
	case m < 1 || m > 12:
		return errors.New("month must be in 1..12")
	case day < 1 || day > int64(daysIn(y, m)):
		return errors.New("day is out of range for month")
	}
	return nil
}

var monthDays = [13]int{0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}

func daysIn(y, m int64) int {
	if m == 2 && y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		return 29
	}
	return monthDays[m]
}

func checkClock(h, m, s, us int64) error {
	switch {
	case h < 0 || h > 23:
		return errors.New("hour must be in 0..23")
	case m < 0 || m > 59:
		return errors.New("minute must be in 0..59")
	case s < 0 || s > 59:
		return errors.New("second must be in 0..59")
	case us < 0 || us > 999999:
		return errors.New("microsecond must be in 0..999999")
	}
	return nil
}
