package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/jencode"
)

// transferFlags are the flags get and put add to the common ones.
type transferFlags struct {
	token  string
	bulk   string
	format string
}

func (t *transferFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.token, "token", "", "DIRAC's token of the transfer (StorageElement's; one containing NoCheckSum skips the MD5)")
	fs.StringVar(&t.bulk, "bulk", "", "a bulk (DISET only): `FORMAT` tar or tar.bz2 of the stream; FILE_ID is the bulk id without suffix")
	registerFormat(fs, &t.format, "format")
}

func (t *transferFlags) bulkFormat() (diracrpc.BulkFormat, bool, error) {
	switch t.bulk {
	case "":
		return 0, false, nil
	case "tar":
		return diracrpc.Tar, true, nil
	case "tar.bz2":
		return diracrpc.TarBz2, true, nil
	}
	return 0, false, usageErr("--bulk must be tar or tar.bz2, not %q", t.bulk)
}

// parseFileID reads FILE_ID, one DIRAC JSON value; a bulk id is a string.
func parseFileID(raw string, bulk bool) (any, error) {
	v, err := jencode.Decode([]byte(raw))
	if err != nil {
		return nil, usageErr("FILE_ID (%s) is not a JSON value: %v (strings need quotes: '\"name\"')", raw, err)
	}
	if _, ok := v.(string); bulk && !ok {
		return nil, usageErr("a bulk id is a JSON string, not %s", raw)
	}
	return v, nil
}

// transferContext bounds a transfer by --timeout only when it was given:
// the 30 s default suits calls, not files. The idle timeout between
// chunks always applies.
func transferContext(ctx context.Context, c *common, fs *flag.FlagSet) (context.Context, context.CancelFunc) {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == "timeout" })
	if given {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// transferClient resolves ENDPOINT and builds its client.
func transferClient(ctx context.Context, c *common, e *env, arg string, bulk bool) (*diracrpc.Client, *callResult, error) {
	t, err := c.resolveTarget(ctx, e, arg)
	if err != nil {
		return nil, nil, err
	}
	if bulk && t.protocol == diracrpc.HTTPS {
		return nil, nil, usageErr("--bulk needs a DISET endpoint (dips:// or dip://): DIRAC's HTTPS protocol has no bulk transfers, and %s is https://", arg)
	}
	out := &callResult{Endpoint: arg, Protocol: string(t.protocol)}
	cl, err := c.caller(e, t)
	if err != nil {
		return nil, out, failure(out, err)
	}
	return cl, out, nil
}

func runGet(ctx context.Context, e *env, args []string) error {
	var c common
	var tf transferFlags
	fs := c.flagSet(e, "get")
	tf.register(fs)
	output := fs.String("o", "-", "write the file to `FILE` (- : stdout); written to a temporary file renamed on success, so a refused or failed transfer leaves nothing")
	list := fs.Bool("list", false, "with --bulk: print the bulk's listing (ListBulk) instead of downloading it")
	pos, err := c.parse(e, fs, args, 2)
	if err != nil {
		return err
	}
	if err := checkFormat("format", tf.format); err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageErr("want ENDPOINT and FILE_ID")
	}
	format, bulk, err := tf.bulkFormat()
	if err != nil {
		return err
	}
	if *list && !bulk {
		return usageErr("--list goes with --bulk")
	}
	id, err := parseFileID(pos[1], bulk)
	if err != nil {
		return err
	}
	if *output != "-" {
		if st, err := os.Stat(*output); err == nil && st.IsDir() {
			return usageErr("-o %s is a directory: give the file to write", *output)
		}
	}
	cl, out, err := transferClient(ctx, &c, e, pos[0], bulk)
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := transferContext(ctx, &c, fs)
	defer cancel()
	opts := []diracrpc.TransferOption{diracrpc.WithToken(tf.token)}
	if *list {
		out.Method = diracrpc.ListBulk.Method()
		res, err := cl.ListBulk(ctx, id.(string), format, opts...)
		return printValue(e, &c, tf.format, out, res, err)
	}
	out.Method = diracrpc.ToClient.Method()
	var w io.Writer = e.stdout
	var tmp *os.File
	if *output != "-" {
		// The temporary file sits beside the target, so that the rename
		// stays on one file system.
		dir, base := filepath.Split(*output)
		if dir == "" {
			dir = "."
		}
		if tmp, err = createPart(dir, base); err != nil {
			return &exitError{code: exitFail, msg: fmt.Sprintf("cannot write %s: %v", *output, err)}
		}
		defer func() {
			if tmp != nil {
				tmp.Close()
				os.Remove(tmp.Name())
			}
		}()
		w = tmp
	}
	bar := newProgress(e, &c)
	opts = append(opts, diracrpc.WithProgress(bar.update))
	start := time.Now()
	var res *diracrpc.Result
	if bulk {
		res, err = cl.ReceiveBulk(ctx, id.(string), format, w, opts...)
	} else {
		res, err = cl.Receive(ctx, id, w, opts...)
	}
	bar.done()
	out.ElapsedMS = millis(time.Since(start))
	if errors.Is(err, diracrpc.ErrNotModified) {
		// BundleDelivery: the version asked for is current; nothing to write.
		fmt.Fprintf(e.stderr, "probe get: not modified: the service's current version is %s\n", reprOf(res.Value))
		out.OK, out.Value = true, diracJSON(res.Value)
		if c.json {
			return writeJSON(e.stdout, out)
		}
		return nil
	}
	if err != nil {
		err = failure(out, err)
		if c.json {
			return writeJSONResult(e, out, err)
		}
		return err
	}
	if tmp != nil {
		if err := tmp.Sync(); err != nil {
			return &exitError{code: exitFail, msg: fmt.Sprintf("writing %s: %v", *output, err)}
		}
		if err := tmp.Close(); err != nil {
			return &exitError{code: exitFail, msg: fmt.Sprintf("writing %s: %v", *output, err)}
		}
		if err := os.Rename(tmp.Name(), *output); err != nil {
			return &exitError{code: exitFail, msg: fmt.Sprintf("writing %s: %v", *output, err)}
		}
		tmp = nil
	}
	out.OK = true
	out.Value = diracJSON(res.Value)
	out.Protocol, out.URL = string(res.Protocol), res.URL
	if c.json && *output != "-" {
		return writeJSON(e.stdout, out)
	}
	return nil
}

