package server

import (
	"context"
	"crypto/tls"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/value"
)

// Registry is the part of DIRAC's Configuration Service /Registry that
// authorisation reads: users and their DNs, groups and their properties,
// hosts. It must not be changed while a service uses it.
type Registry struct {
	// Users by user name.
	Users map[string]User
	// Groups by group name.
	Groups map[string]Group
	// Hosts by host name.
	Hosts map[string]Host
	// DefaultGroups is /Registry/DefaultGroup: the groups tried, in order,
	// for a user whose proxy names none. Nil means []string{"user"}.
	DefaultGroups []string
}

// User is a /Registry/Users entry.
type User struct {
	DNs []string
	// DefaultGroup is tried before Registry.DefaultGroups.
	DefaultGroup []string
	// Suspended lists the VOs in which the user is suspended.
	Suspended []string
}

// Group is a /Registry/Groups entry.
type Group struct {
	Users      []string
	Properties []string
	VO         string
}

// Host is a /Registry/Hosts entry. A host with the TrustedHost property may
// act for users (extraCredentials [DN, group]).
type Host struct {
	DN         string
	Properties []string
}

// TrustedHost is the property that lets a host forward a user's identity.
const TrustedHost = "TrustedHost"

// anonymousUser and visitorGroup are what DIRAC's AuthManager makes of a
// caller it cannot vouch for (unknown DN, claimed group it is not a member of,
// suspended user) when the rule lets everyone in.
const (
	anonymousUser = "anonymous"
	visitorGroup  = "visitor"
)

// HostsGroup is the group of callers using a host certificate, announced by
// extraCredentials "hosts".
const HostsGroup = "hosts"

func (r *Registry) usernameForDN(dn string, among []string) (string, bool) {
	if r == nil {
		return "", false
	}
	for _, name := range among {
		if u, ok := r.Users[name]; ok && slices.Contains(u.DNs, dn) {
			return name, true
		}
	}
	return "", false
}

func (r *Registry) anyUserForDN(dn string) (string, bool) {
	if r == nil {
		return "", false
	}
	return r.usernameForDN(dn, slices.Sorted(maps.Keys(r.Users)))
}

