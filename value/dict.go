package value

import (
	"fmt"
	"iter"
	"math"
	"math/big"
	"strconv"
	"time"
)

// Entry is one key/value pair of a Dict.
type Entry struct {
	Key   any
	Value any
}

// Dict is a Python dict: insertion-ordered, with keys of any hashable DIRAC
// type (strings, ints, floats, bools, None, tuples, dates...). The zero value is
// an empty dict ready to use. Setting an existing key keeps its position, as
// Python does.
type Dict struct {
	entries []Entry
	// index maps a canonical form of each key to its position; built lazily so
	// that small dicts decoded from the wire cost nothing extra.
	index map[any]int
}

// NewDict returns a dict holding the given alternating keys and values:
// NewDict("OK", true, "Value", v).
func NewDict(kv ...any) *Dict {
	if len(kv)%2 != 0 {
		panic("value.NewDict: odd number of arguments")
	}
	d := &Dict{entries: make([]Entry, 0, len(kv)/2)}
	for i := 0; i < len(kv); i += 2 {
		d.Set(kv[i], kv[i+1])
	}
	return d
}

// Len returns the number of entries.
func (d *Dict) Len() int {
	if d == nil {
		return 0
	}
	return len(d.entries)
}

// Entries returns the entries in order. The slice must not be modified.
func (d *Dict) Entries() []Entry {
	if d == nil {
		return nil
	}
	return d.entries
}

// All iterates over the entries in order.
func (d *Dict) All() iter.Seq2[any, any] {
	return func(yield func(any, any) bool) {
		for _, e := range d.Entries() {
			if !yield(e.Key, e.Value) {
				return
			}
		}
	}
}

// Keys returns the keys in order.
func (d *Dict) Keys() []any {
	keys := make([]any, 0, d.Len())
	for _, e := range d.Entries() {
		keys = append(keys, e.Key)
	}
	return keys
}

// Get returns the value stored under key, compared as Python compares dict
// keys (1 == 1.0 == True; "a" != b"a").
func (d *Dict) Get(key any) (any, bool) {
	i := d.find(key)
	if i < 0 {
		return nil, false
	}
	return d.entries[i].Value, true
}

// Lookup is Get for string keys, the common case.
func (d *Dict) Lookup(key string) (any, bool) {
	// Small dicts: compare strings in place, without boxing key (which
	// Get's any parameter costs an allocation).
	if d != nil && len(d.entries) < indexThreshold {
		for _, e := range d.entries {
			if s, ok := e.Key.(string); ok && s == key {
				return e.Value, true
			}
		}
		return nil, false
	}
	return d.Get(key)
}

// Has reports whether key is present.
func (d *Dict) Has(key any) bool { return d.find(key) >= 0 }

// Set stores value under key, replacing an existing equal key's value in place.
func (d *Dict) Set(key, val any) {
	if i := d.find(key); i >= 0 {
		d.entries[i].Value = val
		return
	}
	d.entries = append(d.entries, Entry{Key: key, Value: val})
	if d.index != nil {
		if k, ok := hashKey(key); ok {
			d.index[k] = len(d.entries) - 1
		}
	}
}

// Delete removes key if present, keeping the order of the others.
func (d *Dict) Delete(key any) {
	i := d.find(key)
	if i < 0 {
		return
	}
	d.entries = append(d.entries[:i], d.entries[i+1:]...)
	d.index = nil
}

// StringMap returns a plain map of the entries whose keys are strings: the
// convenient view for callers that know the dict is string-keyed.
func (d *Dict) StringMap() map[string]any {
	m := make(map[string]any, d.Len())
	for _, e := range d.Entries() {
		if s, ok := e.Key.(string); ok {
			m[s] = e.Value
		}
	}
	return m
}

// indexThreshold is the size from which lookups go through a map; below it a
// linear scan is faster and allocates nothing.
const indexThreshold = 16

func (d *Dict) find(key any) int {
	if d == nil {
		return -1
	}
	if len(d.entries) >= indexThreshold {
		if k, ok := hashKey(key); ok {
			if d.index == nil {
				d.buildIndex()
			}
			if i, ok := d.index[k]; ok {
				return i
			}
			return -1
		}
	}
	for i, e := range d.entries {
		if KeyEqual(e.Key, key) {
			return i
		}
	}
	return -1
}

func (d *Dict) buildIndex() {
	d.index = make(map[any]int, len(d.entries))
	for i, e := range d.entries {
		if k, ok := hashKey(e.Key); ok {
			if _, dup := d.index[k]; !dup {
				d.index[k] = i
			}
		}
	}
}

type strKey string
type canonStr string

// hashKey gives the Go map key under which Python would find k: numbers that
// Python considers equal (1, 1.0, True) share one key, and composite keys
// (tuples, big ints, dates) get a canonical text. NaN is never equal to
// anything, so it has no key.
func hashKey(k any) (any, bool) {
	switch k := k.(type) {
	case string:
		return strKey(k), true
	case int64:
		return k, true
	case int:
		return int64(k), true
	case bool:
		if k {
			return int64(1), true
		}
		return int64(0), true
	case nil:
		return nil, true
	case float64:
		if math.IsNaN(k) {
			return nil, false
		}
		if k == math.Trunc(k) && k >= -9.223372036854775808e18 && k < 9.223372036854775808e18 {
			return int64(k), true
		}
		if math.IsInf(k, 0) || k != math.Trunc(k) {
			return k, true
		}
	case *big.Int:
		if k == nil {
			return nil, false
		}
		if k.IsInt64() {
			return k.Int64(), true
		}
	case Tuple:
		for _, x := range k {
			if _, ok := hashKey(x); !ok {
				return nil, false
			}
		}
	case []any, *Dict, map[any]struct{}:
		return nil, false
	}
	return canonStr(canonKey(nil, k, 0)), true
}

