// Package credentials loads, checks and verifies the X.509 credentials DIRAC
// clients and servers use: grid proxies (RFC 3820, and legacy Globus on request), user and
// host certificates with their keys, and IGTF-style CA directories.
//
// Go's crypto/x509 rejects proxy chains and never falls back to the subject CN
// for host names, so this package does the grid-specific parts itself:
//
//   - [Locator] finds files in DIRAC's order (GRID_PROXY_FILE, X509_USER_PROXY,
//     /tmp/x509up_u<uid>, X509_USER_CERT/KEY, ~/.globus, DIRAC_X509_HOST_CERT/KEY,
//     X509_CERT_DIR, /etc/grid-security/certificates) without touching global
//     state when its fields are set.
//   - [LoadProxy], [LoadCertKey] and [LoadCADir] read PEM files and run the local
//     checks DIRAC runs before any network I/O, returning *[FileError] values
//     that name the file and the fix.
//   - [NewClientTLS] builds the tls.Config both DIRAC clients share (whole proxy
//     chain as client certificate, server verified against the CA directory
//     with DIRAC's host-name rules, TLS 1.2 minimum, session resumption).
//   - [Verifier] verifies client chains containing proxies on the server side and
//     produces the credential dictionary DIRAC builds ([PeerCredentials]);
//     [NewServerTLSConfig] wires it into a server tls.Config. It refuses weak
//     keys and signatures, legacy Globus proxies, and certificates the CA
//     directory's CRLs revoke; [ChainPolicy] names the relaxations.
//   - [LoadCADir] follows OpenSSL's capath rule: only <subject hash>.<N> files
//     (hash as [SubjectHash]) are trusted; CRLs are <hash>.r<N>, re-read when
//     they change.
//   - [NewProxy] and [WriteProxyFile] make proxies as dirac-proxy-init does
//     (without VOMS).
//
// DN strings use OpenSSL's X509_NAME_oneline form (/C=ch/O=DIRAC/CN=user), as
// DIRAC compares them literally with its Registry; see [OneLine].
package credentials
