package credentials

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// rawATV is one attribute of a distinguished name with its value left encoded,
// so that string types and raw bytes survive exactly as OpenSSL sees them.
type rawATV struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rawRDNSET is one relative distinguished name (the "SET" suffix tells
// encoding/asn1 to expect a SET OF).
type rawRDNSET []rawATV

func parseRawName(der []byte) ([]rawRDNSET, error) {
	var rdns []rawRDNSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil {
		return nil, fmt.Errorf("credentials: parse distinguished name: %w", err)
	}
	if len(rest) != 0 {
		return nil, errors.New("credentials: trailing data after distinguished name")
	}
	return rdns, nil
}

// OpenSSL short names (OBJ_nid2sn) for the attributes found in grid DNs.
// Anything else is printed as a dotted OID, as OpenSSL does for unknown NIDs.
var shortNames = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.4":                    "SN",
	"2.5.4.5":                    "serialNumber",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.9":                    "street",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.12":                   "title",
	"2.5.4.13":                   "description",
	"2.5.4.15":                   "businessCategory",
	"2.5.4.17":                   "postalCode",
	"2.5.4.41":                   "name",
	"2.5.4.42":                   "GN",
	"2.5.4.43":                   "initials",
	"2.5.4.44":                   "generationQualifier",
	"2.5.4.46":                   "dnQualifier",
	"2.5.4.65":                   "pseudonym",
	"2.5.4.97":                   "organizationIdentifier",
	"1.2.840.113549.1.9.1":       "emailAddress",
	"1.2.840.113549.1.9.2":       "unstructuredName",
	"0.9.2342.19200300.100.1.1":  "UID",
	"0.9.2342.19200300.100.1.25": "DC",
}

var shortToOID = func() map[string]string {
	m := make(map[string]string, len(shortNames))
	for oid, sn := range shortNames {
		m[sn] = oid
	}
	return m
}()

// ASN.1 universal string tags used below.
const (
	tagUTF8String      = 12
	tagPrintableString = 19
	tagT61String       = 20
	tagIA5String       = 22
	tagVisibleString   = 26
	tagGeneralString   = 27
	tagUniversalString = 28
	tagBMPString       = 30
)

// OneLine formats a DER-encoded X.509 name (such as Certificate.RawSubject) the
// way OpenSSL 3's X509_NAME_oneline does, which is what DIRAC (through M2Crypto)
// uses for every DN: attributes in certificate order, each as /<short name>=<value>,
// bytes outside printable ASCII as \xHH, "/" and "+" inside a value escaped
// with a backslash, and the members of a multi-valued RDN joined with "+".
// Real DIRAC (M2Crypto 0.38 on OpenSSL 3.0.22) reports CN=host/name as
// "/.../CN=host\/name" and a CN+UID RDN as "/.../CN=a+UID=b"; without the
// escape a CN value "x/CN=y" would print as another user's DN.
func OneLine(rawName []byte) (string, error) {
	rdns, err := parseRawName(rawName)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, rdn := range rdns {
		for i, atv := range rdn {
			name, ok := shortNames[atv.Type.String()]
			if !ok {
				name = atv.Type.String()
			}
			if i > 0 {
				b.WriteByte('+')
			} else {
				b.WriteByte('/')
			}
			b.WriteString(name)
			b.WriteByte('=')
			writeOneLineValue(&b, atv.Value)
		}
	}
	return b.String(), nil
}

func writeOneLineValue(b *strings.Builder, v asn1.RawValue) {
	q := v.Bytes
	doit := [4]bool{true, true, true, true}
	// OpenSSL's heuristic for UCS-4 data stored as GeneralString: print only the
	// low byte of each group of four when the three high bytes are all zero.
	if v.Class == asn1.ClassUniversal && v.Tag == tagGeneralString && len(q)%4 == 0 {
		var nz [4]bool
		for j, c := range q {
			if c != 0 {
				nz[j&3] = true
			}
		}
		if !(nz[0] || nz[1] || nz[2]) {
			doit = [4]bool{false, false, false, true}
		}
	}
	const hex = "0123456789ABCDEF"
	for j, c := range q {
		if !doit[j&3] {
			continue
		}
		if c == '/' || c == '+' {
			b.WriteByte('\\')
			b.WriteByte(c)
			continue
		}
		if c < ' ' || c > '~' {
			b.WriteString(`\x`)
			b.WriteByte(hex[c>>4])
			b.WriteByte(hex[c&15])
			continue
		}
		b.WriteByte(c)
	}
}

// SubjectDN returns the certificate's subject in OpenSSL oneline form.
func SubjectDN(c *x509.Certificate) string {
	s, err := OneLine(c.RawSubject)
	if err != nil {
		return c.Subject.String()
	}
	return s
}

// IssuerDN returns the certificate's issuer in OpenSSL oneline form.
func IssuerDN(c *x509.Certificate) string {
	s, err := OneLine(c.RawIssuer)
	if err != nil {
		return c.Issuer.String()
	}
	return s
}

// DNAttribute is one attribute of a DN string: its OpenSSL short name (or
// dotted OID) and value.
type DNAttribute struct {
	Name  string
	Value string
}

// OID returns the attribute's object identifier in dotted form, or "" if its
// short name is unknown to this package.
func (a DNAttribute) OID() string {
	if oid, ok := shortToOID[a.Name]; ok {
		return oid
	}
	if strings.IndexFunc(a.Name, func(r rune) bool { return r != '.' && (r < '0' || r > '9') }) < 0 {
		return a.Name
	}
	return ""
}