// KeyEqual reports whether two dict keys are the same Python key: numbers
// compare by value across int, float and bool, as Python's hash and == do;
// NaN and unhashable values equal nothing.
func KeyEqual(a, b any) bool {
	if sa, ok := a.(string); ok {
		sb, ok := b.(string)
		return ok && sa == sb
	}
	if _, ok := b.(string); ok {
		return false
	}
	ka, ok := hashKey(a)
	if !ok {
		return false
	}
	kb, ok := hashKey(b)
	return ok && ka == kb
}

// DictFromEntries returns a dict holding entries, taking ownership of the
// slice: the fast way for decoders to build a dict whose size they know.
// Later duplicates of a key overwrite the earlier value in its position, as
// Python's dict does when it is built item by item.
func DictFromEntries(entries []Entry) *Dict {
	d := &Dict{}
	d.SetEntries(entries)
	return d
}

// CopyDict returns a dict holding a copy of entries, with DictFromEntries'
// rules. A dict of up to 4 entries (the result dict of most replies) comes in
// one allocation with its entries.
func CopyDict(entries []Entry) *Dict {
	n := len(entries)
	var d *Dict
	var es []Entry
	switch {
	case n <= 2:
		x := new(dictWith[[2]Entry])
		d, es = &x.d, x.e[:n:n]
	case n <= 4:
		x := new(dictWith[[4]Entry])
		d, es = &x.d, x.e[:n:n]
	default:
		d, es = new(Dict), make([]Entry, n)
	}
	copy(es, entries)
	d.SetEntries(es)
	return d
}

// dictWith is a dict allocated together with its entries.
type dictWith[A any] struct {
	d Dict
	e A
}

// SetEntries replaces the contents of d with entries, taking ownership of the
// slice, with DictFromEntries' rules. Decoders use it to fill dicts they
// allocate in batches. It takes linear time whatever the keys (Set scans
// linearly for keys other than strings and numbers).
func (d *Dict) SetEntries(entries []Entry) {
	d.index = nil
	d.entries = mergeDuplicateKeys(entries)
}

// mergeDuplicateKeys merges entries with equal keys in place: the value of
// the last one goes to the position of the first.
func mergeDuplicateKeys(entries []Entry) []Entry {
	n := len(entries)
	if n < 2 {
		return entries
	}
	// The usual record: a few string keys, told apart by their length and
	// their first and last bytes, without comparing them.
	allStrings, distinct := true, true
	var bits uint64 // of (length, first, last byte)
	for _, e := range entries {
		k, ok := e.Key.(string)
		if !ok {
			allStrings, distinct = false, false
			break
		}
		h := uint(len(k))
		if len(k) > 0 {
			h = h*31 + uint(k[0])*7 + uint(k[len(k)-1])
		}
		bit := uint64(1) << (h & 63)
		distinct = distinct && bits&bit == 0
		bits |= bit
	}
	if distinct {
		return entries
	}
	if allStrings && n <= 16 { // compare in place
		dup := false
		for i := 1; i < n && !dup; i++ {
			si := entries[i].Key.(string)
			for j := range i {
				if entries[j].Key.(string) == si {
					dup = true
					break
				}
			}
		}
		if !dup {
			return entries
		}
	}
	seen := make(map[string]int, n)
	out := entries[:0]
	var buf []byte
	for i, e := range entries {
		var ck string
		if allStrings {
			ck = e.Key.(string)
		} else {
			buf = canonKey(buf[:0], e.Key, i)
			ck = string(buf)
		}
		if j, ok := seen[ck]; ok {
			out[j].Value = e.Value
			continue
		}
		seen[ck] = len(out)
		out = append(out, e)
	}
	clear(entries[len(out):])
	return out
}

// canonKey appends a text that is the same for keys Python considers equal
// (1, 1.0 and True; equal tuples) and different otherwise. A NaN never equals
// another key, as in Python, so it is made unique with the entry's index.
func canonKey(b []byte, k any, index int) []byte {
	switch k := k.(type) {
	case nil:
		return append(b, 'N')
	case string:
		b = append(b, 's')
		b = strconv.AppendInt(b, int64(len(k)), 10)
		b = append(b, ':')
		return append(b, k...)
	case []byte:
		b = append(b, 'b')
		b = strconv.AppendInt(b, int64(len(k)), 10)
		b = append(b, ':')
		return append(b, k...)
	case bool:
		if k {
			return append(b, "i1;"...)
		}
		return append(b, "i0;"...)
	case float64:
		switch {
		case math.IsNaN(k):
			b = append(b, "nan"...)
			return append(strconv.AppendInt(b, int64(index), 10), ';')
		case !math.IsInf(k, 0) && k == math.Trunc(k):
			bf, _ := new(big.Float).SetFloat64(k).Int(nil)
			return append(bf.Append(append(b, 'i'), 10), ';')
		}
		return append(strconv.AppendUint(append(b, 'f'), math.Float64bits(k), 16), ';')
	case Tuple:
		b = append(b, 't')
		for _, x := range k {
			b = canonKey(b, x, index)
		}
		return append(b, ')')
	case time.Time:
		return append(k.UTC().AppendFormat(append(b, 'a'), time.RFC3339Nano), ';')
	case Date:
		return append(append(b, 'd'), k.String()+";"...)
	case TimeOfDay:
		return append(append(b, 'T'), k.String()+";"...)
	}
	if i, ok := asBigInt(k); ok {
		return append(i.Append(append(b, 'i'), 10), ';')
	}
	return fmt.Appendf(b, "?%T%v;", k, k)
}
