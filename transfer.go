package diracrpc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
)

// Direction names a file transfer as DIRAC's FileTransfer actions do.
type Direction string

// The directions of DIRAC's TransferClient.
const (
	FromClient     Direction = "FromClient"     // upload one file
	ToClient       Direction = "ToClient"       // download one file
	BulkFromClient Direction = "BulkFromClient" // upload a tar stream
	BulkToClient   Direction = "BulkToClient"   // download a tar stream
	ListBulk       Direction = "ListBulk"       // list a bulk; no data
)

// Upload reports whether the client sends the data.
func (d Direction) Upload() bool { return d == FromClient || d == BulkFromClient }

// Download reports whether the server sends the data.
func (d Direction) Download() bool { return d == ToClient || d == BulkToClient }

// Method is the name the loop gives a transfer (its authorisation path in
// DIRAC, "FileTransfer/<Direction>"): Options.Idempotent may list it.
func (d Direction) Method() string { return "FileTransfer/" + string(d) }

// FileTransport is implemented by transports that move files (both of this
// module's). Client checks for it: a transport without it answers every
// transfer with CodeNotImplemented.
type FileTransport interface {
	// Transfer makes one attempt of a.Transfer on a.URL, under the same
	// rules as Transport.Attempt. Errors after data flowed need not set
	// TransportError.Reached: the client does.
	Transfer(ctx context.Context, a *Attempt) (*Result, error)
}

// NoCheckSumToken in a token disables the MD5 check of DISET transfers, as
// in DIRAC's TransferClient and StorageElement.
const NoCheckSumToken = "NoCheckSum"

// Transfer is one file transfer as the transports see it. The client
// counts the data through Reader and Writer (progress, retry rule).
type Transfer struct {
	Direction Direction
	// FileID is any DIRAC value: a name, a StorageElement path,
	// BundleDelivery's ["CAs", version], a SandboxStore's [name, {assignTo}].
	FileID any
	// Token is DIRAC's token ("" when none).
	Token string
	// Size is the size of an upload, -1 when unknown.
	Size int64
	// Reader is the data of an upload, Writer the destination of a
	// download.
	Reader io.Reader
	Writer io.Writer
	// NoCheckSum: the token contains NoCheckSumToken.
	NoCheckSum bool

	progress   func(done, total int64)
	total      int64
	moved      int64
	accepted   bool
	start      int64 // offset of a seekable Reader or Writer
	seekable   bool
	truncateTo func(int64) error
}

// Accept records that the server accepted the transfer: from now on an
// upload may have reached the service.
func (x *Transfer) Accept() { x.accepted = true }

// SetTotal tells the progress callback the size of a download once the
// transport knows it (an HTTPS Content-Length).
func (x *Transfer) SetTotal(n int64) { x.total = n }

// Moved returns the data bytes read from Reader or written to Writer.
func (x *Transfer) Moved() int64 { return x.moved }

// flowed: data may have reached the service, or the caller's writer.
func (x *Transfer) flowed() bool {
	return x.moved > 0 || (x.accepted && x.Direction.Upload())
}

// rewind prepares another attempt after a failure: possible when nothing
// flowed, or when the Reader (Writer) can be put back where it started.
func (x *Transfer) rewind() bool {
	if x == nil || x.moved == 0 {
		return true
	}
	if !x.seekable {
		return false
	}
	var s io.Seeker
	if x.Reader != nil {
		s, _ = x.Reader.(*countReader).r.(io.Seeker)
	} else {
		s, _ = x.Writer.(*countWriter).w.(io.Seeker)
	}
	if _, err := s.Seek(x.start, io.SeekStart); err != nil {
		return false
	}
	if x.truncateTo != nil && x.truncateTo(x.start) != nil {
		return false
	}
	x.moved, x.accepted = 0, false
	return true
}

type countReader struct {
	r io.Reader
	x *Transfer
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if n > 0 {
		c.x.moved += int64(n)
		if c.x.progress != nil {
			c.x.progress(c.x.moved, c.x.total)
		}
	}
	return n, err
}

type countWriter struct {
	w io.Writer
	x *Transfer
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	if n > 0 {
		c.x.moved += int64(n)
		if c.x.progress != nil {
			c.x.progress(c.x.moved, c.x.total)
		}
	}
	return n, err
}

// ErrNotModified: the server ended a download before any data and answered
// S_OK: DIRAC's BundleDelivery saying the caller's version is current.
// Receive returns it with the Result holding the server's answer (the
// current version); nothing was written. It is no failure: the loop counts
// it as an answer and CodeOf gives CodeUnknown.
var ErrNotModified = errors.New("diracrpc: not modified: the server has nothing newer")

