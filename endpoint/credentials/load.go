package credentials

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"strconv"
	"time"
)

// Credential is a certificate chain with the private key of its first
// certificate: a proxy (proxy, then user certificate and earlier proxies), a
// user certificate or a host certificate.
type Credential struct {
	// Chain holds the leaf first, then the rest of the chain as found in the file.
	Chain []*x509.Certificate
	// PrivateKey belongs to Chain[0].
	PrivateKey crypto.Signer
	// CertPath and KeyPath are the files it was loaded from (equal for proxies).
	CertPath, KeyPath string
}

// A Credential never prints or serialises its private key: String, GoString,
// Format (every fmt verb, %+v and %#v included), LogValue (log/slog),
// MarshalJSON, MarshalText (encoding/xml and other text encoders) and
// GobEncode all describe it by subject, chain length and file only.

// String describes the credential without its key.
func (c Credential) String() string {
	if len(c.Chain) == 0 {
		return "credential(empty)"
	}
	return fmt.Sprintf("credential(%s, %d certificates, file %q)", SubjectDN(c.Chain[0]), len(c.Chain), c.CertPath)
}

// GoString is String, for %#v.
func (c Credential) GoString() string { return c.String() }

// Format prints String for every verb, so that %+v and %#v of a Credential
// (or of a struct holding one by value) never walk into the key.
func (c Credential) Format(f fmt.State, verb rune) {
	s := c.String()
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

// LogValue keeps the key out of log/slog output.
func (c Credential) LogValue() slog.Value {
	if len(c.Chain) == 0 {
		return slog.StringValue("credential(empty)")
	}
	return slog.GroupValue(
		slog.String("subject", SubjectDN(c.Chain[0])),
		slog.Int("certificates", len(c.Chain)),
		slog.String("file", c.CertPath),
		slog.Time("notAfter", c.NotAfter()),
	)
}

// credentialJSON is what MarshalJSON writes: public facts only.
type credentialJSON struct {
	Subject      string    `json:"subject,omitempty"`
	Certificates int       `json:"certificates"`
	File         string    `json:"file,omitempty"`
	NotAfter     time.Time `json:"notAfter,omitzero"`
}

// MarshalJSON writes the subject, chain length, file and expiry, never the key.
func (c Credential) MarshalJSON() ([]byte, error) {
	j := credentialJSON{Certificates: len(c.Chain), File: c.CertPath}
	if len(c.Chain) > 0 {
		j.Subject, j.NotAfter = SubjectDN(c.Chain[0]), c.NotAfter()
	}
	return json.Marshal(j)
}

// MarshalText is String, for encoders that use encoding.TextMarshaler.
func (c Credential) MarshalText() ([]byte, error) { return []byte(c.String()), nil }

// errNotSerialisable: a Credential holds a private key.
var errNotSerialisable = errors.New("credentials: a Credential holds a private key and is not serialisable; write it with WriteProxyFile")

// GobEncode refuses: gob would otherwise encode the key.
func (c Credential) GobEncode() ([]byte, error) { return nil, errNotSerialisable }

// Leaf returns the first certificate of the chain.
func (c *Credential) Leaf() *x509.Certificate { return c.Chain[0] }

// TLSCertificate returns the whole chain with its key, as presented in TLS:
// DIRAC servers expect the proxy and every certificate up to the user
// certificate.
func (c *Credential) TLSCertificate() tls.Certificate {
	der := make([][]byte, len(c.Chain))
	for i, cert := range c.Chain {
		der[i] = cert.Raw
	}
	return tls.Certificate{Certificate: der, PrivateKey: c.PrivateKey, Leaf: c.Chain[0]}
}

// NotAfter is the earliest expiry over the chain.
func (c *Credential) NotAfter() time.Time {
	t := c.Chain[0].NotAfter
	for _, cert := range c.Chain[1:] {
		if cert.NotAfter.Before(t) {
			t = cert.NotAfter
		}
	}
	return t
}

// KeyKind selects the file-permission policy for a private key.
type KeyKind int

// Key kinds.
const (
	// KeyUser is a proxy or user key: no group or other access allowed (0600/0400).
	KeyUser KeyKind = iota
	// KeyHost is a service's host key: group read is tolerated because services
	// often share it through a group; other access is refused.
	KeyHost
)

// LoadOptions tunes loading. The zero value is the secure default.
type LoadOptions struct {
	// Passphrase opens encrypted keys (legacy "Proc-Type: 4,ENCRYPTED" PEM or
	// PKCS#8 "ENCRYPTED PRIVATE KEY" with PBES2). Nil: encrypted keys are refused
	// with ErrEncryptedKey.
	Passphrase []byte
	// Now is the time for validity checks; nil means time.Now.
	Now func() time.Time
	// SkipValidityCheck loads expired or not-yet-valid credentials.
	SkipValidityCheck bool
	// InsecureSkipPermissionCheck accepts key files readable by group or others.
	InsecureSkipPermissionCheck bool
	// Kind selects the permission policy; the zero value (KeyUser) is strict.
	Kind KeyKind
}

func (o LoadOptions) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// LoadProxy reads a proxy file as DIRAC writes it: the first CERTIFICATE block
// is the proxy, further CERTIFICATE blocks its chain, the first private-key
// block its key; other blocks (such as DIRACX tokens) are ignored. It then runs
// the local checks (permissions, validity of every certificate, key match).
func LoadProxy(path string, opts LoadOptions) (*Credential, error) {
	data, permErr, err := readChecked(path, opts, "run dirac-proxy-init to create a proxy")
	if err != nil {
		return nil, err
	}
	c, err := parseCredential(path, data, data, path, opts)
	return contentThenMode(c, err, permErr)
}

// LoadCertKey reads a certificate file (the first CERTIFICATE block is the
// leaf, further blocks its chain) and a separate key file (PKCS#1, PKCS#8 or
// SEC 1 EC, optionally encrypted) and runs the local checks.
func LoadCertKey(certPath, keyPath string, opts LoadOptions) (*Credential, error) {
	certData, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fileErr(certPath, err, "check the certificate path")
	}
	keyData, permErr, err := readChecked(keyPath, opts, "check the key path")
	if err != nil {
		return nil, err
	}
	c, err := parseCredential(certPath, certData, keyData, keyPath, opts)
	return contentThenMode(c, err, permErr)
}

