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
	if t := typeBit(v); t != 0 {
		return t, t.String()
	}
	if o, ok := v.(*value.Object); ok {
		return 0, "<class '" + o.Module + "." + o.Class + "'>"
	}
	return 0, "<class 'object'>"
}

// typeBit is the Type of v, 0 for values outside the table.
func typeBit(v any) Type {
	switch v.(type) {
	case nil:
		return TypeNone
	case bool:
		return TypeBool
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *big.Int:
		return TypeInt
	case float64, float32:
		return TypeFloat
	case string:
		return TypeStr
	case []byte:
		return TypeBytes
	case []any:
		return TypeList
	case value.Tuple:
		return TypeTuple
	case *value.Dict, map[string]any:
		return TypeDict
	case time.Time:
		return TypeDateTime
	case value.Date:
		return TypeDate
	case value.TimeOfDay:
		return TypeTime
	}
	return 0
}

// accepts is isinstance(v, t).
func (t Type) accepts(v any) bool {
	if t == Any {
		return true
	}
	got := typeBit(v)
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

// tooManyArgs is Python's TypeError text for a call of m with n arguments
// when it takes fewer (Method.MaxArgs), "" when it does not. Arguments are
// counted as Python counts them for a method, self included; DIRAC's
// built-ins are named by their qualified name, echo a static method.
func tooManyArgs(method string, m *Method, n int) string {
	if m.MaxArgs == 0 || n <= max(m.MaxArgs, 0) {
		return ""
	}
	fn, self := "export_"+method+"()", 1
	if b, ok := builtins[method]; ok && b == m {
		fn = "RequestHandler." + fn
		if method == "echo" {
			self = 0
		}
	}
	most := max(m.MaxArgs, 0) + self
	least := min(max(len(m.Types), m.MinArgs)+self, most)
	takes := strconv.Itoa(most) + " positional argument"
	if least < most {
		takes = "from " + strconv.Itoa(least) + " to " + strconv.Itoa(most) + " positional argument"
	}
	if least < most || most != 1 {
		takes += "s"
	}
	given := " were given"
	if n+self == 1 {
		given = " was given"
	}
	return fn + " takes " + takes + " but " + strconv.Itoa(n+self) + given
}
