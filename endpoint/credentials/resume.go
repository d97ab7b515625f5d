package credentials

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"time"
)

// Session resumption skips the costly part of chain verification (chain
// building and signature checks) on both sides. That is safe because a
// resumed session carries the very chain that was fully verified when it was
// established, and only sessions this verifier established can be resumed:
//
//   - server side, every ticket NewServerTLSConfig issues carries a random
//     marker of that config (SessionState.Extra) and tickets without it are
//     refused (a full handshake follows), so a ticket encrypted with shared
//     ticket keys by another config (other CAs) never skips verification;
//   - client side, ClientTLS keys its session cache entries with a random
//     scope of its own, so a cache shared with another ClientTLS (other CAs,
//     SkipCACheck) never hands over a session this one did not verify.
//
// What can change after the full handshake is still checked on every
// resumption, as crypto/tls does for its own verified chains: every
// certificate of the chain must be within its validity period now, the
// chain must still lead to a CA of the store that is itself valid, and (client
// side) the host name must match.

// newScope returns a random marker binding sessions to one verifier.
func newScope() []byte {
	b := make([]byte, 16)
	_, _ = io.ReadFull(rand.Reader, b) // crypto/rand never fails on supported platforms
	return b
}

// checkResumed re-checks a chain that was fully verified when its session
// was established: validity times of every certificate, and a still-present,
// still-valid CA at its top. Failures are *VerifyError.
func checkResumed(chain []*x509.Certificate, cas *CAStore, now time.Time) error {
	if len(chain) == 0 {
		return &VerifyError{Reason: ReasonNoCertificate, Detail: "no certificate in the resumed session"}
	}
	for _, c := range chain {
		if err := checkTimes(c, now); err != nil {
			return err
		}
	}
	if cas == nil {
		return &VerifyError{Reason: ReasonUnknownAuthority, Subject: SubjectDN(chain[0]), Issuer: IssuerDN(chain[0]), Detail: "no CA store"}
	}
	// Walk up from the top of the sent chain through the store, by name
	// only: the signatures were checked by the full verification.
	cur := chain[len(chain)-1]
	for range 10 {
		var ca *x509.Certificate
		for _, c := range cas.Certs {
			if bytes.Equal(c.Raw, cur.Raw) || bytes.Equal(c.RawSubject, cur.RawIssuer) {
				ca = c
				break
			}
		}
		if ca == nil {
			return withCADir(&VerifyError{Reason: ReasonUnknownAuthority, Subject: SubjectDN(cur), Issuer: IssuerDN(cur),
				Detail: "resumed session: issuing CA no longer in the store"}, cas)
		}
		if err := checkTimes(ca, now); err != nil {
			return err
		}
		if bytes.Equal(ca.RawSubject, ca.RawIssuer) {
			return nil
		}
		cur = ca
	}
	return &VerifyError{Reason: ReasonUnknownAuthority, Subject: SubjectDN(chain[0]), Detail: "resumed session: CA chain too long"}
}

func checkTimes(c *x509.Certificate, now time.Time) error {
	switch {
	case now.After(c.NotAfter):
		return &VerifyError{Reason: ReasonExpired, Subject: SubjectDN(c), Issuer: IssuerDN(c), NotBefore: c.NotBefore, NotAfter: c.NotAfter}
	case now.Before(c.NotBefore):
		return &VerifyError{Reason: ReasonNotYetValid, Subject: SubjectDN(c), Issuer: IssuerDN(c), NotBefore: c.NotBefore, NotAfter: c.NotAfter}
	}
	return nil
}

// bindTickets makes cfg's session tickets carry marker and refuses, for
// resumption, tickets without it (they lead to a full handshake instead).
func bindTickets(cfg *tls.Config, marker []byte) {
	cfg.WrapSession = func(cs tls.ConnectionState, ss *tls.SessionState) ([]byte, error) {
		ss.Extra = append(ss.Extra, marker)
		return cfg.EncryptTicket(cs, ss)
	}
	cfg.UnwrapSession = func(identity []byte, cs tls.ConnectionState) (*tls.SessionState, error) {
		ss, err := cfg.DecryptTicket(identity, cs)
		if ss == nil || err != nil {
			return nil, err
		}
		for _, e := range ss.Extra {
			if bytes.Equal(e, marker) {
				return ss, nil
			}
		}
		return nil, nil // not ours: no resumption
	}
}

// scopedCache keys the entries of a (possibly shared) session cache with the
// scope of one ClientTLS, so that it resumes only sessions it verified itself.
type scopedCache struct {
	inner tls.ClientSessionCache
	scope string
}

func (s *scopedCache) Get(key string) (*tls.ClientSessionState, bool) {
	return s.inner.Get(s.scope + key)
}

func (s *scopedCache) Put(key string, cs *tls.ClientSessionState) {
	s.inner.Put(s.scope+key, cs)
}
