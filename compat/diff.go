package compat

import (
	"fmt"
	"math/big"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// Diff walks a and b (values of the generic model, see ToModel) in parallel
// and returns every difference, each classified at its path. Both sides are
// treated alike: which one went through JSON is not assumed, so a tuple
// against a list is TupleBecameList whichever side holds the tuple. No
// differences means value.Equal(a, b).
func Diff(a, b any) []Difference {
	var d differ
	d.walk("$", a, b, 0)
	return d.out
}

type differ struct{ out []Difference }

func (d *differ) add(path string, k Kind, a, b any, detail string) {
	d.out = append(d.out, Difference{Path: path, Kind: k, A: shortRepr(a), B: shortRepr(b), Detail: detail})
}

func (d *differ) walk(path string, a, b any, depth int) {
	if depth > value.MaxDepth {
		if !value.Equal(a, b) {
			d.add(path, ValueMismatch, a, b, "nested too deep to compare further")
		}
		return
	}
	switch av := a.(type) {
	case []any:
		switch bv := b.(type) {
		case []any:
			d.seq(path, av, bv, depth)
			return
		case value.Tuple:
			d.add(path, TupleBecameList, a, b, "list on side A, tuple on side B")
			d.seq(path, av, bv, depth)
			return
		}
	case value.Tuple:
		switch bv := b.(type) {
		case value.Tuple:
			d.seq(path, av, bv, depth)
			return
		case []any:
			d.add(path, TupleBecameList, a, b, "tuple on side A, list on side B")
			d.seq(path, av, bv, depth)
			return
		}
	case *value.Dict:
		if bv, ok := b.(*value.Dict); ok {
			d.dict(path, av, bv, depth)
			return
		}
	case *value.Object:
		if bv, ok := b.(*value.Object); ok && av != nil && bv != nil {
			if av.Class != bv.Class || av.Module != bv.Module {
				d.add(path, ValueMismatch, a, b, fmt.Sprintf("object class %s.%s vs %s.%s",
					av.Module, av.Class, bv.Module, bv.Class))
				return
			}
			d.dict(path, orEmpty(av.Attrs), orEmpty(bv.Attrs), depth)
			return
		}
	case time.Time:
		if bv, ok := b.(time.Time); ok {
			d.datetime(path, av, bv)
			return
		}
	case string:
		if bv, ok := b.([]byte); ok {
			if av == string(bv) {
				d.add(path, BytesBecameStr, a, b, "str on side A, bytes on side B")
			} else {
				d.add(path, ValueMismatch, a, b, "str on side A, bytes on side B, different content")
			}
			return
		}
	case []byte:
		if bv, ok := b.(string); ok {
			if string(av) == bv {
				d.add(path, BytesBecameStr, a, b, "bytes on side A, str on side B")
			} else {
				d.add(path, ValueMismatch, a, b, "bytes on side A, str on side B, different content")
			}
			return
		}
	}
	if value.Equal(a, b) {
		return
	}
	ta, tb := value.TypeName(a), value.TypeName(b)
	if ta != tb {
		d.add(path, TypeMismatch, a, b, ta+" vs "+tb)
		return
	}
	d.add(path, ValueMismatch, a, b, "")
}

func orEmpty(d *value.Dict) *value.Dict {
	if d == nil {
		return &value.Dict{}
	}
	return d
}

func (d *differ) seq(path string, a, b []any, depth int) {
	n := min(len(a), len(b))
	if len(a) != len(b) {
		d.add(path, LengthMismatch, len(a), len(b), fmt.Sprintf("%d items vs %d", len(a), len(b)))
	}
	for i := range n {
		d.walk(pathIndex(path, i), a[i], b[i], depth+1)
	}
}

func (d *differ) datetime(path string, a, b time.Time) {
	a, b = a.UTC(), b.UTC()
	if a.Equal(b) {
		return
	}
	sa, sb := a.Truncate(time.Second), b.Truncate(time.Second)
	// JSON drops the fraction: same second, whole seconds on one side.
	if sa.Equal(sb) && (a.Equal(sa) || b.Equal(sb)) {
		d.add(path, MicrosecondsDropped, a, b, "")
		return
	}
	d.add(path, ValueMismatch, a, b, fmt.Sprintf("%s apart", b.Sub(a)))
}

// dict matches the keys of a and b: exact keys first, then a non-string key
// against its JSON spelling on the other side. Keys left over are missing or
// extra, unless a JSON key collision explains them.
func (d *differ) dict(path string, a, b *value.Dict, depth int) {
	ea, eb := a.Entries(), b.Entries()
	match := make([]int, len(ea)) // index in eb, or -1
	used := make([]bool, len(eb))
	for i := range match {
		match[i] = -1
	}
	for i, e := range ea {
		for j, f := range eb {
			if !used[j] && sameKey(e.Key, f.Key) {
				match[i], used[j] = j, true
				break
			}
		}
	}
	stringified := make([]bool, len(ea))
	for i, e := range ea {
		if match[i] >= 0 {
			continue
		}
		for j, f := range eb {
			if !used[j] && jsonKeyMatch(e.Key, f.Key) {
				match[i], used[j], stringified[i] = j, true, true
				break
			}
		}
	}
	for i, e := range ea {
		if match[i] >= 0 {
			continue
		}
		if j := collision(e.Key, eb); j >= 0 {
			d.add(pathKey(path, e.Key), KeysCollided, e.Key, eb[j].Key,
				"the key's JSON spelling is already taken on side B")
			continue
		}
		d.add(pathKey(path, e.Key), MissingKey, e.Value, nil, "key only on side A")
	}
	for j, f := range eb {
		if used[j] {
			continue
		}
		if i := collision(f.Key, ea); i >= 0 {
			d.add(pathKey(path, f.Key), KeysCollided, ea[i].Key, f.Key,
				"the key's JSON spelling is already taken on side A")
			continue
		}
		d.add(pathKey(path, f.Key), ExtraKey, nil, f.Value, "key only on side B")
	}
	// Order: the matched entries must appear in the same order on both sides.
	last, ordered := -1, true
	for i := range ea {
		if match[i] < 0 {
			continue
		}
		if match[i] < last {
			ordered = false
			break
		}
		last = match[i]
	}
	if !ordered {
		d.add(path, KeyOrder, a.Keys(), b.Keys(), "same keys, different order")
	}
	for i, e := range ea {
		j := match[i]
		if j < 0 {
			continue
		}
		if stringified[i] {
			d.add(pathKey(path, e.Key), KeyBecameString, e.Key, eb[j].Key,
				value.TypeName(e.Key)+" key vs "+value.TypeName(eb[j].Key)+" key")
		}
		// Where keys collided, JSON kept the value of the last of them (at
		// the first one's position): compare with that one.
		d.walk(pathKey(path, e.Key), ea[lastSpelling(ea, match, i, eb[j].Key)].Value, eb[j].Value, depth+1)
	}
}

// lastSpelling returns the last unmatched entry of ea (one that collided)
// whose key JSON spells as key (a string), or i when no later one does.
func lastSpelling(ea []value.Entry, match []int, i int, key any) int {
	ks, ok := key.(string)
	if !ok {
		return i
	}
	last := i
	for k := i + 1; k < len(ea); k++ {
		if match[k] >= 0 {
			continue
		}
		if js, err := value.JSONKey(ea[k].Key); err == nil && js == ks {
			last = k
		}
	}
	return last
}

// sameKey is exact key identity: same type and value (1 and 1.0 and True are
// different keys here, although Python would merge them in one dict).
func sameKey(a, b any) bool {
	if value.TypeName(a) != value.TypeName(b) {
		return false
	}
	return value.Equal(a, b)
}

// jsonKeyMatch reports whether one key is a non-string key and the other is
// its JSON spelling.
func jsonKeyMatch(a, b any) bool {
	sa, aStr := a.(string)
	sb, bStr := b.(string)
	switch {
	case aStr && !bStr:
		k, err := value.JSONKey(b)
		return err == nil && k == sa
	case bStr && !aStr:
		k, err := value.JSONKey(a)
		return err == nil && k == sb
	}
	return false
}

// collision returns the index in other of a string key equal to k's JSON
// spelling (k not a string), or -1.
func collision(k any, other []value.Entry) int {
	if _, ok := k.(string); ok {
		return -1
	}
	if _, ok := k.(*big.Int); !ok && !isJSONKeyType(k) {
		return -1
	}
	js, err := value.JSONKey(k)
	if err != nil {
		return -1
	}
	for j, f := range other {
		if s, ok := f.Key.(string); ok && s == js {
			return j
		}
	}
	return -1
}

func isJSONKeyType(k any) bool {
	switch k.(type) {
	case nil, bool, int64, float64:
		return true
	}
	return false
}
