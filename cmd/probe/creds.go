package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint"
	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// locator finds credential files from the environment probe was given and
// the local DIRAC configuration, as DIRAC does: a /DIRAC/Security/CALocation
// there wins over X509_CERT_DIR. Without a readable local configuration
// (calling a URL needs none), the environment alone.
func (c *common) locator(e *env) credentials.Locator {
	l := credentials.Locator{LookupEnv: func(k string) (string, bool) {
		v := e.getenv(k)
		return v, v != ""
	}}
	if local, _, _, err := c.loadLocal(e); err == nil {
		l = endpoint.SecurityLocator(local, l)
	}
	return l
}

// clientCredential loads what the client presents: --proxy, --cert/--key,
// else the host certificate with --use-server-certificate, else the proxy
// found where DIRAC looks. found is false when no credential
// was named or found (anonymous), err is set when one exists but is unusable
// (expired, bad permissions...).
func (c *common) clientCredential(e *env) (cred *credentials.Credential, err error) {
	return c.loadCredential(e, credentials.LoadOptions{})
}

// loadCredential is clientCredential with opts (probe creds shows expired
// ones too).
func (c *common) loadCredential(e *env, opts credentials.LoadOptions) (*credentials.Credential, error) {
	switch {
	case c.proxy != "":
		return credentials.LoadProxy(c.proxy, opts)
	case c.cert != "":
		return credentials.LoadCertKey(c.cert, c.key, opts)
	case c.useServerCertificate(e):
		return c.locator(e).HostCredential(opts)
	}
	return c.locator(e).Proxy(opts)
}

// useServerCertificate: calls present the host certificate as a host, by
// --use-server-certificate or the local configuration's
// /DIRAC/Security/UseServerCertificate (unless --proxy names a proxy).
func (c *common) useServerCertificate(e *env) bool {
	if c.useServerCert {
		return true
	}
	if c.proxy != "" {
		return false
	}
	local, _, _, err := c.loadLocal(e)
	return err == nil && endpoint.UseServerCertificate(local)
}

// caStore loads --ca-dir, else the CA directory DIRAC would use.
func (c *common) caStore(e *env) (*credentials.CAStore, error) {
	if c.caDir != "" {
		return credentials.LoadCADir(c.caDir)
	}
	return c.locator(e).CAs()
}

// clientAuth is what the common flags say a client presents and trusts;
// empty fields leave the client's defaults (DIRAC's environment variables).
type clientAuth struct {
	proxy string                  // --proxy
	cred  *credentials.Credential // --cert/--key
	cas   *credentials.CAStore    // --ca-dir, unless --insecure
}

// clientAuth loads the credential and CA directory named by the flags.
func (c *common) clientAuth(e *env) (clientAuth, error) {
	var a clientAuth
	switch {
	case c.proxy != "":
		a.proxy = c.proxy
	case c.cert != "":
		cred, err := credentials.LoadCertKey(c.cert, c.key, credentials.LoadOptions{})
		if err != nil {
			return clientAuth{}, err
		}
		a.cred = cred
	}
	if c.caDir != "" && !c.insecure {
		cas, err := c.caStore(e)
		if err != nil {
			return clientAuth{}, err
		}
		a.cas = cas
	}
	return a, nil
}

// credsReport is what probe creds shows (and --json writes): what
// voms-proxy-info and dirac-proxy-info show of the credential calls would
// present.
type credsReport struct {
	File        string     `json:"file"`
	KeyFile     string     `json:"key_file,omitempty"`
	Subject     string     `json:"subject"`
	Issuer      string     `json:"issuer"`
	Identity    string     `json:"identity"`
	Type        string     `json:"type"`
	Limited     bool       `json:"limited"`
	Group       string     `json:"dirac_group,omitempty"`
	Key         string     `json:"key"`
	KeyBits     int        `json:"key_bits"`
	NotAfter    time.Time  `json:"not_after"`
	SecondsLeft int64      `json:"seconds_left"`
	Chain       []certInfo `json:"chain"`
	Problem     string     `json:"problem,omitempty"`
}

