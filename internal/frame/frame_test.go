package frame

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type frameOut struct {
	payload string
	ka      bool
}

func readAll(t testing.TB, r io.Reader, limit int, prealloc ...int) ([]frameOut, error) {
	t.Helper()
	fr := NewReader(r)
	if len(prealloc) > 0 {
		fr.Prealloc = prealloc[0]
	}
	var out []frameOut
	for {
		p, ka, err := fr.Next(limit)
		if err != nil {
			return out, err
		}
		out = append(out, frameOut{string(p), ka})
	}
}

func TestReadFrames(t *testing.T) {
	stream := `27:{"OK": true, "Value": null}` +
		`dka82:{"OK": true, "Value": {"id": "0123456789abcdef0123456789abcdef0", "kaping": true}}` +
		`18:ds2:OKb1s5:Valuene` + `0:`
	want := []frameOut{
		{`{"OK": true, "Value": null}`, false},
		{`{"OK": true, "Value": {"id": "0123456789abcdef0123456789abcdef0", "kaping": true}}`, true},
		{`ds2:OKb1s5:Valuene`, false},
		{``, false},
	}
	for name, r := range map[string]io.Reader{
		"whole":   strings.NewReader(stream),
		"onebyte": iotest.OneByteReader(strings.NewReader(stream)),
		"half":    iotest.HalfReader(strings.NewReader(stream)),
	} {
		t.Run(name, func(t *testing.T) {
			got, err := readAll(t, r, 0)
			require.ErrorIs(t, err, io.EOF)
			assert.Equal(t, want, got)
		})
	}
}

func TestReadFrameErrors(t *testing.T) {
	cases := map[string]struct {
		in    string
		limit int
		err   error
	}{
		"ten digits":     {"1234567890:x", 0, ErrMalformed},
		"not a number":   {"12a:xx", 0, ErrMalformed},
		"empty length":   {":x", 0, ErrMalformed},
		"bad prefix":     {"dkx3:abc", 0, ErrMalformed},
		"over limit":     {"1025:", ProposalLimit, ErrTooLarge},
		"truncated body": {"10:abc", 0, io.ErrUnexpectedEOF},
		"truncated hdr":  {"12", 0, io.ErrUnexpectedEOF},
		"dka then eof":   {"dka", 0, io.ErrUnexpectedEOF},
		"double dka":     {"dkadka1:x", 0, ErrMalformed},
		"huge declared":  {"999999999:abc", 0, io.ErrUnexpectedEOF},
		"HTTP answer":    {"HTTP/1.1 400 Bad Request\r\nServer: x\r\n\r\n", 0, ErrHTTP},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := NewReader(strings.NewReader(c.in)).Next(c.limit)
			require.ErrorIs(t, err, c.err)
			if c.err == ErrHTTP {
				require.ErrorIs(t, err, ErrMalformed)
			}
		})
	}
	_, _, err := NewReader(strings.NewReader("POST /Framework/Oracle HTTP/1.1\r\n")).Next(0)
	require.NotErrorIs(t, err, ErrHTTP, "a request is not an HTTP answer")
}

func TestLenientLength(t *testing.T) {
	p, _, err := NewReader(strings.NewReader(" +3 :abc")).Next(0)
	require.NoError(t, err)
	assert.Equal(t, "abc", string(p))
}

func TestHugeDeclaredAllocatesLittle(t *testing.T) {
	in := "999999999:" + strings.Repeat("x", 10)
	allocs := testing.AllocsPerRun(10, func() {
		_, _, _ = NewReader(strings.NewReader(in)).Next(0)
	})
	assert.Less(t, allocs, 10.0)
	fr := NewReader(strings.NewReader(in))
	_, _, _ = fr.Next(0)
	assert.Less(t, cap(fr.buf), 1<<20)
}