func runPut(ctx context.Context, e *env, args []string) error {
	var c common
	var tf transferFlags
	fs := c.flagSet(e, "put")
	tf.register(fs)
	pos, err := c.parse(e, fs, args, 3)
	if err != nil {
		return err
	}
	if err := checkFormat("format", tf.format); err != nil {
		return err
	}
	if len(pos) != 3 {
		return usageErr("want ENDPOINT, FILE_ID and FILE (- : stdin)")
	}
	format, bulk, err := tf.bulkFormat()
	if err != nil {
		return err
	}
	id, err := parseFileID(pos[1], bulk)
	if err != nil {
		return err
	}
	var r io.Reader = e.stdin
	regular := false
	if pos[2] != "-" {
		f, err := os.Open(pos[2])
		if err != nil {
			return &exitError{code: exitFail, msg: fmt.Sprintf("cannot read %s: %v", pos[2], err)}
		}
		defer f.Close()
		st, err := f.Stat()
		switch {
		case err != nil:
			return &exitError{code: exitFail, msg: fmt.Sprintf("cannot read %s: %v", pos[2], err)}
		case st.IsDir():
			return usageErr("%s is a directory: give a file (a bulk of a directory: tar it, then --bulk)", pos[2])
		}
		regular = st.Mode().IsRegular()
		r = f
	}
	cl, out, err := transferClient(ctx, &c, e, pos[0], bulk)
	if err != nil {
		return err
	}
	defer cl.Close()
	if !regular && cl.Protocol() == diracrpc.HTTPS {
		// HTTPS needs the size first: a pipe, a FIFO or a device is spooled
		// to a temporary file.
		if r, err = spool(r); err != nil {
			return &exitError{code: exitFail, msg: fmt.Sprintf("reading %s: %v", pos[2], err)}
		}
		defer os.Remove(r.(*os.File).Name())
		defer r.(*os.File).Close()
	}
	ctx, cancel := transferContext(ctx, &c, fs)
	defer cancel()
	bar := newProgress(e, &c)
	opts := []diracrpc.TransferOption{diracrpc.WithToken(tf.token), diracrpc.WithProgress(bar.update)}
	start := time.Now()
	var res *diracrpc.Result
	if bulk {
		out.Method = diracrpc.BulkFromClient.Method()
		res, err = cl.SendBulk(ctx, id.(string), format, r, opts...)
	} else {
		out.Method = diracrpc.FromClient.Method()
		res, err = cl.Send(ctx, id, r, opts...)
	}
	bar.done()
	out.ElapsedMS = millis(time.Since(start))
	return printValue(e, &c, tf.format, out, res, err)
}

