// Package frame reads and writes DISET frames (PROTOCOL.md §4.4), shared by
// the DISET client and server:
//
//	frame   := [ "dka" ] LENGTH ":" PAYLOAD
//	LENGTH  := decimal byte count of PAYLOAD, at most 9 digits
//
// The "dka" prefix marks a keep-alive frame. The reader follows DIRAC's
// receiver: the separator must appear within the first 10 bytes (so at most 9
// digits), bytes after a frame stay buffered for the next one. Unlike DIRAC it
// fails at once instead of waiting for a separator that cannot come, and it
// enforces the size limit on every frame, not only on frames that arrive in
// several reads. It never allocates more than the bytes that actually arrived
// (plus a bounded read buffer), whatever length a peer declares.
package frame

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// MaxLength is the largest payload a 9-digit length can declare.
const MaxLength = 999_999_999

// ProposalLimit is the size DIRAC servers allow for the proposal frame.
const ProposalLimit = 1024

// KeepAlivePrefix marks keep-alive frames.
const KeepAlivePrefix = "dka"

// HeaderRoom is the room to leave in front of a payload built in place before
// calling Seal: "dka", 9 digits and ":".
const HeaderRoom = len(KeepAlivePrefix) + 9 + 1

// readChunk is the size of one read; DIRAC reads 16384 bytes at a time.
const readChunk = 16384

// firstChunk is the size of a reader's first buffer: a proposal, header
// included.
const firstChunk = ProposalLimit + HeaderRoom

var (
	// ErrMalformed: the bytes are not a frame (no separator within the first
	// 10 bytes, a length that is not a decimal number).
	ErrMalformed = errors.New("frame: malformed frame")
	// ErrTooLarge: the declared length exceeds the reader's limit.
	ErrTooLarge = errors.New("frame: frame too large")
	// ErrHTTP: the malformed bytes start an HTTP response ("HTTP/1.1 400
	// ..."): the peer speaks HTTP. Such errors match ErrMalformed too.
	ErrHTTP = errors.New("frame: an HTTP response where a frame was expected")
)

// Reader reads frames from a byte stream. It is not safe for concurrent use.
type Reader struct {
	// Prealloc is the largest payload for which the reader makes room at
	// once, as soon as its length is read, rather than as its bytes arrive
	// (doubling, a whole copy of a large payload over): for a peer one trusts
	// not to declare what it does not send, such as the server a client
	// called and authenticated. Zero, the default, trusts no peer.
	Prealloc int

	r          io.Reader
	buf        []byte
	start, end int // pending bytes are buf[start:end]
}

// NewReader returns a Reader reading from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: r} }

// Buffered returns the number of bytes read from the stream but not yet
// returned in a frame.
func (r *Reader) Buffered() int { return r.end - r.start }

// Next reads the next frame, whose payload may be at most limit bytes
// (limit <= 0 or above MaxLength means MaxLength). The payload aliases the
// reader's buffer and is valid until the next call. keepAlive reports the
// "dka" prefix. A clean end of stream before any byte of a frame is io.EOF; an
// end in the middle of one is io.ErrUnexpectedEOF.
func (r *Reader) Next(limit int) (payload []byte, keepAlive bool, err error) {
	if limit <= 0 || limit > MaxLength {
		limit = MaxLength
	}
	// Header: optional "dka", then up to 9 digits and ":".
	for {
		p := r.buf[r.start:r.end]
		if len(p) > 0 && p[0] == 'd' && !keepAlive {
			if len(p) < len(KeepAlivePrefix) {
				if err := r.fill(len(KeepAlivePrefix)); err != nil {
					return nil, false, err
				}
				continue
			}
			if !bytes.HasPrefix(p, []byte(KeepAlivePrefix)) {
				return nil, false, fmt.Errorf("%w: starts with %q", ErrMalformed, clip(p))
			}
			keepAlive = true
			r.start += len(KeepAlivePrefix)
			continue
		}
		if i := bytes.IndexByte(p[:min(len(p), 10)], ':'); i >= 0 {
			n, err := parseLength(p[:i])
			if err != nil {
				return nil, false, err
			}
			if n > limit {
				return nil, false, fmt.Errorf("%w: %d bytes declared, limit %d", ErrTooLarge, n, limit)
			}
			r.start += i + 1
			if err := r.fill(n); err != nil {
				return nil, false, err
			}
			payload = r.buf[r.start : r.start+n : r.start+n]
			r.start += n
			return payload, keepAlive, nil
		}
		if len(p) >= 10 {
			if bytes.HasPrefix(p, []byte("HTTP/")) {
				return nil, false, fmt.Errorf("%w: %w: %q", ErrMalformed, ErrHTTP, clip(p))
			}
			return nil, false, fmt.Errorf("%w: no length separator in %q", ErrMalformed, clip(p))
		}
		if err := r.fill(len(p) + 1); err != nil {
			if err == io.ErrUnexpectedEOF && len(p) == 0 && !keepAlive {
				return nil, false, io.EOF
			}
			return nil, false, err
		}
	}
}

