package value

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Hashable reports whether k can be a Python dict key once encoded: lists,
// dicts (and the Go values encoded as them: slices, maps, structs) cannot,
// nor tuples holding them.
func Hashable(k any) bool {
	switch k := k.(type) {
	case string, int64, nil, bool, float64, int, *big.Int, []byte, time.Time, Date, TimeOfDay:
		return true
	case Tuple:
		for _, x := range k {
			if !Hashable(x) {
				return false
			}
		}
		return true
	case []any, *Dict, Dict, map[string]any, *Object:
		return false
	}
	t := reflect.TypeOf(k)
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Implements(marshalerType) || reflect.PointerTo(t).Implements(marshalerType) {
		return true // decided by what it marshals to
	}
	switch t.Kind() {
	case reflect.Slice:
		return t.Elem().Kind() == reflect.Uint8
	case reflect.Map, reflect.Array:
		return false
	case reflect.Struct:
		return isModelStruct(t) && t != dictType && t != objectType
	}
	return true
}

// encFunc encodes a value of one Go type; built once per type (typeEncoder).
type encFunc func(w walker, v reflect.Value, depth int) error

var encCache sync.Map // reflect.Type -> encFunc

var (
	timeType      = reflect.TypeFor[time.Time]()
	dateType      = reflect.TypeFor[Date]()
	todType       = reflect.TypeFor[TimeOfDay]()
	bigIntType    = reflect.TypeFor[big.Int]()
	dictType      = reflect.TypeFor[Dict]()
	objectType    = reflect.TypeFor[Object]()
	tupleType     = reflect.TypeFor[Tuple]()
	marshalerType = reflect.TypeFor[Marshaler]()
	emptyStruct   = reflect.TypeFor[struct{}]()
	encodedType   = reflect.TypeFor[*Encoded]()
)

func typeEncoder(t reflect.Type) encFunc {
	if f, ok := encCache.Load(t); ok {
		return f.(encFunc)
	}
	// A recursive type needs its own encoder while that encoder is being
	// built: hand out an indirection that waits for the real one.
	var (
		wg sync.WaitGroup
		f  encFunc
	)
	wg.Add(1)
	fi, loaded := encCache.LoadOrStore(t, encFunc(func(w walker, v reflect.Value, depth int) error {
		wg.Wait()
		return f(w, v, depth)
	}))
	if loaded {
		return fi.(encFunc)
	}
	f = newTypeEncoder(t)
	wg.Done()
	encCache.Store(t, f)
	return f
}

func newTypeEncoder(t reflect.Type) encFunc {
	if t == encodedType {
		// Before the Marshaler case, which would encode the value in place
		// every time: a struct field or typed container's Encoded is
		// written from its stored bytes as an interface's is.
		return func(w walker, v reflect.Value, depth int) error {
			x, _ := reflect.TypeAssert[*Encoded](v)
			return w.encoded(x, depth)
		}
	}
	if t.Implements(marshalerType) {
		return marshalerEncoder
	}
	switch t {
	case timeType:
		return func(w walker, v reflect.Value, _ int) error {
			t, _ := reflect.TypeAssert[time.Time](v) // no allocation, unlike Interface
			return w.e.Time(t.UTC())
		}
	case dateType, todType, dictType:
		return func(w walker, v reflect.Value, depth int) error { return w.value(v.Interface(), depth) }
	case bigIntType:
		return func(w walker, v reflect.Value, _ int) error {
			b := v.Interface().(big.Int) //nolint:govet // read-only copy
			return w.e.BigInt(&b)
		}
	case tupleType:
		return func(w walker, v reflect.Value, depth int) error {
			return w.list(v.Interface().(Tuple), true, depth)
		}
	case objectType:
		return func(w walker, v reflect.Value, depth int) error {
			o := v.Interface().(Object)
			return w.object(&o, depth)
		}
	}
	switch t.Kind() {
	case reflect.Bool:
		return func(w walker, v reflect.Value, _ int) error { return w.e.Bool(v.Bool()) }
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return func(w walker, v reflect.Value, _ int) error { return w.e.Int(v.Int()) }
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return func(w walker, v reflect.Value, _ int) error { return w.e.Uint(v.Uint()) }
	case reflect.Float32:
		return func(w walker, v reflect.Value, _ int) error { return w.e.Float(widenFloat32(v.Float())) }
	case reflect.Float64:
		return func(w walker, v reflect.Value, _ int) error { return w.e.Float(v.Float()) }
	case reflect.String:
		return func(w walker, v reflect.Value, _ int) error { return w.e.String(v.String()) }
	case reflect.Interface:
		return func(w walker, v reflect.Value, depth int) error {
			if v.IsNil() {
				return w.e.Nil()
			}
			return w.value(v.Interface(), depth)
		}
	case reflect.Pointer:
		elem := t.Elem()
		return func(w walker, v reflect.Value, depth int) error {
			if v.IsNil() {
				return w.e.Nil()
			}
			// Pointer chains count towards the depth so that a pointer cycle
			// without containers (type P *P) still ends.
			if err := w.enter(depth); err != nil {
				return err
			}
			return typeEncoder(elem)(w, v.Elem(), depth+1)
		}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 && !t.Elem().Implements(marshalerType) {
			return func(w walker, v reflect.Value, _ int) error { return w.e.Bytes(v.Bytes()) }
		}
		return sliceEncoder(t)
	case reflect.Array:
		return sliceEncoder(t)
	case reflect.Map:
		return mapEncoder(t)
	case reflect.Struct:
		return structEncoder(t)
	}
	return func(w walker, v reflect.Value, _ int) error { return unsupported(t, ErrUnsupported) }
}

