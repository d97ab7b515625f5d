package endpoint

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/endpoint/cfg"
	"github.com/diracgo/diracrpc/internal/periodic"
	"github.com/diracgo/diracrpc/value"
)

// ErrConfigServers is matched (errors.Is) when no configuration server gave
// the configuration; the error also wraps each server's failure.
var ErrConfigServers = errors.New("endpoint: no configuration server answered")

// DialFunc makes a Caller for one URL. It keeps this package free of the
// protocols: package selector provides one that dials DISET or HTTPS by the
// URL's scheme.
type DialFunc func(ctx context.Context, url string) (diracrpc.Caller, error)

// Configuration Service names and defaults.
const (
	// ConfigService is the service configuration servers run.
	ConfigService = "Configuration/Server"
	// DefaultRefreshInterval is DIRAC's /DIRAC/Configuration/RefreshTime
	// default.
	DefaultRefreshInterval = 300 * time.Second
	// DefaultMaxConfigSize bounds the decompressed configuration.
	DefaultMaxConfigSize = 64 << 20
)

// BootstrapConfig configures a Bootstrap. Only Local and Dial are required.
type BootstrapConfig struct {
	// Local is the local configuration (cfg.Load). It names the servers
	// (/DIRAC/Configuration/Servers) and wins over the remote configuration,
	// as in DIRAC. It is not modified.
	Local *cfg.Config
	// Dial makes the client for a configuration server URL.
	Dial DialFunc
	// RefreshInterval is the period of Run. Default:
	// /DIRAC/Configuration/RefreshTime (seconds), else 300 s.
	RefreshInterval time.Duration
	// Site and IgnoreGateways select a gateway for Configuration/Server, as
	// for Resolver (a gateway takes precedence over the servers).
	Site           string
	IgnoreGateways bool
	// MaxSize bounds the decompressed configuration; default 64 MiB.
	MaxSize int64
	// Shuffle orders the servers; default random.
	Shuffle func([]string)
	// Logger receives refresh failures; nil: slog.Default().
	Logger *slog.Logger
}

// Bootstrap is a Source that completes the local configuration with the one
// of DIRAC's Configuration Service, as DIRAC's clients do: the servers are
// /DIRAC/Configuration/Servers, tried in random order; each is asked
// getCompressedDataIfNewer(<version held>) and answers with the
// zlib-compressed configuration text when it has a newer one. The remote
// configuration is merged under the local one (local options win).
//
// The first Config call fetches; later calls return the cached snapshot.
// Refresh fetches again; Run refreshes periodically until its context ends.
// With no server configured, Config returns the local configuration. It is
// safe for concurrent use.
type Bootstrap struct {
	conf    BootstrapConfig
	log     *slog.Logger
	mu      sync.Mutex // serialises fetches
	current atomic.Pointer[snapshot]
}

type snapshot struct {
	merged  *cfg.Config
	remote  *cfg.Config // the served configuration; nil before the first fetch
	version string      // /DIRAC/Configuration/Version of the remote data; "" = none yet
	fetched time.Time
}

// NewBootstrap returns a Bootstrap; nothing is fetched before the first
// Config or Refresh.
func NewBootstrap(c BootstrapConfig) (*Bootstrap, error) {
	if c.Local == nil {
		return nil, errors.New("endpoint: BootstrapConfig.Local is required")
	}
	if c.Dial == nil {
		return nil, errors.New("endpoint: BootstrapConfig.Dial is required")
	}
	if c.MaxSize <= 0 {
		c.MaxSize = DefaultMaxConfigSize
	}
	if c.Shuffle == nil {
		c.Shuffle = func(s []string) { rand.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] }) }
	}
	b := &Bootstrap{conf: c, log: c.Logger}
	if b.log == nil {
		b.log = slog.Default()
	}
	return b, nil
}

// Config returns the merged configuration, fetching it on first use. Once a
// fetch succeeded, it returns the cached snapshot without network traffic
// (Refresh and Run renew it).
func (b *Bootstrap) Config(ctx context.Context) (*cfg.Config, error) {
	if s := b.current.Load(); s != nil {
		return s.merged, nil
	}
	if err := b.refresh(ctx, true); err != nil {
		return nil, err
	}
	return b.current.Load().merged, nil
}

