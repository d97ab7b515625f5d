// Package sandbox moves DIRAC job sandboxes through a SandboxStore service
// (WorkloadManagement/SandboxStore, or TornadoSandboxStore over HTTPS) with
// a diracrpc.Client, over either protocol, as DIRAC's SandboxStoreClient
// does:
//
//   - a sandbox is a tar.bz2 of the files (member names are base names),
//     named "<md5 of the tar.bz2>.tar.bz2";
//   - the upload's fileId is [name, {assignTo}] ({"Job:<id>": "Input"} or
//     empty) and the store answers "SB:<SE>|/SandBox/..." — also when the
//     sandbox already exists (DIRAC then stops the upload at once);
//   - a download names the sandbox by the path of that answer.
//
// A JDL job uses the answer in its InputSandbox, next to the file names.
package sandbox

import (
	"archive/tar"
	"compress/bzip2"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	dbzip2 "github.com/dsnet/compress/bzip2"

	"github.com/diracgo/diracrpc"
	"github.com/diracgo/diracrpc/value"
)

// Pack writes the tar.bz2 of files to w, each under its base name, as
// DIRAC's tarfile mode "w|bz2" does; a directory is added with all it
// holds, under its base name, as DIRAC's uploadFilesAsSandbox adds it.
// Anything but regular files and directories (a symbolic link inside a
// directory, a device) is an error rather than left out.
func Pack(w io.Writer, files ...string) error {
	bw, err := dbzip2.NewWriter(w, &dbzip2.WriterConfig{Level: 9})
	if err != nil {
		return err
	}
	tw := tar.NewWriter(bw)
	for _, name := range files {
		if err := addPath(tw, name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return bw.Close()
}

// addPath adds a file, or a directory and everything below it, under its
// base name.
func addPath(tw *tar.Writer, name string) error {
	fi, err := os.Stat(name)
	if err != nil {
		return err
	}
	if !fi.IsDir() {
		return addEntry(tw, name, filepath.Base(name), fi)
	}
	root, err := filepath.EvalSymlinks(name) // a link to a directory: its content
	if err != nil {
		return err
	}
	base := filepath.Base(filepath.Clean(name))
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		return addEntry(tw, p, filepath.ToSlash(filepath.Join(base, rel)), fi)
	})
}

// addEntry writes one directory or regular file as member name.
func addEntry(tw *tar.Writer, path, name string, fi fs.FileInfo) error {
	switch {
	case fi.IsDir():
		h, err := tar.FileInfoHeader(fi, "")
		if err != nil {
			return err
		}
		h.Name = name + "/"
		return tw.WriteHeader(h)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("sandbox: %s is not a regular file or a directory", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return err
	}
	h, err := tar.FileInfoHeader(fi, "")
	if err != nil {
		return err
	}
	h.Name = name
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// validTypes are the sandbox types DIRAC's SandboxStoreClient accepts.
var validTypes = []string{"Input", "Output"}

// Upload packs files (and directories, see Pack) into a sandbox and sends
// it to the SandboxStore of c, assigned to the entities of assignTo (e.g.
// {"Job:42": "Output"}; nil: none; a type other than Input or Output is
// refused, as DIRAC refuses it). It returns the store's answer, "SB:<SE>|/SandBox/...". The
// archive goes through a temporary file, so memory stays small whatever
// the files' size (the store refuses sandboxes over its
// MaxSandboxSizeMiB, 10 MiB by default).
func Upload(ctx context.Context, c *diracrpc.Client, files []string, assignTo map[string]string) (string, error) {
	for entity, typ := range assignTo {
		if !slices.Contains(validTypes, typ) {
			return "", fmt.Errorf("sandbox: invalid sandbox type %q for %s (Input or Output, as DIRAC requires)", typ, entity)
		}
	}
	tmp, err := os.CreateTemp("", "sandbox-*.tar.bz2")
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := md5.New()
	if err := Pack(io.MultiWriter(tmp, h), files...); err != nil {
		return "", fmt.Errorf("sandbox: packing: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return "", err
	}
	assign := value.NewDict()
	for k, v := range assignTo {
		assign.Set(k, v)
	}
	name := hex.EncodeToString(h.Sum(nil)) + ".tar.bz2"
	res, err := c.Send(ctx, []any{name, assign}, tmp)
	if err != nil {
		return "", fmt.Errorf("sandbox: upload of %s: %w", name, err)
	}
	u, ok := res.Value.(string)
	if !ok || !strings.HasPrefix(u, "SB:") {
		return "", fmt.Errorf("sandbox: the store answered %v, not an SB: URL", res.Value)
	}
	return u, nil
}

// Path returns the store path of a sandbox URL: "/SandBox/..." of
// "SB:SandboxSE|/SandBox/...".
func Path(sbURL string) (string, error) {
	rest, ok := strings.CutPrefix(sbURL, "SB:")
	_, path, found := strings.Cut(rest, "|")
	if !ok || !found || path == "" {
		return "", fmt.Errorf("sandbox: %q is not an SB:<SE>|<path> URL", sbURL)
	}
	return path, nil
}

// Download fetches the sandbox sbURL ("SB:<SE>|/SandBox/...") from the
// SandboxStore of c into w, as the tar.bz2 it is. An unknown sandbox, or
// one the caller may not read, is an S_ERROR and writes nothing.
func Download(ctx context.Context, c *diracrpc.Client, sbURL string, w io.Writer) error {
	path, err := Path(sbURL)
	if err != nil {
		return err
	}
	if _, err := c.Receive(ctx, path, w); err != nil {
		return fmt.Errorf("sandbox: download of %s: %w", sbURL, err)
	}
	return nil
}

// ErrUnsafePath: a sandbox member would land outside the directory.
var ErrUnsafePath = errors.New("sandbox: member path leaves the directory")

// Extract unpacks a tar.bz2 sandbox read from r into dir, refusing members
// that would land outside it; only regular files and directories are
// created. It returns the names extracted.
func Extract(r io.Reader, dir string) ([]string, error) {
	tr := tar.NewReader(bzip2.NewReader(r))
	var names []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			return names, err
		}
		clean := filepath.Clean(filepath.FromSlash(h.Name))
		if !filepath.IsLocal(clean) {
			return names, fmt.Errorf("%w: %q", ErrUnsafePath, h.Name)
		}
		target := filepath.Join(dir, clean)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return names, err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return names, err
			}
			f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
			if err != nil {
				return names, err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return names, err
			}
			names = append(names, h.Name)
		}
	}
}
