package diset

import (
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/mixed"
)

// RecvPayload reads the next frame that is not a keep-alive, answering
// keep-alive pings on the way, and returns its payload undecoded (valid
// until the next read): a file receiver answers a chunk before decoding it,
// so that the sender prepares the next one meanwhile. Decode decodes it.
func (c *Conn) RecvPayload(limit int) ([]byte, error) {
	for {
		p, ka, err := c.r.Next(limit)
		if err != nil || !ka {
			return p, err
		}
		v, _, err := Decode(p)
		if err != nil {
			return nil, err
		}
		if err := c.keepAlive(v); err != nil {
			return nil, err
		}
	}
}

// AppendEncode encodes v as Send would, for SendEncoded, reusing dst's
// memory: a file sender encodes the next chunk while the receiver answers
// the previous one, in two buffers.
func (c *Conn) AppendEncode(dst []byte, v any) ([]byte, error) {
	var room [frame.HeaderRoom]byte
	return mixed.AppendMarshal(append(dst[:0], room[:]...), v, c.enc)
}
