package compat

import (
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/diracgo/diracrpc/jencode"
	"github.com/diracgo/diracrpc/value"
)

// LoadFile reads calls from a YAML (.yaml, .yml) or JSON (anything else)
// file; see ParseYAML and ParseJSON.
func LoadFile(path string) ([]Call, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("compat: %w", err)
	}
	var calls []Call
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml":
		calls, err = ParseYAML(data)
	default:
		calls, err = ParseJSON(data)
	}
	if err != nil {
		return nil, fmt.Errorf("compat: %s: %w", path, err)
	}
	return calls, nil
}

// ParseJSON reads calls from DIRAC JSON: either a list of calls or a dict
// with a "calls" list. Each call is a dict:
//
//	{"name": "optional label", "method": "add", "args": [2, 3],
//	 "expect": {"ok": true, "value": 5, "errno": 1111, "message": "...",
//	            "message_contains": "...", "allow": ["key-order"], "strict": false}}
//
// Arguments and expected values use DIRAC's JSON forms: {"__dCls": "dt",
// "obj": "2024-01-02 03:04:05"} for a datetime, "date" and "b64" likewise.
func ParseJSON(data []byte) ([]Call, error) {
	v, err := jencode.Decode(data)
	if err != nil {
		return nil, err
	}
	return callsFrom(v)
}

// ParseYAML reads calls in the layout of ParseJSON, written in YAML. YAML
// adds what JSON lacks: non-string dict keys ({1: one} has an int key), a
// sequence tagged !tuple is a tuple, !!binary is bytes, and an unquoted
// timestamp is a datetime. DIRAC JSON forms ({__dCls: dt, ...}) work too.
func ParseYAML(data []byte) ([]Call, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, err
	}
	if doc.Kind == 0 {
		return nil, errors.New("empty document")
	}
	v, err := fromYAML(&doc, 0)
	if err != nil {
		return nil, err
	}
	return callsFrom(v)
}

func fromYAML(n *yaml.Node, depth int) (any, error) {
	if depth > value.MaxDepth {
		return nil, value.ErrTooDeep
	}
	where := func(err error) error { return fmt.Errorf("line %d: %w", n.Line, err) }
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return fromYAML(n.Content[0], depth+1)
	case yaml.AliasNode:
		return fromYAML(n.Alias, depth+1)
	case yaml.SequenceNode:
		items := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			v, err := fromYAML(c, depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, v)
		}
		if n.Tag == "!tuple" {
			return value.Tuple(items), nil
		}
		return items, nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if k := n.Content[i]; k.Kind == yaml.ScalarNode && k.Value == "__dCls" {
				return dclsFromYAML(n, depth)
			}
		}
		d := value.NewDict()
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, err := fromYAML(n.Content[i], depth+1)
			if err != nil {
				return nil, err
			}
			if !value.Hashable(k) {
				return nil, where(fmt.Errorf("a %s cannot be a dict key", value.TypeName(k)))
			}
			v, err := fromYAML(n.Content[i+1], depth+1)
			if err != nil {
				return nil, err
			}
			d.Set(k, v)
		}
		return d, nil
	case yaml.ScalarNode:
		v, err := scalarFromYAML(n)
		if err != nil {
			return nil, where(err)
		}
		return v, nil
	}
	return nil, where(fmt.Errorf("unsupported YAML node kind %d", n.Kind))
}

func scalarFromYAML(n *yaml.Node) (any, error) {
	switch n.ShortTag() {
	case "!!null":
		return nil, nil
	case "!!bool":
		var b bool
		err := n.Decode(&b)
		return b, err
	case "!!int":
		s := strings.ReplaceAll(n.Value, "_", "")
		if i, err := strconv.ParseInt(s, 0, 64); err == nil {
			return i, nil
		}
		i, ok := new(big.Int).SetString(s, 0)
		if !ok {
			return nil, fmt.Errorf("bad integer %q", n.Value)
		}
		return i, nil
	case "!!float":
		// YAML resolves integers beyond 64 bits as floats; Python keeps them.
		if n.Style&yaml.TaggedStyle == 0 && isDecimalInt(n.Value) {
			if i, ok := new(big.Int).SetString(n.Value, 10); ok {
				return i, nil
			}
		}
		var f float64
		err := n.Decode(&f)
		return f, err
	case "!!binary":
		return base64.StdEncoding.DecodeString(strings.Join(strings.Fields(n.Value), ""))
	case "!!timestamp":
		var t time.Time
		if err := n.Decode(&t); err != nil {
			return nil, err
		}
		return t.UTC(), nil
	case "!!str":
		return n.Value, nil
	}
	return nil, fmt.Errorf("unsupported YAML tag %s", n.Tag)
}