// Version returns the version of the remote configuration held ("" before
// the first fetch or without servers).
func (b *Bootstrap) Version() string {
	if s := b.current.Load(); s != nil {
		return s.version
	}
	return ""
}

// Refresh asks the servers for a configuration newer than the one held and
// installs it. Without servers it only (re)installs the local configuration.
func (b *Bootstrap) Refresh(ctx context.Context) error { return b.refresh(ctx, false) }

func (b *Bootstrap) refresh(ctx context.Context, first bool) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur := b.current.Load()
	if first && cur != nil {
		return nil // another caller fetched while we waited
	}
	version := "0"
	if cur != nil && cur.version != "" {
		version = cur.version
	}
	servers, err := b.servers(cur)
	if err != nil {
		return err
	}
	if len(servers) == 0 {
		b.current.Store(&snapshot{merged: b.conf.Local, fetched: time.Now()})
		return nil
	}
	var errs []error
	for _, url := range servers {
		remote, newest, err := b.fetch(ctx, url, version)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", url, err))
			if ctx.Err() != nil {
				break
			}
			continue
		}
		if remote == nil {
			if cur == nil {
				// The server claims we are up to date with "0": treat as empty.
				remote = cfg.New()
			} else {
				b.current.Store(&snapshot{merged: cur.merged, remote: cur.remote, version: cur.version, fetched: time.Now()})
				return nil
			}
		}
		merged := remote.Clone()
		merged.Merge(b.conf.Local)
		v := strings.TrimSpace(remote.GetDefault("/DIRAC/Configuration/Version", newest))
		b.current.Store(&snapshot{merged: merged, remote: remote, version: v, fetched: time.Now()})
		b.log.DebugContext(ctx, "endpoint: configuration fetched", "server", url, "version", v)
		return nil
	}
	return fmt.Errorf("%w (tried %s): %w", ErrConfigServers, strings.Join(servers, ", "), errors.Join(errs...))
}

