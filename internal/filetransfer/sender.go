package filetransfer

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"hash"
	"io"

	"github.com/diracgo/diracrpc"
)

// Sender is the sending half of the data phase (FileHelper's sendData,
// sendEOF, sendError and the sender side of markAsTransferred). It is an
// io.Writer that cuts the data into chunks of ChunkSize, each acknowledged
// by the receiver before the next goes out; Close ends the data with the
// MD5. It holds one chunk. It is not safe for concurrent use.
type Sender struct {
	l        *link
	sum      hash.Hash // nil with NoCheckSum
	buf      []byte
	sent     int64
	progress func(int64)
	done     bool  // the data phase is over for both ends
	err      error // sticky: why it ended early, or why this end failed
}

// NewSender returns the sending half over f; ctx bounds every frame it
// sends and receives (a cancellation interrupts a blocked frame).
func NewSender(ctx context.Context, f Frames, o Options) *Sender {
	s := &Sender{l: newLink(ctx, f, &o), progress: o.Progress}
	if !o.NoCheckSum {
		s.sum = md5.New()
	}
	return s
}

// Sent returns the bytes acknowledged by the receiver.
func (s *Sender) Sent() int64 { return s.sent }

// Done reports whether the data phase is over for both ends: the end was
// sent, or one end aborted or failed it. After a local failure (context,
// idle timeout, network) it is false, and Abort or Fail may still tell the
// receiver.
func (s *Sender) Done() bool { return s.done }

// Err returns why the data phase ended early (nil after a normal end).
func (s *Sender) Err() error { return s.err }

// Write buffers p and sends every full chunk.
func (s *Sender) Write(p []byte) (int, error) {
	if s.done || s.err != nil {
		return 0, s.finishedErr()
	}
	n := 0
	for len(p) > 0 {
		if s.buf == nil {
			s.buf = make([]byte, 0, ChunkSize)
		}
		k := copy(s.buf[len(s.buf):ChunkSize], p)
		s.buf = s.buf[:len(s.buf)+k]
		p = p[k:]
		n += k
		if len(s.buf) == ChunkSize {
			if err := s.flush(); err != nil {
				return n, err
			}
		}
	}
	return n, nil
}

