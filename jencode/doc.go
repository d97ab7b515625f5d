// Package jencode implements DIRAC's JEncode: JSON exactly as Python's
// json.dumps writes it by default, with DIRAC's "__dCls" extensions.
//
// Encoding (Marshal, AppendMarshal) reproduces the bytes of DIRAC's encoder:
// ", " and ": " separators, every non-ASCII character as a \uXXXX escape,
// dict keys in order (Go maps sorted, see value.Walk), non-string keys
// converted as Python converts them, floats as Python's repr with NaN and
// Infinity, integers of any size, and
//
//	time.Time      {"__dCls": "dt", "obj": "YYYY-MM-DD HH:MM:SS"} (UTC, whole seconds)
//	value.Date     {"__dCls": "date", "obj": "YYYY-MM-DD"}
//	[]byte         {"__dCls": "b64", "obj": "<standard base64>"}
//	*value.Object  {"__dCls": Class, "__dMod": Module, attr: value, ...}
//
// A Go string is a sequence of bytes, as a DEncode string is: bytes that are
// not valid UTF-8 are written as the \udc80-\udcff escapes a Python peer
// writes for the same DEncode string (Python holds such bytes as
// "surrogateescape" lone surrogates).
//
// Decoding (Unmarshal, Decode) accepts what Python's json.loads accepts on
// bytes (NaN, Infinity, duplicate keys with the last value winning at the
// first key's position, integers of any size up to Python's 4300-digit
// limit, lone surrogate escapes, UTF-16 and UTF-32 input, a UTF-8 byte-order
// mark) and then applies DIRAC's object hook: "dt" gives time.Time, "date"
// value.Date, "b64" []byte, any other class *value.Object; objects without
// "__dCls" give *value.Dict. Lone surrogates \udc80-\udcff decode to the raw
// byte they stand for (Python's surrogateescape reversed), so binary strings
// survive a trip through JSON; other lone surrogates are kept as their
// three-byte WTF-8 form.
//
// Integers decode as int64 (*big.Int beyond 64 bits) and floats as float64;
// 1 and 1.0 stay apart in both directions.
//
// Like dencode, decoding builds a tree in batches rather than one allocation
// per value: a value kept from a large payload keeps its block (at most
// 32 KiB) alive; copy what you keep for long if that matters.
package jencode
