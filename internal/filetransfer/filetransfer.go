// Package filetransfer is DIRAC's DISET file-transfer protocol (PROTOCOL.md
// §4.9, DIRAC's FileHelper and TransferClient), both ends of it, over a DISET
// frame connection whose proposal ["FileTransfer", <Direction>] was already
// accepted:
//
//	client → server  S_OK(fileInfo)        [fileId, token, size] or [fileId, token]
//	server → client  S_OK("Accepted")      or an S_ERROR, then close
//	sender → receiver S_OK([true, chunk])  1 MiB at most, each answered S_OK()
//	sender → receiver S_OK([false, md5])   end of data, not answered
//	server → client  the final result
//
// Sender and Receiver are the two halves of the data phase, used by the server
// and by the client alike; Upload, Download and List run the client's side of
// a whole transfer. Memory stays bounded by a few chunks whatever the size: a
// Receiver holds one decoded chunk, a Sender one chunk being filled.
//
// Aborts follow FileHelper.markAsTransferred: a receiver that stops answers
// the next chunk with S_OK() plus a top-level "AbortTransfer": true; a sender
// that stops sends S_OK([false, ""]) plus the flag and reads one answer. A
// sender that fails sends S_ERROR(msg) in place of a chunk.
package filetransfer

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
)

// Direction is the name of a FileTransfer action, as DIRAC spells it in the
// proposal.
type Direction string

// The directions (DIRAC's transfer_<direction> handlers).
const (
	FromClient     Direction = "FromClient"     // the client uploads one file
	ToClient       Direction = "ToClient"       // the client downloads one file
	BulkFromClient Direction = "BulkFromClient" // the client uploads a tar stream
	BulkToClient   Direction = "BulkToClient"   // the client downloads a tar stream
	ListBulk       Direction = "ListBulk"       // the server lists a bulk; no data phase
)

// Directions lists every direction.
var Directions = []Direction{FromClient, ToClient, BulkFromClient, BulkToClient, ListBulk}

// Valid reports whether d is one of DIRAC's directions.
func (d Direction) Valid() bool {
	switch d {
	case FromClient, ToClient, BulkFromClient, BulkToClient, ListBulk:
		return true
	}
	return false
}

// Upload reports whether the client sends the data.
func (d Direction) Upload() bool { return d == FromClient || d == BulkFromClient }

// Download reports whether the server sends the data.
func (d Direction) Download() bool { return d == ToClient || d == BulkToClient }

// Sized reports whether the file info carries a size (FromClient,
// BulkFromClient).
func (d Direction) Sized() bool { return d.Upload() }

// HandlerName is DIRAC's handler suffix, first letter lower case
// ("toClient"), used in its messages and its hard-coded auth_ rules.
func (d Direction) HandlerName() string {
	if d == "" {
		return ""
	}
	return strings.ToLower(string(d[:1])) + string(d[1:])
}

// AuthPath is the authorisation path of the direction,
// "FileTransfer/<Direction>".
func (d Direction) AuthPath() string { return "FileTransfer/" + string(d) }

// ActionType is the proposal's action type for transfers.
const ActionType = "FileTransfer"

// Action returns the proposal's action, ["FileTransfer", d].
func (d Direction) Action() []any { return []any{ActionType, string(d)} }

// ChunkSize is FileHelper's packet size: the most data one frame carries.
const ChunkSize = 1 << 20

// ChunkFrameLimit bounds a data frame: a 1 MiB chunk base64-encoded in JSON
// with its envelope, with room to spare. Larger frames are refused.
const ChunkFrameLimit = ChunkSize*4/3 + 64<<10

// ControlFrameLimit bounds the frames that carry no data: file info,
// "Accepted", acknowledgements, the end-of-data frame.
const ControlFrameLimit = 64 << 10

// ResultFrameLimit bounds the final result, as DIRAC's client reads a
// ListBulk answer (1 MiB) and a little more.
const ResultFrameLimit = 16 << 20

// NoCheckSumToken in a token disables the MD5 check, as in DIRAC's
// TransferClient and StorageElement.
const NoCheckSumToken = "NoCheckSum"

// NoCheckSum reports whether token asks for no MD5 check.
func NoCheckSum(token string) bool { return strings.Contains(token, NoCheckSumToken) }

// Bulk suffixes DIRAC's TransferClient appends to bulk ids.
const (
	SuffixTarBz2 = ".tar.bz2"
	SuffixTar    = ".tar"
)