// widenFloat32 converts a float32 through its shortest decimal form.
func widenFloat32(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return f
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64)
	if err != nil {
		return f
	}
	return r
}

func marshalerEncoder(w walker, v reflect.Value, depth int) error {
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return w.e.Nil()
	}
	if err := w.enter(depth); err != nil {
		return err
	}
	x, err := v.Interface().(Marshaler).DiracValue()
	if err != nil {
		return &EncodeError{Type: v.Type(), Err: err}
	}
	return w.value(x, depth+1)
}

func sliceEncoder(t reflect.Type) encFunc {
	if t.Elem().Kind() == reflect.String && !t.Elem().Implements(marshalerType) {
		// Lists of strings are common enough to write their elements
		// directly, without the element encoder's depth check.
		return listEncoder(func(w walker, v reflect.Value, _ int) error { return w.e.String(v.String()) })
	}
	return listEncoder(typeEncoder(t.Elem()))
}

// listEncoder writes a slice or an array as a list, each element with elem.
func listEncoder(elem encFunc) encFunc {
	return func(w walker, v reflect.Value, depth int) error {
		if err := w.enter(depth); err != nil {
			return err
		}
		n := v.Len()
		if err := w.e.BeginList(n); err != nil {
			return err
		}
		for i := range n {
			if err := elem(w, v.Index(i), depth+1); err != nil {
				return atPath(err, indexSeg(i))
			}
		}
		return w.e.End()
	}
}

// keyRank orders interface map keys of different kinds.
func keyRank(k reflect.Value) int {
	switch k.Kind() {
	case reflect.Invalid:
		return 0
	case reflect.Bool:
		return 1
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64:
		return 2
	case reflect.String:
		return 3
	}
	return 4
}

func validKeyType(t reflect.Type) bool {
	switch t {
	case timeType, dateType, todType:
		return true
	}
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.String:
		return true
	}
	return false
}

func compareKeys(a, b reflect.Value) int {
	if a.Kind() == reflect.Interface {
		a = a.Elem()
	}
	if b.Kind() == reflect.Interface {
		b = b.Elem()
	}
	if c := cmp.Compare(keyRank(a), keyRank(b)); c != 0 {
		return c
	}
	switch keyRank(a) {
	case 0:
		return 0
	case 1:
		return cmp.Compare(boolInt(a.Bool()), boolInt(b.Bool()))
	case 2:
		return compareNumbers(a, b)
	case 3:
		return strings.Compare(a.String(), b.String())
	}
	// Dates and times: compare by their ISO text, then type.
	if c := strings.Compare(keyText(a), keyText(b)); c != 0 {
		return c
	}
	return strings.Compare(a.Type().String(), b.Type().String())
}

func keyText(v reflect.Value) string {
	if t, ok := v.Interface().(time.Time); ok {
		return t.UTC().Format("2006-01-02T15:04:05.000000000")
	}
	return fmt.Sprint(v.Interface())
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func compareNumbers(a, b reflect.Value) int {
	ka, kb := numClass(a), numClass(b)
	switch {
	case ka == 'i' && kb == 'i':
		return cmp.Compare(a.Int(), b.Int())
	case ka == 'u' && kb == 'u':
		return cmp.Compare(a.Uint(), b.Uint())
	case ka == 'i' && kb == 'u':
		if a.Int() < 0 {
			return -1
		}
		return cmp.Compare(uint64(a.Int()), b.Uint())
	case ka == 'u' && kb == 'i':
		return -compareNumbers(b, a)
	}
	return cmp.Compare(numFloat(a), numFloat(b))
}

func numClass(v reflect.Value) byte {
	switch v.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return 'i'
	case reflect.Float32, reflect.Float64:
		return 'f'
	}
	return 'u'
}

