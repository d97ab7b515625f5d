package diset

import (
	"net"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/frame"
	"github.com/diracgo/diracrpc/value"
)

func pipe(t *testing.T) (*Conn, net.Conn) {
	a, b := net.Pipe()
	t.Cleanup(func() { a.Close(); b.Close() })
	require.NoError(t, a.SetDeadline(time.Now().Add(5*time.Second)))
	require.NoError(t, b.SetDeadline(time.Now().Add(5*time.Second)))
	return NewConn(a, JSON), b
}

func TestRecvAnswersPings(t *testing.T) {
	c, peer := pipe(t)
	go func() {
		_, _ = peer.Write(frame.Append(nil, []byte(`{"OK": true, "Value": {"id": "abc1", "kaping": true}}`), true))
		_, _ = peer.Write(frame.Append(nil, []byte(`{"OK": true, "Value": {"id": "x", "kaping": false}}`), true))
		_, _ = peer.Write(frame.Append(nil, []byte(`ds2:OKb1s5:Valuei7ee`), false))
	}()
	pong := make(chan string, 1)
	go func() {
		p, ka, err := frame.NewReader(peer).Next(0)
		if err == nil && ka {
			pong <- string(p)
		}
	}()
	v, raw, err := c.Recv(0)
	require.NoError(t, err)
	assert.True(t, value.Equal(diracrpc.OK(int64(7)), v))
	assert.Equal(t, "ds2:OKb1s5:Valuei7ee", string(raw))
	assert.Equal(t, `{"OK": true, "Value": {"id": "abc1", "kaping": false}}`, <-pong)
}

func TestInvalidKeepAlive(t *testing.T) {
	for body, msg := range map[string]string{
		`{"OK": true, "Value": {"kaping": true}}`: "Invalid keep alive, missing id",
		`{"OK": true, "Value": {"id": "1"}}`:      "Invalid keep alive, missing kaping",
	} {
		c, peer := pipe(t)
		go func() { _, _ = peer.Write(frame.Append(nil, []byte(body), true)) }()
		_, _, err := c.Recv(0)
		require.ErrorIs(t, err, diracrpc.ErrProtocol)
		assert.Contains(t, err.Error(), msg)
	}
}

func TestDecodeErrors(t *testing.T) {
	_, _, err := Decode(nil)
	require.ErrorIs(t, err, diracrpc.ErrProtocol)
	_, _, err = Decode([]byte("{nope"))
	require.ErrorIs(t, err, diracrpc.ErrProtocol)
	assert.Contains(t, err.Error(), "Could not decode received data")
}

func TestSendWritesOneFrame(t *testing.T) {
	c, peer := pipe(t)
	go func() { _ = c.Send(diracrpc.OK([]any{})) }()
	p, ka, err := frame.NewReader(peer).Next(0)
	require.NoError(t, err)
	assert.False(t, ka)
	assert.Equal(t, `{"OK": true, "Value": []}`, string(p))
}