// Pending returns the bytes read from the stream but not yet returned in a
// frame, valid until the next call.
func (r *Reader) Pending() []byte { return r.buf[r.start:r.end] }

// Detach gives the frames returned so far to their callers for good: the
// reader never writes over their bytes again, reading on in a buffer of its
// own (bytes already read past them are copied there).
func (r *Reader) Detach() {
	var rest []byte
	if r.end > r.start {
		rest = append(rest, r.buf[r.start:r.end]...)
	}
	r.buf, r.start, r.end = rest, 0, len(rest)
}

// fill makes sure at least n bytes are pending, reading as needed. The buffer
// grows with the data that arrived, never to a declared size ahead of it.
func (r *Reader) fill(n int) error {
	for r.end-r.start < n {
		pending, want := r.end-r.start, n-(r.end-r.start)
		if space := len(r.buf) - r.end; space < readChunk && space < want {
			if r.start > 0 {
				r.end = copy(r.buf, r.buf[r.start:r.end])
				r.start = 0
			}
			if space := len(r.buf) - r.end; space < readChunk && space < want {
				// Grow at most by what is already held (doubling), never by
				// the declared size alone. The first buffer is small: most
				// frames are (a proposal, its S_OK, short arguments), and a
				// connection waiting for its first frame holds it.
				size := pending + max(readChunk, min(want, len(r.buf)))
				if r.buf == nil {
					size = max(firstChunk, pending+min(want, readChunk))
				}
				if n <= r.Prealloc {
					size = max(size, n) // a large frame in one piece of its size
				}
				nb := make([]byte, size)
				r.end = copy(nb, r.buf[r.start:r.end])
				r.start = 0
				r.buf = nb
			}
		}
		m, err := r.r.Read(r.buf[r.end:])
		r.end += m
		if err != nil {
			if r.end-r.start >= n {
				return nil
			}
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
	}
	return nil
}

// parseLength accepts what Python's int() accepts for a byte count: ASCII
// digits, optionally surrounded by whitespace and with a leading "+".
func parseLength(b []byte) (int, error) {
	s := string(bytes.TrimSpace(b))
	if len(s) > 0 && s[0] == '+' {
		s = s[1:]
	}
	if s == "" {
		return 0, fmt.Errorf("%w: empty length", ErrMalformed)
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, fmt.Errorf("%w: length %q is not a number", ErrMalformed, b)
		}
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%w: length %q: %v", ErrMalformed, b, err)
	}
	return n, nil
}

func clip(p []byte) []byte { return p[:min(len(p), 16)] }

// Append appends the frame carrying payload to dst.
func Append(dst []byte, payload []byte, keepAlive bool) []byte {
	if keepAlive {
		dst = append(dst, KeepAlivePrefix...)
	}
	dst = strconv.AppendInt(dst, int64(len(payload)), 10)
	dst = append(dst, ':')
	return append(dst, payload...)
}

// Seal turns buf, whose payload starts at buf[HeaderRoom:], into a frame by
// writing the header right before the payload, and returns the frame (a
// sub-slice of buf). It saves copying the payload.
func Seal(buf []byte, keepAlive bool) ([]byte, error) {
	return SealLength(buf, len(buf)-HeaderRoom, keepAlive)
}

// SealLength is Seal for a payload of n bytes of which buf holds only the
// first ones (the rest is written after it from elsewhere).
func SealLength(buf []byte, n int, keepAlive bool) ([]byte, error) {
	if len(buf) < HeaderRoom {
		return nil, errors.New("frame: Seal needs HeaderRoom bytes in front of the payload")
	}
	if n > MaxLength {
		return nil, fmt.Errorf("%w: payload of %d bytes", ErrTooLarge, n)
	}
	var hdr [HeaderRoom]byte
	h := hdr[:0]
	if keepAlive {
		h = append(h, KeepAlivePrefix...)
	}
	h = strconv.AppendInt(h, int64(n), 10)
	h = append(h, ':')
	start := HeaderRoom - len(h)
	copy(buf[start:], h)
	return buf[start:], nil
}
