package jencode

import (
	"errors"
	"fmt"
	"github.com/diracgo/diracrpc/internal/slab"
	"math"
	"math/big"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/diracgo/diracrpc/value"
)

// SyntaxError is malformed JSON. Its message is the one Python's json module
// gives for the same input ("Expecting value: line 1 column 1 (char 0)"), so
// that errors read the same on both sides of a connection.
type SyntaxError struct {
	// Msg is Python's message without the position ("Expecting value").
	Msg string
	// Offset is the byte offset of the error in the (UTF-8) input.
	Offset int
	// Line, Column and Char locate the error as Python does: lines and
	// columns from 1, Char from 0, counted in characters.
	Line, Column, Char int
}

func (e *SyntaxError) Error() string { return "jencode: " + e.Detail() }

// Detail returns the error text exactly as Python's JSONDecodeError writes it.
func (e *SyntaxError) Detail() string {
	return fmt.Sprintf("%s: line %d column %d (char %d)", e.Msg, e.Line, e.Column, e.Char)
}

// Decoder decodes JEncode text with options. The zero value is ready to use
// and decodes as Decode does.
type Decoder struct {
	// Object, when set, is asked about every DIRAC object ({"__dCls": class,
	// "__dMod": module, ...}) before it is returned as a *value.Object; an
	// error rejects the input. DIRAC itself rejects objects whose module it
	// cannot import or whose class is not a JSerializable subclass; Go cannot
	// know which classes a Python peer has, so by default every object is
	// accepted and kept as data.
	Object func(class, module string) error
	// ShareInput says the caller hands the input over and never modifies it
	// afterwards (a message just read into a buffer of its own). Strings
	// that make up most of it then point into it instead of being copied: a
	// 10 MB string answer is held once, not twice (see slab.Tree.Share).
	ShareInput bool
}

// Decode parses JEncode text into the generic model (see the package
// documentation). The whole input must be one JSON value, with optional
// surrounding whitespace.
func Decode(data []byte) (any, error) {
	var dec Decoder
	return dec.Decode(data)
}

// Decode parses JEncode text into the generic model.
func (dec *Decoder) Decode(data []byte) (any, error) { return dec.decode(data, false) }

