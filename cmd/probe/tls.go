package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

type certInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	Serial    string    `json:"serial"`
	SANs      []string  `json:"sans"`
	EKU       []string  `json:"eku"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	Key       string    `json:"key"`
	Signature string    `json:"signature"`
	IsCA      bool      `json:"is_ca"`
}

type verdict struct {
	OK      bool     `json:"ok"`
	Reason  string   `json:"reason,omitempty"`
	Message string   `json:"message"`
	Fix     string   `json:"fix,omitempty"`
	Names   []string `json:"names,omitempty"`
}

type tlsReport struct {
	URL        string     `json:"url"`
	Host       string     `json:"host"`
	Protocol   string     `json:"protocol"`
	TLSVersion string     `json:"tls_version,omitempty"`
	Chain      []certInfo `json:"chain"`
	CADir      string     `json:"ca_dir,omitempty"`
	// Verdict covers both directions: the server's chain (Server) and
	// whether the server takes the credential calls present (Client).
	Verdict   verdict  `json:"verdict"`
	Server    verdict  `json:"server"`
	Client    *verdict `json:"client,omitempty"`
	Handshake string   `json:"handshake_error,omitempty"`
	ElapsedMS float64  `json:"elapsed_ms"`
}

func describeCert(c *x509.Certificate) certInfo {
	ci := certInfo{
		Subject:   credentials.SubjectDN(c),
		Issuer:    credentials.IssuerDN(c),
		Serial:    c.SerialNumber.String(),
		NotBefore: c.NotBefore.UTC(),
		NotAfter:  c.NotAfter.UTC(),
		Signature: c.SignatureAlgorithm.String(),
		IsCA:      c.IsCA,
		SANs:      []string{},
		EKU:       []string{},
	}
	for _, n := range c.DNSNames {
		ci.SANs = append(ci.SANs, "DNS:"+n)
	}
	for _, ip := range c.IPAddresses {
		ci.SANs = append(ci.SANs, "IP:"+ip.String())
	}
	for _, u := range c.ExtKeyUsage {
		ci.EKU = append(ci.EKU, ekuName(u))
	}
	switch k := c.PublicKey.(type) {
	case *rsa.PublicKey:
		ci.Key = fmt.Sprintf("RSA %d", k.N.BitLen())
	case *ecdsa.PublicKey:
		ci.Key = "ECDSA " + k.Curve.Params().Name
	case ed25519.PublicKey:
		ci.Key = "Ed25519"
	default:
		ci.Key = fmt.Sprintf("%T", k)
	}
	return ci
}

func ekuName(u x509.ExtKeyUsage) string {
	switch u {
	case x509.ExtKeyUsageServerAuth:
		return "serverAuth"
	case x509.ExtKeyUsageClientAuth:
		return "clientAuth"
	case x509.ExtKeyUsageAny:
		return "any"
	case x509.ExtKeyUsageCodeSigning:
		return "codeSigning"
	case x509.ExtKeyUsageEmailProtection:
		return "emailProtection"
	case x509.ExtKeyUsageTimeStamping:
		return "timeStamping"
	case x509.ExtKeyUsageOCSPSigning:
		return "OCSPSigning"
	}
	return fmt.Sprintf("eku(%d)", int(u))
}

// runTLS connects, takes the server's chain without trusting it, then
// verifies it as the DIRAC clients would and explains the verdict. It also
// checks the client credential that calls would present.
func runTLS(ctx context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "tls")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageErr("want one ENDPOINT")
	}
	t, err := c.resolveTarget(ctx, e, pos[0])
	if err != nil {
		return err
	}
	// A name's URLs in the order calls try them: one that cannot be
	// connected to gives way to the next, as a call's attempt would.
	urls := append(slices.Clone(t.urls), t.failover...)
	var rep *tlsReport
	for i, raw := range urls {
		u, err := endpoint.ParseURL(raw)
		if err != nil {
			return usageErr("%v", err)
		}
		if u.Protocol == diracrpc.DIP {
			return usageErr("%s is plain dip://: there is no TLS to inspect (use dips://)", u)
		}
		if rep, err = inspectTLS(ctx, &c, e, u); err == nil {
			break
		}
		var op *net.OpError
		if i+1 < len(urls) && errors.As(err, &op) && op.Op == "dial" {
			fmt.Fprintf(e.stderr, "probe tls: %s: %v; trying %s\n", u, err, urls[i+1])
			continue
		}
		what, fix := explain(err)
		return unreachable(what, fix)
	}
	if c.json {
		if err := writeJSON(e.stdout, rep); err != nil {
			return err
		}
	} else {
		printTLS(e, rep)
	}
	if !rep.Verdict.OK {
		return silentExit(exitUnreachable)
	}
	return nil
}

// unreachable is the exit-3 error with what to fix.
func unreachable(what, fix string) error {
	msg := what
	if fix != "" {
		msg += "\n  fix: " + fix
	}
	return &exitError{code: exitUnreachable, msg: msg}
}

func inspectTLS(ctx context.Context, c *common, e *env, u *endpoint.URL) (*tlsReport, error) {
	start := time.Now()
	rep := &tlsReport{URL: u.String(), Host: u.Host, Protocol: string(u.Protocol)}
	var chain []*x509.Certificate
	asked := false // the server asked for a client certificate
	cfg := &tls.Config{
		ServerName: u.Host,
		MinVersion: tls.VersionTLS12,
		// The chain is taken as it comes and verified below, so that every
		// problem can be explained instead of failing the handshake.
		InsecureSkipVerify: true, //nolint:gosec // verified by VerifyServerChain below
		VerifyConnection: func(cs tls.ConnectionState) error {
			chain = cs.PeerCertificates
			return nil
		},
	}
	if net.ParseIP(u.Host) != nil {
		cfg.ServerName = ""
	}
	cred, credErr := c.clientCredential(e)
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
		asked = true
		if credErr != nil {
			return &tls.Certificate{}, nil
		}
		tc := cred.TLSCertificate()
		return &tc, nil
	}
	switch {
	case credErr == nil:
		rep.Client = &verdict{OK: true, Message: fmt.Sprintf("%s (%s), valid until %s", credentials.SubjectDN(cred.Leaf()),
			cred.CertPath, cred.NotAfter().UTC().Format(time.RFC3339))}
	default:
		what, fix := explain(credErr)
		rep.Client = &verdict{OK: false, Message: what, Fix: fix}
	}
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d := tls.Dialer{Config: cfg, NetDialer: &net.Dialer{}}
	conn, err := d.DialContext(ctx, "tcp", u.Addr())
	if conn != nil {
		if tc, ok := conn.(*tls.Conn); ok {
			rep.TLSVersion = tls.VersionName(tc.ConnectionState().Version)
		}
		conn.Close()
	}
	if err != nil {
		if len(chain) == 0 {
			return nil, err
		}
		// The server sent its chain, then refused us (usually: no client
		// certificate); the chain can still be judged.
		rep.Handshake = err.Error()
	}
	for _, cert := range chain {
		rep.Chain = append(rep.Chain, describeCert(cert))
	}
	cas, caErr := c.caStore(e)
	switch {
	case caErr != nil:
		what, fix := explain(caErr)
		rep.Server = verdict{Reason: "no CAs", Message: "cannot verify: " + what, Fix: fix}
	default:
		rep.CADir = cas.Dir
		if verr := credentials.VerifyServerChain(chain, u.Host, cas, time.Now()); verr != nil {
			rep.Server = verdict{Message: verr.Error()}
			var ve *credentials.VerifyError
			if errors.As(verr, &ve) {
				rep.Server.Reason = ve.Reason.String()
				rep.Server.Names = ve.Names
				rep.Server.Fix = verifyFix(ve)
			}
		} else {
			rep.Server = verdict{OK: true, Message: fmt.Sprintf("trusted (CA directory %s) and valid for host %s", cas.Dir, u.Host)}
		}
		checkRevocation(&rep.Server, cas, chain, "the server's certificate")
		if credErr == nil {
			checkRevocation(rep.Client, cas, cred.Chain, "your credential")
		}
	}
	judgeClientSide(ctx, c, e, u, rep, asked, credErr == nil)
	rep.Verdict = rep.Server
	if rep.Server.OK && rep.Client != nil && !rep.Client.OK {
		rep.Verdict = *rep.Client
		rep.Verdict.Message = "your credential: " + rep.Verdict.Message
		if rep.Verdict.Reason == "" {
			rep.Verdict.Reason = "client credential"
		}
	}
	rep.ElapsedMS = millis(time.Since(start))
	return rep, nil
}

// judgeClientSide completes rep.Client with the server's view of our
// credential. A refusal may come during the handshake (rep.Handshake) or,
// in TLS 1.3, only after it, so when the server asked for a certificate a
// real call (ping, through the same client calls use) settles it: the
// service answering at all, even with an S_ERROR other than a refusal of
// the identity, means the credential was taken.
func judgeClientSide(ctx context.Context, c *common, e *env, u *endpoint.URL, rep *tlsReport, asked, haveCred bool) {
	switch {
	case rep.Handshake != "":
		fix := tlsAlert(errors.New(rep.Handshake))
		if fix == "" {
			fix = "the server refused the handshake: check that your credential is valid and issued by a CA the service trusts"
		}
		*rep.Client = verdict{Reason: "refused", Message: "the server refused the handshake: " + rep.Handshake, Fix: fix}
		return
	case !rep.Client.OK:
		return // the local problem is the verdict
	case !asked:
		rep.Client.Message += "; the server did not ask for it"
		return
	case !rep.Server.OK || !haveCred:
		return // a call would not get as far
	}
	cl, err := c.caller(e, &target{arg: u.String(), urls: []string{u.String()}, protocol: u.Protocol})
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, c.timeout)
		_, err = cl.Call(ctx, "ping")
		cancel()
		cl.Close()
	}
	var se *diracrpc.Error
	switch {
	case err == nil, errors.As(err, &se) && !(diracrpc.CodeOf(err) == diracrpc.CodeUnauthorized && (se.Local || se.Message == frameworkRefusal)):
		rep.Client.Message += "; accepted by the server (ping answered)"
	case diracrpc.CodeOf(err) == diracrpc.CodeUnauthorized:
		*rep.Client = verdict{Reason: "refused", Message: "the service refused your identity: " + err.Error(),
			Fix: "check that your proxy is valid, issued by a CA the service trusts, and that your DN and group are registered"}
	default:
		what, fix := explain(c.explainRefusal(e, err))
		msg := "a call with it failed: " + what
		if diracrpc.CodeOf(err) == diracrpc.CodeTLS {
			msg = "the server refused it: " + what
			if tlsAlert(err) == "" {
				fix = "check that your credential is valid and issued by a CA the service trusts"
			}
		}
		*rep.Client = verdict{Reason: "refused", Message: msg, Fix: fix}
	}
}

// checkRevocation looks up certs (as sent, leaf first) in the CRLs of the CA
// directory (<hash>.rN) and amends v: a revoked certificate fails it, an
// out-of-date CRL adds a fix, otherwise the message says what was checked.
func checkRevocation(v *verdict, cas *credentials.CAStore, certs []*x509.Certificate, whose string) {
	cas.Logger = slog.New(slog.DiscardHandler) // the report says it all
	now := time.Now()
	var stale string
	for _, c := range certs {
		err := cas.Revoked(c, now, credentials.ExpiredCRLRefuse)
		var ve *credentials.VerifyError
		if errors.As(err, &ve) && ve.Reason == credentials.ReasonCRLExpired {
			stale = ve.Error()
			err = cas.Revoked(c, now, credentials.ExpiredCRLWarn) // still look it up
		}
		if errors.As(err, &ve) && ve.Reason == credentials.ReasonRevoked {
			*v = verdict{Reason: ve.Reason.String(), Message: ve.Error(),
				Fix: whose + " was revoked by its CA: it needs a new certificate"}
			return
		}
	}
	if stale != "" {
		v.Message += "; " + stale
		if v.Fix == "" {
			v.Fix = "refresh the CRLs in " + cas.Dir + " (fetch-crl); servers refuse certificates of a CA whose CRL is out of date"
		}
		return
	}
	if v.OK {
		v.Message += "; not revoked (no CRL in " + cas.Dir + " lists it)"
	}
}

func printTLS(e *env, rep *tlsReport) {
	w := e.stdout
	fmt.Fprintf(w, "%s (%s)\n", rep.URL, rep.TLSVersion)
	now := time.Now()
	for i, ci := range rep.Chain {
		role := "server"
		if i > 0 {
			role = fmt.Sprintf("chain[%d]", i)
		}
		fmt.Fprintf(w, "  %s: %s\n", role, ci.Subject)
		fmt.Fprintf(w, "    issuer:  %s\n", ci.Issuer)
		sans := strings.Join(ci.SANs, ", ")
		if sans == "" {
			sans = "(none: host name checked against the CN)"
		}
		fmt.Fprintf(w, "    SANs:    %s\n", sans)
		eku := strings.Join(ci.EKU, ", ")
		if eku == "" {
			eku = "(none)"
		}
		fmt.Fprintf(w, "    EKU:     %s\n", eku)
		state := "valid"
		switch {
		case now.After(ci.NotAfter):
			state = "EXPIRED " + roundAge(now.Sub(ci.NotAfter)) + " ago"
		case now.Before(ci.NotBefore):
			state = "NOT YET VALID"
		default:
			state = "expires in " + roundAge(ci.NotAfter.Sub(now))
		}
		fmt.Fprintf(w, "    valid:   %s to %s (%s)\n", ci.NotBefore.Format(time.RFC3339), ci.NotAfter.Format(time.RFC3339), state)
		fmt.Fprintf(w, "    key:     %s, signed %s, serial %s\n", ci.Key, ci.Signature, ci.Serial)
	}
	if rep.Handshake != "" {
		fmt.Fprintf(w, "  handshake: %s\n", rep.Handshake)
	}
	if rep.Client != nil {
		if rep.Client.OK {
			fmt.Fprintf(w, "  client credential: %s\n", rep.Client.Message)
		} else {
			fmt.Fprintf(w, "  client credential: PROBLEM: %s\n", rep.Client.Message)
			if rep.Client.Fix != "" {
				fmt.Fprintf(w, "    fix: %s\n", rep.Client.Fix)
			}
		}
	}
	if rep.Verdict.OK {
		fmt.Fprintf(w, "verdict: OK: %s\n", rep.Verdict.Message)
		if rep.Verdict.Fix != "" {
			fmt.Fprintf(w, "  fix: %s\n", rep.Verdict.Fix)
		}
		return
	}
	fmt.Fprintf(w, "verdict: FAIL (%s): %s\n", rep.Verdict.Reason, rep.Verdict.Message)
	if rep.Verdict.Fix != "" {
		fmt.Fprintf(w, "  fix: %s\n", rep.Verdict.Fix)
	}
}
