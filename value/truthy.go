package value

import "math/big"

// Truthy is Python's bool(v) for the values of the model: None, False, zero
// numbers (int of any Go integer kind, *big.Int, float), and empty str,
// bytes, list, tuple and dict are false; everything else (datetimes, dates,
// times, objects, non-empty containers, other Go values) is true. DIRAC
// tests results and options this way (if result["OK"]:, if
// extraCredentials:).
func Truthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case bool:
		return v
	case int64:
		return v != 0
	case *big.Int:
		return v != nil && v.Sign() != 0
	case float64:
		return v != 0 // NaN is true, as in Python
	case float32:
		return v != 0
	case string:
		return v != ""
	case []byte:
		return len(v) != 0
	case []any:
		return len(v) != 0
	case Tuple:
		return len(v) != 0
	case *Dict:
		return v.Len() != 0
	case Dict:
		return v.Len() != 0
	}
	if b, ok := asBigInt(v); ok { // the other Go integer kinds
		return b.Sign() != 0
	}
	return true
}