// ErrChecksum: the data's MD5 is not the one the sender announced (DIRAC's
// "Error in the file CRC"). It comes with CodeProtocol.
var ErrChecksum = errors.New("diracrpc: Error in the file CRC")

// ErrTooLarge: the data is larger than the protocol or the server takes
// (an HTTPS upload over the 100 MiB body limit is refused before sending).
var ErrTooLarge = errors.New("diracrpc: file too large")

// TransferOption tunes one transfer.
type TransferOption func(*transferOptions)

type transferOptions struct {
	token    string
	size     int64
	progress func(done, total int64)
}

// WithToken sets DIRAC's token (StorageElement's, or NoCheckSumToken).
func WithToken(token string) TransferOption { return func(o *transferOptions) { o.token = token } }

// WithSize declares an upload's size when the Reader cannot tell it (it is
// taken from Len, Stat or Seek otherwise). HTTPS uploads need it.
func WithSize(n int64) TransferOption { return func(o *transferOptions) { o.size = n } }

// WithProgress calls f as data moves, with the bytes so far (read from the
// Reader, written to the Writer) and the total (-1 when unknown); a
// transfer of no data calls it once, when done, with 0. Calls never
// overlap, but may come from a goroutine reading ahead: keep f short and
// safe to call from another goroutine.
func WithProgress(f func(done, total int64)) TransferOption {
	return func(o *transferOptions) { o.progress = f }
}

// Receive downloads fileID into w (DIRAC's TransferClient.receiveFile,
// TornadoClient.receiveFile), streaming: memory stays a few chunks whatever
// the size. The Result's Value is the server's final S_OK value.
//
// An S_ERROR is a *Error and, when the server refuses before any data
// (unknown file, no permission), nothing was written to w; DIRAC's HTTPS
// client would have written the error's JSON into it, this one never does.
// A failure after data started (the server's error mid-stream, an MD5
// mismatch, a lost connection) has written part of the file: write to a
// temporary file and rename it on success. Cancelling ctx aborts the
// transfer with DIRAC's abort flag.
//
// The loop is the one of Call: URL choice, failover, breakers, codes. Once
// bytes were written to w the transfer is not made again, unless ctx is
// marked WithIdempotent (or Options.Idempotent names
// "FileTransfer/ToClient") and w can be rewound (an io.Seeker with
// Truncate, such as *os.File). An ErrNotModified error comes with a Result.
func (c *Client) Receive(ctx context.Context, fileID any, w io.Writer, opts ...TransferOption) (*Result, error) {
	return c.transfer(ctx, ToClient, fileID, nil, w, opts)
}

// Send uploads the content of r as fileID (TransferClient.sendFile,
// TornadoClient.sendFile), streaming over both protocols; the Result's
// Value is the service's S_OK value (a SandboxStore's "SB:..." URL). The
// size is that of WithSize, else what r tells (Len, Stat, Seek); over
// DISET an unknown size is sent as DIRAC's -1, over HTTPS it is needed, and
// an upload over the 100 MiB request limit is refused before sending
// (ErrTooLarge). Cancelling ctx stops the upload with an error the server
// sees as a failure (not DIRAC's abort flag, which makes a DIRAC receiver
// keep the truncated file). Once data was read from r the upload is not
// made again unless marked idempotent and r is an io.Seeker.
func (c *Client) Send(ctx context.Context, fileID any, r io.Reader, opts ...TransferOption) (*Result, error) {
	return c.transfer(ctx, FromClient, fileID, r, nil, opts)
}

// BulkFormat is the form of a bulk's tar stream, as TransferClient's
// compress flag chooses it.
type BulkFormat int

// The formats; the id sent is the bulk id with the format's suffix.
const (
	TarBz2 BulkFormat = iota // ".tar.bz2", DIRAC's default
	Tar                      // ".tar"
)

// BulkID is the id TransferClient sends for bulkID in format f.
func BulkID(bulkID string, f BulkFormat) string {
	if f == Tar {
		return bulkID + ".tar"
	}
	return bulkID + ".tar.bz2"
}

// SendBulk uploads a tar stream (DIRAC's sendBulk; DISET only) as bulkID
// with the format's suffix. r is the stream as it goes on the wire, made
// by the caller in format f (archive/tar, and a bzip2 writer for TarBz2).
func (c *Client) SendBulk(ctx context.Context, bulkID string, f BulkFormat, r io.Reader, opts ...TransferOption) (*Result, error) {
	return c.transfer(ctx, BulkFromClient, BulkID(bulkID, f), r, nil, opts)
}

