package filetransfer

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"strconv"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/value"
)

// Receiver is the receiving half of the data phase (FileHelper's
// receiveData, networkToDataSink and the receiver side of
// markAsTransferred). It is an io.Reader of the data: it answers each chunk
// as it arrives and returns io.EOF once the end of data came with the right
// MD5. It holds one chunk. It is not safe for concurrent use.
type Receiver struct {
	l        *link
	first    rawFrames // set with Options.AnswerFirst over a rawFrames connection
	sum      hash.Hash // nil with NoCheckSum
	max      int64
	declared int64
	received int64
	progress func(int64)
	pending  []byte
	buf      []byte // the fast path's chunk, reused
	done     bool   // the data phase is over for both ends
	err      error  // io.EOF after a good end; why it ended, or why this end failed
}

// NewReceiver returns the receiving half over f; ctx bounds every frame.
func NewReceiver(ctx context.Context, f Frames, o Options) *Receiver {
	r := &Receiver{l: newLink(ctx, f, &o), max: o.MaxSize, declared: o.DeclaredSize, progress: o.Progress}
	if rf, ok := f.(rawFrames); ok && o.AnswerFirst && o.MaxSize <= 0 && o.DeclaredSize < 0 {
		r.first = rf
	}
	if !o.NoCheckSum {
		r.sum = md5.New()
	}
	return r
}

// Received returns the data bytes received so far.
func (r *Receiver) Received() int64 { return r.received }

// Done reports whether the data phase is over for both ends: the end
// arrived, or one end aborted or failed it. After a local failure (context,
// idle timeout, network) it is false, and Abort may still tell the sender.
func (r *Receiver) Done() bool { return r.done }

// Err returns why the data phase ended: nil while it runs or after a good
// end, else the error Read returns.
func (r *Receiver) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

// Read reads data; io.EOF after a complete, verified transfer. Other ends:
// ErrAborted (the sender's abort flag), a *diracrpc.Error (the sender's
// S_ERROR), ErrChecksum, ErrTooLarge, ErrSizeMismatch, ErrIdle, the
// context's error, a protocol or network error.
func (r *Receiver) Read(p []byte) (int, error) {
	for len(r.pending) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		r.next()
	}
	n := copy(p, r.pending)
	r.pending = r.pending[n:]
	return n, nil
}

// WriteTo writes the data to w, without the copy through Read's buffer.
func (r *Receiver) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		for len(r.pending) == 0 {
			if r.err != nil {
				if r.err == io.EOF {
					return total, nil
				}
				return total, r.err
			}
			r.next()
		}
		n, err := w.Write(r.pending)
		total += int64(n)
		r.pending = r.pending[n:]
		if err != nil {
			return total, err
		}
	}
}

// end ends the data phase for both ends.
func (r *Receiver) end(err error) {
	r.done = true
	r.err = err
	r.pending = nil
	r.l.release()
}

// Release stops watching the context and clears the connection's deadline;
// call it when done with the Receiver (the end of data and Abort do).
func (r *Receiver) Release() { r.l.release() }

// fail records a local failure: the sender may not know yet.
func (r *Receiver) fail(err error) {
	r.err = err
	r.pending = nil
}

// refuse answers a chunk with S_ERROR(msg) instead of S_OK(), which stops a
// DIRAC sender, and ends with err.
func (r *Receiver) refuse(msg string, err error) {
	_ = r.l.send(errFrame(msg))
	r.end(err)
}

