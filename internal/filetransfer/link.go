package filetransfer

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Frames is the DISET frame connection a transfer runs on; *diset.Conn is
// one. Send writes one frame, Recv reads the next non-keep-alive frame of at
// most limit bytes and decodes it, Net gives the connection for deadlines.
type Frames interface {
	Send(v any) error
	Recv(limit int) (v any, raw []byte, err error)
	Net() net.Conn
}

// link runs frames under a context and an idle timeout. The context's end
// interrupts a blocked read or write by moving the connection's deadline to
// the past; every frame re-arms the deadline and then checks the context, so
// a cancellation racing with the re-arming is never lost.
type link struct {
	ctx   context.Context
	f     Frames
	idle  time.Duration
	grace time.Duration
	stop  func() bool
	// wbroken: a write failed, possibly in the middle of a frame, so no
	// further frame can be sent; rbroken: the same for reads.
	wbroken, rbroken bool
	// aborting: frames of an abort, allowed (with the grace) after the
	// context ended.
	aborting bool
}

func newLink(ctx context.Context, f Frames, o *Options) *link {
	l := &link{ctx: ctx, f: f, idle: o.idle(), grace: o.grace()}
	l.stop = context.AfterFunc(ctx, func() { _ = f.Net().SetDeadline(time.Unix(1, 0)) })
	return l
}

// arm sets the deadline of the next frame: the idle timeout, or the abort
// grace once the context is done (graceful is then true).
func (l *link) arm() (graceful bool) {
	if l.ctx.Err() != nil {
		_ = l.f.Net().SetDeadline(time.Now().Add(l.grace))
		return true
	}
	var d time.Time
	if l.idle > 0 {
		d = time.Now().Add(l.idle)
	}
	_ = l.f.Net().SetDeadline(d)
	if l.ctx.Err() != nil {
		// The context ended while arming: the AfterFunc may have run
		// before SetDeadline above. Cut the frame now.
		_ = l.f.Net().SetDeadline(time.Unix(1, 0))
	}
	return false
}

var errBroken = errors.New("filetransfer: connection unusable after an interrupted frame")

// send writes one frame. Once the context is done only abort frames go out.
func (l *link) send(v any) error {
	if l.wbroken {
		return errBroken
	}
	if l.arm() && !l.aborting {
		return l.ctxErr()
	}
	if err := l.f.Send(v); err != nil {
		l.wbroken = true
		return l.classify(err)
	}
	return nil
}

// recv reads one frame of at most limit bytes.
func (l *link) recv(limit int) (any, error) {
	if l.rbroken {
		return nil, errBroken
	}
	if l.arm() && !l.aborting {
		return nil, l.ctxErr()
	}
	v, _, err := l.f.Recv(limit)
	if err != nil {
		l.rbroken = true
		if err == io.EOF {
			// A peer that closes between frames has not finished: io.EOF
			// must never reach a Receiver's caller as the end of the data.
			err = fmt.Errorf("filetransfer: connection closed by peer: %w", io.ErrUnexpectedEOF)
		}
		return nil, l.classify(err)
	}
	return v, nil
}

func (l *link) ctxErr() error { return fmt.Errorf("filetransfer: %w", context.Cause(l.ctx)) }

// classify turns a deadline error into the context's error or ErrIdle.
func (l *link) classify(err error) error {
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if l.ctx.Err() != nil {
			return l.ctxErr()
		}
		return fmt.Errorf("%w (%v): %w", ErrIdle, l.idle, err)
	}
	return err
}

// release stops watching the context and clears the deadline.
func (l *link) release() {
	l.stop()
	_ = l.f.Net().SetDeadline(time.Time{})
}

// rawFrames is implemented by *diset.Conn: frames read undecoded and
// written pre-encoded, so that one end's decoding or encoding of a chunk
// overlaps with the other end's work (see Options.AnswerFirst and
// Sender.ReadFrom).
type rawFrames interface {
	RecvPayload(limit int) ([]byte, error)
	AppendEncode(dst []byte, v any) ([]byte, error)
	SendEncoded(buf []byte, keepAlive bool) error
}

// recvPayload reads one frame undecoded, as recv does.
func (l *link) recvPayload(rf rawFrames, limit int) ([]byte, error) {
	if l.rbroken {
		return nil, errBroken
	}
	if l.arm() && !l.aborting {
		return nil, l.ctxErr()
	}
	p, err := rf.RecvPayload(limit)
	if err != nil {
		l.rbroken = true
		if err == io.EOF {
			err = fmt.Errorf("filetransfer: connection closed by peer: %w", io.ErrUnexpectedEOF)
		}
		return nil, l.classify(err)
	}
	return p, nil
}

// sendEncoded writes one frame encoded by rawFrames.Encode, as send does.
func (l *link) sendEncoded(rf rawFrames, buf []byte) error {
	if l.wbroken {
		return errBroken
	}
	if l.arm() && !l.aborting {
		return l.ctxErr()
	}
	if err := rf.SendEncoded(buf, false); err != nil {
		l.wbroken = true
		return l.classify(err)
	}
	return nil
}
