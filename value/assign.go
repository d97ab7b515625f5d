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
	"sync/atomic"
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
	return planOf(rv.Type().Elem()).assign(rv.Elem(), v, 0)
}

var unmarshalerType = reflect.TypeFor[Unmarshaler]()

func mismatch(dst reflect.Value, v any) error {
	return &AssignError{GoType: dst.Type(), ValueType: TypeName(v)}
}

// plan is how Assign fills one Go type, worked out once per type: the
// checks every destination shares, then the function for the type (the
// model's own types) or its kind, with the plans of the types it holds
// (looked up on first use, so that recursive types are fine).
type plan struct {
	t reflect.Type
	// unmarshaler: a pointer to the type implements Unmarshaler.
	unmarshaler bool
	// nilZero: None sets the destination to its zero value (pointers,
	// interfaces, maps and slices); others are left unchanged.
	nilZero bool
	fill    func(p *plan, dst reflect.Value, v any, depth int) error
	// elem: the items of a slice or array, the values of a map, what a
	// pointer points to; key: the keys of a map.
	elem, key lazyPlan
	// fields: a struct's fields by key.
	fields *fieldIndex
}

// lazyPlan is the plan of a type, found on first use.
type lazyPlan struct {
	t reflect.Type
	p atomic.Pointer[plan]
}

func (l *lazyPlan) get() *plan {
	if p := l.p.Load(); p != nil {
		return p
	}
	p := planOf(l.t)
	l.p.Store(p)
	return p
}

var plans sync.Map // reflect.Type -> *plan

// planOf returns the plan of t, made on first use.
func planOf(t reflect.Type) *plan {
	if p, ok := plans.Load(t); ok {
		return p.(*plan)
	}
	p, _ := plans.LoadOrStore(t, newPlan(t))
	return p.(*plan)
}

func newPlan(t reflect.Type) *plan {
	p := &plan{t: t, fill: fillerOf(t),
		unmarshaler: t.Kind() != reflect.Pointer && reflect.PointerTo(t).Implements(unmarshalerType)}
	switch t.Kind() {
	case reflect.Interface:
		p.nilZero = true
	case reflect.Pointer, reflect.Slice:
		p.nilZero, p.elem.t = true, t.Elem()
	case reflect.Map:
		p.nilZero, p.elem.t, p.key.t = true, t.Elem(), t.Key()
	case reflect.Array:
		p.elem.t = t.Elem()
	case reflect.Struct:
		p.fields = newFieldIndex(t)
	}
	return p
}

// scalar adapts the fill function of a type that holds no other.
func scalar(f func(dst reflect.Value, v any) error) func(*plan, reflect.Value, any, int) error {
	return func(_ *plan, dst reflect.Value, v any, _ int) error { return f(dst, v) }
}

// fillerOf chooses how to fill t: by type for the model's own, else by kind.
func fillerOf(t reflect.Type) func(*plan, reflect.Value, any, int) error {
	switch t {
	case timeType:
		return scalar(assignTime)
	case dateType:
		return scalar(assignDate)
	case todType:
		return scalar(assignTimeOfDay)
	case bigIntType:
		return scalar(assignBigInt)
	case dictType:
		return scalar(assignDict)
	case tupleType:
		return scalar(assignTuple)
	}
	switch t.Kind() {
	case reflect.Interface:
		return scalar(assignInterface)
	case reflect.Pointer:
		return assignPointer
	case reflect.Bool:
		return scalar(assignBool)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return scalar(assignInt)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return scalar(assignUint)
	case reflect.Float32, reflect.Float64:
		return scalar(assignFloat)
	case reflect.String:
		return scalar(assignString)
	case reflect.Slice:
		return assignSlice
	case reflect.Array:
		return assignArray
	case reflect.Map:
		return assignMap
	case reflect.Struct:
		return assignStruct
	}
	return scalar(mismatch)
}

