package value

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Unmarshaler is implemented by types that fill themselves from a generic
// model value; Assign calls it on a pointer to the destination.
type Unmarshaler interface {
	SetDiracValue(v any) error
}

// AssignError reports a value that Assign could not store in its destination.
type AssignError struct {
	// Path locates the value inside the top-level one ("[2].Jobs"); empty at
	// top level.
	Path string
	// GoType is the destination type.
	GoType reflect.Type
	// ValueType is the DIRAC (Python) type of the value: "str", "int",
	// "dict"... as TypeName gives it.
	ValueType string
	// Err gives more detail (overflow, bad key...) or is nil.
	Err error
}

func (e *AssignError) Error() string {
	var b strings.Builder
	b.WriteString("value: cannot assign ")
	b.WriteString(e.ValueType)
	b.WriteString(" to Go ")
	if e.GoType != nil {
		b.WriteString(e.GoType.String())
	} else {
		b.WriteString("nil")
	}
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(strings.TrimPrefix(e.Path, "."))
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *AssignError) Unwrap() error { return e.Err }

// TypeName returns the Python type name of a model value ("None", "bool",
// "int", "float", "str", "bytes", "list", "tuple", "dict", "datetime", "date",
// "time", "object"), or the Go type for anything else.
func TypeName(v any) string {
	switch v.(type) {
	case nil:
		return "None"
	case bool:
		return "bool"
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		return "int"
	case float64, float32:
		return "float"
	case string:
		return "str"
	case []byte:
		return "bytes"
	case []any:
		return "list"
	case Tuple:
		return "tuple"
	case *Dict, Dict:
		return "dict"
	case time.Time:
		return "datetime"
	case Date:
		return "date"
	case TimeOfDay:
		return "time"
	case *Object:
		return "object"
	}
	return fmt.Sprintf("%T", v)
}

func assignPath(err error, seg string) error {
	if ae, ok := err.(*AssignError); ok {
		ae.Path = seg + ae.Path
	}
	return err
}

// Assign stores the model value v (as a decoder produces it) into the
// variable dst points to, in the manner of encoding/json's Unmarshal:
//
//   - *any receives v as is; pointers are allocated as needed; None sets
//     pointers, interfaces, maps and slices to nil and leaves other
//     destinations unchanged;
//   - bool from bool; integer kinds from int (range-checked; floats are
//     refused even when integral, as encoding/json does, because DIRAC keeps
//     1 and 1.0 apart); float kinds from float or int; string kinds from str
//     or bytes; []byte from bytes or str;
//   - slices and arrays from list or tuple (an array keeps its zero values
//     past the end of a short list; extra items are dropped);
//   - maps from dict: string-kind keys take str keys, and int, float, bool
//     and None keys in their JSON spelling ("1", "2.5", "true", "null"), so the
//     same code reads a DEncode or a JSON reply; integer-kind keys take int
//     keys or strings holding an integer (DIRAC's strToIntDict); other key
//     types follow the value rules. An existing map is added to;
//   - structs from a dict with str keys: the field whose `dirac` tag or name
//     equals the key, else one equal under case folding; unknown keys are
//     ignored; an *Object's attributes fill a struct or map as a dict would;
//   - time.Time from datetime (UTC) or date (midnight UTC); Date from date or
//     datetime; TimeOfDay from time; big.Int from int; Tuple from tuple or
//     list; Dict from dict; types implementing Unmarshaler fill themselves.
//
// A value that does not fit gives an *AssignError; Assign stops at the first
// one, leaving dst partly filled.
func Assign(dst any, v any) error {
	if p, ok := dst.(*any); ok && p != nil {
		*p = v
		return nil
	}
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return &AssignError{GoType: reflect.TypeOf(dst), ValueType: TypeName(v),
			Err: errors.New("destination must be a non-nil pointer")}
	}
	return assign(rv.Elem(), v, 0)
}

var (
	unmarshalerType = reflect.TypeFor[Unmarshaler]()
	unmarshalers    sync.Map // reflect.Type -> bool
)

func implementsUnmarshaler(t reflect.Type) bool {
	if t.PkgPath() == "" && t.Kind() != reflect.Struct {
		return false // predeclared or unnamed: no methods (fast path)
	}
	if ok, found := unmarshalers.Load(t); found {
		return ok.(bool)
	}
	ok := reflect.PointerTo(t).Implements(unmarshalerType)
	unmarshalers.Store(t, ok)
	return ok
}

func mismatch(dst reflect.Value, v any) error {
	return &AssignError{GoType: dst.Type(), ValueType: TypeName(v)}
}