func numFloat(v reflect.Value) float64 {
	switch numClass(v) {
	case 'i':
		return float64(v.Int())
	case 'u':
		return float64(v.Uint())
	}
	return v.Float()
}

func mapEncoder(t reflect.Type) encFunc {
	kt := t.Key()
	if t.Elem() == emptyStruct {
		return func(w walker, v reflect.Value, _ int) error {
			return unsupported(t, errors.New("a Go set (map[T]struct{}) has no DIRAC counterpart: Python sets cannot be encoded either; use a slice"))
		}
	}
	if kt.Kind() != reflect.Interface && !validKeyType(kt) {
		return func(w walker, v reflect.Value, _ int) error {
			return unsupported(t, fmt.Errorf("map key type %s is not a DIRAC dict key type", kt))
		}
	}
	keyEnc := typeEncoder(kt)
	elemEnc := typeEncoder(t.Elem())
	return func(w walker, v reflect.Value, depth int) error {
		if err := w.enter(depth); err != nil {
			return err
		}
		keys := v.MapKeys()
		if kt.Kind() == reflect.Interface {
			for _, k := range keys {
				if !k.IsNil() && !validKeyType(k.Elem().Type()) {
					return unsupported(k.Elem().Type(), fmt.Errorf("not a DIRAC dict key type (in %s)", t))
				}
			}
		}
		slices.SortFunc(keys, compareKeys)
		if err := w.e.BeginDict(len(keys)); err != nil {
			return err
		}
		for _, k := range keys {
			if err := keyEnc(w, k, depth+1); err != nil {
				return atPath(err, keySeg(k.Interface())+"(key)")
			}
			if err := elemEnc(w, v.MapIndex(k), depth+1); err != nil {
				return atPath(err, keySeg(k.Interface()))
			}
		}
		return w.e.End()
	}
}

// field is one encoded struct field, possibly promoted from an embedded struct.
type field struct {
	name      string
	index     []int
	typ       reflect.Type
	tagged    bool
	omitEmpty bool
	omitZero  bool
}

var fieldCache sync.Map // reflect.Type -> []field

// structFields returns the fields of struct type t as Walk and Assign see them.
func structFields(t reflect.Type) []field {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]field)
	}
	f, _ := fieldCache.LoadOrStore(t, typeFields(t))
	return f.([]field)
}

// typeFields walks t and its embedded structs breadth first, applying the
// visibility rules of encoding/json.
func typeFields(t reflect.Type) []field {
	type queued struct {
		typ   reflect.Type
		index []int
	}
	var all []field
	current := []queued{}
	next := []queued{{typ: t}}
	visited := map[reflect.Type]bool{}
	for len(next) > 0 {
		current, next = next, current[:0]
		count := map[string]int{}
		var level []field
		for _, q := range current {
			if visited[q.typ] {
				continue
			}
			visited[q.typ] = true
			for i := range q.typ.NumField() {
				sf := q.typ.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("dirac")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				index := append(slices.Clone(q.index), i)
				if sf.Anonymous && name == "" && ft.Kind() == reflect.Struct && !isModelStruct(ft) {
					next = append(next, queued{typ: ft, index: index})
					continue
				}
				f := field{name: name, index: index, typ: sf.Type, tagged: name != ""}
				if name == "" {
					f.name = sf.Name
				}
				for o := range strings.SplitSeq(opts, ",") {
					switch o {
					case "omitempty":
						f.omitEmpty = true
					case "omitzero":
						f.omitZero = true
					}
				}
				level = append(level, f)
				count[f.name]++
			}
		}
		// At one depth, a name seen twice is ambiguous unless exactly one of
		// them is tagged; shallower fields already collected win.
		for _, f := range level {
			if slices.ContainsFunc(all, func(g field) bool { return g.name == f.name }) {
				continue
			}
			if count[f.name] > 1 {
				tagged := 0
				for _, g := range level {
					if g.name == f.name && g.tagged {
						tagged++
					}
				}
				if tagged != 1 || !f.tagged {
					continue
				}
			}
			all = append(all, f)
		}
	}
	slices.SortStableFunc(all, func(a, b field) int { return slices.Compare(a.index, b.index) })
	return all
}

func isModelStruct(t reflect.Type) bool {
	switch t {
	case timeType, dateType, todType, bigIntType, dictType, objectType:
		return true
	}
	return false
}

