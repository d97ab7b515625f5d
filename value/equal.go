package value

import (
	"bytes"
	"math"
	"math/big"
	"time"
)

// Equal reports whether a and b are the same DIRAC value, exactly: types are
// kept apart (list vs tuple, int vs float, str vs bytes), dict order matters,
// floats compare bit for bit except that every NaN equals every NaN, and
// datetimes compare by instant including microseconds. Integers compare by
// value whatever Go integer type holds them.
func Equal(a, b any) bool {
	if ia, ok := asBigInt(a); ok {
		ib, ok := asBigInt(b)
		return ok && ia.Cmp(ib) == 0
	}
	switch a := a.(type) {
	case nil:
		return b == nil
	case bool:
		bb, ok := b.(bool)
		return ok && a == bb
	case float64:
		fb, ok := b.(float64)
		if !ok {
			return false
		}
		if math.IsNaN(a) || math.IsNaN(fb) {
			return math.IsNaN(a) && math.IsNaN(fb)
		}
		return math.Float64bits(a) == math.Float64bits(fb)
	case string:
		sb, ok := b.(string)
		return ok && a == sb
	case []byte:
		bb, ok := b.([]byte)
		return ok && bytes.Equal(a, bb)
	case []any:
		lb, ok := b.([]any)
		return ok && equalSlices(a, lb)
	case Tuple:
		tb, ok := b.(Tuple)
		return ok && equalSlices(a, tb)
	case *Dict:
		db, ok := b.(*Dict)
		if !ok || a.Len() != db.Len() {
			return false
		}
		eb := db.Entries()
		for i, e := range a.Entries() {
			if !Equal(e.Key, eb[i].Key) || !Equal(e.Value, eb[i].Value) {
				return false
			}
		}
		return true
	case time.Time:
		tb, ok := b.(time.Time)
		return ok && a.Equal(tb)
	case Date:
		db, ok := b.(Date)
		return ok && a == db
	case TimeOfDay:
		tb, ok := b.(TimeOfDay)
		return ok && a == tb
	case *Object:
		ob, ok := b.(*Object)
		if !ok || a == nil || ob == nil {
			return ok && a == ob
		}
		return a.Class == ob.Class && a.Module == ob.Module && Equal(a.Attrs, ob.Attrs)
	}
	return false
}

func equalSlices(a, b []any) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// asBigInt returns any Go integer as a big.Int (bools are not integers here:
// DIRAC's encoders keep them apart).
func asBigInt(v any) (*big.Int, bool) {
	switch v := v.(type) {
	case int:
		return big.NewInt(int64(v)), true
	case int8:
		return big.NewInt(int64(v)), true
	case int16:
		return big.NewInt(int64(v)), true
	case int32:
		return big.NewInt(int64(v)), true
	case int64:
		return big.NewInt(v), true
	case uint:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint8:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint16:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint32:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint64:
		return new(big.Int).SetUint64(v), true
	case *big.Int:
		if v == nil {
			return nil, false
		}
		return v, true
	}
	return nil, false
}