// decode is Decode; with general, without the shortcuts for the forms
// DIRAC writes (tests compare both).
func (dec *Decoder) decode(data []byte, general bool) (any, error) {
	text, err := toUTF8(data)
	if err != nil {
		return nil, err
	}
	d := decoderPool.Get().(*decoder)
	d.data, d.pos, d.depth, d.objHook, d.small = text, 0, 0, dec.Object, len(text) <= smallInput
	d.general = general
	d.lens = [16]int32{}
	d.tree.Start(len(text))
	if dec.ShareInput {
		d.tree.Share(text)
	}
	d.skipWS()
	v, err := d.value()
	if err == nil {
		d.skipWS()
		if d.pos != len(d.data) {
			err = d.syntaxErr("Extra data", d.pos)
		}
	}
	d.release(err != nil)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// decoderPool recycles the decoders' scratch space, string caches and
// pointer-free batches.
var decoderPool = sync.Pool{New: func() any { return new(decoder) }}

// release returns d to the pool. Like DEncode's decoder, a pooled decoder
// holds no pointer into a tree it returned (see slab.Tree.Finish).
func (d *decoder) release(failed bool) {
	d.data, d.objHook = nil, nil
	if failed {
		// Error paths truncate the stacks without clearing them.
		clear(d.items[:cap(d.items)])
		clear(d.entries[:cap(d.entries)])
	}
	d.items, d.entries = d.items[:0], d.entries[:0]
	d.tree.Finish()
	if cap(d.items) > 1<<16 || cap(d.entries) > 1<<16 || cap(d.buf) > 1<<20 {
		return // let an unusually large one go
	}
	decoderPool.Put(d)
}

// Unmarshal decodes data into v, which must be a non-nil pointer: *any gets
// the generic model; other targets (structs, maps, slices, time.Time...) are
// filled by value.Assign, as encoding/json would fill them.
func (dec *Decoder) Unmarshal(data []byte, v any) error {
	x, err := dec.Decode(data)
	if err != nil {
		return err
	}
	if p, ok := v.(*any); ok && p != nil {
		*p = x
		return nil
	}
	if err := value.Assign(v, x); err != nil {
		return fmt.Errorf("jencode: %w", err)
	}
	return nil
}

// Unmarshal decodes JEncode text into v (see Decoder.Unmarshal).
func Unmarshal(data []byte, v any) error {
	var dec Decoder
	return dec.Unmarshal(data, v)
}

type decoder struct {
	data    []byte
	pos     int
	depth   int
	objHook func(class, module string) error // Decoder.Object
	buf     []byte                           // scratch for strings with escapes
	// Caches of short strings that repeat across the records of a payload
	// and across payloads; keys and values have their own, so that unique
	// values do not evict the keys.
	keys, vals slab.StringCache
	// general: no shortcut for the forms DIRAC writes (see datetime), nor
	// for the objects of a listing (see objectEntries).
	general bool
	// small: the input is short (a typical result), so each small dict gets
	// one allocation with its entries (value.CopyDict) instead of a share of
	// the batches below.
	small bool
	// lens: the number of entries of the last object at each depth, which
	// the next one there probably has too (see objectEntries).
	lens [16]int32
	// items and entries hold the contents of the open arrays and objects,
	// so that each container is allocated once, at its final size.
	items   []any
	entries []value.Entry
	// tree: where the decoded values are cut from, in batches.
	tree slab.Tree
}

// smallInput is the size up to which an input counts as small (see
// decoder.small).
const smallInput = 512

// newDictOf returns a dict holding a copy of entries.
func (d *decoder) newDictOf(entries []value.Entry) *value.Dict {
	if d.small && len(entries) <= 4 {
		return value.CopyDict(entries)
	}
	es := d.tree.Entries(len(entries))
	copy(es, entries)
	dict := d.tree.Dict()
	dict.SetEntries(es)
	return dict
}

func (d *decoder) syntaxErr(msg string, off int) error {
	prefix := d.data[:min(off, len(d.data))]
	line, lastNL := 1, -1
	for i, c := range prefix {
		if c == '\n' {
			line++
			lastNL = i
		}
	}
	char := utf8.RuneCount(prefix)
	col := char + 1
	if lastNL >= 0 {
		col = utf8.RuneCount(prefix[lastNL+1:]) + 1
	}
	return &SyntaxError{Msg: msg, Offset: off, Line: line, Column: col, Char: char}
}

// separator steps over sep written as Python's json.dumps writes it, sep
// and one space before the next token ("key": value, next), and tells
// whether it did; any other spacing is left to the general way (and so is
// everything, with general: the tests compare both).
func (d *decoder) separator(sep byte) bool {
	if p := d.pos; !d.general && p+2 < len(d.data) && d.data[p] == sep && d.data[p+1] == ' ' && d.data[p+2] > ' ' {
		d.pos = p + 2
		return true
	}
	return false
}

func (d *decoder) skipWS() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) literal(lit string, v any) (any, error) {
	if len(d.data)-d.pos >= len(lit) && string(d.data[d.pos:d.pos+len(lit)]) == lit {
		d.pos += len(lit)
		return v, nil
	}
	return nil, d.syntaxErr("Expecting value", d.pos)
}

func (d *decoder) value() (any, error) {
	if d.pos >= len(d.data) {
		return nil, d.syntaxErr("Expecting value", d.pos)
	}
	switch c := d.data[d.pos]; c {
	case '"':
		return d.str()
	case '{':
		return d.object()
	case '[':
		return d.array()
	case 'n':
		return d.literal("null", nil)
	case 't':
		return d.literal("true", true)
	case 'f':
		return d.literal("false", false)
	case 'N':
		return d.literal("NaN", math.NaN())
	case 'I':
		return d.literal("Infinity", math.Inf(1))
	case '-':
		if len(d.data)-d.pos >= 9 && string(d.data[d.pos:d.pos+9]) == "-Infinity" {
			d.pos += 9
			return math.Inf(-1), nil
		}
		return d.number()
	default:
		if c >= '0' && c <= '9' {
			return d.number()
		}
	}
	return nil, d.syntaxErr("Expecting value", d.pos)
}

