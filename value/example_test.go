package value_test

import (
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/value"
)

// A Dict keeps Python's insertion order and compares keys as Python does:
// 1, 1.0 and True are the same key.
func ExampleDict() {
	d := value.NewDict("OK", true, "Value", int64(42))
	d.Set(int64(1), "one")
	d.Set(1.0, "one again") // the same key as 1: the value is replaced in place
	d.Set(value.Tuple{"site", int64(3)}, "a tuple key")

	for k, v := range d.All() {
		fmt.Printf("%v (%s) -> %v\n", k, value.TypeName(k), v)
	}
	ok, _ := d.Lookup("OK")
	fmt.Println("OK:", ok, "len:", d.Len(), "has True:", d.Has(true))
	// Output:
	// OK (str) -> true
	// Value (str) -> 42
	// 1 (int) -> one again
	// [site 3] (tuple) -> a tuple key
	// OK: true len: 4 has True: true
}

// A Tuple is a Python tuple: DEncode keeps it apart from a list (JSON
// cannot), and it can be a dict key when its items can.
func ExampleTuple() {
	t := value.Tuple{"LFN", int64(2)}
	fmt.Println(value.TypeName(t), len(t), value.Hashable(t))
	fmt.Println(value.TypeName([]any{"LFN", int64(2)}), value.Hashable([]any{"LFN"}))
	// Output:
	// tuple 2 true
	// list false
}

// Truthy answers as Python's bool(): DIRAC tests results and options with
// it (if result["OK"]:), so empty bytes and empty tuples are false too.
func ExampleTruthy() {
	for _, v := range []any{nil, false, int64(0), 0.0, "", []byte{}, value.Tuple{}, value.NewDict(),
		int64(7), "no", []byte("x"), value.Tuple{nil}, new(big.Int).Lsh(big.NewInt(1), 100)} {
		fmt.Printf("%s %v\n", value.TypeName(v), value.Truthy(v))
	}
	// Output:
	// NoneType false
	// bool false
	// int false
	// float false
	// str false
	// bytes false
	// tuple false
	// dict false
	// int true
	// str true
	// bytes true
	// tuple true
	// int true
}

// Assign fills typed Go variables from a decoded reply, as encoding/json's
// Unmarshal does: fields by `dirac` tag or name, integers range-checked,
// datetimes as time.Time.
func ExampleAssign() {
	// What a decoder gives for a job's attributes.
	reply := value.NewDict(
		"JobID", int64(1234),
		"Status", "Running",
		"Site", "LCG.CERN.cern",
		"Owner", []byte("alice"), // bytes fill a string too
		"SubmissionTime", time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC),
		"Tags", value.Tuple{"MultiProcessor", "GPU"},
	)
	var job struct {
		ID        int64 `dirac:"JobID"`
		Status    string
		Site      string
		Owner     string
		Submitted time.Time `dirac:"SubmissionTime"`
		Tags      []string
	}
	if err := value.Assign(&job, reply); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d %s at %s by %s, %s, %v\n", job.ID, job.Status, job.Site, job.Owner,
		job.Submitted.Format(time.DateTime), job.Tags)

	// A value that does not fit says where and what.
	var counts map[string]int8
	err := value.Assign(&counts, value.NewDict("Done", int64(1000)))
	var ae *value.AssignError
	fmt.Println(errors.As(err, &ae), ae.Path)
	fmt.Println(err)
	// Output:
	// 1234 Running at LCG.CERN.cern by alice, 2024-01-02 03:04:05, [MultiProcessor GPU]
	// true .Done
	// value: cannot assign int to Go int8 at Done: 1000 overflows int8
}

// Equal tells whether two values are the same DIRAC value, exactly: types
// are kept apart and dict order matters, but integers compare by value
// whatever Go type holds them.
func ExampleEqual() {
	a := value.NewDict("a", int64(1), "b", value.Tuple{1.5, "x"})
	fmt.Println(value.Equal(a, value.NewDict("a", 1, "b", value.Tuple{1.5, "x"})))
	fmt.Println(value.Equal(a, value.NewDict("b", value.Tuple{1.5, "x"}, "a", int64(1))))
	fmt.Println(value.Equal(value.Tuple{int64(1)}, []any{int64(1)}), value.Equal(int64(1), 1.0))
	// Output:
	// true
	// false
	// false false
}

// An answer that many calls get unchanged, encoded once per encoding: a
// server handler returns it as it would return the value.
func ExampleNewEncoded() {
	listing := value.NewEncoded([]any{value.NewDict("JobID", int64(1), "Status", "Done")})
	for _, enc := range []mixed.Encoding{mixed.JSON, mixed.DEncode} {
		b, err := mixed.Marshal(value.NewDict("OK", true, "Value", listing), enc)
		if err != nil {
			fmt.Println(err)
		}
		fmt.Printf("%s\n", b)
	}
	// Output:
	// {"OK": true, "Value": [{"JobID": 1, "Status": "Done"}]}
	// ds2:OKb1s5:Valuelds5:JobIDi1es6:Statuss4:Doneeee
}
