package testharness

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/server"
	"github.com/diracgo/diracrpc/value"
)

// Store is the file side of the test service (every direction of DIRAC's
// FileTransfer, over both protocols), with its state visible to tests:
//
//	download "gen:<n>"        n bytes, byte i = (7*i + 3) % 256 (the oracle's pattern)
//	download "fail-after:<n>" n bytes of the pattern, then S_ERROR("disk failed")
//	download "block"          no data until the transfer's context ends
//	download <stored id>      what was uploaded under that id (bulks too)
//	download anything else    S_ERROR("unknown file ...") before any data
//	upload <id>               stored; S_OK({"size", "md5", "declaredSize", "token"})
//	upload "refuse"           S_ERROR("refused") before reading
//	upload "discard:<any>"    hashed, not stored (benchmarks)
//	list <bulk id>            S_OK([the bulk's size])
//
// A fileId that is a list is known by its first element, as SandboxStore's
// [name, {assignTo}].
type Store struct {
	mu     sync.Mutex
	files  map[string][]byte
	active atomic.Int64
	// Ended receives how each handler run ended (nil: success); buffered,
	// older results are dropped when nobody reads them.
	Ended chan error
}

// Stored returns what was uploaded under id.
func (s *Store) Stored(id string) ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.files[id]
	return b, ok
}

// Active returns the number of transfer handlers running.
func (s *Store) Active() int { return int(s.active.Load()) }

// GenReader yields n bytes of the "gen:<n>" pattern without holding them.
func GenReader(n int64) io.Reader { return &genReader{n: n} }

type genReader struct{ i, n int64 }

func (g *genReader) Read(p []byte) (int, error) {
	if g.i >= g.n {
		return 0, io.EOF
	}
	m := int(min(int64(len(p)), g.n-g.i))
	for k := range m {
		p[k] = byte(7*(g.i+int64(k)) + 3)
	}
	g.i += int64(m)
	return m, nil
}

func idOf(v any) string {
	if l, ok := value.Items(v); ok && len(l) > 0 {
		v = l[0]
	}
	if b, ok := v.([]byte); ok {
		return string(b)
	}
	return fmt.Sprint(v)
}

// AddStore registers the Store's transfer handlers on s.
func AddStore(s *server.Service) *Store {
	st := &Store{files: map[string][]byte{}, Ended: make(chan error, 256)}
	wrap := func(f server.TransferFunc) server.Transfer {
		return server.Transfer{Auth: all, Func: func(ctx context.Context, t *server.TransferRequest) (any, error) {
			st.active.Add(1)
			v, err := f(ctx, t)
			st.active.Add(-1)
			select {
			case st.Ended <- err:
			default:
			}
			return v, err
		}}
	}
	upload := func(_ context.Context, t *server.TransferRequest) (any, error) {
		id := idOf(t.FileID)
		if id == "refuse" {
			return nil, &diracrpc.Error{Message: "refused"}
		}
		h := md5.New()
		if strings.HasPrefix(id, "discard:") {
			n, err := io.Copy(h, t.Body)
			if err != nil {
				return nil, err
			}
			return value.NewDict("size", n, "md5", hex.EncodeToString(h.Sum(nil)),
				"declaredSize", t.Size, "token", t.Token), nil
		}
		b, err := io.ReadAll(io.TeeReader(t.Body, h))
		if err != nil {
			return nil, err
		}
		st.mu.Lock()
		st.files[id] = b
		st.mu.Unlock()
		return value.NewDict("size", int64(len(b)), "md5", hex.EncodeToString(h.Sum(nil)),
			"declaredSize", t.Size, "token", t.Token), nil
	}
	download := func(ctx context.Context, t *server.TransferRequest) (any, error) {
		id := idOf(t.FileID)
		if id == "block" {
			<-ctx.Done()
			return nil, ctx.Err()
		}
		if n, ok := strings.CutPrefix(id, "fail-after:"); ok {
			k, _ := strconv.ParseInt(n, 10, 64)
			if _, err := io.Copy(t.Writer, GenReader(k)); err != nil {
				return nil, err
			}
			return nil, &diracrpc.Error{Message: "disk failed"}
		}
		var r io.Reader
		if n, ok := strings.CutPrefix(id, "gen:"); ok {
			k, err := strconv.ParseInt(n, 10, 64)
			if err != nil {
				return nil, err
			}
			r = GenReader(k)
		} else if b, ok := st.Stored(id); ok {
			r = strings.NewReader(string(b))
		} else {
			return nil, &diracrpc.Error{Message: "unknown file " + strconv.Quote(id)}
		}
		n, err := io.Copy(t.Writer, r)
		if err != nil {
			return nil, err
		}
		return value.NewDict("size", n), nil
	}
	list := func(_ context.Context, t *server.TransferRequest) (any, error) {
		b, ok := st.Stored(idOf(t.FileID))
		if !ok {
			return nil, errors.New("unknown bulk")
		}
		return []any{int64(len(b))}, nil
	}
	s.HandleTransfer(server.FromClient, wrap(upload))
	s.HandleTransfer(server.BulkFromClient, wrap(upload))
	s.HandleTransfer(server.ToClient, wrap(download))
	s.HandleTransfer(server.BulkToClient, wrap(download))
	s.HandleTransfer(server.ListBulk, wrap(list))
	return st
}