// ReadFrom sends everything r yields, reading straight into the chunk.
// Over a connection that takes pre-encoded frames (*diset.Conn) the next
// chunk is read, hashed and encoded while the receiver answers the
// previous one.
func (s *Sender) ReadFrom(r io.Reader) (int64, error) {
	if rf, ok := s.l.f.(rawFrames); ok && len(s.buf) == 0 {
		return s.readFromPipelined(rf, r)
	}
	var total int64
	for {
		if s.done || s.err != nil {
			return total, s.finishedErr()
		}
		if s.buf == nil {
			s.buf = make([]byte, 0, ChunkSize)
		}
		m, err := r.Read(s.buf[len(s.buf):ChunkSize])
		s.buf = s.buf[:len(s.buf)+m]
		total += int64(m)
		if len(s.buf) == ChunkSize {
			if ferr := s.flush(); ferr != nil {
				return total, ferr
			}
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

func (s *Sender) finishedErr() error {
	if s.err != nil {
		return s.err
	}
	return ErrFinished
}

// flush sends the buffered chunk, if any, and waits for its answer.
func (s *Sender) flush() error {
	if len(s.buf) == 0 {
		return nil
	}
	chunk := s.buf
	s.buf = s.buf[:0]
	if s.sum != nil {
		s.sum.Write(chunk)
	}
	if err := s.l.send(okFrame([]any{true, chunk})); err != nil {
		return s.fail(err)
	}
	ack, err := s.l.recv(ControlFrameLimit)
	if err != nil {
		return s.fail(err)
	}
	if isAbort(ack) {
		return s.end(ErrAborted)
	}
	if _, err := diracrpc.ParseResult(ack); err != nil {
		// The receiver refused the chunk (too large...) and stopped.
		return s.end(err)
	}
	s.sent += int64(len(chunk))
	if s.progress != nil {
		s.progress(s.sent)
	}
	return nil
}

// end ends the data phase for both ends.
func (s *Sender) end(err error) error {
	s.done = true
	s.err = err
	s.l.release()
	return err
}

// Release stops watching the context and clears the connection's deadline;
// call it when done with the Sender (Close, Abort and Fail do).
func (s *Sender) Release() { s.l.release() }

// fail records a local failure: the receiver may not know yet.
func (s *Sender) fail(err error) error {
	s.err = err
	return err
}

// Close sends the rest of the data and the end of data with the MD5
// (FileHelper.sendEOF). Without checksum the MD5 announced is that of
// nothing, as DIRAC's. Closing a finished Sender returns why it finished
// early, or nil.
func (s *Sender) Close() error {
	if s.done || s.err != nil {
		return s.err
	}
	if err := s.flush(); err != nil {
		return err
	}
	digest := md5.New()
	if s.sum != nil {
		digest = s.sum
	}
	if err := s.l.send(okFrame([]any{false, hex.EncodeToString(digest.Sum(nil))})); err != nil {
		return s.fail(err)
	}
	return s.end(nil)
}

// Abort stops the data phase with the abort flag, S_OK([false, ""]) plus
// "AbortTransfer": true, and reads the receiver's answer (FileHelper's
// markAsTransferred, sender side). It works after ctx ended, within the
// abort grace. A DIRAC receiver takes an abort as the end of the data, so a
// client that gives up an upload should use Fail instead.
func (s *Sender) Abort() error {
	if s.done {
		return nil
	}
	s.l.aborting = true
	err := s.l.send(abortFrame([]any{false, ""}))
	if err == nil {
		_, err = s.l.recv(ControlFrameLimit)
	}
	s.end(ErrAborted)
	return err
}

// Fail sends S_ERROR(msg) in place of the next chunk (FileHelper.sendError):
// the receiver's transfer fails with that error. It works after ctx ended,
// within the abort grace.
func (s *Sender) Fail(msg string) error {
	if s.done {
		return nil
	}
	s.l.aborting = true
	err := s.l.send(errFrame(msg))
	s.end(errors.New(msg))
	return err
}

// prepared is a chunk read, hashed and encoded ahead.
type prepared struct {
	frame []byte
	n     int
	err   error // the read's: io.EOF at the end
}

func (s *Sender) prepare(rf rawFrames, r io.Reader, buf, frame []byte) prepared {
	n, err := io.ReadFull(r, buf)
	if err == io.ErrUnexpectedEOF {
		err = io.EOF
	}
	p := prepared{n: n, err: err}
	if n > 0 {
		if s.sum != nil {
			s.sum.Write(buf[:n])
		}
		var eerr error
		if p.frame, eerr = rf.AppendEncode(frame, okFrame([]any{true, buf[:n]})); eerr != nil && p.err == nil {
			p.n, p.err = 0, eerr
		}
	}
	return p
}

// readFromPipelined is ReadFrom with the next chunk prepared during the
// wait for the answer: two chunks and two encoded frames at most.
func (s *Sender) readFromPipelined(rf rawFrames, r io.Reader) (int64, error) {
	bufs := [2][]byte{make([]byte, ChunkSize), make([]byte, ChunkSize)}
	var frames [2][]byte // the encoded frames, reused once sent
	cur := s.prepare(rf, r, bufs[0], nil)
	frames[0] = cur.frame
	total := int64(cur.n)
	for i := 1; ; i ^= 1 {
		if s.done || s.err != nil {
			return total, s.finishedErr()
		}
		if cur.n == 0 {
			if cur.err == io.EOF {
				return total, nil
			}
			return total, cur.err
		}
		if err := s.l.sendEncoded(rf, cur.frame); err != nil {
			return total, s.fail(err)
		}
		var ahead chan prepared
		if cur.err == nil {
			ahead = make(chan prepared, 1)
			go func(i int) {
				p := s.prepare(rf, r, bufs[i], frames[i])
				frames[i] = p.frame
				ahead <- p
			}(i)
		}
		ack, err := s.l.recv(ControlFrameLimit)
		next := prepared{err: cur.err}
		if ahead != nil {
			next = <-ahead // never left running: it shares the hash
			total += int64(next.n)
		}
		if err != nil {
			return total, s.fail(err)
		}
		if isAbort(ack) {
			return total, s.end(ErrAborted)
		}
		if _, err := diracrpc.ParseResult(ack); err != nil {
			return total, s.end(err)
		}
		s.sent += int64(cur.n)
		if s.progress != nil {
			s.progress(s.sent)
		}
		cur = next
	}
}