// BulkID returns the id TransferClient sends for a bulk: id plus ".tar.bz2"
// (compressed, DIRAC's default) or ".tar".
func BulkID(id string, compress bool) string {
	if compress {
		return id + SuffixTarBz2
	}
	return id + SuffixTar
}

// Compressed reports whether a bulk id names a bzip2-compressed tar stream.
func Compressed(bulkID string) bool { return strings.HasSuffix(bulkID, SuffixTarBz2) }

// Accepted is the value of the server's answer to an acceptable file info.
const Accepted = "Accepted"

// AbortFlag is the top-level key that marks an abort frame.
const AbortFlag = "AbortTransfer"

// DefaultAbortGrace bounds the frames exchanged after a cancellation (the
// abort and its answer, the final result), when the context no longer can.
const DefaultAbortGrace = 5 * time.Second

// Errors of a transfer, matched with errors.Is. An S_ERROR sent by the peer
// is a *diracrpc.Error; a malformed frame matches diracrpc.ErrProtocol.
var (
	// ErrAborted: the peer stopped the transfer with the abort flag.
	ErrAborted = errors.New("filetransfer: transfer aborted by the peer")
	// ErrChecksum: the data's MD5 is not the one the sender announced
	// (DIRAC: "Error in the file CRC").
	// It is diracrpc.ErrChecksum, so that callers of the client match it.
	ErrChecksum = diracrpc.ErrChecksum
	// ErrTooLarge: more data than the receiver's maximum size.
	ErrTooLarge = errors.New("filetransfer: Exceeded maximum file size")
	// ErrSizeMismatch: the data does not have the size the sender declared.
	ErrSizeMismatch = errors.New("filetransfer: size differs from the declared size")
	// ErrIdle: the peer sent nothing within the idle timeout.
	ErrIdle = errors.New("filetransfer: peer idle for too long")
	// ErrIncomplete: a handler returned without consuming or producing the
	// whole stream (DIRAC: "Incomplete transfer").
	ErrIncomplete = errors.New("filetransfer: Incomplete transfer")
	// ErrFinished: the data phase is over; nothing more can be sent.
	ErrFinished = errors.New("filetransfer: data phase already finished")
)

// Options tune one end of a transfer. The zero value is DIRAC's behaviour
// with an idle timeout of DefaultIdleTimeout.
type Options struct {
	// NoCheckSum skips the MD5: a receiver does not compare it, a sender
	// announces the MD5 of nothing, as DIRAC's FileHelper does with
	// disableCheckSum. Set it when the token contains NoCheckSumToken.
	NoCheckSum bool
	// MaxSize bounds the bytes a Receiver accepts; beyond it the receiver
	// answers S_ERROR("Exceeded maximum file size") and fails with
	// ErrTooLarge. 0: no limit.
	MaxSize int64
	// DeclaredSize, when >= 0, is the size the sender announced; a Receiver
	// fails with ErrSizeMismatch as soon as the data exceeds it, or at the
	// end if the data is shorter. Negative (DIRAC's -1): unknown.
	DeclaredSize int64
	// IdleTimeout bounds the wait for each frame and each write; 0:
	// DefaultIdleTimeout, negative: none (the context still applies).
	IdleTimeout time.Duration
	// AbortGrace bounds the frames of an abort after a cancellation; 0:
	// DefaultAbortGrace.
	AbortGrace time.Duration
	// Progress, when set, is called after each chunk with the total bytes
	// moved so far.
	Progress func(total int64)
	// AnswerFirst makes a Receiver answer a data chunk as soon as its frame
	// is read, before decoding and hashing it, so that the sender prepares
	// the next chunk meanwhile (the client's downloads). A chunk found
	// invalid after its answer fails the transfer at once. Only without
	// MaxSize and DeclaredSize, whose refusals must replace the answer.
	AnswerFirst bool
	// Accepted, when set, is called by Start once the server accepted the
	// file info (from then on an upload may reach the service).
	Accepted func()
}

// DefaultIdleTimeout is the idle timeout when Options.IdleTimeout is 0.
const DefaultIdleTimeout = 60 * time.Second

func (o *Options) idle() time.Duration {
	switch {
	case o.IdleTimeout == 0:
		return DefaultIdleTimeout
	case o.IdleTimeout < 0:
		return 0
	}
	return o.IdleTimeout
}

func (o *Options) grace() time.Duration {
	if o.AbortGrace > 0 {
		return o.AbortGrace
	}
	return DefaultAbortGrace
}

func protocolError(format string, args ...any) error {
	return fmt.Errorf("%w: filetransfer: %s", diracrpc.ErrProtocol, fmt.Sprintf(format, args...))
}
