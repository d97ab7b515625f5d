package value_test

import (
	"math"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/diracgo/diracrpc/value"
)

// TestTruthy: Python's bool() of each kind of model value, as CPython 3
// answers it (bool(b"") is False, bool(()) is False, bool(time(0)) is True).
func TestTruthy(t *testing.T) {
	huge, _ := new(big.Int).SetString("123456789012345678901234567890", 10)
	for _, tc := range []struct {
		name string
		v    any
		want bool
	}{
		{"None", nil, false},
		{"False", false, false},
		{"True", true, true},
		{"0", int64(0), false},
		{"1", int64(1), true},
		{"-1", int64(-1), true},
		{"Go int 0", 0, false},
		{"Go uint8 3", uint8(3), true},
		{"big 0", new(big.Int), false},
		{"big int", huge, true},
		{"nil *big.Int", (*big.Int)(nil), false},
		{"0.0", 0.0, false},
		{"-0.0", math.Copysign(0, -1), false},
		{"nan", math.NaN(), true},
		{"0.5", 0.5, true},
		{"float32 0", float32(0), false},
		{`""`, "", false},
		{`"0"`, "0", true},
		{`b""`, []byte{}, false},
		{"nil bytes", []byte(nil), false},
		{`b"\x00"`, []byte{0}, true},
		{"[]", []any{}, false},
		{"[None]", []any{nil}, true},
		{"()", value.Tuple{}, false},
		{"(None,)", value.Tuple{nil}, true},
		{"{}", value.NewDict(), false},
		{"nil *Dict", (*value.Dict)(nil), false},
		{"{0: 0}", value.NewDict(int64(0), int64(0)), true},
		{"Dict value {}", value.Dict{}, false},
		{"datetime", time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC), true},
		{"date", value.Date{Year: 1, Month: 1, Day: 1}, true},
		{"time(0)", value.TimeOfDay{}, true},
		{"object", &value.Object{Class: "X"}, true},
		{"other Go value", struct{}{}, true},
	} {
		assert.Equal(t, tc.want, value.Truthy(tc.v), tc.name)
	}
}

// TestTypeName: the names Python's messages give (type(v).__name__, with the
// module for the datetime classes, as in TypeError texts).
func TestTypeName(t *testing.T) {
	for _, tc := range []struct {
		v    any
		want string
	}{
		{nil, "NoneType"},
		{true, "bool"},
		{int64(1), "int"},
		{7, "int"},
		{big.NewInt(1), "int"},
		{1.5, "float"},
		{"s", "str"},
		{[]byte("b"), "bytes"},
		{[]any{}, "list"},
		{value.Tuple{}, "tuple"},
		{value.NewDict(), "dict"},
		{time.Time{}, "datetime.datetime"},
		{value.Date{}, "datetime.date"},
		{value.TimeOfDay{}, "datetime.time"},
		{&value.Object{Class: "JobReport"}, "JobReport"},
		{&value.Object{}, "object"},
		{struct{}{}, "struct {}"},
	} {
		assert.Equal(t, tc.want, value.TypeName(tc.v), "%#v", tc.v)
	}
}
