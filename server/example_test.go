package server_test

import (
	"context"
	"fmt"
	"net"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/disetclient"
	"github.com/diracgo/diracrpc/server"
)

// A service with one method, served over plain dip:// on an ephemeral port and
// called with the Go DISET client. Over dips:// set DISETConfig.TLS from
// credentials.NewServerTLSConfig.
func Example() {
	svc := server.NewService("Framework/Hello")
	svc.DefaultAuth = []string{"all"} // DIRAC's default: open to everybody
	svc.Handle("add", server.Method{
		Types: []server.Type{server.TypeInt, server.TypeInt},
		Func: func(_ context.Context, req *server.Request) (any, error) {
			return req.Args[0].(int64) + req.Args[1].(int64), nil
		},
	})
	svc.HandleFunc("fail", func(context.Context, *server.Request) (any, error) {
		return nil, diracrpc.NewError(diracrpc.EVALUE, "no way")
	})

	l, _ := net.Listen("tcp", "127.0.0.1:0")
	srv := server.NewDISET(svc, server.DISETConfig{})
	go srv.Serve(l)
	defer srv.Close()

	c, _ := disetclient.New([]string{"dip://" + l.Addr().String() + "/Framework/Hello"}, diracrpc.Options{}, disetclient.Options{})
	res, err := c.Call(context.Background(), "add", 2, 3)
	fmt.Println(res.Value, err)
	_, err = c.Call(context.Background(), "fail")
	fmt.Println(err)
	// Output:
	// 5 <nil>
	// S_ERROR: Wrong value passed ( 1004 : no way)
}
