// Package diset is the DISET connection layer shared by the client and the
// server: frames (package frame) carrying MixedEncode payloads, decoded
// DEncode-first then JSON, with keep-alive frames answered transparently
// (PROTOCOL.md §4.4, §4.5).
package diset

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync/atomic"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/bufpool"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/value"
)

// Encoding selects what a peer writes; every peer reads both.
type Encoding = mixed.Encoding

// The encodings.
const (
	JSON    = mixed.JSON    // what DIRAC ≥ 8.1 sends
	DEncode = mixed.DEncode // DIRAC_USE_JSON_ENCODE=no
)

// Marshal encodes v in enc and returns the bytes, with frame.HeaderRoom free
// bytes in front so that frame.Seal can make it a frame without copying.
func Marshal(v any, enc Encoding) ([]byte, error) {
	return mixed.AppendMarshal(make([]byte, frame.HeaderRoom, 256), v, enc)
}

// Decode is MixedEncode.decode (mixed.Decode): DEncode first, JSON when that
// fails. Its errors match diracrpc.ErrProtocol.
func Decode(data []byte) (any, Encoding, error) { return decode(data, false) }

// decode is Decode, sharing data's memory with the strings it returns when
// share is set (mixed.Decoder.ShareInput).
func decode(data []byte, share bool) (any, Encoding, error) {
	v, enc, err := mixed.Decoder{ShareInput: share}.Decode(data)
	if err != nil {
		return nil, enc, fmt.Errorf("%w: %w", diracrpc.ErrProtocol, err)
	}
	return v, enc, nil
}

// ErrEncode marks a value Send could not encode (a type the encoding
// refuses, a frame too large): the sender's fault, not the peer's.
var ErrEncode = errors.New("diset: encode")

// Conn carries DISET frames over one connection. It is used by one goroutine
// at a time (DISET never pipelines).
type Conn struct {
	nc  net.Conn
	r   *frame.Reader
	enc Encoding
	ka  kaIDs
}

// NewConn wraps nc; enc is what Send writes.
func NewConn(nc net.Conn, enc Encoding) *Conn {
	return &Conn{nc: nc, r: frame.NewReader(nc), enc: enc}
}

// ClientPrealloc is the Prealloc of a client's connections (see
// Conn.Prealloc): the server was authenticated, and a result of up to this
// size is read into one buffer of its size.
const ClientPrealloc = 64 << 20

// Prealloc makes room at once for each frame of up to n bytes, as soon as
// its length is read (frame.Reader.Prealloc), for a trusted peer.
func (c *Conn) Prealloc(n int) { c.r.Prealloc = n }

// Pending returns the bytes received but not yet returned in a frame (those
// of a frame whose Recv failed included), valid until the next Recv.
func (c *Conn) Pending() []byte { return c.r.Pending() }

// Net returns the underlying connection.
func (c *Conn) Net() net.Conn { return c.nc }

// Send encodes v with the connection's encoding and writes it as one frame,
// from a recycled buffer (a large answer is encoded in the memory of the
// last one).
func (c *Conn) Send(v any) error {
	bp := bufpool.Get(4096)
	buf, pieces, err := mixed.AppendMarshalBuffers(append(*bp, make([]byte, frame.HeaderRoom)...), v, c.enc, bufpool.LongString)
	switch {
	case err != nil:
		err = fmt.Errorf("%w: %w", ErrEncode, err)
	case pieces == nil:
		err = c.SendEncoded(buf, false) // the connection does not keep buf (io.Writer's rule)
	default:
		err = c.sendPieces(pieces)
	}
	bufpool.Release(bp, buf)
	return err
}

// sendPieces writes a frame whose payload is pieces, the first of which
// starts with frame.HeaderRoom free bytes.
func (c *Conn) sendPieces(pieces net.Buffers) error {
	n := -frame.HeaderRoom
	for _, p := range pieces {
		n += len(p)
	}
	head, err := frame.SealLength(pieces[0], n, false)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	pieces[0] = head
	_, err = pieces.WriteTo(c.nc)
	return err
}

// SendEncoded writes a payload built by Marshal (HeaderRoom bytes in front)
// as one frame.
func (c *Conn) SendEncoded(buf []byte, keepAlive bool) error {
	f, err := frame.Seal(buf, keepAlive)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrEncode, err)
	}
	_, err = c.nc.Write(f)
	return err
}