// dclsFromYAML reads a DIRAC JSON object form written in YAML by turning it
// into JSON and letting jencode apply DIRAC's object hook.
func dclsFromYAML(n *yaml.Node, depth int) (any, error) {
	d := value.NewDict()
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, err := fromYAML(n.Content[i], depth+1)
		if err != nil {
			return nil, err
		}
		v, err := fromYAML(n.Content[i+1], depth+1)
		if err != nil {
			return nil, err
		}
		d.Set(k, v)
	}
	text, err := jencode.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	v, err := jencode.Decode(text)
	if err != nil {
		return nil, fmt.Errorf("line %d: %w", n.Line, err)
	}
	return v, nil
}

func callsFrom(v any) ([]Call, error) {
	if d, ok := v.(*value.Dict); ok {
		for _, k := range d.Keys() {
			if k != "calls" {
				return nil, fmt.Errorf("unknown top-level key %s (want \"calls\")", Repr(k))
			}
		}
		v, _ = d.Lookup("calls")
	}
	items, ok := value.Items(v)
	if !ok {
		return nil, fmt.Errorf("want a list of calls, got %s", value.TypeName(v))
	}
	calls := make([]Call, 0, len(items))
	for i, it := range items {
		c, err := callFrom(it)
		if err != nil {
			return nil, fmt.Errorf("call %d: %w", i, err)
		}
		calls = append(calls, c)
	}
	return calls, nil
}

func callFrom(v any) (Call, error) {
	d, ok := v.(*value.Dict)
	if !ok {
		return Call{}, fmt.Errorf("want a dict, got %s", value.TypeName(v))
	}
	var c Call
	for _, e := range d.Entries() {
		var err error
		switch e.Key {
		case "method":
			c.Method, err = str(e.Value, "method")
		case "name":
			c.Name, err = str(e.Value, "name")
		case "args":
			var ok bool
			if c.Args, ok = value.Items(e.Value); !ok {
				err = fmt.Errorf("args must be a list, got %s", value.TypeName(e.Value))
			}
		case "expect":
			c.Expect, err = expectFrom(e.Value)
		default:
			err = fmt.Errorf("unknown key %s (want method, args, name, expect)", Repr(e.Key))
		}
		if err != nil {
			return Call{}, err
		}
	}
	if c.Method == "" {
		return Call{}, errors.New("no method")
	}
	if c.Args == nil {
		c.Args = []any{}
	}
	return c, nil
}

func str(v any, what string) (string, error) {
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string, got %s", what, value.TypeName(v))
	}
	return s, nil
}

func expectFrom(v any) (*Expect, error) {
	d, ok := v.(*value.Dict)
	if !ok {
		return nil, fmt.Errorf("expect must be a dict, got %s", value.TypeName(v))
	}
	x := &Expect{}
	for _, e := range d.Entries() {
		var err error
		switch e.Key {
		case "ok":
			b, ok := e.Value.(bool)
			if !ok {
				return nil, errors.New("expect.ok must be a bool")
			}
			x.OK = &b
		case "value":
			x.Value, x.HasValue = e.Value, true
		case "errno":
			n, ok := e.Value.(int64)
			if !ok {
				return nil, errors.New("expect.errno must be an int")
			}
			i := int(n)
			x.Errno = &i
		case "message":
			x.Message, err = str(e.Value, "expect.message")
		case "message_contains":
			x.MessageContains, err = str(e.Value, "expect.message_contains")
		case "strict":
			b, ok := e.Value.(bool)
			if !ok {
				return nil, errors.New("expect.strict must be a bool")
			}
			x.Strict = b
		case "allow":
			items, ok := value.Items(e.Value)
			if !ok {
				return nil, errors.New("expect.allow must be a list of kinds")
			}
			for _, it := range items {
				s, _ := it.(string)
				k, ok := ParseKind(s)
				if !ok {
					return nil, fmt.Errorf("expect.allow: unknown kind %s (known: %s)", Repr(it), kindList())
				}
				x.Allow = append(x.Allow, k)
			}
		default:
			err = fmt.Errorf("unknown key expect.%s", Repr(e.Key))
		}
		if err != nil {
			return nil, err
		}
	}
	return x, nil
}

func kindList() string {
	ks := Kinds()
	s := make([]string, len(ks))
	for i, k := range ks {
		s[i] = string(k)
	}
	return strings.Join(s, ", ")
}

func isDecimalInt(s string) bool {
	s = strings.TrimPrefix(strings.TrimPrefix(s, "-"), "+")
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
