package main

import (
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"math/big"
	"strings"
	"time"

	"github.com/diracgo/diracrpc/compat"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// Display formats of values (--format of call, compare and codec decode).
const (
	// formatDIRACJSON is what DIRAC's JSON encoder writes: what scripts
	// parse. It has no tuples, no non-string keys, no microseconds, no
	// bytes distinct from str; lossy() says what it dropped.
	formatDIRACJSON = "dirac-json"
	// formatRepr is Python's repr, as a DIRAC user would print the value.
	formatRepr = "repr"
	// formatTypedJSON is JSON that keeps every type (see typedJSON).
	formatTypedJSON = "typed-json"
)

var displayFormats = []string{formatDIRACJSON, formatRepr, formatTypedJSON}

// registerFormat adds --format to fs.
func registerFormat(fs *flag.FlagSet, p *string, name string) {
	fs.StringVar(p, name, formatDIRACJSON, "how values are shown: "+strings.Join(displayFormats, ", ")+
		" (repr and typed-json keep tuples, int keys, microseconds and bytes)")
}

func checkFormat(flagName, f string) error {
	for _, ok := range displayFormats {
		if f == ok {
			return nil
		}
	}
	return usageErr("--%s must be one of %s, not %q", flagName, strings.Join(displayFormats, ", "), f)
}

// display renders v in format f (without a final newline).
func display(f string, v any) (string, error) {
	if m, err := compat.ToModel(v); err == nil {
		v = m
	}
	switch f {
	case formatRepr:
		return compat.Repr(v), nil
	case formatTypedJSON:
		b, err := json.Marshal(typedJSON(v))
		return string(b), err
	}
	b, err := jencode.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// lossy lists what DIRAC JSON drops of v: the differences between v and
// what decoding its DIRAC JSON gives back (tuple-became-list,
// key-became-string, microseconds-dropped, bytes-became-str...).
func lossy(v any) []compat.Difference {
	m, err := compat.ToModel(v)
	if err != nil {
		return nil
	}
	b, err := jencode.Marshal(m)
	if err != nil {
		return nil
	}
	back, err := jencode.Decode(b)
	if err != nil {
		return nil
	}
	return compat.Diff(m, back)
}

// warnLossy says on stderr what the DIRAC JSON on stdout does not show;
// flagName is the command's display flag.
func warnLossy(w io.Writer, who, flagName string, v any) {
	diffs := lossy(v)
	if len(diffs) == 0 {
		return
	}
	const max = 5
	fmt.Fprintf(w, "probe %s: note: DIRAC JSON does not show everything the value holds (--%s repr or typed-json does):\n", who, flagName)
	for i, d := range diffs {
		if i == max {
			fmt.Fprintf(w, "  ... and %d more\n", len(diffs)-max)
			break
		}
		fmt.Fprintf(w, "  %s at %s: sent %s\n", d.Kind, d.Path, d.A)
	}
}

// typedJSON maps a model value to JSON that keeps its type: null, booleans,
// strings, integers (int64) and lists are themselves; every other type is a
// one-key object naming it:
//
//	{"tuple": [...]}                       a tuple
//	{"dict": [[key, value], ...]}          a dict, keys typed, order kept
//	{"float": "2.5"}                       a float, as Python prints it (nan, inf too)
//	{"int": "123456789012345678901234"}    an int beyond int64
//	{"bytes": "<base64>"}                  bytes
//	{"datetime": "2024-01-02T03:04:05.123456"}, {"date": "2024-01-02"}, {"time": "03:04:05.000001"}
//	{"object": "module.Class", "attrs": {"dict": ...}}
func typedJSON(v any) any {
	switch v := v.(type) {
	case nil, bool, string, int64:
		return v
	case int:
		return int64(v)
	case float64:
		switch {
		case math.IsNaN(v):
			return map[string]any{"float": "nan"}
		case math.IsInf(v, 1):
			return map[string]any{"float": "inf"}
		case math.IsInf(v, -1):
			return map[string]any{"float": "-inf"}
		}
		return map[string]any{"float": value.FormatFloat(v)}
	case *big.Int:
		return map[string]any{"int": v.String()}
	case []byte:
		return map[string]any{"bytes": base64.StdEncoding.EncodeToString(v)}
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = typedJSON(e)
		}
		return out
	case value.Tuple:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = typedJSON(e)
		}
		return map[string]any{"tuple": out}
	case *value.Dict:
		entries := make([]any, 0, v.Len())
		for _, e := range v.Entries() {
			entries = append(entries, []any{typedJSON(e.Key), typedJSON(e.Value)})
		}
		return map[string]any{"dict": entries}
	case time.Time:
		return map[string]any{"datetime": v.UTC().Format("2006-01-02T15:04:05.000000")}
	case value.Date:
		return map[string]any{"date": fmt.Sprintf("%04d-%02d-%02d", v.Year, int(v.Month), v.Day)}
	case value.TimeOfDay:
		return map[string]any{"time": fmt.Sprintf("%02d:%02d:%02d.%06d", v.Hour, v.Minute, v.Second, v.Microsecond)}
	case *value.Object:
		if v == nil {
			return nil
		}
		return map[string]any{"object": v.Module + "." + v.Class, "attrs": typedJSON(v.Attrs)}
	}
	return map[string]any{"repr": compat.Repr(v)}
}