// Recv reads the next frame that is not a keep-alive, answering keep-alive
// pings with pongs on the way, and decodes it. limit bounds the payload
// (0: frame.MaxLength). raw is the payload, valid until the next Recv.
func (c *Conn) Recv(limit int) (v any, raw []byte, err error) {
	v, raw, _, err = c.recv(limit, frameOfCall)
	return v, raw, err
}

// RecvResult is Recv for the last frame a caller reads, a call's result:
// raw is the caller's for good (never modified again, by anyone: the large
// strings of v point into it), and the connection reads on in a new buffer.
func (c *Conn) RecvResult(limit int) (v any, raw []byte, err error) {
	v, raw, _, err = c.recv(limit, result)
	return v, raw, err
}

// RecvResultUndecoded is RecvResult for a caller that wants an S_OK
// undecoded (diracrpc.WithRawResult): a payload that starts as one
// (mixed.OKHead) comes back in raw with undecoded set and v nil; anything
// else is decoded as RecvResult decodes it. undecoded, not a nil v, tells
// the two apart: a payload may decode to nil (None).
func (c *Conn) RecvResultUndecoded(limit int) (v any, raw []byte, undecoded bool, err error) {
	return c.recv(limit, undecodedResult)
}

// recvKind is what recv reads: a frame of the conversation, a call's
// result, or a result wanted undecoded when it is an S_OK.
type recvKind uint8

const (
	frameOfCall recvKind = iota
	result
	undecodedResult
)

func (c *Conn) recv(limit int, kind recvKind) (v any, raw []byte, undecoded bool, err error) {
	for {
		p, ka, err := c.r.Next(limit)
		if err != nil {
			return nil, nil, false, err
		}
		share := kind != frameOfCall && !ka
		if share {
			c.r.Detach()
		}
		if share && kind == undecodedResult {
			if _, ok := mixed.OKHead(p); ok {
				return nil, p, true, nil
			}
		}
		v, _, err := decode(p, share)
		if err != nil {
			return nil, p, false, err
		}
		if !ka {
			return v, p, false, nil
		}
		if err := c.keepAlive(v); err != nil {
			return nil, p, false, err
		}
	}
}

// RecvFrame reads the next frame as it is, keep-alive or not (tests, tools).
func (c *Conn) RecvFrame(limit int) (payload []byte, keepAlive bool, err error) {
	return c.r.Next(limit)
}

// keepAlive handles a keep-alive body: S_OK({"id": ..., "kaping": bool}).
func (c *Conn) keepAlive(v any) error {
	val, err := diracrpc.ParseResult(v)
	if err != nil {
		return fmt.Errorf("%w: invalid keep alive: %v", diracrpc.ErrProtocol, err)
	}
	d, _ := val.(*value.Dict)
	id, ok := d.Lookup("id")
	if !ok {
		return fmt.Errorf("%w: Invalid keep alive, missing id", diracrpc.ErrProtocol)
	}
	ping, ok := d.Lookup("kaping")
	if !ok {
		return fmt.Errorf("%w: Invalid keep alive, missing kaping", diracrpc.ErrProtocol)
	}
	if b, _ := ping.(bool); !b {
		return nil // a pong: nothing to do
	}
	buf, err := Marshal(diracrpc.OK(value.NewDict("id", id, "kaping", false)), c.enc)
	if err != nil {
		return err
	}
	return c.SendEncoded(buf, true)
}

// SendPing writes a keep-alive ping (tests and long calls).
func (c *Conn) SendPing() error {
	buf, err := Marshal(diracrpc.OK(value.NewDict("id", c.ka.next(), "kaping", true)), c.enc)
	if err != nil {
		return err
	}
	return c.SendEncoded(buf, true)
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// kaIDs makes ping ids as DIRAC does: a random hex prefix and a counter.
type kaIDs struct {
	prefix string
	n      atomic.Int64
}

func (k *kaIDs) next() string {
	if k.prefix == "" {
		var b [16]byte
		_, _ = io.ReadFull(rand.Reader, b[:])
		k.prefix = hex.EncodeToString(b[:])
	}
	return k.prefix + strconv.FormatInt(k.n.Add(1), 10)
}
