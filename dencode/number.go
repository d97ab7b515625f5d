package dencode

import (
	"math"
	"math/big"
	"strconv"
)

// maxIntDigits is CPython's limit on int() of a decimal string (3.11+:
// sys.int_info.str_digits_check_threshold); DIRAC peers refuse longer
// integers, and it keeps big-number parsing cheap on hostile input.
const maxIntDigits = 4300

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'
}

func trimSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// parseInt parses b as Python's int(b) does in base 10: surrounding ASCII
// whitespace, an optional sign, digits with single underscores between them,
// leading zeros allowed. Values beyond int64 come back as a *big.Int.
func parseInt(b []byte) (int64, *big.Int, bool) {
	// Fast path: what encoders write ("-42"), up to 18 digits.
	if n := len(b); n > 0 && n <= 19 {
		i, neg := 0, false
		if b[0] == '-' {
			i, neg = 1, true
		}
		if i < n && n-i <= 18 {
			var v int64
			j := i
			for ; j < n; j++ {
				c := b[j]
				if c < '0' || c > '9' {
					break
				}
				v = v*10 + int64(c-'0')
			}
			if j == n {
				if neg {
					v = -v
				}
				return v, nil, true
			}
		}
	}
	return parseIntSlow(b)
}

func parseIntSlow(b []byte) (int64, *big.Int, bool) {
	b = trimSpace(b)
	neg := false
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		neg = b[0] == '-'
		b = b[1:]
	}
	digits := make([]byte, 0, len(b)+1)
	if neg {
		digits = append(digits, '-')
	}
	prevDigit := false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			digits = append(digits, c)
			prevDigit = true
		case c == '_' && prevDigit:
			prevDigit = false
		default:
			return 0, nil, false
		}
	}
	n := len(digits)
	if neg {
		n--
	}
	if n == 0 || !prevDigit || n > maxIntDigits {
		return 0, nil, false
	}
	if v, err := strconv.ParseInt(string(digits), 10, 64); err == nil {
		return v, nil, true
	}
	v, ok := new(big.Int).SetString(string(digits), 10)
	if !ok {
		return 0, nil, false
	}
	return 0, v, true
}

// cleanFloat checks b against Python's float() syntax (whitespace, sign,
// digits with single underscores, optional fraction and E exponent, or
// inf/infinity/nan in any case) and returns it without the underscores and
// spaces, ready for strconv.ParseFloat, which alone would accept hex floats
// and refuse the underscores.
func cleanFloat(dst []byte, b []byte) ([]byte, bool) {
	b = trimSpace(b)
	if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
		dst = append(dst, b[0])
		b = b[1:]
	}
	switch string(lower(b)) {
	case "inf", "infinity", "nan":
		return append(dst, b...), true
	}
	// digits [. digits] | . digits, then [eE [sign] digits]
	digitRun := func(allowEmpty bool) bool {
		n, prevDigit := 0, false
		for len(b) > 0 {
			c := b[0]
			if c >= '0' && c <= '9' {
				dst = append(dst, c)
				n++
				prevDigit = true
			} else if c == '_' && prevDigit && len(b) > 1 && b[1] >= '0' && b[1] <= '9' {
				prevDigit = false
			} else {
				break
			}
			b = b[1:]
		}
		return n > 0 || allowEmpty
	}
	digitRun(true)
	hadInt := len(dst) > 0 && dst[len(dst)-1] >= '0' && dst[len(dst)-1] <= '9'
	if len(b) > 0 && b[0] == '.' {
		dst = append(dst, '.')
		b = b[1:]
		before := len(dst)
		digitRun(true)
		if !hadInt && len(dst) == before {
			return nil, false
		}
	} else if !hadInt {
		return nil, false
	}
	if len(b) > 0 && (b[0] == 'e' || b[0] == 'E') {
		dst = append(dst, 'e')
		b = b[1:]
		if len(b) > 0 && (b[0] == '+' || b[0] == '-') {
			dst = append(dst, b[0])
			b = b[1:]
		}
		if !digitRun(false) {
			return nil, false
		}
	}
	return dst, len(b) == 0
}

// lower returns b lowercased if it is short (for the inf/nan words).
func lower(b []byte) []byte {
	if len(b) > 8 {
		return nil
	}
	var out [8]byte
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return out[:len(b)]
}

// parseFloat parses the body of "f...e" as Python's float() does.
func parseFloat(b []byte) (float64, bool) {
	var buf [64]byte
	clean, ok := cleanFloat(buf[:0], b)
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(clean), 64)
	if err != nil && !isRange(err) { // float("1E400") is inf in Python
		return 0, false
	}
	return f, true
}

func isRange(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// parseExpFloat handles "f<mant>e<sign><exp>e", which DIRAC computes as
// float(mant) * 10**int(exp). Go takes the correctly rounded value of the
// whole text instead (it can differ from Python's by an ulp, PROTOCOL.md
// §2.3). Like Python, an exponent above 308 is an error (10**exp does not fit
// a float), whatever the mantissa.
func parseExpFloat(mant, exp []byte) (float64, bool) {
	e, eb, ok := parseInt(exp)
	if !ok {
		return 0, false
	}
	if eb != nil {
		if eb.Sign() > 0 {
			return 0, false
		}
		e = math.MinInt32
	}
	if e > 308 {
		return 0, false
	}
	var buf [64]byte
	clean, ok := cleanFloat(buf[:0], mant)
	if !ok {
		return 0, false
	}
	hasExp := false
	for _, c := range clean {
		if c == 'e' || c == 'n' || c == 'i' { // own exponent, nan or inf
			hasExp = true
		}
	}
	if hasExp || e < -1000 {
		m, err := strconv.ParseFloat(string(clean), 64)
		if err != nil && !isRange(err) {
			return 0, false
		}
		return m * pow10(e), true
	}
	clean = append(clean, 'e')
	clean = strconv.AppendInt(clean, e, 10)
	f, err := strconv.ParseFloat(string(clean), 64)
	if err != nil && !isRange(err) {
		return 0, false
	}
	return f, true
}

func pow10(e int64) float64 {
	if e < -400 {
		return 0
	}
	return math.Pow10(int(e))
}