// contentThenMode returns c, or the parse error before the permission error:
// a file that is not a credential is reported as such, whatever its mode.
func contentThenMode(c *Credential, parseErr, permErr error) (*Credential, error) {
	if parseErr != nil {
		return nil, parseErr
	}
	if permErr != nil {
		return nil, permErr
	}
	return c, nil
}

// ParseCredential parses PEM data already in memory (for example DIRAC's
// proxyString): certificates from certPEM, the key from keyPEM (which may be
// the same bytes). No permission check is done.
func ParseCredential(certPEM, keyPEM []byte, opts LoadOptions) (*Credential, error) {
	return parseCredential("", certPEM, keyPEM, "", opts)
}

// readChecked reads a file holding a private key. A file others can read
// gives permErr, for the caller to return once the content has parsed: a
// file that is not a credential at all is first reported as such, not
// blamed on its mode.
func readChecked(path string, opts LoadOptions, fix string) (data []byte, permErr, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fileErr(path, err, fix)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fileErr(path, err, fix)
	}
	if !opts.InsecureSkipPermissionCheck {
		mask := fs.FileMode(0o077)
		if opts.Kind == KeyHost {
			mask = 0o007
		}
		if st.Mode().Perm()&mask != 0 {
			permErr = &FileError{Path: path, Err: fmt.Errorf("%w (mode %04o)", ErrInsecurePermissions, st.Mode().Perm()),
				Fix: fmt.Sprintf("run: chmod 600 %s", path)}
		}
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, nil, fileErr(path, err, "")
	}
	return buf.Bytes(), permErr, nil
}

func fileErr(path string, err error, fix string) error {
	if errors.Is(err, fs.ErrNotExist) {
		return &FileError{Path: path, Err: fmt.Errorf("%w: %w", ErrFileMissing, err), Fix: fix}
	}
	return &FileError{Path: path, Err: err}
}