// ReceiveBulk downloads the tar stream of bulkID (DIRAC's receiveBulk;
// DISET only) in format f into w as it arrives (compress/bzip2 and
// archive/tar read it). The rules of Receive apply.
func (c *Client) ReceiveBulk(ctx context.Context, bulkID string, f BulkFormat, w io.Writer, opts ...TransferOption) (*Result, error) {
	return c.transfer(ctx, BulkToClient, BulkID(bulkID, f), nil, w, opts)
}

// ListBulk asks for the listing of bulkID in format f (DIRAC's listBulk;
// DISET only): the Result's Value is the service's answer.
func (c *Client) ListBulk(ctx context.Context, bulkID string, f BulkFormat, opts ...TransferOption) (*Result, error) {
	return c.transfer(ctx, ListBulk, BulkID(bulkID, f), nil, nil, opts)
}

func (c *Client) transfer(ctx context.Context, d Direction, fileID any, r io.Reader, w io.Writer, opts []TransferOption) (*Result, error) {
	o := transferOptions{size: -1}
	for _, f := range opts {
		f(&o)
	}
	x := &Transfer{Direction: d, FileID: fileID, Token: o.token, Size: -1,
		NoCheckSum: strings.Contains(o.token, NoCheckSumToken), progress: o.progress, total: -1}
	switch {
	case d.Upload():
		if r == nil {
			return nil, fmt.Errorf("diracrpc: %s needs a reader", d)
		}
		x.Size = o.size
		if x.Size < 0 {
			x.Size = sizeOf(r)
		}
		x.total = x.Size
		if s, ok := r.(io.Seeker); ok {
			if off, err := s.Seek(0, io.SeekCurrent); err == nil {
				x.start, x.seekable = off, true
			}
		}
		x.Reader = &countReader{r: r, x: x}
	case d.Download():
		if w == nil {
			return nil, fmt.Errorf("diracrpc: %s needs a writer", d)
		}
		if s, ok := w.(interface {
			io.Seeker
			Truncate(int64) error
		}); ok {
			if off, err := s.Seek(0, io.SeekCurrent); err == nil {
				x.start, x.seekable, x.truncateTo = off, true, s.Truncate
			}
		}
		x.Writer = &countWriter{w: w, x: x}
	}
	method := d.Method()
	idem := isIdempotent(ctx) || slices.Contains(c.opts.Idempotent, method)
	res, lerr := c.run(ctx, &Attempt{Method: method, Transfer: x}, idem)
	if res != nil {
		c.tel.transferred(ctx, res.Protocol, res.URL, string(d), x.Moved())
	} else {
		c.tel.transferred(ctx, c.routes[0].protocol, "", string(d), x.Moved())
	}
	if lerr != nil {
		return nil, &CallError{Err: lerr.err, Reached: lerr.reached || x.flowed()}
	}
	if res.notModified {
		return res, ErrNotModified
	}
	if x.progress != nil && x.moved == 0 && (d.Upload() || d.Download()) {
		// No data moved, so no call came: one at the end shows completion.
		x.progress(0, x.total)
	}
	return res, nil
}

// sizeOf is what r tells of the bytes left in it, -1 when it cannot.
func sizeOf(r io.Reader) int64 {
	switch v := r.(type) {
	case interface{ Len() int }:
		return int64(v.Len())
	case interface {
		Stat() (fs.FileInfo, error)
		io.Seeker
	}:
		fi, err := v.Stat()
		if err != nil || !fi.Mode().IsRegular() {
			return -1
		}
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		return fi.Size() - off
	case io.Seeker:
		off, err := v.Seek(0, io.SeekCurrent)
		if err != nil {
			return -1
		}
		end, err := v.Seek(0, io.SeekEnd)
		if _, serr := v.Seek(off, io.SeekStart); err != nil || serr != nil {
			return -1
		}
		return end - off
	}
	return -1
}

// attempt runs a on the route's transport: a call, or a transfer through
// its FileTransport.
func (r *route) attempt(ctx context.Context, a *Attempt) (*Result, error) {
	x := a.Transfer
	if x == nil {
		return r.transport.Attempt(ctx, a)
	}
	ft, ok := r.transport.(FileTransport)
	if !ok {
		return nil, &TransportError{Protocol: r.protocol, URL: a.URL, Code: CodeNotImplemented,
			Err: fmt.Errorf("%w: the %s transport does not transfer files", ErrNotImplemented, r.protocol)}
	}
	res, err := ft.Transfer(ctx, a)
	if err == nil {
		return res, nil
	}
	if res != nil && errors.Is(err, ErrNotModified) {
		res.notModified = true
		return res, nil
	}
	var te *TransportError
	if x.flowed() && errors.As(err, &te) && !te.Reached {
		cp := *te
		cp.Reached = true
		return nil, &cp
	}
	return nil, err
}