// next reads one frame of the data phase.
func (r *Receiver) next() {
	v, data, answered, err := r.read()
	if err != nil {
		r.fail(err)
		return
	}
	if data != nil {
		r.accept(data, answered)
		return
	}
	if answered {
		// Answered as a chunk, decoded as something else: the transfer
		// cannot go on (the caller's abort answers the next frame).
		r.fail(protocolError("invalid data chunk"))
		return
	}
	if isAbort(v) {
		// Answer it, as FileHelper.receiveData does, so the sender can go on
		// to its final result.
		r.l.aborting = true
		_ = r.l.send(okFrame(nil))
		r.end(ErrAborted)
		return
	}
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		r.end(err) // the sender failed: its S_ERROR, or a bad frame
		return
	}
	items, ok := value.Items(val)
	if !ok || len(items) != 2 {
		r.refuse("Invalid transfer frame", protocolError("data frame is not [more, data]"))
		return
	}
	more, ok := items[0].(bool)
	if !ok {
		r.refuse("Invalid transfer frame", protocolError("data frame flag is a %T", items[0]))
		return
	}
	if !more {
		r.finish(items[1])
		return
	}
	data, ok = dataOf(items[1])
	if !ok {
		r.refuse("Invalid transfer frame", protocolError("chunk is a %T", items[1]))
		return
	}
	r.accept(data, false)
}

// read reads one frame: a data chunk's bytes (data, taken by the fast
// path), or the decoded frame (v). With AnswerFirst a chunk's frame is
// answered before anything else (answered).
func (r *Receiver) read() (v any, data []byte, answered bool, err error) {
	rf, ok := r.l.f.(rawFrames)
	if !ok {
		v, err = r.l.recv(ChunkFrameLimit)
		return v, nil, false, err
	}
	p, err := r.l.recvPayload(rf, ChunkFrameLimit)
	if err != nil {
		return nil, nil, false, err
	}
	if r.first != nil && isChunkFrame(p) {
		if err := r.l.send(okFrame(nil)); err != nil {
			return nil, nil, false, err
		}
		answered = true
	}
	if data, ok := r.fastChunk(p); ok {
		return nil, data, answered, nil
	}
	v, _, err = diset.Decode(p)
	return v, nil, answered, err
}

// accept takes a chunk's data: the limits (unless answered already), the
// MD5, the answer.
func (r *Receiver) accept(data []byte, answered bool) {
	if len(data) == 0 {
		// DIRAC's senders never send one; endless empty chunks would hold
		// the transfer open without ever reaching MaxSize.
		if answered {
			r.fail(protocolError("empty chunk"))
			return
		}
		r.refuse("Invalid transfer frame", protocolError("empty chunk"))
		return
	}
	r.received += int64(len(data))
	if !answered && r.max > 0 && r.received > r.max {
		r.refuse("Exceeded maximum file size", fmt.Errorf("%w: more than %d bytes", ErrTooLarge, r.max))
		return
	}
	if !answered && r.declared >= 0 && r.received > r.declared {
		r.refuse("Received more data than the declared size",
			fmt.Errorf("%w: more than the %d bytes declared", ErrSizeMismatch, r.declared))
		return
	}
	if r.sum != nil {
		r.sum.Write(data)
	}
	if !answered {
		if err := r.l.send(okFrame(nil)); err != nil {
			r.fail(err)
			return
		}
	}
	r.pending = data
	if r.progress != nil {
		r.progress(r.received)
	}
}

// finish checks the end-of-data frame's MD5 and the size.
func (r *Receiver) finish(digest any) {
	got, _ := dataOf(digest)
	switch {
	case r.sum != nil && hex.EncodeToString(r.sum.Sum(nil)) != string(got):
		r.end(fmt.Errorf("%w: sender's MD5 %q, data's %s", ErrChecksum, got, hex.EncodeToString(r.sum.Sum(nil))))
	case r.declared >= 0 && r.received != r.declared:
		r.end(fmt.Errorf("%w: %d bytes declared, %d received", ErrSizeMismatch, r.declared, r.received))
	default:
		r.end(io.EOF)
	}
}

