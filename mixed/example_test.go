package mixed_test

import (
	"fmt"
	"os"

	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/value"
)

func ExampleDecode() {
	for _, payload := range []string{`{"OK": true, "Value": "Pong"}`, "ds2:OKb1s5:Values4:Ponge", "", "{oops"} {
		v, enc, err := mixed.Decode([]byte(payload))
		if err != nil {
			fmt.Println(err)
			continue
		}
		pong, _ := v.(*value.Dict).Get("Value")
		fmt.Println(enc, pong)
	}
	// Output:
	// JSON Pong
	// DEncode Pong
	// mixed: Could not decode received data: index out of range
	// mixed: Could not decode received data: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)
}

func ExampleMarshal() {
	// What a DIRAC process would send: JSON unless DIRAC_USE_JSON_ENCODE says otherwise.
	fmt.Println("from the environment:", mixed.EncodingFromEnv(func(string) (string, bool) { return "no", true }))
	_ = os.LookupEnv // the usual argument
	for _, enc := range []mixed.Encoding{mixed.JSON, mixed.DEncode} {
		payload, err := mixed.Marshal(map[string]any{"OK": true, "Value": []any{1, "a"}}, enc)
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s: %s\n", enc, payload)
	}
	// Output:
	// from the environment: DEncode
	// JSON: {"OK": true, "Value": [1, "a"]}
	// DEncode: ds2:OKb1s5:Valueli1es1:aee
}