func (d *decoder) enter() error {
	d.depth++
	if d.depth > value.MaxDepth {
		return fmt.Errorf("jencode: %w at offset %d", value.ErrTooDeep, d.pos)
	}
	return nil
}

func (d *decoder) array() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	d.pos++ // [
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.depth--
		return []any{}, nil
	}
	base := len(d.items)
	for {
		v, err := d.value()
		if err != nil {
			d.items = d.items[:base]
			return nil, err
		}
		if d.items == nil {
			d.items = make([]any, 0, 8) // rather than growing from 1
		}
		d.items = append(d.items, v)
		if d.separator(',') {
			continue
		}
		d.skipWS()
		if d.pos < len(d.data) {
			switch d.data[d.pos] {
			case ']':
				d.pos++
				d.depth--
				list := d.tree.Items(len(d.items) - base)
				copy(list, d.items[base:])
				clear(d.items[base:])
				d.items = d.items[:base]
				return d.tree.List(list), nil
			case ',':
				d.pos++
				d.skipWS()
				continue
			}
		}
		d.items = d.items[:base]
		return nil, d.syntaxErr("Expecting ',' delimiter", d.pos)
	}
}

func (d *decoder) object() (any, error) {
	if err := d.enter(); err != nil {
		return nil, err
	}
	start := d.pos
	if !d.general {
		if v, ok := d.datetime(); ok {
			d.depth--
			return v, nil
		}
	}
	d.pos++ // {
	d.skipWS()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.depth--
		return d.tree.Dict(), nil
	}
	special := false // a "__dCls" key was seen
	base := len(d.entries)
	dict, err := d.objectEntries(base, &special)
	if err != nil {
		clear(d.entries[base:])
		d.entries = d.entries[:base]
		return nil, err
	}
	d.depth--
	if !special {
		return dict, nil
	}
	hd := Decoder{Object: d.objHook}
	v, err := hd.hook(dict, &d.tree)
	if err != nil {
		return nil, fmt.Errorf("jencode: object at offset %d: %w", start, err)
	}
	return v, nil
}

// dtPrefix and dtEnd surround a datetime as DIRAC's encoder (and this
// package's) writes it: {"__dCls": "dt", "obj": "2024-10-17 13:41:46"}.
const (
	dtPrefix = `{"__dCls": "dt", "obj": "`
	dtEnd    = `"}`
	dtLen    = len(dtPrefix) + len("2024-10-17 13:41:46") + len(dtEnd)
)

// datetime decodes the datetime object at d.pos if it is written exactly as
// DIRAC writes it, with the value the general way (object, then the hook)
// gives, without building the dict: a job listing holds one per row.
func (d *decoder) datetime() (any, bool) {
	rest := d.data[d.pos:]
	if len(rest) < dtLen || string(rest[:len(dtPrefix)]) != dtPrefix || string(rest[dtLen-len(dtEnd):dtLen]) != dtEnd {
		return nil, false
	}
	f, ok := canonical(rest[len(dtPrefix):dtLen-len(dtEnd)], true)
	if !ok {
		return nil, false
	}
	d.pos += dtLen
	return d.tree.Time(time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], 0, time.UTC)), true
}