// runCreds shows the credential the other commands would present: --proxy,
// --cert/--key, else the proxy DIRAC would find. --exists and --valid H:M
// turn it into a check for scripts: no output, exit 0 or 1.
func runCreds(_ context.Context, e *env, args []string) error {
	var c common
	fs := c.flagSet(e, "creds")
	exists := fs.Bool("exists", false, "check only: exit 0 if a usable credential exists, 1 if not (no output)")
	valid := fs.String("valid", "", "check only: exit 0 if the credential is valid for at least `H:M` more, 1 if not")
	pos, err := c.parse(e, fs, args, -1)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageErr("creds takes no arguments")
	}
	var need time.Duration
	if *valid != "" {
		h, m, ok := strings.Cut(*valid, ":")
		hn, err1 := strconv.Atoi(h)
		mn, err2 := strconv.Atoi(m)
		if !ok || err1 != nil || err2 != nil || hn < 0 || mn < 0 || mn > 59 {
			return usageErr("--valid wants H:M, such as 12:00")
		}
		need = time.Duration(hn)*time.Hour + time.Duration(mn)*time.Minute
	}
	check := *exists || *valid != ""
	rep, err := c.describeCredential(e)
	if err != nil {
		if check {
			return &exitError{code: exitFail, msg: firstLine(err.Error())}
		}
		what, fix := explain(err)
		return unreachable(what, fix)
	}
	left := time.Duration(rep.SecondsLeft) * time.Second
	switch {
	case check && rep.Problem != "":
		return &exitError{code: exitFail, msg: rep.Problem}
	case check && left < need:
		return &exitError{code: exitFail, msg: fmt.Sprintf("%s is valid for %s only, not %s", rep.File, hhmmss(left), *valid)}
	case check:
		return nil
	}
	if c.json {
		err = writeJSON(e.stdout, rep)
	} else {
		err = printCreds(e, rep)
	}
	if err != nil {
		return err
	}
	if rep.Problem != "" {
		return &exitError{code: exitUnreachable, msg: rep.Problem + "\n  fix: make a new proxy (dirac-proxy-init)"}
	}
	return nil
}

