package value

import (
	"fmt"
	"math/big"

	"time"
)

// JSONKey converts a dict key the way Python's json.dumps does: strings as
// they are, ints as decimal, floats as repr, True/False/None as "true",
// "false", "null". Other keys (tuples, dates...) cannot be written as JSON.
func JSONKey(k any) (string, error) {
	switch k := k.(type) {
	case string:
		return k, nil
	case bool:
		if k {
			return "true", nil
		}
		return "false", nil
	case nil:
		return "null", nil
	case float64:
		switch FormatFloat(k) {
		case "nan":
			return "NaN", nil
		case "inf":
			return "Infinity", nil
		case "-inf":
			return "-Infinity", nil
		}
		return FormatFloat(k), nil
	case *big.Int:
		return k.String(), nil
	}
	if i, ok := asBigInt(k); ok {
		return i.String(), nil
	}
	return "", fmt.Errorf("value: dict key of type %T cannot be a JSON key (Python: keys must be str, int, float, bool or None)", k)
}

// NormalizeJSON returns what v becomes after DIRAC's JSON encoding and decoding:
// tuples become lists, non-string dict keys become strings (a later duplicate
// overwrites the earlier value in place), datetimes lose their microseconds.
// It fails where DIRAC's JSON encoder fails (times of day, tuple keys, types
// outside the model). Bytes stay bytes: JSON carries them as {"__dCls":"b64"}.
func NormalizeJSON(v any) (any, error) {
	switch v := v.(type) {
	case Tuple:
		return normalizeSlice(v)
	case []any:
		return normalizeSlice(v)
	case *Dict:
		out := &Dict{entries: make([]Entry, 0, v.Len())}
		for _, e := range v.Entries() {
			k, err := JSONKey(e.Key)
			if err != nil {
				return nil, err
			}
			nv, err := NormalizeJSON(e.Value)
			if err != nil {
				return nil, err
			}
			out.Set(k, nv)
		}
		return out, nil
	case time.Time:
		return v.UTC().Truncate(time.Second), nil
	case TimeOfDay:
		return nil, fmt.Errorf("value: a time of day (%s) cannot be written as DIRAC JSON", v)
	case *Object:
		attrs, err := NormalizeJSON(v.Attrs)
		if err != nil {
			return nil, err
		}
		return &Object{Class: v.Class, Module: v.Module, Attrs: attrs.(*Dict)}, nil
	case nil, bool, float64, string, []byte, Date, *big.Int:
		return v, nil
	}
	if i, ok := asBigInt(v); ok {
		if i.IsInt64() {
			return i.Int64(), nil
		}
		return i, nil
	}
	return nil, fmt.Errorf("value: %T is not a DIRAC value", v)
}

func normalizeSlice(s []any) (any, error) {
	out := make([]any, len(s))
	for i, e := range s {
		n, err := NormalizeJSON(e)
		if err != nil {
			return nil, fmt.Errorf("item %d: %w", i, err)
		}
		out[i] = n
	}
	return out, nil
}
