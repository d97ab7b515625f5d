// Package dencode implements DEncode, DIRAC's original bencode-like
// serialisation (PROTOCOL.md §2), byte-compatible with DIRAC's DEncode.py.
//
// Marshal accepts the generic model of package value and Go's ordinary types
// (see value.Walk). Unmarshal into *any gives the generic model: int64 (or
// *big.Int beyond 64 bits), float64, bool, nil, string (the bytes exactly as
// on the wire, invalid UTF-8 included: DEncode has no separate bytes type on
// the wire), []any, value.Tuple, *value.Dict (keys of any hashable kind, in
// wire order), time.Time (UTC), value.Date and value.TimeOfDay. Other targets
// are filled by value.Assign.
//
// Decoding accepts everything DIRAC's decoder accepts that a peer can send:
// the legacy I and u codes, b followed by any byte (True unless "0"), integers
// and lengths in the forms Python's int() takes (sign, surrounding spaces,
// leading zeros, single underscores between digits; up to CPython's 4300
// digits), floats as Python's float() takes them including the "f1e+20e"
// exponent form (read correctly rounded: Python's mantissa*10**exp can be an
// ulp off), datetimes, dates and times from tuples or lists of any valid
// length, and dict keys of any hashable kind (later duplicates overwrite, as in
// Python). It is stricter than DIRAC where DIRAC's leniency is an accident: a
// string shorter than its declared length (ErrTruncated; DIRAC silently
// returns the short string), empty input, datetime arguments that are not a
// tuple or list, and, for Unmarshal only, bytes after the value.
//
// Decoding is safe on hostile input: errors, never panics; nesting is limited
// to value.MaxDepth; nothing is allocated from a declared length before the
// bytes are there; dicts are built in linear time whatever their keys.
//
// Decoding is fast because a decoded tree is built in batches: its dicts,
// lists, strings, ints and datetimes are cut from shared blocks of at most
// 32 KiB instead of one allocation each (under 200 allocations for a 125 KB
// reply of 700 records, against 20 000 for encoding/json). The price is that
// a value kept from a large reply keeps its block alive; copy what you keep
// for long (strings.Clone, or Marshal and Unmarshal again) if that matters.
// jencode decodes the same way.
package dencode
