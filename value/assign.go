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

// assign stores v in dst: the checks every destination shares, then the
// function for dst's type (the model's own types) or kind.
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
		return assignTime(dst, v)
	case dateType:
		return assignDate(dst, v)
	case todType:
		return assignTimeOfDay(dst, v)
	case bigIntType:
		return assignBigInt(dst, v)
	case dictType:
		return assignDict(dst, v)
	case tupleType:
		return assignTuple(dst, v)
	}
	switch dst.Kind() {
	case reflect.Interface:
		return assignInterface(dst, v)
	case reflect.Pointer:
		return assignPointer(dst, v, depth)
	case reflect.Bool:
		return assignBool(dst, v)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return assignInt(dst, v)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return assignUint(dst, v)
	case reflect.Float32, reflect.Float64:
		return assignFloat(dst, v)
	case reflect.String:
		return assignString(dst, v)
	case reflect.Slice:
		return assignSlice(dst, v, depth)
	case reflect.Array:
		return assignArray(dst, v, depth)
	case reflect.Map:
		return assignMap(dst, v, depth)
	case reflect.Struct:
		return assignStruct(dst, v, depth)
	}
	return mismatch(dst, v)
}

// assignTime fills a time.Time from a datetime (in UTC) or a date (midnight UTC).
func assignTime(dst reflect.Value, v any) error {
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
}

// assignDate fills a Date from a date or a datetime.
func assignDate(dst reflect.Value, v any) error {
	switch x := v.(type) {
	case Date:
		dst.Set(reflect.ValueOf(x))
	case time.Time:
		dst.Set(reflect.ValueOf(DateOf(x)))
	default:
		return mismatch(dst, v)
	}
	return nil
}

// assignTimeOfDay fills a TimeOfDay from a time.
func assignTimeOfDay(dst reflect.Value, v any) error {
	x, ok := v.(TimeOfDay)
	if !ok {
		return mismatch(dst, v)
	}
	dst.Set(reflect.ValueOf(x))
	return nil
}

// assignBigInt fills a big.Int (not a pointer) with a copy of an int.
func assignBigInt(dst reflect.Value, v any) error {
	b, ok := asBigInt(v)
	if !ok {
		return mismatch(dst, v)
	}
	dst.Set(reflect.ValueOf(*new(big.Int).Set(b)))
	return nil
}

// assignDict fills a Dict (not a pointer) from a dict.
func assignDict(dst reflect.Value, v any) error {
	d, ok := v.(*Dict)
	if !ok {
		return mismatch(dst, v)
	}
	dst.Set(reflect.ValueOf(*d))
	return nil
}

// assignTuple fills a Tuple from a tuple or a list.
func assignTuple(dst reflect.Value, v any) error {
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

// assignInterface stores v as it is, if its type implements the interface.
func assignInterface(dst reflect.Value, v any) error {
	rv := reflect.ValueOf(v)
	if !rv.Type().AssignableTo(dst.Type()) {
		return mismatch(dst, v)
	}
	dst.Set(rv)
	return nil
}

// assignPointer stores a value of the pointer's own type (*Dict, *big.Int,
// *Object) as it is; otherwise it allocates the pointer if nil and fills
// what it points to.
func assignPointer(dst reflect.Value, v any, depth int) error {
	t := dst.Type()
	if rv := reflect.ValueOf(v); rv.Type() == t {
		dst.Set(rv)
		return nil
	}
	if dst.IsNil() {
		dst.Set(reflect.New(t.Elem()))
	}
	return assign(dst.Elem(), v, depth+1)
}

// assignBool fills a bool kind from a bool.
func assignBool(dst reflect.Value, v any) error {
	b, ok := v.(bool)
	if !ok {
		return mismatch(dst, v)
	}
	dst.SetBool(b)
	return nil
}

// assignInt fills a signed integer kind from an int, range-checked.
func assignInt(dst reflect.Value, v any) error {
	if i, ok := v.(int64); ok && !dst.OverflowInt(i) {
		dst.SetInt(i)
		return nil
	}
	b, ok := asBigInt(v)
	if !ok {
		return mismatch(dst, v)
	}
	if !b.IsInt64() || dst.OverflowInt(b.Int64()) {
		return overflow(dst, b)
	}
	dst.SetInt(b.Int64())
	return nil
}

// assignUint fills an unsigned integer kind from an int, range-checked.
func assignUint(dst reflect.Value, v any) error {
	b, ok := asBigInt(v)
	if !ok {
		return mismatch(dst, v)
	}
	if !b.IsUint64() || dst.OverflowUint(b.Uint64()) {
		return overflow(dst, b)
	}
	dst.SetUint(b.Uint64())
	return nil
}

// overflow is the error for an int that does not fit dst.
func overflow(dst reflect.Value, b *big.Int) error {
	return &AssignError{GoType: dst.Type(), ValueType: "int", Err: fmt.Errorf("%s overflows %s", b, dst.Type())}
}

// assignFloat fills a float kind from a float or an int; infinities pass,
// finite values too large for float32 do not.
func assignFloat(dst reflect.Value, v any) error {
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
		return &AssignError{GoType: dst.Type(), ValueType: TypeName(v), Err: fmt.Errorf("%v overflows %s", f, dst.Type())}
	}
	dst.SetFloat(f)
	return nil
}

// assignString fills a string kind from a str or bytes.
func assignString(dst reflect.Value, v any) error {
	switch x := v.(type) {
	case string:
		dst.SetString(x)
	case []byte:
		dst.SetString(string(x))
	default:
		return mismatch(dst, v)
	}
	return nil
}

// assignSlice fills a byte slice with a copy of bytes or str, and other
// slices item by item from a list or tuple.
func assignSlice(dst reflect.Value, v any, depth int) error {
	t := dst.Type()
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
}

// assignArray fills an array from a list or tuple: zero values past the end
// of a short one, extra items dropped.
func assignArray(dst reflect.Value, v any, depth int) error {
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
}

// assignMap adds the entries of a dict (or an object's attributes) to a
// map, allocated if nil; keys follow assignKey.
func assignMap(dst reflect.Value, v any, depth int) error {
	d, ok := dictOf(v)
	if !ok {
		return mismatch(dst, v)
	}
	t := dst.Type()
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
}

// assignStruct fills the fields named by the str keys of a dict (or an
// object's attributes); other keys are ignored.
func assignStruct(dst reflect.Value, v any, depth int) error {
	d, ok := dictOf(v)
	if !ok {
		return mismatch(dst, v)
	}
	t := dst.Type()
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
