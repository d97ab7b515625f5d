package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/filetransfer"
)

// Direction names a DIRAC file transfer action (the proposal's
// ["FileTransfer", <Direction>]).
type Direction = filetransfer.Direction

// The directions, as DIRAC names them.
const (
	FromClient     = filetransfer.FromClient     // upload of one file
	ToClient       = filetransfer.ToClient       // download of one file
	BulkFromClient = filetransfer.BulkFromClient // upload of a tar stream (".tar.bz2" or ".tar" id)
	BulkToClient   = filetransfer.BulkToClient   // download of a tar stream
	ListBulk       = filetransfer.ListBulk       // listing of a bulk; no data
)

// TransferFunc serves one file transfer. Its return value becomes the
// transfer's final result with the rules of MethodFunc. An upload handler
// reads t.Body to its end (io.EOF means the data arrived whole and, unless
// the token says NoCheckSum, with the right MD5); a download handler writes
// the data to t.Writer. A handler that returns success without reading the
// whole upload gets DIRAC's "Incomplete transfer" error; one that fails
// before writing anything aborts the data phase, as DIRAC's handlers
// answer an unknown file.
type TransferFunc func(ctx context.Context, t *TransferRequest) (any, error)

// Transfer describes the handler of one direction (DIRAC's
// transfer_<direction>).
type Transfer struct {
	// Func serves the transfer; required.
	Func TransferFunc
	// Auth is the hard-coded authorisation rule, as Method.Auth. The rules
	// are looked up under "FileTransfer/<Direction>": Service.Authorization,
	// then Auth, then Service.Authorization["FileTransfer/Default"], then
	// DefaultAuth.
	Auth []string
}

// TransferRequest is one transfer as a transport received it.
type TransferRequest struct {
	// Request is the caller and the transport; its Method is the
	// authorisation path "FileTransfer/<Direction>".
	*Request
	// Direction is what the client asked for.
	Direction Direction
	// FileID is any DIRAC value (a path, a name, a list); bulk ids carry
	// their ".tar.bz2" or ".tar" suffix (see BulkCompressed).
	FileID any
	// Token is DIRAC's token.
	Token string
	// Size is the size the client declared for an upload; -1 when unknown.
	Size int64
	// Body is the uploaded data (FromClient, BulkFromClient), nil
	// otherwise. Read errors: see filetransfer's errors (checksum, size,
	// idle peer, abort) or the client's S_ERROR as a *diracrpc.Error.
	Body io.Reader
	// Writer takes the downloaded data (ToClient, BulkToClient), nil
	// otherwise. Over DISET it sends 1 MiB chunks, over HTTPS the raw body.
	Writer io.Writer
}

// BulkCompressed reports whether a bulk id names a bzip2-compressed tar
// stream (".tar.bz2", DIRAC's default) rather than a plain tar (".tar").
func BulkCompressed(bulkID string) bool { return filetransfer.Compressed(bulkID) }

// TransferLimits bound a service's file transfers. The zero value gives the
// defaults documented field by field.
type TransferLimits struct {
	// MaxSize bounds the bytes of one upload, declared or sent: a larger
	// declared size is refused before the data phase, a larger stream is
	// stopped with DIRAC's "Exceeded maximum file size". Default
	// DefaultTransferMaxSize; negative: no limit. Over HTTPS the request
	// body limit (HTTPSConfig.MaxBodyBytes) applies too.
	MaxSize int64
	// MaxConcurrent bounds the transfers served at once by the service, all
	// transports together. A transfer beyond it waits up to IdleTimeout for
	// a slot, then is refused ("Too many concurrent transfers"). Default
	// DefaultMaxConcurrentTransfers.
	MaxConcurrent int
	// IdleTimeout bounds the wait for each frame of the data phase (a chunk,
	// an acknowledgement) and each write: a client that stalls is cut off
	// and its slot freed. Default DefaultTransferIdleTimeout.
	IdleTimeout time.Duration
}

// Defaults of TransferLimits.
const (
	DefaultTransferMaxSize        = 4 << 30 // 4 GiB
	DefaultMaxConcurrentTransfers = 16
	DefaultTransferIdleTimeout    = 60 * time.Second
)

func (l TransferLimits) withDefaults() TransferLimits {
	if l.MaxSize == 0 {
		l.MaxSize = DefaultTransferMaxSize
	}
	if l.MaxSize < 0 {
		l.MaxSize = 0 // filetransfer: 0 is no limit
	}
	if l.MaxConcurrent <= 0 {
		l.MaxConcurrent = DefaultMaxConcurrentTransfers
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultTransferIdleTimeout
	}
	return l
}

// transferState is a service's transfer handlers and slots.
type transferState struct {
	mu       sync.RWMutex
	handlers map[Direction]*Transfer
	once     sync.Once
	slots    chan struct{}
}

// HandleTransfer registers (or replaces) the handler of direction d. One
// registration serves DISET (action ["FileTransfer", d]) and, for FromClient
// and ToClient, HTTPS (DIRAC's streamFromClient and streamToClient methods;
// a method registered with Handle under one of those names takes
// precedence). Bulk directions exist on DISET only, as in DIRAC.
func (s *Service) HandleTransfer(d Direction, t Transfer) {
	if t.Func == nil {
		panic("server: HandleTransfer " + string(d) + " without Func")
	}
	if !d.Valid() {
		panic("server: HandleTransfer: unknown direction " + strconv.Quote(string(d)))
	}
	s.xfer.mu.Lock()
	defer s.xfer.mu.Unlock()
	if s.xfer.handlers == nil {
		s.xfer.handlers = make(map[Direction]*Transfer)
	}
	tt := t
	s.xfer.handlers[d] = &tt
}

