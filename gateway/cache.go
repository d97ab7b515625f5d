package gateway

import (
	"context"
	"sync"
	"time"

	"github.com/diracgo/diracrpc/endpoint/credentials"
	"github.com/diracgo/diracrpc/selector"
)

// cache holds the delegated proxies (in memory only) and, per proxy, the
// selectors calling with it. An entry lives until min(TTL, the proxy's
// expiry - 1 s), as DIRAC's gateway keeps its DictCache entries.
type cache struct {
	now      func() time.Time
	mu       sync.Mutex
	entries  map[identity]*entry
	inflight map[identity]chan struct{} // delegations under way
}

type entry struct {
	cred    *credentials.Credential
	extra   any        // the caller's extraCredentials, forwarded
	trusted *trustedID // HTTPS in: the identity the host forwards
	expires time.Time

	mu   sync.Mutex
	sels map[string]*selector.RPCClientSelector
}

// trustedID is the caller a trusted host forwards (HTTPS in).
type trustedID struct{ DN, Group string }

func newCache(now func() time.Time) *cache {
	return &cache{now: now, entries: make(map[identity]*entry), inflight: make(map[identity]chan struct{})}
}

// claim returns the live entry of id (cached true); or, when another
// connection is delegating for id, waits for it and returns its entry; or
// makes the caller the one that delegates: it must then call finish, with
// the new entry or nil after a failure. So that a burst of first calls by
// one user costs one delegation, not one each.
func (c *cache) claim(ctx context.Context, id identity) (e *entry, cached bool, finish func(*entry)) {
	for {
		if e, ok := c.get(id); ok {
			return e, true, nil
		}
		c.mu.Lock()
		if _, ok := c.entries[id]; ok { // put meanwhile
			c.mu.Unlock()
			continue
		}
		wait, busy := c.inflight[id]
		if !busy {
			done := make(chan struct{})
			c.inflight[id] = done
			c.mu.Unlock()
			return nil, false, func(*entry) {
				c.mu.Lock()
				delete(c.inflight, id)
				c.mu.Unlock()
				close(done)
			}
		}
		c.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, false, func(*entry) {}
		}
		if e, ok := c.get(id); ok {
			return e, true, nil
		}
		// The other delegation failed: try ours.
	}
}

func (c *cache) get(id identity) (*entry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[id]
	if !ok {
		return nil, false
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, id)
		go e.close() // its clients may still serve calls in flight
		return nil, false
	}
	return e, true
}

func (c *cache) put(id identity, cred *credentials.Credential, extra any, trusted *trustedID, ttl time.Duration) *entry {
	exp := c.now().Add(ttl)
	if cred != nil {
		if na := cred.NotAfter().Add(-time.Second); na.Before(exp) {
			exp = na
		}
	}
	e := &entry{cred: cred, extra: extra, trusted: trusted, expires: exp, sels: make(map[string]*selector.RPCClientSelector)}
	c.mu.Lock()
	defer c.mu.Unlock()
	// Drop expired entries now and then, so that departed users' proxies do
	// not stay in memory.
	now := c.now()
	for k, old := range c.entries {
		if !now.Before(old.expires) {
			delete(c.entries, k)
			go old.close()
		}
	}
	if old, ok := c.entries[id]; ok {
		go old.close()
	}
	c.entries[id] = e
	return e
}

func (c *cache) close() error {
	c.mu.Lock()
	entries := c.entries
	c.entries = make(map[identity]*entry)
	c.mu.Unlock()
	for _, e := range entries {
		e.close()
	}
	return nil
}

func (e *entry) selector(key string, build func() *selector.RPCClientSelector) *selector.RPCClientSelector {
	e.mu.Lock()
	defer e.mu.Unlock()
	s, ok := e.sels[key]
	if !ok {
		s = build()
		e.sels[key] = s
	}
	return s
}

func (e *entry) close() {
	e.mu.Lock()
	sels := e.sels
	e.sels = map[string]*selector.RPCClientSelector{}
	e.mu.Unlock()
	for _, s := range sels {
		_ = s.Close()
	}
}