func parseCredential(certPath string, certData, keyData []byte, keyPath string, opts LoadOptions) (*Credential, error) {
	chain, err := parseCertificates(certData)
	if err != nil {
		return nil, &FileError{Path: certPath, Err: err,
			Fix: "a certificate block of the file is damaged: make a new proxy (dirac-proxy-init) or get the certificate again"}
	}
	if len(chain) == 0 {
		return nil, &FileError{Path: certPath, Err: ErrNoCertInFile, Fix: "the file must hold a PEM CERTIFICATE block"}
	}
	key, err := parsePrivateKeyPEM(keyData, opts.Passphrase)
	if err != nil {
		fix := "the private key block is missing or damaged: make a new proxy (dirac-proxy-init) or get the key again"
		if errors.Is(err, ErrEncryptedKey) {
			fix = "give the passphrase, or decrypt the key with: openssl pkey -in KEY -out KEY.nopass"
		}
		return nil, &FileError{Path: keyPath, Err: err, Fix: fix}
	}
	if !publicKeysEqual(chain[0].PublicKey, key.Public()) {
		return nil, &FileError{Path: keyPath, Err: ErrKeyMismatch,
			Fix: fmt.Sprintf("use the key that belongs to %s", SubjectDN(chain[0]))}
	}
	if !opts.SkipValidityCheck {
		if err := checkValidity(certPath, chain, opts.now()); err != nil {
			return nil, err
		}
	}
	return &Credential{Chain: chain, PrivateKey: key, CertPath: certPath, KeyPath: keyPath}, nil
}

func checkValidity(path string, chain []*x509.Certificate, now time.Time) error {
	for _, c := range chain {
		if now.After(c.NotAfter) {
			return &FileError{Path: path, Err: fmt.Errorf("%w: %s", ErrExpired, SubjectDN(c)), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
				Fix: "renew it (dirac-proxy-init for a proxy)"}
		}
		if now.Before(c.NotBefore) {
			return &FileError{Path: path, Err: fmt.Errorf("%w: %s", ErrNotYetValid, SubjectDN(c)), NotBefore: c.NotBefore, NotAfter: c.NotAfter,
				Fix: "check the system clock"}
		}
	}
	return nil
}

// ParseCertificatesPEM returns every CERTIFICATE block of data in order,
// ignoring other block types.
func ParseCertificatesPEM(data []byte) ([]*x509.Certificate, error) { return parseCertificates(data) }

func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	return parsePEMBlocks(data, "CERTIFICATE", "certificate", x509.ParseCertificate)
}

// parsePEMBlocks parses every PEM block of type typ in data, in order,
// ignoring other blocks; what names the objects in errors.
func parsePEMBlocks[T any](data []byte, typ, what string, parse func([]byte) (T, error)) ([]T, error) {
	var out []T
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return out, nil
		}
		if block.Type != typ {
			continue
		}
		v, err := parse(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%w: %s %d: %w", ErrMalformed, what, len(out)+1, err)
		}
		out = append(out, v)
	}
}

// parsePrivateKeyPEM returns the first private-key block, decrypting it when needed.
func parsePrivateKeyPEM(data []byte, passphrase []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, ErrNoKeyInFile
		}
		switch block.Type {
		case "RSA PRIVATE KEY", "EC PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY":
		default:
			continue
		}
		der := block.Bytes
		//lint:ignore SA1019 legacy PEM encryption is what grid tools wrote for years
		if x509.IsEncryptedPEMBlock(block) {
			if passphrase == nil {
				return nil, ErrEncryptedKey
			}
			var err error
			//lint:ignore SA1019 as above: reading old keys, never writing them
			der, err = x509.DecryptPEMBlock(block, passphrase)
			if err != nil {
				return nil, fmt.Errorf("%w: %w", ErrBadPassphrase, err)
			}
			// The padding check lets about one wrong passphrase in 256
			// through; the key then fails to parse.
			if _, err := parseKeyDER(der); err != nil {
				return nil, errors.Join(ErrBadPassphrase, err)
			}
		}
		if block.Type == "ENCRYPTED PRIVATE KEY" {
			if passphrase == nil {
				return nil, ErrEncryptedKey
			}
			var err error
			der, err = decryptPKCS8(der, passphrase)
			if err != nil {
				return nil, err
			}
		}
		return parseKeyDER(der)
	}
}

func parseKeyDER(der []byte) (crypto.Signer, error) {
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("%w: private key: %w", ErrMalformed, err)
	}
	s, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%w: unsupported private key type %T", ErrMalformed, k)
	}
	return s, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	switch a := a.(type) {
	case *rsa.PublicKey:
		return a.Equal(b)
	case *ecdsa.PublicKey:
		return a.Equal(b)
	case ed25519.PublicKey:
		return a.Equal(b)
	}
	return false
}
