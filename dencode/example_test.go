package dencode_test

import (
	"fmt"
	"time"

	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/value"
)

func ExampleMarshal() {
	type job struct {
		ID     int64 `dirac:"JobID"`
		Status string
		Since  time.Time
	}
	b, err := dencode.Marshal(value.NewDict("OK", true, "Value", []any{
		job{ID: 42, Status: "Done", Since: time.Date(2024, 10, 17, 13, 41, 46, 0, time.UTC)},
		value.Tuple{1.5, nil},
	}))
	if err != nil {
		panic(err)
	}
	fmt.Printf("%s\n", b)
	// Output:
	// ds2:OKb1s5:Valuelds5:JobIDi42es6:Statuss4:Dones5:Sincezati2024ei10ei17ei13ei41ei46ei0eneetf1.5eneee
}

func ExampleUnmarshal() {
	data := []byte("ds2:OKb1s5:Valuedi12345eds6:Statuss4:Doneeee")

	// Into the generic model: non-string keys and order are kept.
	var v any
	if err := dencode.Unmarshal(data, &v); err != nil {
		panic(err)
	}
	jobs, _ := v.(*value.Dict).Lookup("Value")
	fmt.Println(jobs.(*value.Dict).Keys())

	// Into Go types, as encoding/json would fill them.
	var res struct {
		OK    bool
		Value map[int]struct{ Status string }
	}
	if err := dencode.Unmarshal(data, &res); err != nil {
		panic(err)
	}
	fmt.Println(res.OK, res.Value[12345].Status)
	// Output:
	// [12345]
	// true Done
}
