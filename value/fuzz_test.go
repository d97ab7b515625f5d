package value_test

import (
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// fuzzNode is recursive, so that Assign's plans refer to themselves.
type fuzzNode struct {
	Name     string     `dirac:"name"`
	Children []fuzzNode `dirac:"children"`
	Next     *fuzzNode
}

type fuzzRow struct {
	ID    int8 `dirac:"JobID"`
	U     uint16
	F     float32
	S     string
	B     []byte
	Arr   [2]int
	M     map[int]string
	MB    map[bool]any
	T     time.Time
	D     value.Date
	BI    big.Int
	Tup   value.Tuple
	Dict  *value.Dict
	Any   any
	PP    **string
	Embed fuzzNode
	fuzzNode
}

// FuzzAssign fills Go values from whatever a client may send (server
// arguments go through Assign): never a panic, and a value Assign took into
// any is the decoded value itself.
func FuzzAssign(f *testing.F) {
	for _, seed := range []string{
		`{"name": "a", "children": [{"name": "b", "Next": {"name": "c"}}]}`,
		`[{"JobID": 7, "U": 65535, "F": 1e39, "S": "x", "B": "YQ==", "Arr": [1, 2, 3], "M": {"12": "a", "x": "b"}}]`,
		`{"MB": {"true": 1}, "T": {"__dCls": "datetime"}, "BI": 123456789012345678901234567890, "Tup": [1, [2]]}`,
		`{"Dict": {"a": null}, "Any": [1.5, null], "PP": "s", "Embed": {"Next": {"Next": null}}, "Name": 3}`,
		`[[[[[[[[[[[]]]]]]]]]]]`,
		`[NaN, -Infinity, {"F": NaN}]`,
		`[{"Arr": [1]}, {"Arr": []}, {"Arr": null}]`,
	} {
		f.Add([]byte(seed))
	}
	targets := []reflect.Type{
		reflect.TypeFor[fuzzNode](), reflect.TypeFor[[]fuzzRow](), reflect.TypeFor[fuzzRow](),
		reflect.TypeFor[map[string][]*fuzzNode](), reflect.TypeFor[map[int64]float64](), reflect.TypeFor[[3]uint8](),
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := jencode.Decode(data)
		if err != nil {
			return
		}
		for _, typ := range targets {
			_ = value.Assign(reflect.New(typ).Interface(), v)
		}
		var a any
		if err := value.Assign(&a, v); err != nil || !value.Equal(a, v) {
			t.Fatalf("into any: %v, %#v", err, a)
		}
	})
}
