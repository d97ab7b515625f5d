package credentials

import (
	"fmt"
	"os"
	"path/filepath"
)

// Locator finds credential files in DIRAC's order. Every field is optional:
// the zero value looks at the real process environment, home directory and
// uid. Tests set LookupEnv, Home and UID to stay away from global state.
type Locator struct {
	// LookupEnv reads environment variables; nil means os.LookupEnv.
	LookupEnv func(string) (string, bool)
	// Home is the user's home directory (for ~/.globus); "" means $HOME via
	// LookupEnv, then os.UserHomeDir.
	Home string
	// UID is used for /tmp/x509up_u<uid>; nil means os.Getuid().
	UID *int
	// TmpDir replaces /tmp for the default proxy; "" means "/tmp".
	TmpDir string

	// The following mirror DIRAC CS options under /DIRAC/Security; empty = unset.

	// GridSecurityDir is CS /DIRAC/Security/Grid-Security.
	GridSecurityDir string
	// CALocation is CS /DIRAC/Security/CALocation.
	CALocation string
	// HostCertFile and HostKeyFile are CS /DIRAC/Security/CertFile and KeyFile.
	HostCertFile, HostKeyFile string
	// DIRACRoot is the DIRAC installation root; "" means env DIRAC_ROOT_PATH.
	DIRACRoot string
	// SystemCADir replaces /etc/grid-security/certificates (the last fallback).
	SystemCADir string
}

func (l Locator) getenv(k string) (string, bool) {
	if l.LookupEnv != nil {
		return l.LookupEnv(k)
	}
	return os.LookupEnv(k)
}

func (l Locator) home() string {
	if l.Home != "" {
		return l.Home
	}
	if h, ok := l.getenv("HOME"); ok && h != "" {
		return h
	}
	if l.LookupEnv == nil {
		if h, err := os.UserHomeDir(); err == nil {
			return h
		}
	}
	return ""
}

func (l Locator) diracRoot() string {
	if l.DIRACRoot != "" {
		return l.DIRACRoot
	}
	v, _ := l.getenv("DIRAC_ROOT_PATH")
	return v
}