// describeCredential loads the credential as calls would, but also when it
// has expired, so that it can be shown.
func (c *common) describeCredential(e *env) (*credsReport, error) {
	cred, err := c.loadCredential(e, credentials.LoadOptions{SkipValidityCheck: true})
	if err != nil {
		return nil, err
	}
	leaf := cred.Leaf()
	rep := &credsReport{File: cred.CertPath, Subject: credentials.SubjectDN(leaf), Issuer: credentials.IssuerDN(leaf),
		NotAfter: cred.NotAfter().UTC(), Type: "end-entity certificate", Key: describeCert(leaf).Key}
	switch k := leaf.PublicKey.(type) {
	case *rsa.PublicKey:
		rep.KeyBits = k.N.BitLen()
	case *ecdsa.PublicKey:
		rep.KeyBits = k.Curve.Params().BitSize
	case ed25519.PublicKey:
		rep.KeyBits = 256
	}
	if cred.KeyPath != cred.CertPath {
		rep.KeyFile = cred.KeyPath
	}
	rep.Identity = rep.Subject
	for i, cert := range cred.Chain {
		rep.Chain = append(rep.Chain, describeCert(cert))
		var issuer *x509.Certificate
		if i+1 < len(cred.Chain) {
			issuer = cred.Chain[i+1]
		}
		info, err := credentials.ClassifyProxy(cert, issuer)
		if err != nil {
			rep.Problem = fmt.Sprintf("certificate %d of the chain is a broken proxy: %v", i, err)
			continue
		}
		if info.Type == credentials.NotProxy {
			rep.Identity = credentials.SubjectDN(cert)
			break
		}
		rep.Limited = rep.Limited || info.Limited
		if i == 0 {
			rep.Type = info.Type.String()
		}
	}
	if rep.Limited {
		rep.Type = strings.Replace(rep.Type, "proxy", "limited proxy", 1)
	}
	if g, ok := credentials.DIRACGroup(leaf); ok {
		rep.Group = g
	}
	now := time.Now()
	rep.SecondsLeft = max(0, int64(cred.NotAfter().Sub(now)/time.Second))
	switch {
	case now.After(cred.NotAfter()):
		rep.Problem = fmt.Sprintf("%s has expired (%s ago)", rep.File, roundAge(now.Sub(cred.NotAfter())))
	case now.Before(leaf.NotBefore):
		rep.Problem = fmt.Sprintf("%s is not valid before %s", rep.File, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return rep, nil
}

func printCreds(e *env, r *credsReport) error {
	group := r.Group
	if group == "" {
		group = "(none: services take your default group)"
	}
	left := hhmmss(time.Duration(r.SecondsLeft) * time.Second)
	if r.Problem != "" {
		left += "  PROBLEM: " + r.Problem
	}
	rows := [][2]string{
		{"file", r.File}, {"subject", r.Subject}, {"issuer", r.Issuer}, {"identity", r.Identity},
		{"type", r.Type}, {"DIRAC group", group}, {"key", fmt.Sprintf("%s (%d bits)", r.Key, r.KeyBits)},
		{"timeleft", left + " (until " + r.NotAfter.Format(time.RFC3339) + ")"},
	}
	if r.KeyFile != "" {
		rows = slices.Insert(rows, 1, [2]string{"key file", r.KeyFile})
	}
	w := e.stdout
	for _, row := range rows {
		fmt.Fprintf(w, "%-12s: %s\n", row[0], row[1])
	}
	fmt.Fprintln(w, "chain:")
	for i, ci := range r.Chain {
		fmt.Fprintf(w, "  [%d] %s\n      %s, until %s\n", i, ci.Subject, ci.Key, ci.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// hhmmss writes d as voms-proxy-info's timeleft.
func hhmmss(d time.Duration) string {
	s := int64(d / time.Second)
	return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
}

// refusedCredentialHint names what in cred servers refuse although a CA
// they trust issued it: a legacy (Globus) proxy, which DIRAC's servers and
// ours do not accept, or an RSA key under 2048 bits, which OpenSSL's
// default security level refuses. "" when neither: the refusal has another
// cause (an untrusted CA, an expired certificate).
func refusedCredentialHint(cred *credentials.Credential) string {
	for i, cert := range cred.Chain {
		if k, ok := cert.PublicKey.(*rsa.PublicKey); ok && k.N.BitLen() < 2048 {
			return fmt.Sprintf("certificate %d of your chain (%s) has a %d-bit RSA key, which servers refuse "+
				"(OpenSSL's security level 2 wants 2048 bits): make a proxy with a 2048-bit key", i, credentials.SubjectDN(cert), k.N.BitLen())
		}
		var issuer *x509.Certificate
		if i+1 < len(cred.Chain) {
			issuer = cred.Chain[i+1]
		}
		if info, err := credentials.ClassifyProxy(cert, issuer); err == nil && info.Type == credentials.Legacy {
			return "your proxy is a legacy (Globus) proxy, which DIRAC's servers refuse: make an RFC 3820 proxy (dirac-proxy-init makes them)"
		}
	}
	return ""
}

// credentialRefused is a TLS refusal of the credential probe presented,
// with what in that credential the server most likely refused.
type credentialRefused struct {
	err error
	fix string
}

func (r *credentialRefused) Error() string { return r.err.Error() }
func (r *credentialRefused) Unwrap() error { return r.err }

// explainRefusal wraps err, a server's TLS refusal of the client's
// certificate, with refusedCredentialHint of the credential probe
// presented; any other err is returned as it is.
func (c *common) explainRefusal(e *env, err error) error {
	if err == nil || diracrpc.CodeOf(err) != diracrpc.CodeTLS || tlsAlert(err) == "" {
		return err
	}
	cred, cerr := c.clientCredential(e)
	if cerr != nil || cred == nil {
		return err
	}
	if hint := refusedCredentialHint(cred); hint != "" {
		return &credentialRefused{err: err, fix: hint}
	}
	return err
}
