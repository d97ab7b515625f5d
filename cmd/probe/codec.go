package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// runCodec converts stdin to stdout:
//
//	decode --format dencode   DEncode bytes  -> DIRAC JSON (or --repr: Python repr)
//	decode --format json      DIRAC JSON     -> DIRAC JSON, normalised (or --repr)
//	encode --format dencode   DIRAC JSON     -> DEncode bytes
//	encode --format json      DIRAC JSON     -> DIRAC JSON exactly as DIRAC writes it
//
// DIRAC JSON cannot hold tuples, non-string keys or microseconds: decode
// says on stderr when it dropped some, and --show repr or typed-json shows
// them (--format is the encoding of the payload, not the display).
func runCodec(_ context.Context, e *env, args []string) error {
	fs := newFlagSet(e, "codec")
	format := fs.String("format", "", "dencode or json")
	repr := fs.Bool("repr", false, "decode: same as --show repr")
	var show string
	registerFormat(fs, &show, "show")
	asJSON := fs.Bool("json", false, "decode: print {\"type\": ..., \"repr\": ..., \"json\": ..., \"length\": ...}")
	pos, err := parseInterleaved(fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 || (pos[0] != "encode" && pos[0] != "decode") {
		return usageErr("want encode or decode")
	}
	if *format != "dencode" && *format != "json" {
		return usageErr("--format must be dencode or json")
	}
	if err := checkFormat("show", show); err != nil {
		return err
	}
	if *repr {
		show = formatRepr
	}
	in, err := io.ReadAll(e.stdin)
	if err != nil {
		return fmt.Errorf("reading stdin: %w", err)
	}
	if pos[0] == "encode" {
		v, err := jencode.Decode(bytes.TrimSpace(in))
		if err != nil {
			return &exitError{code: exitFail, msg: "input is not DIRAC JSON: " + err.Error()}
		}
		var out []byte
		if *format == "dencode" {
			out, err = dencode.Marshal(v)
		} else {
			out, err = jencode.Marshal(v)
		}
		if err != nil {
			return &exitError{code: exitFail, msg: err.Error()}
		}
		_, err = e.stdout.Write(out)
		return err
	}
	var v any
	used := len(in)
	if *format == "dencode" {
		v, used, err = dencode.Decode(in)
	} else {
		v, err = jencode.Decode(in)
	}
	if err != nil {
		return &exitError{code: exitFail, msg: "cannot decode: " + err.Error()}
	}
	switch {
	case *asJSON:
		out := map[string]any{"type": value.TypeName(v), "repr": compat.Repr(v), "length": used, "trailing": len(in) - used}
		if j, err := jencode.Marshal(v); err == nil && json.Valid(j) {
			out["json"] = json.RawMessage(j)
		}
		return writeJSON(e.stdout, out)
	default:
		text, derr := display(show, v)
		if derr != nil {
			return &exitError{code: exitFail, msg: derr.Error() + " (DIRAC JSON cannot carry this value; use --show repr or typed-json)"}
		}
		if show == formatDIRACJSON {
			warnLossy(e.stderr, "codec", "show", v)
		}
		_, err = fmt.Fprintln(e.stdout, text)
	}
	// echo's newline is no payload byte worth a warning.
	if rest := in[used:]; string(rest) == "\n" || string(rest) == "\r\n" {
		used = len(in)
	}
	if err == nil && used < len(in) {
		fmt.Fprintf(e.stderr, "probe codec: %d bytes after the value ignored (as DIRAC does)\n", len(in)-used)
	}
	return err
}