func assign(dst reflect.Value, v any, depth int) error {
	if depth >= MaxDepth {
		return &AssignError{GoType: dst.Type(), ValueType: TypeName(v), Err: ErrTooDeep}
	}
	t := dst.Type()
	if t.Kind() != reflect.Pointer && dst.CanAddr() && implementsUnmarshaler(t) {
		if err := dst.Addr().Interface().(Unmarshaler).SetDiracValue(v); err != nil {
			return &AssignError{GoType: t, ValueType: TypeName(v), Err: err}
		}
		return nil
	}
	if v == nil {
		switch dst.Kind() {
		case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice:
			dst.SetZero()
		}
		return nil
	}
	switch t {
	case timeType:
		var tm time.Time
		switch x := v.(type) {
		case time.Time:
			tm = x.UTC()
		case Date:
			tm = x.Time()
		default:
			return mismatch(dst, v)
		}
		setValue(dst, tm)
		return nil
	case dateType:
		switch x := v.(type) {
		case Date:
			dst.Set(reflect.ValueOf(x))
		case time.Time:
			dst.Set(reflect.ValueOf(DateOf(x)))
		default:
			return mismatch(dst, v)
		}
		return nil
	case todType:
		x, ok := v.(TimeOfDay)
		if !ok {
			return mismatch(dst, v)
		}
		dst.Set(reflect.ValueOf(x))
		return nil
	case bigIntType:
		b, ok := asBigInt(v)
		if !ok {
			return mismatch(dst, v)
		}
		dst.Set(reflect.ValueOf(*new(big.Int).Set(b)))
		return nil
	case dictType:
		d, ok := v.(*Dict)
		if !ok {
			return mismatch(dst, v)
		}
		dst.Set(reflect.ValueOf(*d))
		return nil
	case tupleType:
		switch x := v.(type) {
		case Tuple:
			dst.Set(reflect.ValueOf(x))
		case []any:
			dst.Set(reflect.ValueOf(Tuple(x)))
		default:
			return mismatch(dst, v)
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.Interface:
		rv := reflect.ValueOf(v)
		if !rv.Type().AssignableTo(t) {
			return mismatch(dst, v)
		}
		dst.Set(rv)
		return nil
	case reflect.Pointer:
		if rv := reflect.ValueOf(v); rv.Type() == t { // *Dict, *big.Int, *Object
			dst.Set(rv)
			return nil
		}
		if dst.IsNil() {
			dst.Set(reflect.New(t.Elem()))
		}
		return assign(dst.Elem(), v, depth+1)
	case reflect.Bool:
		b, ok := v.(bool)
		if !ok {
			return mismatch(dst, v)
		}
		dst.SetBool(b)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if i, ok := v.(int64); ok && !dst.OverflowInt(i) {
			dst.SetInt(i)
			return nil
		}
		b, ok := asBigInt(v)
		if !ok {
			return mismatch(dst, v)
		}
		if !b.IsInt64() || dst.OverflowInt(b.Int64()) {
			return &AssignError{GoType: t, ValueType: "int", Err: fmt.Errorf("%s overflows %s", b, t)}
		}
		dst.SetInt(b.Int64())
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		b, ok := asBigInt(v)
		if !ok {
			return mismatch(dst, v)
		}
		if !b.IsUint64() || dst.OverflowUint(b.Uint64()) {
			return &AssignError{GoType: t, ValueType: "int", Err: fmt.Errorf("%s overflows %s", b, t)}
		}
		dst.SetUint(b.Uint64())
		return nil
	case reflect.Float32, reflect.Float64:
		var f float64
		switch x := v.(type) {
		case float64:
			f = x
		case int64:
			f = float64(x)
		default:
			b, ok := asBigInt(v)
			if !ok {
				return mismatch(dst, v)
			}
			f, _ = new(big.Float).SetInt(b).Float64()
		}
		if dst.OverflowFloat(f) && !math.IsInf(f, 0) {
			return &AssignError{GoType: t, ValueType: TypeName(v), Err: fmt.Errorf("%v overflows %s", f, t)}
		}
		dst.SetFloat(f)
		return nil
	case reflect.String:
		switch x := v.(type) {
		case string:
			dst.SetString(x)
		case []byte:
			dst.SetString(string(x))
		default:
			return mismatch(dst, v)
		}
		return nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			switch x := v.(type) {
			case []byte:
				dst.SetBytes(append([]byte(nil), x...))
				return nil
			case string:
				dst.SetBytes([]byte(x))
				return nil
			}
		}
		items, ok := listItems(v)
		if !ok {
			return mismatch(dst, v)
		}
		s := reflect.MakeSlice(t, len(items), len(items))
		for i, it := range items {
			if err := assign(s.Index(i), it, depth+1); err != nil {
				return assignPath(err, indexSeg(i))
			}
		}
		dst.Set(s)
		return nil
	case reflect.Array:
		items, ok := listItems(v)
		if !ok {
			return mismatch(dst, v)
		}
		for i := range dst.Len() {
			if i >= len(items) {
				dst.Index(i).SetZero()
				continue
			}
			if err := assign(dst.Index(i), items[i], depth+1); err != nil {
				return assignPath(err, indexSeg(i))
			}
		}
		return nil
	case reflect.Map:
		d, ok := dictOf(v)
		if !ok {
			return mismatch(dst, v)
		}
		if dst.IsNil() {
			dst.Set(reflect.MakeMapWithSize(t, d.Len()))
		}
		kt, et := t.Key(), t.Elem()
		for _, e := range d.Entries() {
			k := reflect.New(kt).Elem()
			if err := assignKey(k, e.Key, depth+1); err != nil {
				return assignPath(err, keySeg(e.Key)+"(key)")
			}
			ev := reflect.New(et).Elem()
			if err := assign(ev, e.Value, depth+1); err != nil {
				return assignPath(err, keySeg(e.Key))
			}
			dst.SetMapIndex(k, ev)
		}
		return nil
	case reflect.Struct:
		d, ok := dictOf(v)
		if !ok {
			return mismatch(dst, v)
		}
		fi := structIndex(t)
		for _, e := range d.Entries() {
			name, ok := e.Key.(string)
			if !ok {
				continue
			}
			f, ok := fi.lookup(name)
			if !ok {
				continue
			}
			fv, err := fieldForSet(dst, f.index)
			if err != nil {
				return &AssignError{Path: "." + name, GoType: t, ValueType: TypeName(e.Value), Err: err}
			}
			if err := assign(fv, e.Value, depth+1); err != nil {
				return assignPath(err, "."+name)
			}
		}
		return nil
	}
	return mismatch(dst, v)
}

