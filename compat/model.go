package compat

import (
	"errors"
	"math/big"
	"time"

	"github.com/diracgo/diracrpc/value"
)

// ToModel converts v (the generic model or ordinary Go values: ints of any
// kind, maps, structs, slices...) into the generic model of package value,
// as an encoder would see it. Values are compared in the model so that
// int(1) and int64(1), or map[string]any and *value.Dict, are the same value.
func ToModel(v any) (any, error) {
	b := &builder{}
	if err := value.Walk(v, b); err != nil {
		return nil, err
	}
	if len(b.stack) != 0 {
		return nil, errors.New("compat: unterminated container")
	}
	return b.root, nil
}

// builder is a value.Emitter that rebuilds a model value.
type builder struct {
	root  any
	stack []*container
}

type container struct {
	kind   byte // 'l' list, 't' tuple, 'd' dict, 'o' object
	items  []any
	key    any
	hasKey bool
	dict   *value.Dict
	obj    *value.Object
}

func (b *builder) add(v any) error {
	if len(b.stack) == 0 {
		b.root = v
		return nil
	}
	c := b.stack[len(b.stack)-1]
	switch c.kind {
	case 'l', 't':
		c.items = append(c.items, v)
	default:
		if !c.hasKey {
			c.key, c.hasKey = v, true
			return nil
		}
		c.dict.Set(c.key, v)
		c.key, c.hasKey = nil, false
	}
	return nil
}

func (b *builder) Nil() error              { return b.add(nil) }
func (b *builder) Bool(v bool) error       { return b.add(v) }
func (b *builder) Int(i int64) error       { return b.add(i) }
func (b *builder) Float(f float64) error   { return b.add(f) }
func (b *builder) String(s string) error   { return b.add(s) }
func (b *builder) Time(t time.Time) error  { return b.add(t.UTC()) }
func (b *builder) Date(d value.Date) error { return b.add(d) }
func (b *builder) TimeOfDay(t value.TimeOfDay) error {
	return b.add(t)
}

func (b *builder) Uint(u uint64) error {
	if u <= 1<<63-1 {
		return b.add(int64(u))
	}
	return b.add(new(big.Int).SetUint64(u))
}

func (b *builder) BigInt(i *big.Int) error {
	if i.IsInt64() {
		return b.add(i.Int64())
	}
	return b.add(new(big.Int).Set(i))
}

func (b *builder) Bytes(p []byte) error { return b.add(append([]byte{}, p...)) }

func (b *builder) BeginList(n int) error {
	b.stack = append(b.stack, &container{kind: 'l', items: make([]any, 0, n)})
	return nil
}

func (b *builder) BeginTuple(n int) error {
	b.stack = append(b.stack, &container{kind: 't', items: make([]any, 0, n)})
	return nil
}

func (b *builder) BeginDict(int) error {
	c := &container{kind: 'd', dict: value.NewDict()}
	if n := len(b.stack); n > 0 && b.stack[n-1].kind == 'o' && b.stack[n-1].dict == nil {
		// The dict of an object's attributes.
		b.stack[n-1].dict = c.dict
		b.stack[n-1].obj.Attrs = c.dict
		c.kind = 'a'
	}
	b.stack = append(b.stack, c)
	return nil
}

func (b *builder) Object(class, module string) error {
	o := &value.Object{Class: class, Module: module}
	b.stack = append(b.stack, &container{kind: 'o', obj: o})
	return nil
}

func (b *builder) End() error {
	n := len(b.stack)
	if n == 0 {
		return errors.New("compat: End without container")
	}
	c := b.stack[n-1]
	b.stack = b.stack[:n-1]
	switch c.kind {
	case 'l':
		return b.add(c.items)
	case 't':
		return b.add(value.Tuple(c.items))
	case 'a':
		// The attributes of an object end; the object itself ends next.
		if len(b.stack) > 0 && b.stack[len(b.stack)-1].kind == 'o' {
			o := b.stack[len(b.stack)-1]
			b.stack = b.stack[:len(b.stack)-1]
			return b.add(o.obj)
		}
		return b.add(c.dict)
	case 'o':
		return b.add(c.obj)
	default:
		return b.add(c.dict)
	}
}
