package main

import (
	"encoding/json"
	"io"
	"time"

	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/jencode"
)

// writeJSON writes v as one line of JSON (machine output of --json).
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// diracJSON returns v as DIRAC JSON for embedding in --json output; values
// JSON cannot carry (times of day, NaN) are given as their Python repr.
func diracJSON(v any) json.RawMessage {
	m, err := compat.ToModel(v)
	if err == nil {
		if b, err := jencode.Marshal(m); err == nil && json.Valid(b) {
			return b
		}
	} else {
		m = v
	}
	b, _ := json.Marshal(map[string]string{"repr": compat.Repr(m)})
	return b
}

func millis(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// reprOf writes v in Python's repr.
func reprOf(v any) string {
	if m, err := compat.ToModel(v); err == nil {
		v = m
	}
	return compat.Repr(v)
}

// writeJSONResult is the --json ending of a call: the output document on
// stdout, then the call's error (if any) as the exit status.
func writeJSONResult(e *env, out any, err error) error {
	if werr := writeJSON(e.stdout, out); werr != nil {
		return werr
	}
	if err != nil {
		return jsonExit(err)
	}
	return nil
}
