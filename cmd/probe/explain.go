package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// explain turns an error that kept a call from reaching or authenticating
// with a service into what went wrong and what to do about it.
func explain(err error) (what, fix string) {
	var fe *credentials.FileError
	var ve *credentials.VerifyError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var hostErr x509.HostnameError
	var uaErr x509.UnknownAuthorityError
	var recErr tls.RecordHeaderError
	var wpe *diracrpc.WrongProtocolError
	var refused *credentialRefused
	switch {
	case errors.As(err, &refused):
		what, fix = err.Error(), refused.fix
	case errors.As(err, &fe):
		what = fe.Error()
		switch {
		case errors.Is(fe, credentials.ErrExpired):
			fix = "your credential has expired: make a new proxy (dirac-proxy-init) or renew the certificate"
		case errors.Is(fe, credentials.ErrNoProxy):
			fix = "make a proxy (dirac-proxy-init), or give --proxy FILE or --cert/--key"
		case errors.Is(fe, credentials.ErrNoCAs):
			fix = "give --ca-dir DIR or set X509_CERT_DIR to a directory of CA certificates"
		case errors.Is(fe, credentials.ErrInsecurePermissions):
			fix = "chmod 600 " + fe.Path
		case fe.Fix != "":
			fix = fe.Fix
		default:
			fix = "check the file " + fe.Path
		}
	case errors.As(err, &ve):
		what = ve.Error()
		fix = verifyFix(ve)
	case errors.As(err, &hostErr):
		what = err.Error()
		fix = "the server certificate does not name this host; use a host name it carries"
	case errors.As(err, &uaErr):
		what = err.Error()
		fix = "the server's CA is not in your CA directory: give --ca-dir or set X509_CERT_DIR"
	case diracrpc.CodeOf(err) == diracrpc.CodeCircuitOpen:
		what, fix = err.Error(), "the client stopped calling after repeated failures; retry later"
	case errors.As(err, &wpe):
		what, fix = err.Error(), wpe.Fix()
		if wpe.Silent {
			// Only a possible cause: the server may as well be slow.
			other := "a DISET port"
			if wpe.Other == diracrpc.HTTPS {
				other = "an HTTPS port"
			}
			fix = "if this is " + other + ", " + fix
			if diracrpc.CodeOf(err) == diracrpc.CodeTimeout {
				fix = "the service did not answer in time: check it is up, or raise --timeout; " + fix
			}
		}
	case diracrpc.CodeOf(err) == diracrpc.CodeTimeout || errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		what, fix = err.Error(), "the service did not answer in time: check it is up, or raise --timeout"
	case diracrpc.CodeOf(err) == diracrpc.CodeNotFound:
		what, fix = err.Error(), "the server does not serve this service at this URL: check the path (DIRAC ≥ 8.1 names HTTPS services System/Tornado<Handler>)"
	case errors.As(err, &dnsErr):
		what, fix = err.Error(), "the host name does not resolve: check the URL"
	case errors.Is(err, syscall.ECONNREFUSED):
		what, fix = err.Error(), "nothing listens there: check the host, the port and that the service runs"
	case errors.Is(err, os.ErrNotExist):
		what, fix = err.Error(), "check the file name"
	case diracrpc.CodeOf(err) == diracrpc.CodeTLS && tlsAlert(err) != "":
		what = err.Error()
		fix = tlsAlert(err)
	case errors.As(err, &recErr):
		what = err.Error()
		fix = "the server does not speak TLS on this port: a plain dip:// port? Call it as dip://, or use the service's dips:// port"
	case errors.As(err, &opErr):
		what, fix = err.Error(), "check the URL and that the service runs"
	default:
		// Every exit-3 message ends with a fix: line (the README's promise).
		what, fix = err.Error(), "check the URL, that the service runs and your credentials (probe tls ENDPOINT explains the handshake)"
	}
	return what, fix
}

// verifyFix says what to do about a server chain verification failure.
func verifyFix(ve *credentials.VerifyError) string {
	switch ve.Reason {
	case credentials.ReasonExpired:
		return fmt.Sprintf("the certificate expired %s ago: its owner must renew it", roundAge(time.Since(ve.NotAfter)))
	case credentials.ReasonNotYetValid:
		return "the certificate is not valid yet: check the clocks of this machine and of the server"
	case credentials.ReasonUnknownAuthority:
		return "the issuer " + ve.Issuer + " is not in your CA directory: install its CA certificate there, " +
			"or give --ca-dir / X509_CERT_DIR pointing to the right CAs"
	case credentials.ReasonHostnameMismatch:
		if len(ve.Names) > 0 {
			return "connect with one of the names the certificate carries (" + strings.Join(ve.Names, ", ") +
				"), or have it reissued for " + ve.Host
		}
		return "the certificate names no host: have it reissued for " + ve.Host
	case credentials.ReasonKeyUsage:
		return "the certificate is not allowed for this use (extended key usage): reissue it as a host certificate with serverAuth"
	case credentials.ReasonBadSignature:
		return "a certificate of the chain is not signed by the next one: the server sends a broken chain"
	case credentials.ReasonNoCertificate:
		return "the server sent no certificate"
	}
	return "the server's certificate chain is not acceptable"
}

func roundAge(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%d days", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%d hours", int(d.Hours()))
	}
	return d.Round(time.Second).String()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// tlsAlert recognises the alerts a server sends about the client's
// certificate.
func tlsAlert(err error) string {
	s := err.Error()
	switch {
	case strings.Contains(s, "certificate required"):
		return "the service requires a client certificate: give --proxy or --cert/--key (or set X509_USER_PROXY)"
	case strings.Contains(s, "expired certificate"):
		return "the service refused your certificate as expired: make a new proxy (dirac-proxy-init)"
	case strings.Contains(s, "unknown certificate authority"), strings.Contains(s, "bad certificate"):
		return "the service refused your certificate: is it issued by a CA the service trusts, and not expired?"
	}
	return ""
}
