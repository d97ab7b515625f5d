package httpsclient

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diracgo/diracrpc/endpoint/credentials"
)

// ErrNoToken: no bearer token was found where the WLCG discovery looks.
var ErrNoToken = errors.New("httpsclient: no bearer token found")

// FindBearerToken finds a bearer token as the WLCG Bearer Token Discovery
// specification (and DIRAC) does, first match wins: $BEARER_TOKEN, the file
// named by $BEARER_TOKEN_FILE, $XDG_RUNTIME_DIR/bt_u<uid>, then
// /tmp/bt_u<uid>. The environment, uid and /tmp come from loc (zero value:
// the real process). Surrounding white space is removed.
func FindBearerToken(loc credentials.Locator) (string, error) {
	getenv := loc.LookupEnv
	if getenv == nil {
		getenv = os.LookupEnv
	}
	if v, ok := getenv("BEARER_TOKEN"); ok {
		if t := strings.TrimSpace(v); t != "" {
			return t, nil
		}
	}
	if f, ok := getenv("BEARER_TOKEN_FILE"); ok && f != "" {
		return readToken(f)
	}
	uid := os.Getuid()
	if loc.UID != nil {
		uid = *loc.UID
	}
	name := "bt_u" + strconv.Itoa(uid)
	if dir, ok := getenv("XDG_RUNTIME_DIR"); ok && dir != "" {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err == nil {
			return readToken(p)
		}
	}
	tmp := loc.TmpDir
	if tmp == "" {
		tmp = "/tmp"
	}
	p := filepath.Join(tmp, name)
	if _, err := os.Stat(p); err == nil {
		return readToken(p)
	}
	return "", ErrNoToken
}

func readToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrNoToken, err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("%w: %s is empty", ErrNoToken, path)
	}
	return t, nil
}
