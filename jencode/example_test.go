package jencode_test

import (
	"fmt"
	"time"

	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

func ExampleMarshal() {
	reply := value.NewDict("OK", true, "Value", value.NewDict(
		int64(12345), "Done",
		"when", time.Date(2024, 1, 2, 3, 4, 5, 678000, time.UTC),
		"ratio", 1.0,
		"name", "café",
	))
	text, err := jencode.Marshal(reply)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(text))
	// Output:
	// {"OK": true, "Value": {"12345": "Done", "when": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}, "ratio": 1.0, "name": "caf\u00e9"}}
}

func ExampleUnmarshal() {
	type job struct {
		JobID  int64     `dirac:"JobID"`
		Status string    `dirac:"Status"`
		When   time.Time `dirac:"LastUpdateTime"`
	}
	var jobs []job
	err := jencode.Unmarshal([]byte(`[{"JobID": 7, "Status": "Done", "LastUpdateTime": {"__dCls": "dt", "obj": "2024-01-02 03:04:05"}}]`), &jobs)
	if err != nil {
		panic(err)
	}
	fmt.Printf("%d %s %s\n", jobs[0].JobID, jobs[0].Status, jobs[0].When)
	// Output:
	// 7 Done 2024-01-02 03:04:05 +0000 UTC
}

func ExampleDecode() {
	v, err := jencode.Decode([]byte(`{"OK": true, "Value": [1, 1.0, NaN, 123456789012345678901234567890]}`))
	if err != nil {
		panic(err)
	}
	reply := v.(*value.Dict)
	list, _ := reply.Get("Value")
	for _, x := range list.([]any) {
		fmt.Printf("%T %v\n", x, x)
	}
	// Output:
	// int64 1
	// float64 1
	// float64 NaN
	// *big.Int 123456789012345678901234567890
}
