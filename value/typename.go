package value

import (
	"fmt"
	"math/big"
	"time"
)

// TypeName returns the name of v's Python type as Python's own messages
// spell it (TypeError texts, class reprs): "NoneType", "bool", "int",
// "float", "str", "bytes", "list", "tuple", "dict", "datetime.datetime",
// "datetime.date", "datetime.time", an *Object's Class; the Go type for
// anything else.
func TypeName(v any) string {
	switch v := v.(type) {
	case nil:
		return "NoneType"
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
		return "datetime.datetime"
	case Date:
		return "datetime.date"
	case TimeOfDay:
		return "datetime.time"
	case *Object:
		if v != nil && v.Class != "" {
			return v.Class
		}
		return "object"
	}
	return fmt.Sprintf("%T", v)
}