// ParseDN splits a DN in OpenSSL oneline form (/C=ch/O=DIRAC/CN=user) into its
// attributes. A "/" that is escaped ("\/", as OpenSSL 3 prints it) or not
// followed by "<name>=" is taken as part of the value, so both "CN=host\/name"
// and the older unescaped "CN=host/name" survive; values are returned as
// printed, escapes included.
func ParseDN(dn string) ([]DNAttribute, error) {
	if !strings.HasPrefix(dn, "/") {
		return nil, fmt.Errorf("credentials: DN %q does not start with /", dn)
	}
	var attrs []DNAttribute
	rest := dn[1:]
	for rest != "" {
		eq := strings.IndexByte(rest, '=')
		if eq <= 0 {
			return nil, fmt.Errorf("credentials: DN %q: attribute without name=value", dn)
		}
		name := rest[:eq]
		if strings.ContainsAny(name, "/ ") {
			return nil, fmt.Errorf("credentials: DN %q: bad attribute name %q", dn, name)
		}
		val := rest[eq+1:]
		end := len(val)
		for i := 0; i < len(val); i++ {
			if val[i] == '\\' && i+1 < len(val) && (val[i+1] == '/' || val[i+1] == '+') {
				i++ // an escaped "/" or "+" (OpenSSL 3) stays in the value
				continue
			}
			if val[i] == '/' && isAttrStart(val[i+1:]) {
				end = i
				break
			}
		}
		attrs = append(attrs, DNAttribute{Name: name, Value: val[:end]})
		if end == len(val) {
			break
		}
		rest = val[end+1:]
	}
	if len(attrs) == 0 {
		return nil, fmt.Errorf("credentials: DN %q is empty", dn)
	}
	return attrs, nil
}

func isAttrStart(s string) bool {
	eq := strings.IndexByte(s, '=')
	if eq <= 0 {
		return false
	}
	name := s[:eq]
	if _, ok := shortToOID[name]; ok {
		return true
	}
	// A dotted OID also counts.
	return strings.Trim(name, "0123456789.") == "" && strings.Contains(name, ".")
}

// SubjectHash returns OpenSSL's X509_NAME_hash of the certificate's subject as
// the 8 hex digits `openssl x509 -subject_hash` prints and capath directories
// use as file names (<hash>.0).
func SubjectHash(c *x509.Certificate) (string, error) {
	return NameHash(c.RawSubject)
}

// NameHash returns OpenSSL's X509_NAME_hash of a DER-encoded name: SHA-1 of
// the canonical encoding, first four bytes read little-endian.
func NameHash(rawName []byte) (string, error) {
	canon, err := canonicalName(rawName)
	if err != nil {
		return "", err
	}
	sum := sha1.Sum(canon)
	return fmt.Sprintf("%08x", binary.LittleEndian.Uint32(sum[:4])), nil
}

// canonicalName reproduces OpenSSL's x509_name_canon: every string value is
// converted to UTF-8, trimmed, internal whitespace runs collapsed to one space,
// ASCII lower-cased and re-encoded as UTF8String; the RDN SETs are concatenated
// without the outer SEQUENCE.
func canonicalName(rawName []byte) ([]byte, error) {
	rdns, err := parseRawName(rawName)
	if err != nil {
		return nil, err
	}
	var out []byte
	for _, rdn := range rdns {
		var elems [][]byte
		for _, atv := range rdn {
			val := atv.Value.FullBytes
			if s, ok := canonicalString(atv.Value); ok {
				val, err = asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: tagUTF8String, Bytes: s})
				if err != nil {
					return nil, err
				}
			}
			oid, err := asn1.Marshal(atv.Type)
			if err != nil {
				return nil, err
			}
			seq, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: append(oid, val...)})
			if err != nil {
				return nil, err
			}
			elems = append(elems, seq)
		}
		// DER SET OF: elements sorted by their encoding.
		sort.Slice(elems, func(i, j int) bool { return bytes.Compare(elems[i], elems[j]) < 0 })
		set, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSet, IsCompound: true, Bytes: bytes.Join(elems, nil)})
		if err != nil {
			return nil, err
		}
		out = append(out, set...)
	}
	return out, nil
}

func canonicalString(v asn1.RawValue) ([]byte, bool) {
	if v.Class != asn1.ClassUniversal {
		return nil, false
	}
	var u []byte
	switch v.Tag {
	case tagUTF8String, tagPrintableString, tagIA5String, tagVisibleString:
		u = append([]byte(nil), v.Bytes...)
	case tagT61String: // OpenSSL treats T61String as Latin-1
		for _, c := range v.Bytes {
			u = utf8.AppendRune(u, rune(c))
		}
	case tagBMPString:
		if len(v.Bytes)%2 != 0 {
			return nil, false
		}
		units := make([]uint16, len(v.Bytes)/2)
		for i := range units {
			units[i] = binary.BigEndian.Uint16(v.Bytes[2*i:])
		}
		u = []byte(string(utf16.Decode(units)))
	case tagUniversalString:
		if len(v.Bytes)%4 != 0 {
			return nil, false
		}
		for i := 0; i < len(v.Bytes); i += 4 {
			u = utf8.AppendRune(u, rune(binary.BigEndian.Uint32(v.Bytes[i:])))
		}
	default:
		return nil, false
	}
	isSpace := func(c byte) bool { return c == ' ' || (c >= '\t' && c <= '\r') }
	for len(u) > 0 && isSpace(u[0]) {
		u = u[1:]
	}
	for len(u) > 0 && isSpace(u[len(u)-1]) {
		u = u[:len(u)-1]
	}
	out := make([]byte, 0, len(u))
	for i := 0; i < len(u); {
		c := u[i]
		switch {
		case c >= 0x80:
			out = append(out, c)
			i++
		case isSpace(c):
			out = append(out, ' ')
			for i < len(u) && isSpace(u[i]) {
				i++
			}
		default:
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
			i++
		}
	}
	return out, true
}
