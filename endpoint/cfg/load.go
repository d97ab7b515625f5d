package cfg

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// LoadOptions says which local files make up a client's configuration. The
// zero value reads the environment of the process.
type LoadOptions struct {
	// DIRACRoot is the installation root whose etc/dirac.cfg is read first.
	// Default: $DIRAC_ROOT_PATH; no root file when both are empty.
	DIRACRoot string
	// Home is the directory holding .dirac.cfg. Default os.UserHomeDir().
	Home string
	// NoHome skips ~/.dirac.cfg.
	NoHome bool
	// Files are further files, highest precedence, the last one winning
	// (DIRAC: files added by the program, then files on the command line).
	Files []string
	// Getenv reads the environment (DIRAC_ROOT_PATH, DIRACSYSCONFIG).
	// Default os.Getenv.
	Getenv func(string) string
}

// Load reads and merges a client's local configuration files the way
// DIRAC's LocalConfiguration does, lowest precedence first:
//
//  1. <DIRAC root>/etc/dirac.cfg;
//  2. the comma-separated files of $DIRACSYSCONFIG, the first one listed
//     winning over later ones;
//  3. ~/.dirac.cfg;
//  4. opts.Files, the last one winning.
//
// A later file overrides the options of an earlier one and sections are
// merged recursively. The root file, the files of $DIRACSYSCONFIG and
// ~/.dirac.cfg are skipped when they do not exist, as DIRAC skips them; a
// file of opts.Files must exist. It also returns the files actually read, in
// merge order.
func Load(opts LoadOptions) (*Config, []string, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	type file struct {
		path     string
		optional bool
	}
	var files []file
	root := opts.DIRACRoot
	if root == "" {
		root = getenv("DIRAC_ROOT_PATH")
	}
	if root != "" {
		files = append(files, file{filepath.Join(root, "etc", "dirac.cfg"), true})
	}
	// The first DIRACSYSCONFIG file wins: merge them in reverse order.
	sys := SplitList(getenv("DIRACSYSCONFIG"))
	slices.Reverse(sys)
	for _, f := range sys {
		files = append(files, file{f, true})
	}
	if !opts.NoHome {
		home := opts.Home
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		if home != "" {
			files = append(files, file{filepath.Join(home, ".dirac.cfg"), true})
		}
	}
	for _, f := range opts.Files {
		files = append(files, file{f, false})
	}

	out := New()
	var read []string
	for _, f := range files {
		c, err := ParseFile(f.path)
		if err != nil {
			if f.optional && errors.Is(err, fs.ErrNotExist) {
				continue
			}
			return nil, nil, err
		}
		out.Merge(c)
		read = append(read, f.path)
	}
	return out, read, nil
}

// LoadFiles parses the files and merges them in order, the last one winning.
func LoadFiles(paths ...string) (*Config, error) {
	out := New()
	for _, p := range paths {
		c, err := ParseFile(p)
		if err != nil {
			return nil, err
		}
		out.Merge(c)
	}
	return out, nil
}

// MustParse parses text and panics on error; for tests and examples with
// literal configurations.
func MustParse(text string) *Config {
	c, err := Parse("<literal>", []byte(text))
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return c
}