func (r *Registry) groupsForUser(user string) []string {
	var out []string
	for name, g := range r.Groups {
		if slices.Contains(g.Users, user) {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// DefaultGroupForDN is DIRAC's findDefaultGroupForDN.
func (r *Registry) DefaultGroupForDN(dn string) (string, bool) {
	user, ok := r.anyUserForDN(dn)
	if !ok {
		return "", false
	}
	groups := r.groupsForUser(user)
	defaults := r.DefaultGroups
	if defaults == nil {
		defaults = []string{"user"}
	}
	for _, g := range append(slices.Clip(r.Users[user].DefaultGroup), defaults...) {
		if slices.Contains(groups, g) {
			return g, true
		}
	}
	if len(groups) > 0 {
		return groups[0], true
	}
	return "", false
}

func (r *Registry) hostnameForDN(dn string) (string, bool) {
	if r == nil {
		return "", false
	}
	for _, name := range slices.Sorted(maps.Keys(r.Hosts)) {
		if r.Hosts[name].DN == dn {
			return name, true
		}
	}
	return "", false
}

func (r *Registry) group(name string) Group {
	if r == nil {
		return Group{}
	}
	return r.Groups[name]
}

func (r *Registry) groupsForVO(vo string) []string {
	if r == nil {
		return nil
	}
	var out []string
	for name, g := range r.Groups {
		if g.VO == vo {
			out = append(out, name)
		}
	}
	return out
}

// Credentials is the caller's credential dictionary, as DIRAC builds it from
// the certificate chain, the extraCredentials and the Registry. The exported
// fields mirror the dictionary; Authorize updates both.
type Credentials struct {
	DN string // identity DN (the user's for a proxy); "" for anonymous callers
	// Group is, after Authorize, a group of which DN is a member, or
	// "visitor" (Username "anonymous", no Properties) for a caller whose
	// claimed group (proxy extension, extraCredentials) is not its own.
	// Before Authorize it is only the claim.
	Group          string
	Username       string
	Properties     []string
	Subject        string // leaf certificate subject
	Issuer         string // leaf certificate issuer
	Identity       string // end-entity subject, proxies only
	VO             string // VO of the group, proxies only
	IsProxy        bool
	IsLimitedProxy bool
	SecondsLeft    int64
	// ExtraCredentials is what the client sent: "", "hosts", a group, or a
	// [DN, group] list from a trusted host.
	ExtraCredentials any
	// Peer is the verified chain; nil without a client certificate.
	Peer *credentials.PeerCredentials

	d       *value.Dict // DIRAC's dictionary, keys in DIRAC's order
	granted *grant      // when d is nil: the authorisation whose dictionary d copies
}

// NewCredentials builds the dictionary DIRAC builds after the TLS handshake
// (X509Chain.getCredentials): peer nil gives an anonymous caller. For a proxy
// without a DIRAC group extension the group is the DN's default group from
// reg. extra is element 2 of the DISET proposal (or the HTTPS form field);
// it is kept when truthy.
func NewCredentials(peer *credentials.PeerCredentials, extra any, reg *Registry) *Credentials {
	return newCredentials(peer, nil, extra, reg)
}

// newCredentials is NewCredentials with the entries peerEntries gives for
// peer, when the caller has them already (HTTPS: once per connection).
func newCredentials(peer *credentials.PeerCredentials, fixed []value.Entry, extra any, reg *Registry) *Credentials {
	// Built as entries (the keys are distinct): one allocation, no lookups,
	// with room for what authorisation adds (username, properties).
	var e []value.Entry
	if peer != nil {
		if fixed == nil {
			fixed = peerEntries(peer)
		}
		e = make([]value.Entry, 0, 15)
		// DIRAC's order: subject, issuer, secondsLeft, the rest.
		e = append(e, fixed[:2]...)
		e = append(e, value.Entry{Key: "secondsLeft", Value: peer.SecondsLeft})
		e = append(e, fixed[2:]...)
		if peer.IsProxy {
			group, ok := peer.Group, peer.Group != ""
			if !ok {
				group, ok = reg.DefaultGroupForDN(peer.DN)
			}
			if ok {
				e = append(e, value.Entry{Key: "group", Value: group}, value.Entry{Key: "VO", Value: reg.group(group).VO})
			}
		}
	}
	if value.Truthy(extra) {
		e = append(e, value.Entry{Key: "extraCredentials", Value: extra})
	}
	c := &Credentials{Peer: peer, d: value.DictFromEntries(e)}
	c.sync()
	return c
}

// peerEntries are the entries of the credential dictionary that depend on
// the certificate chain alone, secondsLeft apart (it goes after the first
// two).
func peerEntries(peer *credentials.PeerCredentials) []value.Entry {
	e := []value.Entry{
		{Key: "subject", Value: peer.Subject},
		{Key: "issuer", Value: peer.Issuer},
		{Key: "isProxy", Value: peer.IsProxy},
		{Key: "isLimitedProxy", Value: peer.IsLimitedProxy},
		{Key: "validDN", Value: false},
		{Key: "validGroup", Value: false},
		{Key: "DN", Value: peer.DN},
	}
	if peer.IsProxy {
		e = append(e, value.Entry{Key: "identity", Value: peer.Identity})
	}
	return e
}

// peerCache holds the verified client chain's credentials of one
// connection: analysing the chain (signatures included) once per
// connection instead of once per request.
type peerCache struct {
	chains  *chainCache // the server's, or nil
	once    sync.Once
	chain   analysedChain
	entries []value.Entry // peerEntries(chain.peer), boxed once
	err     error
	granted atomic.Pointer[grant] // the connection's last successful authorisation
}

// grantKey is everything an authorisation depends on besides the
// connection's verified chain: the service, its configuration (the policy
// ApplyConfig installed; nil means the Service's own fields, which do not
// change once it serves), the method and the extraCredentials as sent.
type grantKey struct {
	svc              *Service
	policy           *policy
	method, authPath string
	extra            string
	hasExtra         bool
}

// grant is an authorisation that let the caller in as itself (not demoted):
// the credentials it left. Keep-alive connections repeat the same call, and
// authorisation is a fifth of a small call's server time; only successes
// are kept, so refusals and demotions are decided and logged anew every
// time.
type grant struct {
	key   grantKey
	creds Credentials // fields and dictionary after authorisation; read only
}

// remember keeps c, the outcome of a successful authorisation under k.
func (pc *peerCache) remember(k grantKey, c *Credentials) {
	if pc == nil || c.Username == anonymousUser {
		return
	}
	g := &grant{key: k, creds: *c}
	g.creds.Properties = slices.Clone(c.Properties)
	g.creds.d = value.DictFromEntries(slices.Clone(c.dict().Entries()))
	pc.granted.Store(g)
}

// recall returns the credentials of the grant under k for peer, or nil.
// They share the grant's dictionary until someone asks for it (dict), which
// is then copied with secondsLeft brought up to date.
func (pc *peerCache) recall(k grantKey, peer *credentials.PeerCredentials) *Credentials {
	if pc == nil {
		return nil
	}
	g := pc.granted.Load()
	if g == nil || g.key != k {
		return nil
	}
	c := new(Credentials)
	*c = g.creds
	c.Peer, c.SecondsLeft, c.d, c.granted = peer, peer.SecondsLeft, nil, g
	c.Properties = slices.Clone(c.Properties)
	return c
}

type peerCacheKey struct{}

// peerCacheOf returns the connection's cache, nil without one.
func peerCacheOf(ctx context.Context) *peerCache {
	pc, _ := ctx.Value(peerCacheKey{}).(*peerCache)
	return pc
}

// peerOf returns the credentials of the verified client chain in cs,
// analysed once per connection (pc nil: no cache); SecondsLeft is brought up
// to date on every call. now is the verifier's clock: the TLS config's Time,
// which credentials.NewServerTLSConfig sets to ServerTLSOptions.Now.
func (pc *peerCache) peerOf(cs *tls.ConnectionState, now func() time.Time) (*credentials.PeerCredentials, error) {
	if now == nil {
		now = time.Now
	}
	if pc == nil {
		return (*chainCache)(nil).peerInfo(cs, now)
	}
	pc.once.Do(func() {
		t := now()
		pc.chain.at = t
		pc.chain.peer, pc.err = pc.chains.peerInfo(cs, func() time.Time { return t })
		if pc.err == nil {
			pc.entries = peerEntries(pc.chain.peer)
		}
	})
	if pc.err != nil {
		return nil, pc.err
	}
	p := pc.chain.atTime(now())
	if p.SecondsLeft <= 0 {
		return nil, fmt.Errorf("client certificate expired during the connection")
	}
	return p, nil
}

// peerEntries returns the connection's peerEntries once peerOf made them;
// nil otherwise (or without a cache).
func (pc *peerCache) peerEntries() []value.Entry {
	if pc == nil || pc.err != nil {
		return nil
	}
	return pc.entries
}

// Dict returns a copy of DIRAC's credential dictionary (what whoami returns).
func (c *Credentials) Dict() *value.Dict {
	out := value.NewDict()
	for _, e := range c.dict().Entries() {
		if l, ok := e.Value.([]any); ok {
			e.Value = slices.Clone(l)
		}
		out.Set(e.Key, e.Value)
	}
	return out
}

// HasProperty reports whether the caller holds property p (case-insensitive).
func (c *Credentials) HasProperty(p string) bool {
	for _, q := range c.Properties {
		if strings.EqualFold(p, q) {
			return true
		}
	}
	return false
}

func (c *Credentials) dict() *value.Dict {
	if c.d == nil && c.granted != nil {
		e := slices.Clone(c.granted.creds.d.Entries())
		for i := range e {
			if e[i].Key == "secondsLeft" {
				e[i].Value = c.SecondsLeft
			}
		}
		c.d = value.DictFromEntries(e)
	}
	if c.d == nil {
		c.d = value.NewDict()
	}
	return c.d
}

// sync copies the dictionary into the exported fields, in one pass over it.
func (c *Credentials) sync() {
	c.DN, c.Group, c.Username = "", "", ""
	c.Subject, c.Issuer, c.Identity, c.VO = "", "", "", ""
	c.IsProxy, c.IsLimitedProxy, c.SecondsLeft, c.ExtraCredentials = false, false, 0, nil
	c.Properties = c.Properties[:0]
	for _, e := range c.dict().Entries() {
		k, _ := e.Key.(string)
		switch k {
		case "DN":
			c.DN, _ = e.Value.(string)
		case "group":
			c.Group, _ = e.Value.(string)
		case "username":
			c.Username, _ = e.Value.(string)
		case "subject":
			c.Subject, _ = e.Value.(string)
		case "issuer":
			c.Issuer, _ = e.Value.(string)
		case "identity":
			c.Identity, _ = e.Value.(string)
		case "VO":
			c.VO, _ = e.Value.(string)
		case "isProxy":
			c.IsProxy, _ = e.Value.(bool)
		case "isLimitedProxy":
			c.IsLimitedProxy, _ = e.Value.(bool)
		case "secondsLeft":
			c.SecondsLeft, _ = e.Value.(int64)
		case "extraCredentials":
			c.ExtraCredentials = e.Value
		case "properties":
			l, _ := e.Value.([]any)
			for _, p := range l {
				if s, ok := p.(string); ok {
					c.Properties = append(c.Properties, s)
				}
			}
		}
	}
}

// Rules returns the authorisation rule of method: Service.Authorization,
// else the method's Auth, else DefaultAuth, else "authenticated" (the
// configuration's Authorization and Default instead of the fields once
// ApplyConfig installed them). For a transfer path
// "FileTransfer/<Direction>" the handler's Transfer.Auth and then
// Authorization["FileTransfer/Default"] come before DefaultAuth, as in
// DIRAC's AuthManager (which, unlike this, leaves a transfer without any
// rule open to all).
func (s *Service) Rules(method string) []string { return s.rules(s.policy(), method) }

func (s *Service) rules(p *policy, method string) []string {
	if r, ok := p.authorization[method]; ok {
		return r
	}
	if r, ok := s.transferRules(p.authorization, method); ok {
		return r
	}
	if m, ok := s.Lookup(method); ok && m.Auth != nil {
		return m.Auth
	}
	if p.defaultAuth != nil {
		return p.defaultAuth
	}
	return authenticatedRule
}

// authenticatedRule is the rule of methods without one (shared: callers of
// Rules must not modify what it returns).
var authenticatedRule = []string{"authenticated"}

// errUnauthorized is DIRAC's S_ERROR(ENOAUTH, "Unauthorized query").
func errUnauthorized() *diracrpc.Error {
	return diracrpc.NewError(diracrpc.ENOAUTH, "Unauthorized query")
}

// Authorize applies the rules of req.Method to req.Credentials as DIRAC's
// AuthManager.authQuery does, completing the credentials (group, username,
// properties; a trusted host's forwarded identity). A refusal is DIRAC's
// S_ERROR(1111, "Unauthorized query"), without CallStack.
//
// The rules and the registry are taken together once per call: a
// configuration swapped meanwhile (ApplyConfig) applies from the next call.
func (s *Service) Authorize(ctx context.Context, req *Request) *diracrpc.Error {
	p := s.policy()
	return s.authorize(ctx, req, p.registry, s.rules(p, req.Method))
}

func (s *Service) authorize(ctx context.Context, req *Request, reg *Registry, rules []string) *diracrpc.Error {
	if req.Credentials == nil {
		req.Credentials = NewCredentials(nil, nil, reg)
	}
	c := req.Credentials
	claimed, extra := c.Group, c.ExtraCredentials
	ok := authQuery(reg, rules, c.dict(), 0)
	c.sync()
	if c.DN != "" && c.Username == anonymousUser {
		// The group the caller asked for may be logged, never kept.
		s.logger().InfoContext(ctx, "diracrpc server: caller demoted to visitor", "service", s.Name, "method", req.Method,
			"DN", c.DN, "claimedGroup", claimed, "extraCredentials", extra, "remote", req.RemoteAddr)
	}
	if !ok {
		s.logger().InfoContext(ctx, "diracrpc server: unauthorized query", "service", s.Name, "method", req.Method,
			"DN", c.DN, "group", c.Group, "remote", req.RemoteAddr)
		return errUnauthorized()
	}
	return nil
}

// authQuery is DIRAC's AuthManager.authQuery on the credential dictionary cd.
func authQuery(reg *Registry, rules []string, cd *value.Dict, depth int) bool {
	var propsBuf [4]string // rules are short: no allocation for them
	props := propsBuf[:0]
	var validGroups []string
	for _, r := range rules {
		r = strings.TrimSpace(r)
		switch {
		case strings.HasPrefix(r, "group:"):
			validGroups = append(validGroups, strings.TrimPrefix(r, "group:"))
		case strings.HasPrefix(r, "vo:"):
			validGroups = append(validGroups, reg.groupsForVO(strings.TrimPrefix(r, "vo:"))...)
		case r != "":
			props = append(props, r)
		}
	}
	var lowerBuf [4]string
	lower := lowerBuf[:0]
	for _, p := range props {
		lower = append(lower, strings.ToLower(p))
	}
	if len(lower) == 0 {
		lower = append(lower, "any")
	}
	allowAll := slices.Contains(lower, "any") || slices.Contains(lower, "all")
	cd.Set("properties", noProperties)

	str := func(k string) string { v, _ := cd.Lookup(k); s, _ := v.(string); return s }
	dn := str("DN")
	if dn == "" {
		return allowAll && len(validGroups) == 0
	}
	extra, hasExtra := cd.Lookup("extraCredentials")
	if fwd, isList := seq(extra); hasExtra && isList {
		// Only a trusted host may act for someone else.
		host, ok := reg.hostnameForDN(dn)
		if !ok || depth > 0 || !slices.Contains(reg.Hosts[host].Properties, TrustedHost) || len(fwd) < 2 {
			return false
		}
		fdn, ok1 := fwd[0].(string)
		fgroup, ok2 := fwd[1].(string)
		if !ok1 || !ok2 {
			return false
		}
		cd.Set("DN", fdn)
		cd.Set("group", fgroup)
		cd.Delete("extraCredentials")
		return authQuery(reg, rules, cd, depth+1)
	}
	if hasExtra {
		if _, isStr := extra.(string); !isStr {
			return false
		}
	}
	if hasExtra && extra == HostsGroup {
		cd.Set("group", HostsGroup)
	} else if hasExtra && !cd.Has("group") {
		// DIRAC's compatibility rule: the string is the group of a
		// certificate that names none.
		cd.Set("group", extra)
	}
	// DIRAC's demotion of a caller it cannot vouch for. DIRAC keeps the
	// properties (and VO) of a group the caller is not a member of in the
	// dictionary; we empty them, so that HasProperty never answers for a
	// group the caller merely claimed. The VO key stays, empty, as DIRAC's
	// dictionary has it.
	anonymous := func() {
		cd.Set("username", anonymousUser)
		cd.Set("group", visitorGroup)
		cd.Set("properties", noProperties)
		if cd.Has("VO") {
			cd.Set("VO", "")
		}
	}
	if !cd.Has("group") {
		if g, ok := reg.DefaultGroupForDN(dn); ok {
			cd.Set("group", g)
		} else {
			anonymous()
		}
	}
	if str("group") == HostsGroup {
		host, ok := reg.hostnameForDN(dn)
		if ok {
			cd.Set("username", host)
			cd.Set("properties", anyStrings(reg.Hosts[host].Properties))
		} else {
			if !allowAll {
				return false
			}
			anonymous()
		}
	} else {
		group := str("group")
		g := reg.group(group)
		cd.Set("properties", anyStrings(g.Properties))
		user, ok := reg.usernameForDN(dn, g.Users)
		switch {
		case !ok:
			// Not a member of the group it claims (proxy extension or
			// extraCredentials), or an unknown DN.
			if !allowAll {
				return false
			}
			anonymous()
		default:
			cd.Set("username", user)
			if g.VO != "" && slices.Contains(reg.Users[user].Suspended, g.VO) {
				if !allowAll {
					return false
				}
				anonymous()
			}
		}
	}
	allowGroup := len(validGroups) == 0 || slices.Contains(validGroups, str("group"))
	if allowAll && allowGroup {
		return true
	}
	if slices.Contains(lower, "authenticated") && allowGroup {
		return true
	}
	// The caller's properties become the matching subset of the rule.
	held, _ := cd.Lookup("properties")
	heldList, _ := held.([]any)
	var found []any
	for _, p := range props {
		for _, h := range heldList {
			if hs, ok := h.(string); ok && strings.EqualFold(hs, p) {
				found = append(found, p)
				break
			}
		}
	}
	if found == nil {
		found = []any{}
	}
	cd.Set("properties", found)
	return len(found) > 0 && allowGroup
}

// noProperties is the empty property list, boxed once (it has no room to
// be written into).
var noProperties any = []any{}

func anyStrings(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// seq is value.Items under the short name the request parsers use.
func seq(v any) ([]any, bool) { return value.Items(v) }

// chainCache remembers the analysis of client chains (Verifier.PeerInfo:
// DN, proxy type, group extension, lifetime) across connections. DISET
// makes one connection per call, and its clients come back with the same
// proxy: the analysis was a tenth of a resumed call's server time. A chain
// is found again by its exact bytes; only analyses of full handshakes
// (signatures checked) are kept, and what changes with time is brought up
// to date or analysed anew. The handshake's verification (CAs, CRLs,
// policy) runs for every connection regardless.
type chainCache struct {
	mu sync.Mutex
	m  map[string]analysedChain
}

type analysedChain struct {
	peer *credentials.PeerCredentials
	at   time.Time // when peer.SecondsLeft was right
}

// atTime returns a copy of the analysis with SecondsLeft as of t.
func (a analysedChain) atTime(t time.Time) *credentials.PeerCredentials {
	p := *a.peer
	p.SecondsLeft -= int64(t.Sub(a.at) / time.Second)
	return &p
}

// maxCachedChains bounds a chainCache; when full it starts again empty.
const maxCachedChains = 256

func newChainCache() *chainCache { return &chainCache{m: make(map[string]analysedChain)} }

// peerInfo is credentials.Verifier.PeerInfo on the verifier's clock now
// (nil: time.Now), from the cache when it can. cc nil: no cache.
func (cc *chainCache) peerInfo(cs *tls.ConnectionState, now func() time.Time) (*credentials.PeerCredentials, error) {
	if now == nil {
		now = time.Now
	}
	t := now()
	v := credentials.Verifier{Now: func() time.Time { return t }}
	if cc == nil || !cs.HandshakeComplete || len(cs.PeerCertificates) == 0 {
		return v.PeerInfo(*cs)
	}
	var kb strings.Builder
	for _, c := range cs.PeerCertificates {
		kb.Write(c.Raw)
	}
	key := kb.String()
	cc.mu.Lock()
	e, ok := cc.m[key]
	cc.mu.Unlock()
	if ok && !t.Before(e.at) {
		if p := e.atTime(t); p.SecondsLeft > 0 {
			return p, nil
		}
	}
	p, err := v.PeerInfo(*cs)
	if err != nil || cs.DidResume {
		return p, err
	}
	cc.mu.Lock()
	if len(cc.m) >= maxCachedChains {
		clear(cc.m)
	}
	cc.m[key] = analysedChain{peer: p, at: t}
	cc.mu.Unlock()
	c := *p
	return &c, nil
}
