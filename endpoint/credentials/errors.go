package credentials

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Sentinel errors. Every error this package returns for a local problem is a
// *FileError wrapping one of these, so callers branch with errors.Is.
var (
	// ErrNoProxy: no proxy file was found in the default locations (DIRAC: "No proxy found").
	//lint:ignore ST1005 DIRAC's own message, which scripts match
	ErrNoProxy = errors.New("No proxy found")
	// ErrNoCertificate: no user or host certificate/key was found in the default locations.
	ErrNoCertificate = errors.New("no certificate found")
	// ErrNoCAs: no CA directory, or one without any certificate (DIRAC: "No CAs found!").
	//lint:ignore ST1005 DIRAC's own message, which scripts match
	ErrNoCAs = errors.New("No CAs found!")
	// ErrFileMissing: a named file does not exist.
	ErrFileMissing = errors.New("file does not exist")
	// ErrExpired: a certificate's notAfter is in the past.
	ErrExpired = errors.New("certificate has expired")
	// ErrNotYetValid: a certificate's notBefore is in the future.
	ErrNotYetValid = errors.New("certificate is not yet valid")
	// ErrKeyMismatch: the private key does not belong to the certificate.
	ErrKeyMismatch = errors.New("private key does not match certificate")
	// ErrInsecurePermissions: a private key or proxy file is accessible by group or others.
	ErrInsecurePermissions = errors.New("private key file is readable by others")
	// ErrEncryptedKey: the key is encrypted and no passphrase was given.
	ErrEncryptedKey = errors.New("private key is encrypted")
	// ErrBadPassphrase: the passphrase did not decrypt the key.
	ErrBadPassphrase = errors.New("wrong passphrase for private key")
	// ErrNoCertInFile: the file holds no CERTIFICATE PEM block.
	ErrNoCertInFile = errors.New("no certificate in file")
	// ErrNoKeyInFile: the file holds no private key PEM block.
	ErrNoKeyInFile = errors.New("no private key in file")
	// ErrMalformed: a PEM block, certificate or key could not be parsed.
	ErrMalformed = errors.New("malformed credential")
)

// FileError describes a local problem with a credential file. Err is one of
// the sentinel errors above (possibly wrapping the underlying cause); Fix tells
// the user what to do.
type FileError struct {
	Path string // the file at fault
	Err  error  // sentinel, possibly wrapping the cause
	Fix  string // short remedy, e.g. "run dirac-proxy-init"
	// NotBefore/NotAfter are set for validity errors.
	NotBefore, NotAfter time.Time
}

func (e *FileError) Error() string {
	var b strings.Builder
	switch {
	case errors.Is(e.Err, ErrExpired):
		// DIRAC's wording, so users recognise it.
		fmt.Fprintf(&b, "PEM file %s has expired, not valid after %s", e.Path, e.NotAfter.UTC().Format(time.RFC3339))
	case errors.Is(e.Err, ErrNotYetValid):
		fmt.Fprintf(&b, "PEM file %s is not valid before %s", e.Path, e.NotBefore.UTC().Format(time.RFC3339))
	case e.Path == "":
		b.WriteString(e.Err.Error())
	default:
		fmt.Fprintf(&b, "%s: %v", e.Path, e.Err)
	}
	if e.Fix != "" {
		b.WriteString(" (")
		b.WriteString(e.Fix)
		b.WriteString(")")
	}
	return b.String()
}

func (e *FileError) Unwrap() error { return e.Err }

// VerifyReason classifies a certificate verification failure.
type VerifyReason int

// Verification failure reasons.
const (
	ReasonOther            VerifyReason = iota
	ReasonUnknownAuthority              // chain does not lead to a CA of the CA directory
	ReasonExpired                       // a certificate of the chain has expired
	ReasonNotYetValid                   // a certificate of the chain is not yet valid
	ReasonHostnameMismatch              // server certificate not valid for the host name
	ReasonKeyUsage                      // EKU/keyUsage/nsCertType forbid the use
	ReasonBadSignature                  // a certificate is not signed by the next one
	ReasonBadProxy                      // malformed proxy (name, extensions, path length)
	ReasonNoCertificate                 // peer sent no certificate
	ReasonChainTooLong                  // more certificates than the verify depth allows
	ReasonWeakCrypto                    // key too small or signature algorithm too weak (ChainPolicy.AllowWeakCrypto)
	ReasonLegacyProxy                   // Globus pre-RFC proxy (ChainPolicy.AllowLegacyProxies)
	ReasonRevoked                       // a certificate of the chain is in its CA's CRL
	ReasonCRLExpired                    // the CA's CRL is out of date (ChainPolicy.ExpiredCRL)
)

func (r VerifyReason) String() string {
	switch r {
	case ReasonUnknownAuthority:
		return "unknown certificate authority"
	case ReasonExpired:
		return "certificate expired"
	case ReasonNotYetValid:
		return "certificate not yet valid"
	case ReasonHostnameMismatch:
		return "host name mismatch"
	case ReasonKeyUsage:
		return "key usage not allowed"
	case ReasonBadSignature:
		return "bad signature"
	case ReasonBadProxy:
		return "invalid proxy certificate"
	case ReasonNoCertificate:
		return "no certificate"
	case ReasonChainTooLong:
		return "certificate chain too long"
	case ReasonWeakCrypto:
		return "weak cryptography"
	case ReasonLegacyProxy:
		return "legacy Globus proxy refused"
	case ReasonRevoked:
		return "certificate revoked"
	case ReasonCRLExpired:
		return "CRL expired"
	}
	return "verification failed"
}

// VerifyError reports why a peer's certificate chain was refused, in terms a
// user can act on. It is returned from the TLS handshake unchanged, so
// errors.As(err, &*VerifyError) works on dial errors.
type VerifyError struct {
	Reason  VerifyReason
	Subject string // oneline DN of the certificate at fault
	Issuer  string // its issuer
	// Host and Names are set for ReasonHostnameMismatch: the name asked for and
	// the names the certificate carries ("DNS:x", "IP:y", or "CN:z" when no SAN).
	Host  string
	Names []string
	// NotBefore/NotAfter of the certificate at fault, for validity reasons.
	NotBefore, NotAfter time.Time
	Detail              string // extra text
	Err                 error  // underlying error, if any
}

func (e *VerifyError) Error() string {
	var b strings.Builder
	b.WriteString("x509: ")
	switch e.Reason {
	case ReasonHostnameMismatch:
		fmt.Fprintf(&b, "server certificate %s is not valid for host %q; it names %s", e.Subject, e.Host, strings.Join(e.Names, ", "))
	case ReasonExpired:
		fmt.Fprintf(&b, "certificate %s expired at %s", e.Subject, e.NotAfter.UTC().Format(time.RFC3339))
	case ReasonNotYetValid:
		fmt.Fprintf(&b, "certificate %s is not valid before %s", e.Subject, e.NotBefore.UTC().Format(time.RFC3339))
	case ReasonUnknownAuthority:
		fmt.Fprintf(&b, "certificate %s issued by %s: unknown certificate authority", e.Subject, e.Issuer)
	default:
		b.WriteString(e.Reason.String())
		if e.Subject != "" {
			fmt.Fprintf(&b, ": certificate %s", e.Subject)
		}
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	switch e.Reason {
	case ReasonHostnameMismatch, ReasonExpired, ReasonNotYetValid, ReasonUnknownAuthority:
		// The message above already says all the wrapped x509 error says.
		return b.String()
	}
	if e.Err != nil {
		fmt.Fprintf(&b, " (%v)", e.Err)
	}
	return b.String()
}

func (e *VerifyError) Unwrap() error { return e.Err }
