package server

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/diracgo/diracrpc/endpoint/cfg"
)

// ErrNotConfigured is matched (errors.Is) when a DIRAC configuration does
// not describe what was asked: no /DIRAC/Setups entry for the service's
// system, or no section for the service.
var ErrNotConfigured = errors.New("server: not in the DIRAC configuration")

// RegistryFromConfig reads /Registry of a DIRAC configuration (a local
// dirac.cfg, or the Configuration Service's data) the way DIRAC's Registry
// helpers do: Users/<name>/DN (a list), DefaultGroup and Suspended;
// Groups/<name>/Users, Properties and VO; Hosts/<name>/DN and Properties;
// /Registry/DefaultGroup. A configuration without /Registry gives an empty
// registry, in which only "all" rules pass. A host with several DNs gets one
// entry per DN, named <host>, <host>#2, ... (DIRAC accepts any of them).
func RegistryFromConfig(c *cfg.Config) *Registry {
	r := &Registry{Users: map[string]User{}, Groups: map[string]Group{}, Hosts: map[string]Host{}}
	reg := c.Section("/Registry")
	if reg == nil {
		return r
	}
	list := func(s *cfg.Section, opt string) []string {
		l, _ := s.GetList(opt)
		return l
	}
	if users := reg.Section("Users"); users != nil {
		for _, name := range users.Sections() {
			u := users.Section(name)
			r.Users[name] = User{DNs: list(u, "DN"), DefaultGroup: list(u, "DefaultGroup"), Suspended: list(u, "Suspended")}
		}
	}
	if groups := reg.Section("Groups"); groups != nil {
		for _, name := range groups.Sections() {
			g := groups.Section(name)
			r.Groups[name] = Group{Users: list(g, "Users"), Properties: list(g, "Properties"),
				VO: strings.TrimSpace(g.GetDefault("VO", ""))}
		}
	}
	if hosts := reg.Section("Hosts"); hosts != nil {
		for _, name := range hosts.Sections() {
			h := hosts.Section(name)
			for i, dn := range list(h, "DN") {
				key := name
				if i > 0 {
					key = name + "#" + strconv.Itoa(i+1)
				}
				r.Hosts[key] = Host{DN: dn, Properties: list(h, "Properties")}
			}
		}
	}
	if dg, ok := reg.GetList("DefaultGroup"); ok && len(dg) > 0 {
		r.DefaultGroups = dg
	}
	return r
}

// ServiceSection is what a DIRAC service reads from its section
// /Systems/<System>/<Instance>/Services/<Component>.
type ServiceSection struct {
	// Path is the section's path.
	Path string
	// Port is the Port option; 0 when absent.
	Port int
	// Protocol is the Protocol option (dips or https, lower case); "" when
	// absent, which DIRAC reads as dips.
	Protocol string
	// Authorization holds the rules of the Authorization subsection by
	// method, as Service.Authorization takes them: "echo" for RPC methods,
	// "FileTransfer/FromClient" and the like for transfers. Default is left
	// out: it is DefaultAuth.
	Authorization map[string][]string
	// DefaultAuth is Authorization/Default; nil when absent.
	DefaultAuth []string
}

// ServiceSectionFromConfig finds the section of service ("System/Component")
// as DIRAC's PathFinder does: the instance is /DIRAC/Setups/<setup>/<System>,
// setup defaulting to /DIRAC/Setup.
func ServiceSectionFromConfig(c *cfg.Config, service, setup string) (*ServiceSection, error) {
	system, component, ok := strings.Cut(service, "/")
	if !ok || system == "" || component == "" || strings.Contains(component, "/") {
		return nil, fmt.Errorf("server: service name %q is not System/Component", service)
	}
	if setup == "" {
		setup = strings.TrimSpace(c.GetDefault("/DIRAC/Setup", ""))
	}
	if setup == "" {
		return nil, fmt.Errorf("%w: no /DIRAC/Setup", ErrNotConfigured)
	}
	instPath := "/DIRAC/Setups/" + setup + "/" + system
	instance := strings.TrimSpace(c.GetDefault(instPath, ""))
	if instance == "" {
		return nil, fmt.Errorf("%w: option %s is not defined", ErrNotConfigured, instPath)
	}
	path := "/Systems/" + system + "/" + instance + "/Services/" + component
	sec := c.Section(path)
	if sec == nil {
		return nil, fmt.Errorf("%w: no section %s", ErrNotConfigured, path)
	}
	out := &ServiceSection{Path: path, Protocol: strings.ToLower(strings.TrimSpace(sec.GetDefault("Protocol", "")))}
	if p := strings.TrimSpace(sec.GetDefault("Port", "")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("server: %s/Port = %q is not a port number", path, p)
		}
		out.Port = n
	}
	if auth := sec.Section("Authorization"); auth != nil {
		out.Authorization = map[string][]string{}
		readRules(auth, "", out)
	}
	return out, nil
}

// readRules walks the Authorization section: options are method rules,
// subsections (FileTransfer) prefix their options with their name. Only the
// top-level Default is the service default; a subsection's Default applies
// to its own entries, as in DIRAC's AuthManager.
func readRules(s *cfg.Section, prefix string, out *ServiceSection) {
	for _, opt := range s.Options() {
		rules, _ := s.GetList(opt)
		if prefix == "" && opt == "Default" {
			out.DefaultAuth = rules
			continue
		}
		out.Authorization[prefix+opt] = rules
	}
	for _, sub := range s.Sections() {
		readRules(s.Section(sub), prefix+sub+"/", out)
	}
}

// ApplyConfig installs the service's Registry, Authorization and
// DefaultAuth from a DIRAC configuration, as a DIRAC service reads them
// (DIRAC's services read them from the configuration on every call, so that
// they follow the Configuration Service). Rules given in Go (Method.Auth,
// and DefaultAuth when the section has no Default) still apply to methods
// the configuration does not name. Once installed, these replace the
// Registry, Authorization and DefaultAuth fields.
//
// It may be called at any time, also while the service serves calls
// (Follower does): the registry and the rules are swapped together, and
// each call is authorised with one of the two sets, never a mix. On error
// the rules in force are kept.
func (s *Service) ApplyConfig(c *cfg.Config, setup string) (*ServiceSection, error) {
	sec, err := ServiceSectionFromConfig(c, s.Name, setup)
	if err != nil {
		return nil, err
	}
	p := &policy{registry: RegistryFromConfig(c), authorization: sec.Authorization, defaultAuth: sec.DefaultAuth}
	if p.defaultAuth == nil {
		p.defaultAuth = s.DefaultAuth
	}
	s.configured.Store(p)
	return sec, nil
}
