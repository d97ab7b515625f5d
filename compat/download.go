package compat

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/diracgo/diracrpc"
)

// Receiver downloads files: *diracrpc.Client over either protocol.
type Receiver interface {
	Receive(ctx context.Context, fileID any, w io.Writer, opts ...diracrpc.TransferOption) (*diracrpc.Result, error)
}

// DownloadSide is what one side's download gave.
type DownloadSide struct {
	Name string `json:"name"`
	URL  string `json:"url,omitempty"`
	// Size and MD5 are those of the bytes received (of the part received,
	// when the download failed).
	Size      int64   `json:"size"`
	MD5       string  `json:"md5"`
	ElapsedMS float64 `json:"elapsed_ms"`
	// Err is why the download failed; nil on success.
	Err error `json:"-"`
}

// DownloadReport compares one download made on two endpoints.
type DownloadReport struct {
	FileID any          `json:"-"`
	A      DownloadSide `json:"a"`
	B      DownloadSide `json:"b"`
	// Equal: both succeeded with the same bytes.
	Equal bool `json:"equal"`
	// FirstDiff is the offset of the first differing byte (the shorter
	// size when one is a prefix of the other); -1 when equal.
	FirstDiff int64 `json:"first_diff"`
}

// Divergent reports whether the sides answered differently: different
// bytes, or one failing where the other succeeded, or both failing with
// different S_ERRORs.
func (r *DownloadReport) Divergent() bool {
	if r.A.Err == nil && r.B.Err == nil {
		return !r.Equal
	}
	return !(sError(r.A.Err) && sError(r.B.Err))
}

// Failed reports whether a side could not be reached at all.
func (r *DownloadReport) Failed() bool {
	for _, e := range []error{r.A.Err, r.B.Err} {
		if e != nil && !sError(e) {
			return true
		}
	}
	return false
}

func sError(err error) bool {
	var de *diracrpc.Error
	return errors.As(err, &de)
}

// CompareDownload downloads fileID from a and from b at the same time and
// compares the bytes as they arrive, holding a few blocks whatever the
// size.
func CompareDownload(ctx context.Context, a, b Receiver, fileID any, opts Options) *DownloadReport {
	rep := &DownloadReport{FileID: fileID, FirstDiff: -1,
		A: DownloadSide{Name: orDefault(opts.NameA, "A"), URL: opts.URLA},
		B: DownloadSide{Name: orDefault(opts.NameB, "B"), URL: opts.URLB}}
	ra, rb := download(ctx, a, fileID, &rep.A), download(ctx, b, fileID, &rep.B)
	bufA, bufB := make([]byte, 64<<10), make([]byte, 64<<10)
	var off int64
	for rep.FirstDiff < 0 {
		na, ea := io.ReadFull(ra.r, bufA)
		nb, eb := io.ReadFull(rb.r, bufB)
		if i := firstDiff(bufA[:na], bufB[:nb]); i >= 0 {
			rep.FirstDiff = off + int64(i)
		}
		off += int64(min(na, nb))
		if ea != nil || eb != nil {
			break
		}
	}
	// Drain both (the rest after a difference, or after one side ended).
	_, _ = io.Copy(io.Discard, ra.r)
	_, _ = io.Copy(io.Discard, rb.r)
	<-ra.done
	<-rb.done
	rep.Equal = rep.A.Err == nil && rep.B.Err == nil && rep.FirstDiff < 0
	return rep
}

// firstDiff is the first index where a and b differ, a shorter one
// differing where it ends; -1 when equal.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return n
	}
	return -1
}

type stream struct {
	r    *io.PipeReader
	done chan struct{}
}

func download(ctx context.Context, c Receiver, fileID any, side *DownloadSide) *stream {
	pr, pw := io.Pipe()
	s := &stream{r: pr, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		h := md5.New()
		cw := &counting{}
		start := time.Now()
		_, err := c.Receive(ctx, fileID, io.MultiWriter(h, cw, pw))
		side.ElapsedMS = float64(time.Since(start).Microseconds()) / 1000
		side.Size, side.MD5, side.Err = cw.n, hex.EncodeToString(h.Sum(nil)), err
		pw.Close() // the comparison sees the end; the error is in side.Err
	}()
	return s
}

type counting struct{ n int64 }

func (c *counting) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// WriteText writes the report for people.
func (r *DownloadReport) WriteText(w io.Writer) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "download %s\n", Repr(r.FileID))
	for _, s := range []*DownloadSide{&r.A, &r.B} {
		fmt.Fprintf(&b, "  %-6s %d bytes  md5 %s  %.1f ms", s.Name+":", s.Size, s.MD5, s.ElapsedMS)
		if s.URL != "" {
			fmt.Fprintf(&b, "  (%s)", s.URL)
		}
		if s.Err != nil {
			fmt.Fprintf(&b, "\n         failed: %v", s.Err)
		}
		b.WriteByte('\n')
	}
	switch {
	case r.Equal:
		b.WriteString("  identical bytes\n")
	case r.A.Err != nil || r.B.Err != nil:
		if r.Divergent() {
			b.WriteString("  DIVERGENT: the sides did not both succeed\n")
		} else {
			b.WriteString("  both refused the download\n")
		}
	default:
		fmt.Fprintf(&b, "  DIVERGENT: the bytes differ from offset %d\n", r.FirstDiff)
	}
	_, err := w.Write(b.Bytes())
	return err
}

// WriteJSON writes the report as one JSON document.
func (r *DownloadReport) WriteJSON(w io.Writer) error {
	type side struct {
		DownloadSide
		Error string `json:"error,omitempty"`
	}
	errText := func(e error) string {
		if e == nil {
			return ""
		}
		return e.Error()
	}
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(struct {
		FileID      string `json:"file_id"`
		A           side   `json:"a"`
		B           side   `json:"b"`
		Equal       bool   `json:"equal"`
		FirstDiff   int64  `json:"first_diff"`
		Divergent   bool   `json:"divergent"`
		Unreachable bool   `json:"failed"`
	}{Repr(r.FileID), side{r.A, errText(r.A.Err)}, side{r.B, errText(r.B.Err)}, r.Equal, r.FirstDiff,
		r.Divergent(), r.Failed()})
}