// Abort stops the data phase (FileHelper.markAsTransferred, receiver side):
// it reads the frame in flight and, if it is a chunk, answers it with the
// abort flag, so the sender stops and goes on to its final result. Nothing
// is sent when that frame already ended the data. It works after ctx ended,
// within the abort grace. A receiver that is done does nothing.
func (r *Receiver) Abort() error {
	if r.done {
		return nil
	}
	r.l.aborting = true
	var err error
	if !r.l.rbroken {
		var v any
		v, err = r.l.recv(ChunkFrameLimit)
		if err == nil {
			if val, perr := diracrpc.ParseResult(v); perr != nil || isAbort(v) || isEnd(val) {
				if isAbort(v) {
					err = r.l.send(okFrame(nil))
				}
				r.end(ErrAborted)
				return err
			}
		}
	}
	// A chunk is waiting for its answer (or the frame could not be read):
	// the answer is the abort.
	if serr := r.l.send(abortFrame(nil)); err == nil {
		err = serr
	}
	r.end(ErrAborted)
	return err
}

// isEnd reports whether a data frame's value is the end of data.
func isEnd(val any) bool {
	items, ok := value.Items(val)
	if !ok || len(items) != 2 {
		return false
	}
	more, ok := items[0].(bool)
	return ok && !more
}

// chunkPrefixes are the beginnings of a data chunk's frame, S_OK([true,
// <data>]), as DIRAC's JSON (spaces after separators), compact JSON and
// DEncode write them.
var chunkPrefixes = [][]byte{
	[]byte(`{"OK": true, "Value": [true, `),
	[]byte(`{"OK":true,"Value":[true,`),
	[]byte("ds2:OKb1s5:Valuelb1"),
}

func isChunkFrame(p []byte) bool {
	for _, pre := range chunkPrefixes {
		if bytes.HasPrefix(p, pre) {
			return true
		}
	}
	return false
}

// The frames of a data chunk, S_OK([true, <data>]), as DIRAC writes them:
// JSON with the data as a b64 object, DEncode with it as a string.
var (
	jsonChunkHead = []byte(`{"OK": true, "Value": [true, {"__dCls": "b64", "obj": "`)
	jsonChunkTail = []byte(`"}]}`)
	dencChunkHead = []byte("ds2:OKb1s5:Valuelb1s")
)

// fastChunk takes the data out of a chunk's frame without the general
// decoder, into the Receiver's one buffer: no intermediate string, no
// allocation per chunk. Anything else (or anything odd) is left to the
// decoder (false).
func (r *Receiver) fastChunk(p []byte) ([]byte, bool) {
	switch {
	case len(p) >= len(jsonChunkHead)+len(jsonChunkTail) && bytes.HasPrefix(p, jsonChunkHead) && bytes.HasSuffix(p, jsonChunkTail):
		b64 := p[len(jsonChunkHead) : len(p)-len(jsonChunkTail)]
		// Escapes, quotes and the line breaks base64.Decode skips are the
		// general decoder's business.
		if bytes.ContainsAny(b64, "\\\"\r\n") {
			return nil, false
		}
		n, err := base64.StdEncoding.Decode(r.chunk(base64.StdEncoding.DecodedLen(len(b64))), b64)
		if err != nil {
			return nil, false
		}
		return r.buf[:n], true
	case bytes.HasPrefix(p, dencChunkHead):
		rest := p[len(dencChunkHead):]
		colon := bytes.IndexByte(rest, ':')
		if colon <= 0 || colon > 10 {
			return nil, false
		}
		n, err := strconv.Atoi(string(rest[:colon]))
		if err != nil || n < 0 || colon+1+n+2 != len(rest) || string(rest[colon+1+n:]) != "ee" {
			return nil, false
		}
		return append(r.chunk(n)[:0], rest[colon+1:colon+1+n]...), true
	}
	return nil, false
}

// chunk returns the Receiver's buffer with room for n bytes.
func (r *Receiver) chunk(n int) []byte {
	if cap(r.buf) < n {
		r.buf = make([]byte, n)
	}
	return r.buf[:n]
}
