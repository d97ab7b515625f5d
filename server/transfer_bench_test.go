package server_test

import (
	"context"
	"io"
	"net"
	"runtime"
	"testing"
	"time"

	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/internal/filetransfer"
	"github.com/diracgo/diracrpc/server"
)

// BenchmarkTransfer moves 64 MiB each way over dip:// (the protocol's
// client half against the Go server), with both server encodings (JSON
// carries chunks in base64), next to a bare TCP copy of the same bytes, and
// reports the heap the process obtained.
func BenchmarkTransfer(b *testing.B) {
	for _, enc := range []server.Encoding{server.JSON, server.DEncode} {
		b.Run(enc.String(), func(b *testing.B) { benchmarkTransfer(b, enc) })
	}
}

func benchmarkTransfer(b *testing.B, enc server.Encoding) {
	const size = 64 << 20
	svc, st := newTransferService(b)
	go func() {
		for range st.ended {
		}
	}()
	go func() {
		for range st.inside {
		}
	}()
	defer close(st.inside)
	defer close(st.ended)
	srv := server.NewDISET(svc, server.DISETConfig{Logger: quiet, Encoding: enc})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()
	addr := l.Addr().String()
	open := func(d server.Direction) *diset.Conn {
		nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			b.Fatal(err)
		}
		c := diset.NewConn(nc, diset.DEncode)
		if err := c.Send(okProposal(d)); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Recv(0); err != nil {
			b.Fatal(err)
		}
		return c
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run := func(b *testing.B, f func()) {
		b.SetBytes(size)
		for b.Loop() {
			f()
		}
		// The heap the process ever obtained from the OS (client and
		// server together): bounded by a few chunks, not by the size.
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.ReportMetric(float64(ms.HeapSys)/(1<<20), "MiB-heap-sys")
	}
	b.Run("download", func(b *testing.B) {
		run(b, func() {
			c := open(server.ToClient)
			defer c.Close()
			if _, err := filetransfer.Download(ctx, c, filetransfer.FileInfo{Direction: server.ToClient, FileID: "gen:67108864"},
				io.Discard, filetransfer.Options{}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("upload", func(b *testing.B) {
		svc.HandleTransfer(server.FromClient, server.Transfer{Func: func(_ context.Context, t *server.TransferRequest) (any, error) {
			_, err := io.Copy(io.Discard, t.Body)
			return nil, err
		}})
		run(b, func() {
			c := open(server.FromClient)
			defer c.Close()
			if _, err := filetransfer.Upload(ctx, c, filetransfer.FileInfo{Direction: server.FromClient, FileID: "b", Size: size},
				&genReader{n: size}, filetransfer.Options{}); err != nil {
				b.Fatal(err)
			}
		})
	})
	b.Run("bare-tcp", func(b *testing.B) {
		bl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer bl.Close()
		go func() {
			for {
				c, err := bl.Accept()
				if err != nil {
					return
				}
				go func() { _, _ = io.Copy(io.Discard, c); c.Close() }()
			}
		}()
		run(b, func() {
			c, err := net.Dial("tcp", bl.Addr().String())
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(c, &genReader{n: size})
			c.Close()
		})
	})
}