// fieldByIndex follows index from struct v, reporting false when it crosses
// a nil embedded pointer.
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for i, x := range index {
		if i > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(x)
	}
	return v, true
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func isZero(v reflect.Value) bool {
	if z, ok := v.Interface().(interface{ IsZero() bool }); ok {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return z.IsZero()
	}
	return v.IsZero()
}

// fieldKind selects a direct emission for the common field types, without
// the call through the field's encoder.
type fieldKind uint8

const (
	kindOther fieldKind = iota // through the type's encoder
	kindString
	kindInt
	kindUint
	kindBool
	kindFloat64
	kindTime
)

// fieldKindOf returns the direct kind of t when its encoder (newTypeEncoder)
// would do exactly that, else kindOther.
func fieldKindOf(t reflect.Type) fieldKind {
	if t == timeType {
		return kindTime
	}
	if t.Implements(marshalerType) || isModelStruct(t) || t == tupleType {
		return kindOther
	}
	switch t.Kind() {
	case reflect.String:
		return kindString
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return kindInt
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return kindUint
	case reflect.Bool:
		return kindBool
	case reflect.Float64:
		return kindFloat64
	}
	return kindOther
}

// preparedKeys are the field names of one struct type as one KeyEmitter
// dialect writes them.
type preparedKeys struct {
	dialect string
	keys    [][]byte
	next    *preparedKeys
}

// keysFor returns the prepared names of fields for ke's dialect, preparing
// them on first use. head lists the dialects prepared so far (usually one or
// two); a new one is pushed in front.
func keysFor(head *atomic.Pointer[preparedKeys], fields []field, ke KeyEmitter) [][]byte {
	d := ke.KeyDialect()
	first := head.Load()
	for p := first; p != nil; p = p.next {
		if p.dialect == d {
			return p.keys
		}
	}
	keys := make([][]byte, len(fields))
	for i, f := range fields {
		keys[i] = ke.EncodeKey(f.name)
	}
	// A lost race only means the keys were prepared twice.
	head.CompareAndSwap(first, &preparedKeys{dialect: d, keys: keys, next: first})
	return keys
}

func structEncoder(t reflect.Type) encFunc {
	fields := structFields(t)
	encs := make([]encFunc, len(fields))
	kinds := make([]fieldKind, len(fields))
	// simple: every field is present in every value, no counting needed.
	simple := true
	for i, f := range fields {
		encs[i] = typeEncoder(f.typ)
		kinds[i] = fieldKindOf(f.typ)
		if f.omitEmpty || f.omitZero || len(f.index) > 1 {
			simple = false
		}
	}
	var prepared atomic.Pointer[preparedKeys]
	return func(w walker, v reflect.Value, depth int) error {
		if err := w.enter(depth); err != nil {
			return err
		}
		// Dicts are announced with their length: count the fields kept first.
		n := len(fields)
		if !simple {
			n = 0
			for _, f := range fields {
				if keepField(v, f) {
					n++
				}
			}
		}
		if err := w.e.BeginDict(n); err != nil {
			return err
		}
		var keys [][]byte
		if w.ke != nil {
			keys = keysFor(&prepared, fields, w.ke)
		}
		for i := range fields {
			f := &fields[i]
			var fv reflect.Value
			if simple {
				fv = v.Field(f.index[0])
			} else {
				if !keepField(v, *f) {
					continue
				}
				fv, _ = fieldByIndex(v, f.index)
			}
			var err error
			if keys != nil {
				err = w.ke.RawKey(keys[i])
			} else {
				err = w.e.String(f.name)
			}
			if err != nil {
				return atPath(err, "."+f.name)
			}
			switch kinds[i] {
			case kindString:
				err = w.e.String(fv.String())
			case kindInt:
				err = w.e.Int(fv.Int())
			case kindUint:
				err = w.e.Uint(fv.Uint())
			case kindBool:
				err = w.e.Bool(fv.Bool())
			case kindFloat64:
				err = w.e.Float(fv.Float())
			case kindTime:
				t, _ := reflect.TypeAssert[time.Time](fv) // no allocation, unlike Interface
				err = w.e.Time(t.UTC())
			default:
				err = encs[i](w, fv, depth+1)
			}
			if err != nil {
				return atPath(err, "."+f.name)
			}
		}
		return w.e.End()
	}
}

func keepField(v reflect.Value, f field) bool {
	fv, ok := fieldByIndex(v, f.index)
	if !ok {
		return false
	}
	if f.omitEmpty && isEmpty(fv) {
		return false
	}
	if f.omitZero && isZero(fv) {
		return false
	}
	return true
}
