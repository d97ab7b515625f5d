package filetransfer

import (
	"bytes"
	"context"
	"io"
	"net"
	"testing"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/internal/diset"
	"github.com/diracgo/diracrpc/mixed"
	"github.com/diracgo/diracrpc/value"
)

// scripted is a net.Conn that reads a fixed byte stream and discards what
// is written: the peer of a fuzzed data phase.
type scripted struct {
	r *bytes.Reader
}

func (s *scripted) Read(p []byte) (int, error)       { return s.r.Read(p) }
func (s *scripted) Write(p []byte) (int, error)      { return len(p), nil }
func (s *scripted) Close() error                     { return nil }
func (s *scripted) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (s *scripted) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (s *scripted) SetDeadline(time.Time) error      { return nil }
func (s *scripted) SetReadDeadline(time.Time) error  { return nil }
func (s *scripted) SetWriteDeadline(time.Time) error { return nil }

// FuzzReceiver feeds arbitrary frames to a Receiver: it must end (EOF or an
// error) without panicking, never return more than the frames carried, and
// stay within its limits.
func FuzzReceiver(f *testing.F) {
	f.Add([]byte(`55:{"OK": true, "Value": [true, {"__dCls": "b64", "obj": "aGk="}]}54:{"OK": true, "Value": [false, "49f68a5c8493ec2c0bf489821c21fc3b"]}`))
	f.Add([]byte(`56:{"OK": true, "Value": [false, ""], "AbortTransfer": true}`))
	f.Add([]byte(`ds2:OKb1s5:Valuelb1s2:hiee`))
	f.Add([]byte("27:ds2:OKb1s5:Valuelb1s2:hiee51:ds2:OKb1s5:Valuelb0s32:49f68a5c8493ec2c0bf489821c21fc3bee"))
	f.Add([]byte(`47:{"OK": false, "Errno": 0, "Message": "boom"}`))
	f.Fuzz(func(t *testing.T, stream []byte) {
		c := diset.NewConn(&scripted{r: bytes.NewReader(stream)}, diset.JSON)
		for _, o := range []Options{{DeclaredSize: -1, MaxSize: 1 << 10}, {DeclaredSize: 2, NoCheckSum: true},
			{DeclaredSize: -1, AnswerFirst: true}} {
			r := NewReceiver(context.Background(), c, o)
			got, err := io.ReadAll(r)
			if err == nil && !r.Done() {
				t.Fatal("io.EOF before the end of data")
			}
			if int64(len(got)) > int64(len(stream)) || (o.MaxSize > 0 && int64(len(got)) > o.MaxSize) {
				t.Fatalf("%d bytes out of a %d-byte stream", len(got), len(stream))
			}
			c = diset.NewConn(&scripted{r: bytes.NewReader(stream)}, diset.DEncode)
		}
	})
}

// FuzzParseFileInfo decodes a file info payload for every direction.
func FuzzParseFileInfo(f *testing.F) {
	f.Add([]byte(`{"OK": true, "Value": ["up-cap", "tok", 15]}`))
	f.Add([]byte(`ds2:OKb1s5:Valuels6:up-caps3:toki15eee`))
	f.Add([]byte(`{"OK": true, "Value": [["CAs", 3], ""]}`))
	f.Add([]byte(`{"OK": true, "Value": ["x.tar.bz2", "", -1]}`))
	f.Add([]byte(`ds2:OKb1s5:Valuelf1.5e0s0:i-1eee`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		v, _, err := mixed.Decode(payload)
		if err != nil {
			return
		}
		for _, d := range Directions {
			fi, err := ParseFileInfo(d, v)
			if err != nil {
				continue
			}
			if fi.Size < -1 {
				t.Fatalf("size %d", fi.Size)
			}
			if _, err := mixed.Marshal(okFrame(fi.Value()), mixed.JSON); err != nil && fi.FileID != nil {
				// The file id came from a decoder: it must encode again.
				t.Logf("re-encoding %v: %v", fi.FileID, err)
			}
		}
	})
}

// FuzzFastChunk: whatever the fast path takes out of a frame is what the
// general decoder finds in it, S_OK([true, data]).
func FuzzFastChunk(f *testing.F) {
	f.Add([]byte(`{"OK": true, "Value": [true, {"__dCls": "b64", "obj": "aGk="}]}`))
	f.Add([]byte(`{"OK": true, "Value": [true, {"__dCls": "b64", "obj": "aG\\u006b="}]}`))
	f.Add([]byte("ds2:OKb1s5:Valuelb1s2:hiee"))
	f.Add([]byte("ds2:OKb1s5:Valuelb1s2:hieeXX"))
	f.Fuzz(func(t *testing.T, p []byte) {
		var r Receiver
		data, ok := r.fastChunk(p)
		if !ok {
			return
		}
		v, _, err := diset.Decode(p)
		if err != nil {
			t.Fatalf("fast path took %q, the decoder refuses it: %v", p, err)
		}
		val, err := diracrpc.ParseResult(v)
		items, _ := value.Items(val)
		if err != nil || len(items) != 2 || items[0] != true {
			t.Fatalf("fast path took %q, the decoder found %v", p, v)
		}
		want, _ := dataOf(items[1])
		if !bytes.Equal(want, data) {
			t.Fatalf("fast path %q, decoder %q", data, want)
		}
	})
}
