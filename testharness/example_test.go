package testharness_test

import (
	"context"
	"fmt"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/testharness"
)

// Start serves the test service over dips://, dip:// and https://; Client
// calls it with the harness user's proxy. In a test, NewT does the same and
// stops it at the end of the test.
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h, err := testharness.Start(ctx, testharness.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer h.Close()
	for _, p := range []diracrpc.Protocol{diracrpc.DIPS, diracrpc.HTTPS} {
		c, err := h.Client(p)
		if err != nil {
			fmt.Println(err)
			return
		}
		res, err := c.Call(ctx, "add", 2, 3)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(p, res.Value)
	}
	// Output:
	// dips 5
	// https 5
}
