package credentials

import (
	"crypto/x509"
	"net"
	"strings"
)

// certNames lists the names the host-name check looks at, M2Crypto style:
// the DNS and IP subjectAltName entries when there is at least one, else the
// subject CNs. The strings are prefixed DNS:, IP: or CN: for error messages.
func certNames(c *x509.Certificate) (names []string, fromSAN bool) {
	for _, d := range c.DNSNames {
		names = append(names, "DNS:"+d)
	}
	for _, ip := range c.IPAddresses {
		names = append(names, "IP:"+ip.String())
	}
	if len(names) > 0 {
		return names, true
	}
	for _, cn := range subjectCNs(c) {
		names = append(names, "CN:"+cn)
	}
	return names, false
}

func subjectCNs(c *x509.Certificate) []string {
	rdns, err := parseRawName(c.RawSubject)
	if err != nil {
		if c.Subject.CommonName != "" {
			return []string{c.Subject.CommonName}
		}
		return nil
	}
	var out []string
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if atv.Type.Equal(oidCommonName) {
				out = append(out, string(atv.Value.Bytes))
			}
		}
	}
	return out
}

// VerifyHostname checks that the server certificate is valid for host with
// DIRAC's rules (M2Crypto's Checker for DISET, OpenSSL with CN fallback for
// HTTPS): subjectAltName DNS/IP entries if any exist, else the subject CN;
// case-insensitive; one "*" matching any run of characters other than ".";
// wildcards never match IP addresses. A mismatch is a *VerifyError listing the
// names the certificate carries.
func VerifyHostname(c *x509.Certificate, host string) error {
	host = strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), ".")
	names, fromSAN := certNames(c)
	hostIP := net.ParseIP(host)
	if fromSAN {
		for _, ip := range c.IPAddresses {
			if hostIP != nil && ip.Equal(hostIP) {
				return nil
			}
		}
		for _, d := range c.DNSNames {
			if matchHostname(host, d) {
				return nil
			}
		}
	} else {
		for _, cn := range subjectCNs(c) {
			if matchHostname(host, cn) {
				return nil
			}
		}
	}
	detail := ""
	if len(names) == 0 {
		detail = "certificate has neither subjectAltName DNS/IP entries nor a CN"
		names = []string{"(none)"}
	}
	return &VerifyError{Reason: ReasonHostnameMismatch, Subject: SubjectDN(c), Issuer: IssuerDN(c), Host: host, Names: names, Detail: detail}
}

// matchHostname is M2Crypto's _match: exact (case-insensitive) match, or one
// "*" standing for [^.]*, never for numeric IPs.
func matchHostname(host, pattern string) bool {
	host, pattern = strings.ToLower(host), strings.ToLower(strings.TrimSuffix(pattern, "."))
	if host == pattern {
		return true
	}
	if strings.Count(pattern, "*") != 1 || strings.Contains(pattern, `\`) {
		return false
	}
	if isNumericIP(host) || isNumericIP(strings.ReplaceAll(pattern, "*", "")) {
		return false
	}
	star := strings.IndexByte(pattern, '*')
	prefix, suffix := pattern[:star], pattern[star+1:]
	if len(host) < len(prefix)+len(suffix) || !strings.HasPrefix(host, prefix) || !strings.HasSuffix(host, suffix) {
		return false
	}
	return !strings.Contains(host[len(prefix):len(host)-len(suffix)], ".")
}

// isNumericIP mirrors M2Crypto's dotted-quad test (\d+\.\d+\.\d+\.\d+) plus IPv6.
func isNumericIP(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) == 4 {
		all := true
		for _, p := range parts {
			if p == "" || strings.Trim(p, "0123456789") != "" {
				all = false
			}
		}
		if all {
			return true
		}
	}
	return strings.Contains(s, ":") && net.ParseIP(s) != nil
}
