package server

import (
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// Type is a set of Python types an argument may have, for Method.Types
// (DIRAC's types_<method>). Combine with |: TypeInt|TypeFloat is Python's
// (int, float). Python's isinstance rules apply: a bool passes TypeInt, a
// datetime passes TypeDate, an int does not pass TypeFloat, a list does not
// pass TypeTuple (only DEncode carries tuples; JSON turns them into lists).
type Type uint16

// The Python types of the DIRAC value model.
const (
	Any      Type = 0 // no check
	TypeNone Type = 1 << iota
	TypeBool
	TypeInt
	TypeFloat
	TypeStr
	TypeBytes
	TypeList
	TypeTuple
	TypeDict
	TypeDateTime
	TypeDate
	TypeTime
)

var typeNames = []struct {
	t    Type
	name string
}{
	{TypeNone, "NoneType"},
	{TypeBool, "bool"},
	{TypeInt, "int"},
	{TypeFloat, "float"},
	{TypeStr, "str"},
	{TypeBytes, "bytes"},
	{TypeList, "list"},
	{TypeTuple, "tuple"},
	{TypeDict, "dict"},
	{TypeDateTime, "datetime.datetime"},
	{TypeDate, "datetime.date"},
	{TypeTime, "datetime.time"},
}

// String is Python's repr of the type or tuple of types:
// "<class 'int'>", "(<class 'int'>, <class 'float'>)".
func (t Type) String() string {
	var parts []string
	for _, tn := range typeNames {
		if t&tn.t != 0 {
			parts = append(parts, "<class '"+tn.name+"'>")
		}
	}
	switch len(parts) {
	case 0:
		return "None"
	case 1:
		return parts[0]
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

// typeOf returns the Python type of a decoded value, as a Type bit, plus its
// class repr (for values outside the table, such as JSerializable objects).
func typeOf(v any) (Type, string) {
	var t Type
	switch v := v.(type) {
	case nil:
		t = TypeNone
	case bool:
		t = TypeBool
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		t = TypeInt
	case float64, float32:
		t = TypeFloat
	case string:
		t = TypeStr
	case []byte:
		t = TypeBytes
	case []any:
		t = TypeList
	case value.Tuple:
		t = TypeTuple
	case *value.Dict, map[string]any:
		t = TypeDict
	case time.Time:
		t = TypeDateTime
	case value.Date:
		t = TypeDate
	case value.TimeOfDay:
		t = TypeTime
	case *value.Object:
		return 0, "<class '" + v.Module + "." + v.Class + "'>"
	default:
		return 0, "<class 'object'>"
	}
	return t, t.String()
}

// accepts is isinstance(v, t).
func (t Type) accepts(v any) bool {
	if t == Any {
		return true
	}
	got, _ := typeOf(v)
	switch got {
	case TypeBool: // bool is a subclass of int
		got |= TypeInt
	case TypeDateTime: // datetime is a subclass of date
		got |= TypeDate
	}
	return t&got != 0
}

// checkArgs runs DIRAC's argument checks; "" means they pass. Type
// mismatches are reported before missing arguments, as DIRAC does.
func checkArgs(method string, m *Method, args []any) string {
	for i, t := range m.Types {
		if i < len(args) && !t.accepts(args[i]) {
			_, got := typeOf(args[i])
			return "Type mismatch in parameter " + strconv.Itoa(i) + " (starting with param 0) Received " +
				got + ", expected " + t.String()
		}
	}
	if n := max(len(m.Types), m.MinArgs); len(args) < n {
		return "Function " + method + " expects at least " + strconv.Itoa(n) + " arguments"
	}
	return ""
}