// servers lists the URLs to ask: the site's gateways if any, else the
// /DIRAC/Configuration/Servers of the local configuration followed by those
// of the served one (cur is nil before the first fetch), without
// duplicates, shuffled. DIRAC's ConfigurationData merges the two lists the
// same way, so that a client keeps refreshing from the servers it learned
// about when the ones it was configured with die.
func (b *Bootstrap) servers(cur *snapshot) ([]string, error) {
	merged, served := b.conf.Local, (*cfg.Config)(nil)
	if cur != nil {
		merged, served = cur.merged, cur.remote
	}
	r := &Resolver{Site: b.conf.Site, IgnoreGateways: b.conf.IgnoreGateways, Shuffle: b.conf.Shuffle}
	gws, _, err := r.gatewayBases(merged)
	if err != nil {
		return nil, err
	}
	if len(gws) > 0 {
		for i, g := range gws {
			gws[i] = g + "/" + ConfigService
		}
		return gws, nil
	}
	const path = "/DIRAC/Configuration/Servers"
	var out []string
	for _, c := range []*cfg.Config{b.conf.Local, served} {
		if c == nil {
			continue
		}
		raw, _ := c.GetList(path)
		for _, s := range raw {
			u, err := normalise(s, "Configuration", "Server")
			if err != nil {
				return nil, &ResolveError{Service: ConfigService, Path: path, Reason: "bad configuration server URL", Err: err}
			}
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	b.conf.Shuffle(out)
	return out, nil
}

// fetch calls getCompressedDataIfNewer on one server. remote is nil when the
// server has nothing newer.
func (b *Bootstrap) fetch(ctx context.Context, url, version string) (remote *cfg.Config, newest string, err error) {
	caller, err := b.conf.Dial(ctx, url)
	if err != nil {
		return nil, "", err
	}
	if cl, ok := caller.(io.Closer); ok {
		defer cl.Close()
	}
	res, err := caller.Call(ctx, "getCompressedDataIfNewer", version)
	if err == nil {
		// ctx is the caller's: it may ask for results undecoded.
		res, err = res.Decoded()
	}
	if err != nil {
		return nil, "", err
	}
	d, ok := res.Value.(*value.Dict)
	if !ok {
		return nil, "", fmt.Errorf("%w: getCompressedDataIfNewer returned a %T, not a dict", diracrpc.ErrProtocol, res.Value)
	}
	if v, ok := d.Lookup("newestVersion"); ok {
		newest = fmt.Sprint(v)
	}
	data, ok := d.Lookup("data")
	if !ok {
		return nil, newest, nil
	}
	text, err := DecodeConfigData(data, res.Protocol, b.conf.MaxSize)
	if err != nil {
		return nil, "", err
	}
	remote, err = cfg.Parse(url, text)
	if err != nil {
		return nil, "", err
	}
	return remote, newest, nil
}

// DecodeConfigData turns the data of getCompressedData(IfNewer) into cfg
// text. The shapes: bytes (DISET with JSON, a b64 object; DISET with
// DEncode as a string of raw bytes) hold the zlib stream; over HTTPS the
// Tornado handler base64-encodes it into a string. A string that is not a
// zlib stream is tried as base64 whatever the protocol. maxSize bounds the
// decompressed size.
func DecodeConfigData(data any, proto diracrpc.Protocol, maxSize int64) ([]byte, error) {
	var raw []byte
	switch v := data.(type) {
	case []byte:
		raw = v
	case string:
		raw = []byte(v)
		if proto == diracrpc.HTTPS || !isZlib(raw) {
			dec, err := base64.StdEncoding.DecodeString(strings.TrimSpace(v))
			if err != nil {
				return nil, fmt.Errorf("%w: configuration data is neither zlib nor base64: %v", diracrpc.ErrProtocol, err)
			}
			raw = dec
		}
	default:
		return nil, fmt.Errorf("%w: configuration data is a %T", diracrpc.ErrProtocol, data)
	}
	zr, err := zlib.NewReader(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("%w: configuration data: %v", diracrpc.ErrProtocol, err)
	}
	defer zr.Close()
	text, err := io.ReadAll(io.LimitReader(zr, maxSize+1))
	if err != nil {
		return nil, fmt.Errorf("%w: configuration data: %v", diracrpc.ErrProtocol, err)
	}
	if int64(len(text)) > maxSize {
		return nil, fmt.Errorf("%w: configuration larger than %d bytes once decompressed", diracrpc.ErrProtocol, maxSize)
	}
	return text, nil
}

// isZlib recognises a zlib header (RFC 1950: deflate, check bits).
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// EncodeConfigData is the server side of DecodeConfigData: the
// zlib-compressed (level 9, as DIRAC) cfg text, as bytes for DISET and
// base64 text for HTTPS.
func EncodeConfigData(c *cfg.Config, proto diracrpc.Protocol) any {
	var buf bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&buf, zlib.BestCompression)
	_, _ = zw.Write(c.Bytes())
	_ = zw.Close()
	if proto == diracrpc.HTTPS {
		return base64.StdEncoding.EncodeToString(buf.Bytes())
	}
	return buf.Bytes()
}

// RefreshInterval returns the period Run uses.
func (b *Bootstrap) RefreshInterval() time.Duration {
	if b.conf.RefreshInterval > 0 {
		return b.conf.RefreshInterval
	}
	c := b.conf.Local
	if s := b.current.Load(); s != nil {
		c = s.merged
	}
	if v, ok := c.Get("/DIRAC/Configuration/RefreshTime"); ok {
		if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n > 0 {
			return time.Duration(n) * time.Second
		}
	}
	return DefaultRefreshInterval
}

// Run refreshes the configuration every RefreshInterval until ctx ends, and
// then returns ctx's error. A failed refresh is logged and the previous
// snapshot kept. Run starts no other goroutine.
func (b *Bootstrap) Run(ctx context.Context) error {
	return periodic.Run(ctx, b.RefreshInterval, func(ctx context.Context) {
		if err := b.Refresh(ctx); err != nil && ctx.Err() == nil {
			b.log.WarnContext(ctx, "endpoint: configuration refresh failed", "err", err)
		}
	})
}