func isFile(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

func isDir(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.IsDir()
}

// ProxyPath returns the proxy file DIRAC would use: $GRID_PROXY_FILE, then
// $X509_USER_PROXY (each symlink-resolved and required to be an existing file),
// then /tmp/x509up_u<uid>. None found: a *FileError wrapping ErrNoProxy.
func (l Locator) ProxyPath() (string, error) {
	var tried []string
	for _, env := range []string{"GRID_PROXY_FILE", "X509_USER_PROXY"} {
		v, ok := l.getenv(env)
		if !ok || v == "" {
			continue
		}
		tried = append(tried, fmt.Sprintf("%s=%s", env, v))
		if p, err := filepath.EvalSymlinks(v); err == nil && isFile(p) {
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			return p, nil
		}
	}
	p := l.tmpProxy()
	if isFile(p) {
		return p, nil
	}
	tried = append(tried, p)
	return "", &FileError{Err: fmt.Errorf("%w (looked at %v)", ErrNoProxy, tried),
		Fix: "run dirac-proxy-init, or set X509_USER_PROXY to a proxy file"}
}

// UserCertKeyPaths returns the user certificate and key, each resolved on its
// own: $X509_USER_CERT (resp. $X509_USER_KEY) if that file exists, else
// ~/.globus/usercert.pem (resp. userkey.pem) if it exists.
func (l Locator) UserCertKeyPaths() (cert, key string, err error) {
	find := func(env, name string) string {
		if v, ok := l.getenv(env); ok && v != "" && fileExists(v) {
			return v
		}
		if h := l.home(); h != "" {
			if p := filepath.Join(h, ".globus", name); fileExists(p) {
				return p
			}
		}
		return ""
	}
	cert = find("X509_USER_CERT", "usercert.pem")
	key = find("X509_USER_KEY", "userkey.pem")
	if cert == "" || key == "" {
		return "", "", &FileError{Err: fmt.Errorf("%w: user certificate or key missing", ErrNoCertificate),
			Fix: "set X509_USER_CERT/X509_USER_KEY or install ~/.globus/usercert.pem and userkey.pem"}
	}
	return cert, key, nil
}

// DefaultProxyPath is where a new proxy is written (dirac-proxy-init):
// $GRID_PROXY_FILE, then $X509_USER_PROXY (symlinks resolved, the file need
// not exist), else /tmp/x509up_u<uid>.
func (l Locator) DefaultProxyPath() string {
	for _, env := range []string{"GRID_PROXY_FILE", "X509_USER_PROXY"} {
		if v, ok := l.getenv(env); ok && v != "" {
			if p, err := filepath.EvalSymlinks(v); err == nil {
				v = p
			}
			if abs, err := filepath.Abs(v); err == nil {
				v = abs
			}
			return v
		}
	}
	return l.tmpProxy()
}

func (l Locator) tmpProxy() string {
	uid := os.Getuid()
	if l.UID != nil {
		uid = *l.UID
	}
	tmp := l.TmpDir
	if tmp == "" {
		tmp = "/tmp"
	}
	return filepath.Join(tmp, fmt.Sprintf("x509up_u%d", uid))
}

// HostCertKeyPaths returns the host certificate and key, each resolved on its
// own as DIRAC does: $DIRAC_X509_HOST_CERT / $DIRAC_X509_HOST_KEY if the file
// exists; else HostCertFile / HostKeyFile; else the first existing
// <dir>/{server,host,dirac,service}{cert,key}.pem with <dir> = GridSecurityDir,
// then <DIRAC root>/etc/grid-security.
func (l Locator) HostCertKeyPaths() (cert, key string, err error) {
	find := func(kind, env, cs string) string {
		if v, ok := l.getenv(env); ok && v != "" && fileExists(v) {
			return v
		}
		if cs != "" {
			return cs
		}
		var dirs []string
		if l.GridSecurityDir != "" {
			dirs = append(dirs, l.GridSecurityDir)
		}
		if r := l.diracRoot(); r != "" {
			dirs = append(dirs, filepath.Join(r, "etc", "grid-security"))
		}
		for _, prefix := range []string{"server", "host", "dirac", "service"} {
			for _, d := range dirs {
				p := filepath.Join(d, prefix+kind+".pem")
				if rp, err := filepath.EvalSymlinks(p); err == nil && isFile(rp) {
					return rp
				}
			}
		}
		return ""
	}
	cert = find("cert", "DIRAC_X509_HOST_CERT", l.HostCertFile)
	key = find("key", "DIRAC_X509_HOST_KEY", l.HostKeyFile)
	if cert == "" || key == "" {
		return "", "", &FileError{Err: fmt.Errorf("%w: host certificate or key not found", ErrNoCertificate),
			Fix: "set DIRAC_X509_HOST_CERT and DIRAC_X509_HOST_KEY"}
	}
	return cert, key, nil
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// CADir returns the CA directory DIRAC would use: <GridSecurityDir>/certificates
// if it is a directory; else CALocation if it is a directory; else $X509_CERT_DIR (taken as is);
// else <DIRAC root>/etc/grid-security/certificates if it exists; else
// /etc/grid-security/certificates. Nothing found: ErrNoCAs.
func (l Locator) CADir() (string, error) {
	if l.GridSecurityDir != "" {
		if d := filepath.Join(l.GridSecurityDir, "certificates"); isDir(d) {
			return d, nil
		}
	}
	if l.CALocation != "" && isDir(l.CALocation) {
		return l.CALocation, nil
	}
	if v, ok := l.getenv("X509_CERT_DIR"); ok && v != "" {
		return v, nil
	}
	if r := l.diracRoot(); r != "" {
		if d := filepath.Join(r, "etc", "grid-security", "certificates"); isDir(d) {
			return d, nil
		}
	}
	d := l.SystemCADir
	if d == "" {
		d = "/etc/grid-security/certificates"
	}
	if isDir(d) {
		return d, nil
	}
	return "", &FileError{Path: d, Err: ErrNoCAs, Fix: "set X509_CERT_DIR to a directory of CA certificates"}
}

// Proxy finds and loads the default proxy (ProxyPath + LoadProxy).
func (l Locator) Proxy(opts LoadOptions) (*Credential, error) {
	p, err := l.ProxyPath()
	if err != nil {
		return nil, err
	}
	return LoadProxy(p, opts)
}

// UserCredential finds and loads the user certificate and key.
func (l Locator) UserCredential(opts LoadOptions) (*Credential, error) {
	c, k, err := l.UserCertKeyPaths()
	if err != nil {
		return nil, err
	}
	return LoadCertKey(c, k, opts)
}

// HostCredential finds and loads the host certificate and key, with the host
// key permission policy (group read tolerated). Every certificate of the file
// is kept; when the file holds only the leaf, NewServerTLSConfig completes
// the sent chain from the CA store as OpenSSL does for DIRAC servers.
func (l Locator) HostCredential(opts LoadOptions) (*Credential, error) {
	c, k, err := l.HostCertKeyPaths()
	if err != nil {
		return nil, err
	}
	opts.Kind = KeyHost
	return LoadCertKey(c, k, opts)
}

// CAs finds and loads the CA directory.
func (l Locator) CAs() (*CAStore, error) {
	d, err := l.CADir()
	if err != nil {
		return nil, err
	}
	return LoadCADir(d)
}