// printValue ends put and get --list as call ends: the S_OK value on
// stdout in the chosen format, or the failure with call's exit codes.
func printValue(e *env, c *common, format string, out *callResult, res *diracrpc.Result, err error) error {
	if err != nil {
		err = failure(out, err)
		if c.json {
			return writeJSONResult(e, out, err)
		}
		return err
	}
	out.OK = true
	out.Value = diracJSON(res.Value)
	out.Protocol, out.URL = string(res.Protocol), res.URL
	if c.json {
		return writeJSON(e.stdout, out)
	}
	text, merr := display(format, res.Value)
	if merr != nil {
		text = reprOf(res.Value)
	}
	_, err = fmt.Fprintln(e.stdout, text)
	return err
}

// progress draws a progress line with rate and ETA on stderr, only when
// stderr is a terminal (and not with --json).
type progress struct {
	e     *env
	on    bool
	start time.Time
	mu    sync.Mutex
	last  time.Time
	drawn bool
	sofar int64
	total int64
}

func newProgress(e *env, c *common) *progress {
	return &progress{e: e, on: e.isTerminal && !c.json, start: time.Now()}
}

func (p *progress) update(done, total int64) {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.sofar, p.total = done, total
	if now := time.Now(); now.Sub(p.last) >= 200*time.Millisecond {
		p.last = now
		p.draw()
	}
}

func (p *progress) draw() {
	el := time.Since(p.start).Seconds()
	rate := 0.0
	if el > 0 {
		rate = float64(p.sofar) / el
	}
	line := fmt.Sprintf("%s  %s/s", sizeText(p.sofar), sizeText(int64(rate)))
	if p.total > 0 {
		line = fmt.Sprintf("%3.0f%%  %s / %s  %s/s", 100*float64(p.sofar)/float64(p.total), sizeText(p.sofar),
			sizeText(p.total), sizeText(int64(rate)))
		if rate > 0 && p.sofar < p.total {
			eta := time.Duration(float64(p.total-p.sofar) / rate * float64(time.Second))
			line += "  ETA " + eta.Round(time.Second).String()
		}
	}
	fmt.Fprintf(p.e.stderr, "\r%-60s", line)
	p.drawn = true
}

// done draws the final state and ends the line.
func (p *progress) done() {
	if !p.on {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sofar > 0 || p.drawn {
		p.draw()
		fmt.Fprintln(p.e.stderr)
	}
}

func sizeText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// spool copies r to a temporary file, rewound.
func spool(r io.Reader) (*os.File, error) {
	f, err := os.CreateTemp("", "probe-put-*")
	if err != nil {
		return nil, err
	}
	if _, err = io.Copy(f, r); err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, err
	}
	return f, nil
}

// createPart creates the temporary file get -o writes before renaming it to
// base: beside it, with the mode a new file gets (0666 less the umask, as
// DIRAC's clients, curl or wget leave it), or the mode of the file it
// replaces.
func createPart(dir, base string) (*os.File, error) {
	mode := os.FileMode(0o666)
	if st, err := os.Stat(filepath.Join(dir, base)); err == nil {
		mode = st.Mode().Perm()
	}
	for range 100 {
		name := filepath.Join(dir, "."+base+".part-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o666)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if mode != 0o666 {
			if err := f.Chmod(mode); err != nil {
				f.Close()
				os.Remove(name)
				return nil, err
			}
		}
		return f, nil
	}
	return nil, fmt.Errorf("no free temporary name beside %s", base)
}
