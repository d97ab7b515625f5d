package slab

import "encoding/binary"

// StringCache boxes short strings that repeat (dict keys, and values such as
// statuses and site names), so that each is stored once. It is
// direct-mapped: a fixed size (nothing for hostile input to grow), no hashing
// map, and a miss costs little more than no cache. The zero value is ready to
// use; it allocates its table on first use.
//
// It is meant to live across decodes (in a pooled decoder), so a string is
// cached only the second time its slot sees it, and then in an allocation of
// its own: a cached string cut from a Tree's batches would keep its whole
// batch alive as long as the cache. Strings seen once (IDs, file names) go to
// the Tree.
type StringCache struct {
	slots *[1024]struct {
		s    string
		v    any
		seen uint32 // hash of the string last seen but not cached, or 0
	}
}

// MaxCachedLen is the longest string a StringCache keeps.
const MaxCachedLen = 32

// Box returns b as a boxed string: the cached one if b was seen recently,
// else a new one cut from t.
func (c *StringCache) Box(b []byte, t *Tree) any {
	if len(b) == 0 || len(b) > MaxCachedLen {
		return t.Str(b)
	}
	if c.slots == nil {
		c.slots = new([1024]struct {
			s    string
			v    any
			seen uint32
		})
	}
	// The slot comes from the hash's top bits, the mark of a string seen
	// once from its low bits (a false match only costs an allocation).
	h := strHash(b)
	slot := &c.slots[h>>54]
	if slot.v != nil && slot.s == string(b) {
		return slot.v
	}
	if seen := uint32(h) | 1; slot.seen != seen {
		slot.seen = seen
		return t.Str(b)
	}
	str := string(b)
	var v any = str
	slot.s, slot.v, slot.seen = str, v, 0
	return v
}

// strHash hashes a string of 1 to MaxCachedLen bytes from its length and its
// first and last 8 bytes (all of it up to 16 bytes), cheaply: a collision
// only costs a cache miss.
func strHash(b []byte) uint64 {
	n := len(b)
	var first, last uint64
	switch {
	case n >= 8:
		first = binary.LittleEndian.Uint64(b)
		last = binary.LittleEndian.Uint64(b[n-8:])
	case n >= 4:
		first = uint64(binary.LittleEndian.Uint32(b))
		last = uint64(binary.LittleEndian.Uint32(b[n-4:]))
	default:
		first = uint64(b[0])<<16 | uint64(b[n/2])<<8 | uint64(b[n-1])
	}
	h := (first^0x9e3779b97f4a7c15)*0xbf58476d1ce4e5b9 ^ (last+uint64(n))*0x94d049bb133111eb
	return h ^ h>>31
}