func TestPreallocTrustsTheDeclaredLength(t *testing.T) {
	payload := bytes.Repeat([]byte("abcdefgh"), 300_000)
	stream := Append(Append(nil, payload, false), []byte("tail"), false)
	allocs := map[int]float64{}
	for _, prealloc := range []int{0, len(payload), 10 << 20} {
		allocs[prealloc] = testing.AllocsPerRun(5, func() {
			fr := NewReader(iotest.HalfReader(bytes.NewReader(stream)))
			fr.Prealloc = prealloc
			p, _, err := fr.Next(0)
			require.NoError(t, err)
			assert.Equal(t, string(payload), string(p))
			p, _, err = fr.Next(0)
			require.NoError(t, err)
			assert.Equal(t, "tail", string(p))
		})
	}
	assert.Greater(t, allocs[0], allocs[len(payload)]+4, "without Prealloc, the buffer grows as the bytes arrive")
	assert.Equal(t, allocs[len(payload)], allocs[10<<20])
	// Beyond Prealloc, a declared length is not trusted.
	fr := NewReader(strings.NewReader("999999999:" + strings.Repeat("x", 10)))
	fr.Prealloc = 1 << 20
	_, _, err := fr.Next(0)
	require.ErrorIs(t, err, io.ErrUnexpectedEOF)
	assert.Less(t, cap(fr.buf), 1<<20)
}

func TestLargeFrame(t *testing.T) {
	payload := bytes.Repeat([]byte("abcdefgh"), 300_000)
	stream := Append(nil, payload, false)
	stream = Append(stream, []byte("tail"), true)
	got, err := readAll(t, iotest.HalfReader(bytes.NewReader(stream)), 0)
	require.ErrorIs(t, err, io.EOF)
	require.Len(t, got, 2)
	assert.Equal(t, string(payload), got[0].payload)
	assert.Equal(t, frameOut{"tail", true}, got[1])
}

func TestSeal(t *testing.T) {
	for _, ka := range []bool{false, true} {
		buf := append(make([]byte, HeaderRoom), "hello"...)
		f, err := Seal(buf, ka)
		require.NoError(t, err)
		assert.Equal(t, string(Append(nil, []byte("hello"), ka)), string(f))
	}
	_, err := Seal(make([]byte, 3), false)
	require.Error(t, err)
}

// FuzzReadFrame checks that the reader never panics, never returns more than
// the limit, reads the same frames however the input is split, and that the
// frames it returns re-encode to the bytes it consumed.
func FuzzReadFrame(f *testing.F) {
	for _, s := range []string{
		`27:{"OK": true, "Value": null}`,
		`dka82:{"OK": true, "Value": {"id": "0123456789abcdef0123456789abcdef0", "kaping": true}}`,
		`18:ds2:OKb1s5:Valuene19:ds2:OKb1s5:Valuelee`,
		"0:", "999999999:", "1234567890:", "dkadka1:x", " +3 :abc", "12a:xx",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		const limit = 4096
		a, errA := readAll(t, bytes.NewReader(data), limit)
		b, errB := readAll(t, iotest.OneByteReader(bytes.NewReader(data)), limit)
		if len(a) != len(b) {
			t.Fatalf("split changed frames: %d vs %d (%v / %v)", len(a), len(b), errA, errB)
		}
		c, errC := readAll(t, iotest.HalfReader(bytes.NewReader(data)), limit, limit/2)
		if len(a) != len(c) || !errors.Is(errC, errA) && errC.Error() != errA.Error() {
			t.Fatalf("Prealloc changed frames: %d vs %d (%v / %v)", len(a), len(c), errA, errC)
		}
		for i := range c {
			if a[i] != c[i] {
				t.Fatalf("frame %d differs with Prealloc", i)
			}
		}
		var consumed []byte
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("frame %d differs", i)
			}
			if len(a[i].payload) > limit {
				t.Fatalf("frame over limit")
			}
			consumed = Append(consumed, []byte(a[i].payload), a[i].ka)
		}
		if errors.Is(errA, io.EOF) && len(consumed) > len(data) {
			t.Fatalf("consumed more than input")
		}
	})
}

// After Detach, reading on never writes over the frames already returned,
// and the bytes read past them are not lost.
func TestDetach(t *testing.T) {
	first := strings.Repeat("a", 3*readChunk)
	second := strings.Repeat("b", 3*readChunk)
	stream := Append(Append(nil, []byte(first), false), []byte(second), false)
	for _, prealloc := range []int{0, 1 << 20} {
		fr := NewReader(bytes.NewReader(stream))
		fr.Prealloc = prealloc
		p1, _, err := fr.Next(0)
		require.NoError(t, err)
		fr.Detach()
		p2, _, err := fr.Next(0)
		require.NoError(t, err)
		assert.Equal(t, first, string(p1), "the first frame kept its bytes (prealloc %d)", prealloc)
		assert.Equal(t, second, string(p2))
		_, _, err = fr.Next(0)
		assert.ErrorIs(t, err, io.EOF)
	}
}
