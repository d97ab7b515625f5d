// Package endpoint turns what users hold into something to connect to: service
// URLs, DIRAC configuration (cfg) files, and the resolution of
// "System/Component" names into URLs. Credentials live in the subpackage
// credentials.
package endpoint

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"github.com/diracgo/diracrpc"
)

// ErrBadURL is matched (errors.Is) by every URL parsing error.
var ErrBadURL = errors.New("endpoint: bad service URL")

// URL is a parsed DIRAC service URL such as dips://host:9135/Framework/Foo.
type URL struct {
	Protocol  diracrpc.Protocol // dips, dip or https
	Host      string            // host name or IP, without brackets
	Port      int
	System    string
	Component string
}

// Service returns "System/Component".
func (u *URL) Service() string { return u.System + "/" + u.Component }

// Addr returns host:port for dialling.
func (u *URL) Addr() string { return net.JoinHostPort(u.Host, strconv.Itoa(u.Port)) }

// String returns the normalised URL.
func (u *URL) String() string {
	return string(u.Protocol) + "://" + u.Addr() + "/" + u.Service()
}

// ParseURL parses and normalises a service URL. dips:// and dip:// URLs need
// a port (DIRAC refuses them otherwise); https:// defaults to 443 as DIRAC's
// URL normalisation does. The path must be /System/Component.
func ParseURL(raw string) (*URL, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w %q: %s", ErrBadURL, raw, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, bad("%v", err)
	}
	out := &URL{Protocol: diracrpc.Protocol(strings.ToLower(u.Scheme))}
	switch out.Protocol {
	case diracrpc.DIPS, diracrpc.DIP, diracrpc.HTTPS:
	case "":
		return nil, bad("no scheme: use dips://, dip:// or https://")
	default:
		return nil, bad("unknown scheme %q: use dips://, dip:// or https://", u.Scheme)
	}
	out.Host = u.Hostname()
	if out.Host == "" {
		return nil, bad("no host")
	}
	switch p := u.Port(); {
	case p != "":
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, bad("port %q out of range", p)
		}
		out.Port = n
	case out.Protocol == diracrpc.HTTPS:
		out.Port = 443
	default:
		return nil, bad("no port: a %s URL needs one (DIRAC: No port found for URL)", out.Protocol)
	}
	sys, comp, ok := strings.Cut(strings.Trim(u.Path, "/"), "/")
	if !ok || sys == "" || comp == "" || strings.Contains(comp, "/") {
		return nil, bad("path must be /System/Component")
	}
	out.System, out.Component = sys, comp
	return out, nil
}

// SplitService splits "System/Component", the form DIRAC names services by.
func SplitService(name string) (system, component string, err error) {
	sys, comp, ok := strings.Cut(name, "/")
	if !ok || sys == "" || comp == "" || strings.Contains(comp, "/") {
		return "", "", fmt.Errorf("endpoint: service name %q must be of the form System/Component", name)
	}
	return sys, comp, nil
}