// TransferHandler returns the handler of direction d.
func (s *Service) TransferHandler(d Direction) (*Transfer, bool) {
	s.xfer.mu.RLock()
	defer s.xfer.mu.RUnlock()
	t, ok := s.xfer.handlers[d]
	return t, ok
}

// transferRules returns the rules of a "FileTransfer/<Direction>" path
// after Service.Authorization[path]: the handler's Auth, then
// Authorization["FileTransfer/Default"], as DIRAC's AuthManager falls back
// to the Default of the path's section.
func (s *Service) transferRules(authorization map[string][]string, path string) ([]string, bool) {
	dir, ok := strings.CutPrefix(path, filetransfer.ActionType+"/")
	if !ok {
		return nil, false
	}
	if t, ok := s.TransferHandler(Direction(dir)); ok && t.Auth != nil {
		return t.Auth, true
	}
	if r, ok := authorization[filetransfer.ActionType+"/Default"]; ok {
		return r, true
	}
	return nil, false
}

// httpsTransfer maps DIRAC's Tornado streaming methods to directions.
func (s *Service) httpsTransfer(method string) (Direction, bool) {
	var d Direction
	switch method {
	case "streamToClient":
		d = ToClient
	case "streamFromClient":
		d = FromClient
	default:
		return "", false
	}
	_, ok := s.TransferHandler(d)
	return d, ok
}

func (s *Service) transferLimits() TransferLimits { return s.TransferLimits.withDefaults() }

// errTooManyTransfers is the refusal when no slot freed in time.
var errTooManyTransfers = &diracrpc.Error{Message: "Too many concurrent transfers, try again later"}

// beginTransfer checks a transfer before its data phase: a handler for
// the direction, the declared size, a free slot (waited for up to the idle
// timeout). release frees the slot.
func (s *Service) beginTransfer(ctx context.Context, fi filetransfer.FileInfo) (release func(), _ *diracrpc.Error) {
	if _, ok := s.TransferHandler(fi.Direction); !ok || !fi.Direction.Valid() {
		return nil, &diracrpc.Error{Message: "Service can't transfer files " + fi.Direction.HandlerName()}
	}
	lim := s.transferLimits()
	if fi.Direction.Upload() && lim.MaxSize > 0 && fi.Size > lim.MaxSize {
		return nil, &diracrpc.Error{Message: fmt.Sprintf("File size %d exceeds the maximum of %d bytes", fi.Size, lim.MaxSize)}
	}
	s.xfer.once.Do(func() { s.xfer.slots = make(chan struct{}, lim.MaxConcurrent) })
	t := time.NewTimer(lim.IdleTimeout)
	defer t.Stop()
	select {
	case s.xfer.slots <- struct{}{}:
		return func() { <-s.xfer.slots }, nil
	case <-t.C:
	case <-ctx.Done():
	}
	s.logger().WarnContext(ctx, "diracrpc server: transfer refused, no free slot", "service", s.Name,
		"direction", fi.Direction, "max", lim.MaxConcurrent)
	return nil, errTooManyTransfers
}

// runTransfer runs the handler of t.Direction as invoke runs a method.
func (s *Service) runTransfer(ctx context.Context, t *TransferRequest) outcome {
	h, _ := s.TransferHandler(t.Direction)
	return s.run(ctx, t.Request, func(ctx context.Context) (any, error) {
		v, err := h.Func(ctx, t)
		if dataPhaseError(err) {
			// A handler passing on what Body or Writer reported: DIRAC's
			// FileHelper messages, not a server failure.
			err = &diracrpc.Error{Message: transferMessage(err)}
		}
		return v, err
	})
}

// dataPhaseError reports the errors of the data phase itself.
func dataPhaseError(err error) bool {
	for _, e := range []error{filetransfer.ErrChecksum, filetransfer.ErrTooLarge, filetransfer.ErrSizeMismatch,
		filetransfer.ErrAborted, filetransfer.ErrIdle} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// transferMessage is the S_ERROR text for a data phase that ended badly,
// in DIRAC's words where it has them.
func transferMessage(err error) string {
	var de *diracrpc.Error
	switch {
	case errors.As(err, &de):
		return de.Message
	case errors.Is(err, filetransfer.ErrChecksum):
		return "Error in the file CRC"
	case errors.Is(err, filetransfer.ErrTooLarge):
		return "Exceeded maximum file size"
	case errors.Is(err, filetransfer.ErrSizeMismatch):
		return "Received data does not match the declared size"
	case errors.Is(err, filetransfer.ErrAborted):
		return "Transfer aborted"
	case errors.Is(err, filetransfer.ErrIdle):
		return "Transfer timed out waiting for the peer"
	}
	return "Error in the transfer: " + err.Error()
}

// peerStopped reports transfer errors that come from the client going away
// or giving up, not from the handler: logged at Info, not Error.
func peerStopped(err error) bool {
	return errors.Is(err, filetransfer.ErrAborted) || errors.Is(err, filetransfer.ErrIdle) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.Canceled)
}