// objectEntries parses the members of an object up to its closing brace.
func (d *decoder) objectEntries(base int, special *bool) (*value.Dict, error) {
	// An object usually has as many entries as the last one at its depth
	// (the records of a listing): they go straight into a piece of the tree
	// of that size, rather than through the scratch stack and a copy. An
	// object with more moves them to the stack and goes on there.
	var direct []value.Entry
	if !d.small && !d.general && d.depth < len(d.lens) && d.lens[d.depth] > 0 {
		direct = d.tree.Entries(int(d.lens[d.depth]))
	}
	n := 0
	for {
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return nil, d.syntaxErr("Expecting property name enclosed in double quotes", d.pos)
		}
		key, isDCls, err := d.key()
		if err != nil {
			return nil, err
		}
		*special = *special || isDCls
		if !d.separator(':') {
			d.skipWS()
			if d.pos >= len(d.data) || d.data[d.pos] != ':' {
				return nil, d.syntaxErr("Expecting ':' delimiter", d.pos)
			}
			d.pos++
			d.skipWS()
		}
		v, err := d.value()
		if err != nil {
			return nil, err
		}
		if n < len(direct) {
			direct[n] = value.Entry{Key: key, Value: v}
		} else {
			if d.entries == nil {
				d.entries = make([]value.Entry, 0, 8) // rather than growing from 1
			}
			if direct != nil { // more entries than foreseen
				d.entries = append(d.entries, direct...)
				clear(direct)
				direct = nil
			}
			d.entries = append(d.entries, value.Entry{Key: key, Value: v})
		}
		n++
		if d.separator(',') {
			continue
		}
		d.skipWS()
		if d.pos < len(d.data) {
			if c := d.data[d.pos]; c == '}' {
				d.pos++
				if d.depth < len(d.lens) {
					d.lens[d.depth] = int32(n)
				}
				if direct != nil {
					dict := d.tree.Dict()
					dict.SetEntries(direct[:n:n])
					return dict, nil
				}
				dict := d.newDictOf(d.entries[base:])
				clear(d.entries[base:])
				d.entries = d.entries[:base]
				return dict, nil
			} else if c == ',' {
				d.pos++
				d.skipWS()
				continue
			}
		}
		return nil, d.syntaxErr("Expecting ',' delimiter", d.pos)
	}
}

// strPlain[c] is true for the bytes a string can hold without further
// work: printable ASCII except '"' and '\'.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// str parses the string starting at the opening quote at d.pos and returns
// it boxed (short strings interned).
func (d *decoder) str() (any, error) {
	raw, err := d.rawStr()
	if err != nil {
		return nil, err
	}
	return d.vals.Box(raw, &d.tree), nil
}

// key is str for an object key; it also tells whether the key is "__dCls".
func (d *decoder) key() (any, bool, error) {
	raw, err := d.rawStr()
	if err != nil {
		return nil, false, err
	}
	if k := wellKnown(raw); k != nil {
		return k, false, nil
	}
	return d.keys.Box(raw, &d.tree), string(raw) == "__dCls", nil
}

// rawStr returns the unescaped bytes of the string at d.pos, valid until the
// next call.
func (d *decoder) rawStr() ([]byte, error) {
	start := d.pos + 1
	data := d.data
	i := skipPlainBytes(data, start, false)
	if i < len(data) && data[i] == '"' {
		d.pos = i + 1
		return data[start:i], nil
	}
	return d.strSlow(start, i)
}

// wellKnown returns the keys of DIRAC's result dicts, which every reply has,
// without allocating: a constant converted to an interface is static data.
func wellKnown(b []byte) any {
	switch string(b) {
	case "OK":
		return "OK"
	case "Value":
		return "Value"
	case "Errno":
		return "Errno"
	case "Message":
		return "Message"
	case "CallStack":
		return "CallStack"
	case "rpcStub":
		return "rpcStub"
	}
	return nil
}

