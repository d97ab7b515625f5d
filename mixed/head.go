package mixed

// OKHead reports whether payload starts as an S_OK, {"OK": True, ...} in
// either encoding, and in which: the first key is OK and its value True,
// as DIRAC's S_OK and Go's diracrpc.OK write it. Only the head is read, so
// a caller that wants the answer undecoded (diracrpc.WithRawResult) tells
// an S_OK from anything else without decoding the rest. false says nothing
// about the payload: it may still be an S_OK written otherwise.
func OKHead(payload []byte) (Encoding, bool) {
	const dencodeHead = "ds2:OKb1"
	if len(payload) >= len(dencodeHead) && string(payload[:len(dencodeHead)]) == dencodeHead {
		return DEncode, true
	}
	p := skipSpace(payload, 0)
	for _, tok := range []string{"{", `"OK"`, ":", "true"} {
		if len(payload)-p < len(tok) || string(payload[p:p+len(tok)]) != tok {
			return JSON, false
		}
		p = skipSpace(payload, p+len(tok))
	}
	// "true" must be the whole value: a comma or the dict's end follows.
	return JSON, p < len(payload) && (payload[p] == ',' || payload[p] == '}')
}

// skipSpace skips JSON's whitespace from p.
func skipSpace(b []byte, p int) int {
	for p < len(b) && (b[p] == ' ' || b[p] == '\t' || b[p] == '\n' || b[p] == '\r') {
		p++
	}
	return p
}
