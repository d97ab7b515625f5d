// Package vectors loads the golden vectors recorded from DIRAC's own encoders
// (../shared/vectors, see its README) and converts their typed value form to
// the Go model of package value. It is for tests only.
package vectors

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// PyError is the Python exception DIRAC raised.
type PyError struct {
	Class   string `json:"class"`
	Message string `json:"message"`
	Repr    string `json:"repr"`
}

// Vector is one line of a vectors file. Which fields are set depends on Kind
// and Mode (see the README next to the files).
type Vector struct {
	Name string `json:"name"`
	Kind string `json:"kind"` // dencode, jencode, mixed
	Mode string `json:"mode"` // roundtrip, encode, encode_error, decode, decode_error

	// Hex is the DEncode (or MixedEncode) bytes; nil when the line has none.
	Hex *string `json:"hex"`
	// Text is a latin-1 view of Hex (dencode) or the input text.
	Text string `json:"text"`
	// JSON is the exact JEncode text; nil when the line has none.
	JSON *string `json:"json"`

	ValueJSON          json.RawMessage `json:"value_json"`
	ValueRepr          string          `json:"value_repr"`
	DecodedJSON        json.RawMessage `json:"decoded_json"`
	DecodedLen         int             `json:"decoded_len"`
	DecodedRawReturn   json.RawMessage `json:"decoded_raw_return"`
	RoundtripIdentical bool            `json:"roundtrip_identical"`
	Error              *PyError        `json:"error"`
	DecodeError        *PyError        `json:"decode_error"`
	InputPyType        string          `json:"input_pytype"`
	EnvUseJSON         *string         `json:"env_DIRAC_USE_JSON_ENCODE"`
}

// Bytes returns the hex input decoded, and whether the vector has one.
func (v Vector) Bytes() ([]byte, bool) {
	if v.Hex == nil {
		return nil, false
	}
	b, err := hex.DecodeString(*v.Hex)
	if err != nil {
		panic(fmt.Sprintf("vector %s: bad hex: %v", v.Name, err))
	}
	return b, true
}

// Value returns value_json in the Go model (see Typed).
func (v Vector) Value() (any, error) { return Typed(v.ValueJSON) }

// withoutGoValue names (kind/name) the vectors whose Python value no Go value
// stands for (see ErrNoGoEquivalent).
var withoutGoValue = map[string]bool{
	"dencode/encode_err_bytearray":                      true,
	"dencode/encode_err_datetime_tz_aware":              true,
	"jencode/encode_err_bytearray":                      true,
	"jencode/encode_err_datetime_tz_aware_ok_but_lossy": true,
}

// GoValue returns value_json in the Go model, or ok false for the vectors
// known to have no Go counterpart; it fails the test if a vector is missing
// its Go value without being one of those (or has one while listed), so
// nothing is left out silently.
func (v Vector) GoValue(t testing.TB) (val any, ok bool) {
	t.Helper()
	val, err := v.Value()
	known := withoutGoValue[v.Kind+"/"+v.Name]
	if errors.Is(err, ErrNoGoEquivalent) {
		if !known {
			t.Fatalf("vector %s/%s: %v, and it is not among the known ones", v.Kind, v.Name, err)
		}
		t.Logf("no Go value stands for %s: %v", v.ValueRepr, err)
		return nil, false
	}
	if err != nil {
		t.Fatalf("vector %s/%s: %v", v.Kind, v.Name, err)
	}
	if known {
		t.Fatalf("vector %s/%s now has a Go value: remove it from withoutGoValue", v.Kind, v.Name)
	}
	return val, true
}

// Decoded returns decoded_json in the Go model (see Typed).
func (v Vector) Decoded() (any, error) { return Typed(v.DecodedJSON) }

// Dir returns the vectors directory: ../shared/vectors from the module root
// (the first directory upwards holding go.mod).
func Dir() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "vectors"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("vectors: go.mod not found above the working directory")
		}
		dir = parent
	}
}

// Load reads a vectors file ("dencode.jsonl", "jencode.jsonl", "mixed.jsonl")
// and fails the test if it is missing, unreadable or empty.
func Load(t testing.TB, file string) []Vector {
	t.Helper()
	dir, err := Dir()
	if err != nil {
		t.Fatalf("vectors: %v", err)
	}
	path := filepath.Join(dir, file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("vectors: golden vectors missing (expected at %s): %v", path, err)
	}
	var out []Vector
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		var v Vector
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("vectors: %s:%d: %v", path, n, err)
		}
		out = append(out, v)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("vectors: %s: %v", path, err)
	}
	if len(out) == 0 {
		t.Fatalf("vectors: %s holds no vectors", path)
	}
	return out
}

// ErrNoGoEquivalent is returned by Typed for Python values that no Go value
// stands for: bytearrays (no Go counterpart distinct from []byte), other
// "unsupported" Python types, and timezone-aware
// datetimes (every Go time.Time carries a location; the encoders send it as
// UTC, so there is nothing for them to refuse).
var ErrNoGoEquivalent = errors.New("vectors: Python value with no Go equivalent")

type typed struct {
	T      string          `json:"t"`
	V      json.RawMessage `json:"v"`
	Bits   string          `json:"bits"`
	RawB64 *string         `json:"raw_b64"`
	B64    string          `json:"b64"`
	Cls    string          `json:"cls"`
	Mod    string          `json:"mod"`
	Attrs  json.RawMessage `json:"attrs"`
	PyType string          `json:"pytype"`
}