// assign stores v in dst, of the plan's type.
func (p *plan) assign(dst reflect.Value, v any, depth int) error {
	if depth >= MaxDepth {
		return &AssignError{GoType: p.t, ValueType: TypeName(v), Err: ErrTooDeep}
	}
	if p.unmarshaler && dst.CanAddr() {
		if err := dst.Addr().Interface().(Unmarshaler).SetDiracValue(v); err != nil {
			return &AssignError{GoType: p.t, ValueType: TypeName(v), Err: err}
		}
		return nil
	}
	if v == nil {
		if p.nilZero {
			dst.SetZero()
		}
		return nil
	}
	return p.fill(p, dst, v, depth)
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
func assignPointer(p *plan, dst reflect.Value, v any, depth int) error {
	if rv := reflect.ValueOf(v); rv.Type() == p.t {
		dst.Set(rv)
		return nil
	}
	if dst.IsNil() {
		dst.Set(reflect.New(p.elem.t))
	}
	return p.elem.get().assign(dst.Elem(), v, depth+1)
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
func assignSlice(p *plan, dst reflect.Value, v any, depth int) error {
	if p.elem.t.Kind() == reflect.Uint8 {
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
	s := reflect.MakeSlice(p.t, len(items), len(items))
	ep := p.elem.get()
	for i, it := range items {
		if err := ep.assign(s.Index(i), it, depth+1); err != nil {
			return assignPath(err, indexSeg(i))
		}
	}
	dst.Set(s)
	return nil
}

// assignArray fills an array from a list or tuple: zero values past the end
// of a short one, extra items dropped.
func assignArray(p *plan, dst reflect.Value, v any, depth int) error {
	items, ok := listItems(v)
	if !ok {
		return mismatch(dst, v)
	}
	ep := p.elem.get()
	for i := range dst.Len() {
		if i >= len(items) {
			dst.Index(i).SetZero()
			continue
		}
		if err := ep.assign(dst.Index(i), items[i], depth+1); err != nil {
			return assignPath(err, indexSeg(i))
		}
	}
	return nil
}

// assignMap adds the entries of a dict (or an object's attributes) to a
// map, allocated if nil; keys follow assignKey.
func assignMap(p *plan, dst reflect.Value, v any, depth int) error {
	d, ok := dictOf(v)
	if !ok {
		return mismatch(dst, v)
	}
	if dst.IsNil() {
		dst.Set(reflect.MakeMapWithSize(p.t, d.Len()))
	}
	kp, ep := p.key.get(), p.elem.get()
	for _, e := range d.Entries() {
		k := reflect.New(kp.t).Elem()
		if err := assignKey(kp, k, e.Key, depth+1); err != nil {
			return assignPath(err, keySeg(e.Key)+"(key)")
		}
		ev := reflect.New(ep.t).Elem()
		if err := ep.assign(ev, e.Value, depth+1); err != nil {
			return assignPath(err, keySeg(e.Key))
		}
		dst.SetMapIndex(k, ev)
	}
	return nil
}

// assignStruct fills the fields named by the str keys of a dict (or an
// object's attributes); other keys are ignored.
func assignStruct(p *plan, dst reflect.Value, v any, depth int) error {
	d, ok := dictOf(v)
	if !ok {
		return mismatch(dst, v)
	}
	next := 0 // the field after the last one filled, likely the next key's
	for _, e := range d.Entries() {
		name, ok := e.Key.(string)
		if !ok {
			continue
		}
		f, ok := p.fields.lookupFrom(next, name)
		if !ok {
			continue
		}
		next = f.pos + 1
		fv, err := fieldForSet(dst, f.index)
		if err != nil {
			return &AssignError{Path: "." + name, GoType: p.t, ValueType: TypeName(e.Value), Err: err}
		}
		if err := f.plan.get().assign(fv, e.Value, depth+1); err != nil {
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

// assignKey converts a dict key for a Go map key (see Assign); kp is the
// key type's plan.
func assignKey(kp *plan, k reflect.Value, key any, depth int) error {
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
	return kp.assign(k, key, depth)
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
	exact  map[string]*planField
	folded map[string]*planField
	order  []*planField // as structFields gives them
}

// planField is a field, its place in fieldIndex.order and the plan of its
// type.
type planField struct {
	*field
	pos  int
	plan lazyPlan
}

// lookupFrom is lookup trying order[next] first: the keys of a dict made
// from a struct, or one of a listing's rows, come in the fields' order.
// Names are unique, so an exact match there is the field lookup finds.
func (fi *fieldIndex) lookupFrom(next int, name string) (*planField, bool) {
	if next < len(fi.order) && fi.order[next].name == name {
		return fi.order[next], true
	}
	return fi.lookup(name)
}

func (fi *fieldIndex) lookup(name string) (*planField, bool) {
	if f, ok := fi.exact[name]; ok {
		return f, true
	}
	f, ok := fi.folded[strings.ToLower(name)]
	return f, ok
}

// newFieldIndex indexes the fields of struct type t (its plan keeps it).
func newFieldIndex(t reflect.Type) *fieldIndex {
	fields := structFields(t)
	fi := &fieldIndex{exact: make(map[string]*planField, len(fields)), folded: make(map[string]*planField, len(fields)),
		order: make([]*planField, len(fields))}
	for i := range fields {
		f := &planField{field: &fields[i], pos: i, plan: lazyPlan{t: fields[i].typ}}
		fi.order[i] = f
		fi.exact[f.name] = f
		if _, dup := fi.folded[strings.ToLower(f.name)]; !dup {
			fi.folded[strings.ToLower(f.name)] = f
		}
	}
	return fi
}