// strSlow handles escapes, control characters and non-ASCII text from i on;
// data[start:i] is plain. It returns the unescaped bytes (valid until the
// next call) and leaves d.pos after the closing quote.
func (d *decoder) strSlow(start, i int) ([]byte, error) {
	data := d.data
	buf := append(d.buf[:0], data[start:i]...)
	defer func() { d.buf = buf[:0] }()
	for {
		if i >= len(data) {
			return nil, d.syntaxErr("Unterminated string starting at", start-1)
		}
		c := data[i]
		switch {
		case strPlain[c]:
			j := i + 1
			for j < len(data) && strPlain[data[j]] {
				j++
			}
			buf = append(buf, data[i:j]...)
			i = j
		case c == '"':
			d.pos = i + 1
			return buf, nil
		case c == '\\':
			if i+1 >= len(data) {
				return nil, d.syntaxErr("Unterminated string starting at", start-1)
			}
			esc := data[i+1]
			i += 2
			switch esc {
			case '"', '\\', '/':
				buf = append(buf, esc)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := hex4(data, i)
				if !ok {
					return nil, d.syntaxErr("Invalid \\uXXXX escape", i-1)
				}
				i += 4
				if r >= 0xd800 && r < 0xdc00 && len(data)-i >= 6 && data[i] == '\\' && data[i+1] == 'u' {
					r2, ok := hex4(data, i+2)
					if !ok {
						return nil, d.syntaxErr("Invalid \\uXXXX escape", i+1)
					}
					if r2 >= 0xdc00 && r2 < 0xe000 {
						r = 0x10000 + (r-0xd800)<<10 + (r2 - 0xdc00)
						i += 6
					}
				}
				buf = appendCodePoint(buf, r)
			default:
				return nil, d.syntaxErr("Invalid \\escape", i-2)
			}
		case c < 0x20:
			return nil, d.syntaxErr("Invalid control character at", i)
		default: // non-ASCII: UTF-8, with encoded surrogates allowed (Python's surrogatepass)
			r, size := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && size == 1 {
				if c == 0xed && i+2 < len(data) && data[i+1] >= 0xa0 && data[i+1] <= 0xbf && data[i+2]&0xc0 == 0x80 {
					buf = appendCodePoint(buf, 0xd000|rune(data[i+1]&0x3f)<<6|rune(data[i+2]&0x3f))
					i += 3
					continue
				}
				return nil, fmt.Errorf("jencode: invalid UTF-8 byte 0x%02x at offset %d", c, i)
			}
			buf = append(buf, data[i:i+size]...)
			i += size
		}
	}
}

func hex4(data []byte, i int) (rune, bool) {
	if len(data)-i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range data[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// appendCodePoint appends r as UTF-8. Lone surrogates U+DC80..U+DCFF become
// the byte they stand for under Python's surrogateescape (so binary strings
// survive a JSON trip); other lone surrogates are written in WTF-8.
func appendCodePoint(buf []byte, r rune) []byte {
	if r >= 0xd800 && r < 0xe000 {
		if r >= 0xdc80 && r <= 0xdcff {
			return append(buf, byte(r))
		}
		return append(buf, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
	}
	return utf8.AppendRune(buf, r)
}

// number parses a JSON number as Python does: int unless it has a fraction
// or an exponent.
func (d *decoder) number() (any, error) {
	data := d.data
	start := d.pos
	i := start
	neg := data[i] == '-'
	if neg {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
	default:
		return nil, d.syntaxErr("Expecting value", start)
	}
	intEnd := i
	isFloat := false
	if i+1 < len(data) && data[i] == '.' && data[i+1] >= '0' && data[i+1] <= '9' {
		i += 2
		for i < len(data) && data[i] >= '0' && data[i] <= '9' {
			i++
		}
		isFloat = true
	}
	if i < len(data) && data[i]|0x20 == 'e' {
		j := i + 1
		if j < len(data) && (data[j] == '+' || data[j] == '-') {
			j++
		}
		k := j
		for k < len(data) && data[k] >= '0' && data[k] <= '9' {
			k++
		}
		if k > j {
			i = k
			isFloat = true
		}
	}
	d.pos = i
	text := data[start:i]
	if isFloat {
		f, err := strconv.ParseFloat(string(text), 64)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return nil, d.syntaxErr("Expecting value", start)
		}
		return d.tree.Float(f), nil
	}
	digits := intEnd - start
	if neg {
		digits--
	}
	if digits <= 18 {
		var n int64
		for _, c := range text[len(text)-digits:] {
			n = n*10 + int64(c-'0')
		}
		if neg {
			n = -n
		}
		return d.tree.Int(n), nil
	}
	if digits > MaxIntDigits {
		return nil, fmt.Errorf("jencode: %w: the integer at offset %d has %d digits", ErrIntTooLong, start, digits)
	}
	if n, err := strconv.ParseInt(string(text), 10, 64); err == nil {
		return n, nil
	}
	b, ok := new(big.Int).SetString(string(text), 10)
	if !ok {
		return nil, d.syntaxErr("Expecting value", start)
	}
	return b, nil
}