// Typed converts the typed form of a value to the Go model: none → nil, bool,
// int → int64 (*big.Int beyond 64 bits), float → float64 (from its bits),
// str → string (raw_b64 gives the exact bytes), bytes → []byte, list → []any,
// tuple → value.Tuple, dict → *value.Dict, datetime → time.Time in UTC,
// date → value.Date, time → value.TimeOfDay, object → *value.Object,
// complex → complex128, and set or frozenset → map[any]struct{} (Go's set
// idiom, which the encoders refuse as DIRAC refuses sets). Others give
// ErrNoGoEquivalent.
func Typed(raw json.RawMessage) (any, error) {
	var x typed
	if err := json.Unmarshal(raw, &x); err != nil {
		return nil, fmt.Errorf("vectors: %w in %s", err, raw)
	}
	str := func() (string, error) {
		var s string
		err := json.Unmarshal(x.V, &s)
		return s, err
	}
	switch x.T {
	case "none":
		return nil, nil
	case "bool":
		var b bool
		err := json.Unmarshal(x.V, &b)
		return b, err
	case "int":
		s, err := str()
		if err != nil {
			return nil, err
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i, nil
		}
		b, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, fmt.Errorf("vectors: bad int %q", s)
		}
		return b, nil
	case "float":
		bits, err := strconv.ParseUint(x.Bits, 16, 64)
		if err != nil {
			return nil, fmt.Errorf("vectors: bad float bits %q", x.Bits)
		}
		return math.Float64frombits(bits), nil
	case "str":
		if x.RawB64 != nil {
			b, err := base64.StdEncoding.DecodeString(*x.RawB64)
			return string(b), err
		}
		return str()
	case "bytes":
		b, err := base64.StdEncoding.DecodeString(x.B64)
		if b == nil {
			b = []byte{}
		}
		return b, err
	case "list", "tuple", "set":
		var items []json.RawMessage
		if err := json.Unmarshal(x.V, &items); err != nil {
			return nil, err
		}
		l := make([]any, len(items))
		for i, it := range items {
			v, err := Typed(it)
			if err != nil {
				return nil, err
			}
			l[i] = v
		}
		switch x.T {
		case "tuple":
			return value.Tuple(l), nil
		case "set":
			s := make(map[any]struct{}, len(l))
			for _, v := range l {
				s[v] = struct{}{}
			}
			return s, nil
		}
		return l, nil
	case "dict":
		var pairs [][2]json.RawMessage
		if err := json.Unmarshal(x.V, &pairs); err != nil {
			return nil, err
		}
		d := value.NewDict()
		for _, p := range pairs {
			k, err := Typed(p[0])
			if err != nil {
				return nil, err
			}
			v, err := Typed(p[1])
			if err != nil {
				return nil, err
			}
			d.Set(k, v)
		}
		return d, nil
	case "datetime":
		s, err := str()
		if err != nil {
			return nil, err
		}
		if strings.ContainsAny(s[10:], "+-Z") {
			return nil, fmt.Errorf("%w: timezone-aware datetime %s", ErrNoGoEquivalent, s)
		}
		return time.ParseInLocation("2006-01-02T15:04:05.999999", s, time.UTC)
	case "date":
		s, err := str()
		if err != nil {
			return nil, err
		}
		t, err := time.Parse("2006-01-02", s)
		if err != nil {
			return nil, err
		}
		return value.DateOf(t), nil
	case "time":
		s, err := str()
		if err != nil {
			return nil, err
		}
		t, err := time.Parse("15:04:05.999999", s)
		if err != nil {
			return nil, err
		}
		return value.TimeOfDay{Hour: t.Hour(), Minute: t.Minute(), Second: t.Second(), Microsecond: t.Nanosecond() / 1000}, nil
	case "complex":
		s, err := str()
		if err != nil {
			return nil, err
		}
		s = strings.ReplaceAll(strings.Trim(s, "()"), "j", "i")
		c, err := strconv.ParseComplex(s, 128)
		return c, err
	case "object":
		var attrs [][2]json.RawMessage
		if err := json.Unmarshal(x.Attrs, &attrs); err != nil {
			return nil, err
		}
		d := value.NewDict()
		for _, p := range attrs {
			var name string
			if err := json.Unmarshal(p[0], &name); err != nil {
				return nil, err
			}
			v, err := Typed(p[1])
			if err != nil {
				return nil, err
			}
			d.Set(name, v)
		}
		return &value.Object{Class: x.Cls, Module: x.Mod, Attrs: d}, nil
	case "unsupported":
		if x.PyType == "frozenset" { // only the empty one occurs
			return map[any]struct{}{}, nil
		}
		return nil, fmt.Errorf("%w: %s", ErrNoGoEquivalent, x.PyType)
	}
	return nil, fmt.Errorf("vectors: unknown typed value %q", x.T)
}

// HasEarlyYear reports whether v holds a date or datetime before year 1000.
// DIRAC's JSON encoder writes such years unpadded ("1-01-01") and its decoder
// then refuses them, so fuzz round trips through JSON must leave them out.
func HasEarlyYear(v any) bool {
	switch v := v.(type) {
	case time.Time:
		return v.Year() < 1000
	case value.Date:
		return v.Year < 1000
	case []any:
		for _, x := range v {
			if HasEarlyYear(x) {
				return true
			}
		}
	case *value.Dict:
		for k, x := range v.All() {
			if HasEarlyYear(k) || HasEarlyYear(x) {
				return true
			}
		}
	case *value.Object:
		return HasEarlyYear(v.Attrs)
	}
	return false
}
