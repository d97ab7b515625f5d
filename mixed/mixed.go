// Package mixed implements DIRAC's MixedEncode, the payload rule of DISET:
// a sender writes either JEncode (JSON, the default since DIRAC 8.1) or
// DEncode, chosen by its own DIRAC_USE_JSON_ENCODE setting; a receiver tries
// DEncode first and falls back to JSON, for every message independently.
package mixed

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/diracgo/diracrpc/dencode"
	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// Encoding is one of DIRAC's two payload encodings. The zero value is JSON,
// the default of current DIRAC.
type Encoding int

const (
	// JSON is JEncode (package jencode), DIRAC's default since v8.1.
	JSON Encoding = iota
	// DEncode is DIRAC's original encoding (package dencode), still the only
	// one DIRAC v7 and older understand, and the only one that keeps tuples,
	// non-string dict keys, microseconds and times of day.
	DEncode
)

func (e Encoding) String() string {
	switch e {
	case JSON:
		return "JSON"
	case DEncode:
		return "DEncode"
	}
	return "Encoding(" + strconv.Itoa(int(e)) + ")"
}

// EnvVar is the environment variable with which DIRAC chooses the encoding
// it sends.
const EnvVar = "DIRAC_USE_JSON_ENCODE"

// EncodingFromEnv applies DIRAC's rule for EnvVar: unset means JSON; set, it
// means JSON when its lower-cased value is "yes" or "true" and DEncode for
// anything else (including the empty string). Pass os.LookupEnv.
func EncodingFromEnv(lookupEnv func(string) (string, bool)) Encoding {
	v, ok := lookupEnv(EnvVar)
	if !ok {
		return JSON
	}
	switch strings.ToLower(v) {
	case "yes", "true":
		return JSON
	}
	return DEncode
}

// Marshal encodes v with enc.
func Marshal(v any, enc Encoding) ([]byte, error) {
	switch enc {
	case JSON:
		return jencode.Marshal(v)
	case DEncode:
		return dencode.Marshal(v)
	}
	return AppendMarshal(nil, v, enc)
}

// AppendMarshal appends the encoding of v with enc to dst.
func AppendMarshal(dst []byte, v any, enc Encoding) ([]byte, error) {
	switch enc {
	case JSON:
		return jencode.AppendMarshal(dst, v)
	case DEncode:
		return dencode.AppendMarshal(dst, v)
	}
	return dst, errors.New("mixed: unknown encoding " + enc.String())
}

// AppendMarshalBuffers is AppendMarshal for a writer that sends a message
// in pieces, long strings from their own memory (see
// jencode.AppendMarshalBuffers and dencode.AppendMarshalBuffers).
func AppendMarshalBuffers(dst []byte, v any, enc Encoding, minRef int) (text []byte, pieces net.Buffers, err error) {
	switch enc {
	case JSON:
		return jencode.AppendMarshalBuffers(dst, v, minRef)
	case DEncode:
		return dencode.AppendMarshalBuffers(dst, v, minRef)
	}
	return dst, nil, errors.New("mixed: unknown encoding " + enc.String())
}

// ErrEmpty is wrapped by the DecodeError for an empty payload.
var ErrEmpty = errors.New("empty payload")

// DecodeError is returned for a payload that is neither DEncode nor JSON.
type DecodeError struct {
	// Msg is the text DIRAC's receiver reports for the same payload:
	// "Could not decode received data: <why JSON failed>".
	Msg string
	// DEncode and JSON are the errors of the two decoders; for an empty
	// payload DEncode is ErrEmpty and JSON is nil.
	DEncode, JSON error
}

func (e *DecodeError) Error() string { return "mixed: " + e.Msg }

// Unwrap gives both decoders' errors to errors.Is and errors.As.
func (e *DecodeError) Unwrap() []error {
	if e.JSON == nil {
		return []error{e.DEncode}
	}
	return []error{e.DEncode, e.JSON}
}

// Decode decodes a DISET payload as DIRAC does: as DEncode if it starts with
// a DEncode value (bytes after that value are ignored, as DIRAC ignores
// them), else as JSON. It reports which encoding the peer used (meaningful
// only when err is nil). Note that the JSON text "null" decodes as DEncode
// None, as it does in DIRAC. Errors are *DecodeError.
func Decode(data []byte) (v any, enc Encoding, err error) {
	var dec Decoder
	return dec.Decode(data)
}

// Decoder decodes DISET payloads with options. The zero value decodes as
// Decode does.
type Decoder struct {
	// ShareInput says the caller hands the input over and never modifies it
	// afterwards (a message just read into a buffer of its own). Strings
	// that make up most of it then point into it instead of being copied: a
	// 10 MB string answer is held once, not twice.
	ShareInput bool
}

// Decode is the package's Decode with dec's options.
func (dec Decoder) Decode(data []byte) (v any, enc Encoding, err error) {
	if len(data) == 0 {
		// DIRAC's decoder returns the empty input unchanged and its caller
		// then fails to unpack it.
		return nil, DEncode, &DecodeError{Msg: "Could not decode received data: index out of range", DEncode: ErrEmpty}
	}
	v, _, derr := dencode.Decoder{ShareInput: dec.ShareInput}.Decode(data)
	if derr == nil {
		return v, DEncode, nil
	}
	v, jerr := (&jencode.Decoder{ShareInput: dec.ShareInput}).Decode(data)
	if jerr == nil {
		return v, JSON, nil
	}
	why := jerr.Error()
	var se *jencode.SyntaxError
	if errors.As(jerr, &se) {
		why = se.Detail()
	} else {
		why = strings.TrimPrefix(why, "jencode: ")
	}
	return nil, JSON, &DecodeError{Msg: "Could not decode received data: " + why, DEncode: derr, JSON: jerr}
}

// Unmarshal decodes a DISET payload (see Decode) into v, which must be a
// non-nil pointer: *any gets the generic model, other targets are filled by
// value.Assign.
func Unmarshal(data []byte, v any) error {
	x, _, err := Decode(data)
	if err != nil {
		return err
	}
	if p, ok := v.(*any); ok && p != nil {
		*p = x
		return nil
	}
	if err := value.Assign(v, x); err != nil {
		return fmt.Errorf("mixed: %w", err)
	}
	return nil
}
