package server_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
)

// A file store serving DIRAC's TransferClient.receiveFile/sendFile over
// DISET and TornadoClient.receiveFile/sendFile over HTTPS from the same two
// registrations. Handlers stream: the memory used does not grow with the
// file size.
func ExampleService_HandleTransfer() {
	root := os.TempDir()
	svc := server.NewService("DataManagement/GoStore")
	svc.TransferLimits = server.TransferLimits{MaxSize: 1 << 30, MaxConcurrent: 8, IdleTimeout: time.Minute}
	// Who may transfer: FileTransfer/<Direction>, then FileTransfer/Default.
	svc.Authorization = map[string][]string{"FileTransfer/Default": {"authenticated"}}
	path := func(id any) (string, error) {
		name, ok := id.(string)
		if !ok || strings.Contains(name, "..") {
			return "", &diracrpc.Error{Message: "bad file id"}
		}
		return filepath.Join(root, filepath.Clean("/"+name)), nil
	}
	svc.HandleTransfer(server.FromClient, server.Transfer{Func: func(ctx context.Context, t *server.TransferRequest) (any, error) {
		p, err := path(t.FileID)
		if err != nil {
			return nil, err // the data phase is aborted for the client
		}
		f, err := os.Create(p)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		n, err := io.Copy(f, t.Body) // t.Body checks size and MD5 at its end
		if err != nil {
			os.Remove(p)
			return nil, err
		}
		return n, nil
	}})
	svc.HandleTransfer(server.ToClient, server.Transfer{Func: func(ctx context.Context, t *server.TransferRequest) (any, error) {
		p, err := path(t.FileID)
		if err != nil {
			return nil, err
		}
		f, err := os.Open(p)
		if err != nil {
			return nil, &diracrpc.Error{Message: "File " + filepath.Base(p) + " does not exist"}
		}
		defer f.Close()
		_, err = io.Copy(t.Writer, f)
		return nil, err
	}})
	_ = server.NewDISET(svc, server.DISETConfig{}) // dip://, FileTransfer actions
	_ = server.NewHTTPS(server.HTTPSConfig{}, svc) // streamToClient, streamFromClient
}
