package diracrpc_test

import (
	"bytes"
	"errors"
	"fmt"
	"log"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/httpsclient"
)

// Files move through the same client over either protocol: Send uploads,
// Receive downloads (streaming, into any io.Writer); a refused file is an
// S_ERROR and writes nothing.
func ExampleClient_Receive() {
	h, ctx, done := harness()
	defer done()
	for _, url := range []string{h.DIPSURL, h.HTTPSURL} {
		var c *diracrpc.Client
		var err error
		if url == h.HTTPSURL {
			c, err = httpsclient.New([]string{url}, h.Options(), httpsclient.Options{})
		} else {
			c, err = disetclient.New([]string{url}, h.Options(), disetclient.Options{})
		}
		if err != nil {
			log.Fatal(err)
		}
		if _, err := c.Send(ctx, "notes.txt", bytes.NewReader([]byte("hello files"))); err != nil {
			log.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := c.Receive(ctx, "notes.txt", &got, diracrpc.WithProgress(func(done, total int64) {})); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: %q\n", c.Protocol(), got.String())

		got.Reset()
		_, err = c.Receive(ctx, "missing.txt", &got)
		var se *diracrpc.Error
		fmt.Println(errors.As(err, &se), diracrpc.CodeOf(err), got.Len())
		c.Close()
	}
	// Output:
	// dips: "hello files"
	// true service_error 0
	// https: "hello files"
	// true service_error 0
}