// setValue stores x in dst without boxing it when dst is addressable.
func setValue[T any](dst reflect.Value, x T) {
	if dst.CanAddr() {
		if p, ok := reflect.TypeAssert[*T](dst.Addr()); ok {
			*p = x
			return
		}
	}
	dst.Set(reflect.ValueOf(x))
}

// Items returns the elements of a list or a tuple (DEncode keeps tuples, JSON
// makes them lists; DIRAC code treats both alike).
func Items(v any) ([]any, bool) {
	switch x := v.(type) {
	case []any:
		return x, true
	case Tuple:
		return x, true
	}
	return nil, false
}

func listItems(v any) ([]any, bool) { return Items(v) }

func dictOf(v any) (*Dict, bool) {
	switch x := v.(type) {
	case *Dict:
		return x, x != nil
	case *Object:
		if x == nil {
			return nil, false
		}
		if x.Attrs == nil {
			return &Dict{}, true
		}
		return x.Attrs, true
	}
	return nil, false
}

// assignKey converts a dict key for a Go map key (see Assign).
func assignKey(k reflect.Value, key any, depth int) error {
	switch k.Kind() {
	case reflect.String:
		if _, isBytes := key.([]byte); isBytes {
			break
		}
		s, err := JSONKey(key)
		if err != nil {
			return &AssignError{GoType: k.Type(), ValueType: TypeName(key), Err: err}
		}
		k.SetString(s)
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if s, ok := key.(string); ok {
			b, ok := new(big.Int).SetString(strings.TrimSpace(s), 10)
			if !ok {
				return &AssignError{GoType: k.Type(), ValueType: "str", Err: fmt.Errorf("key %s is not an integer", strconv.Quote(s))}
			}
			key = b
		}
	}
	return assign(k, key, depth)
}

// fieldForSet follows index, allocating nil embedded pointers on the way.
func fieldForSet(v reflect.Value, index []int) (reflect.Value, error) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				if !v.CanSet() {
					return reflect.Value{}, fmt.Errorf("cannot set embedded pointer to unexported struct %s", v.Type().Elem())
				}
				v.Set(reflect.New(v.Type().Elem()))
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, nil
}

// fieldIndex finds struct fields by key: exact name first, then case folded.
type fieldIndex struct {
	exact  map[string]*field
	folded map[string]*field
}

func (fi *fieldIndex) lookup(name string) (*field, bool) {
	if f, ok := fi.exact[name]; ok {
		return f, true
	}
	f, ok := fi.folded[strings.ToLower(name)]
	return f, ok
}

var indexCache sync.Map // reflect.Type -> *fieldIndex

func structIndex(t reflect.Type) *fieldIndex {
	if fi, ok := indexCache.Load(t); ok {
		return fi.(*fieldIndex)
	}
	fields := structFields(t)
	fi := &fieldIndex{exact: make(map[string]*field, len(fields)), folded: make(map[string]*field, len(fields))}
	for i := range fields {
		f := &fields[i]
		fi.exact[f.name] = f
		if _, dup := fi.folded[strings.ToLower(f.name)]; !dup {
			fi.folded[strings.ToLower(f.name)] = f
		}
	}
	v, _ := indexCache.LoadOrStore(t, fi)
	return v.(*fieldIndex)
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
	allStrings := true
	for _, e := range entries {
		if _, ok := e.Key.(string); !ok {
			allStrings = false
			break
		}
	}
	if allStrings && n <= 16 { // the usual record: compare in place
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
