package images

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"pault.ag/go/debian/deb"
)

// packageEntries returns the entries of pkg's layer for b's platform: the
// selected files of the pinned .deb, its bundle if any, and its status.d
// record. The .deb is downloaded into the cache when it is not there yet.
func (b *builder) packageEntries(ctx context.Context, pkg Package) ([]Entry, error) {
	arch := b.target.debArch
	if pkg.ArchAll {
		arch = "all"
	}
	sum := pkg.SHA256[arch]
	if sum == "" {
		return nil, fmt.Errorf("no SHA-256 pinned for Debian package %s %s on %s: add the SHA256 that `apt-cache show %s:%s=%s` prints to internal/images/catalog.go",
			pkg.Name, pkg.Version, arch, pkg.Name, arch, pkg.Version)
	}
	path, err := b.fetchDeb(ctx, pkg, arch, sum)
	if err != nil {
		return nil, err
	}
	files, ctl, err := readDeb(path)
	if err != nil {
		return nil, err
	}
	if ctl.Package != pkg.Name || ctl.Version.String() != pkg.Version || ctl.Architecture.String() != arch {
		return nil, fmt.Errorf("%s holds %s %s (%s), the catalog pins %s %s (%s): remove the file and build again",
			path, ctl.Package, ctl.Version, ctl.Architecture, pkg.Name, pkg.Version, arch)
	}
	entries, err := selectPaths(files, pkg)
	if err != nil {
		return nil, err
	}
	if pkg.Bundle != nil {
		e, err := bundleEntry(*pkg.Bundle, files)
		if err != nil {
			return nil, fmt.Errorf("Debian package %s %s: %w", pkg.Name, pkg.Version, err)
		}
		entries = append(entries, e)
	}
	return append(entries, statusEntry(pkg.Name, ctl.Source, pkg.Version, arch)), nil
}

// fetchDeb returns the path of the pinned .deb in the cache, downloading it
// with `apt-get download` when it is missing, and checks its SHA-256.
func (b *builder) fetchDeb(ctx context.Context, pkg Package, arch, sum string) (string, error) {
	dir := filepath.Join(b.cacheDir, "debs")
	final := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.deb", pkg.Name, strings.ReplaceAll(pkg.Version, ":", "%3a"), arch))
	if err := checkSHA256(final, sum); err == nil {
		return final, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		b.logf("  %v; downloading it again", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("Debian package cache: %w", err)
	}
	tmp, err := os.MkdirTemp(dir, ".download-")
	if err != nil {
		return "", fmt.Errorf("Debian package cache: %w", err)
	}
	defer os.RemoveAll(tmp)
	spec := pkg.Name + ":" + arch + "=" + pkg.Version
	if pkg.ArchAll {
		spec = pkg.Name + "=" + pkg.Version
	}
	b.logf("  apt-get download %s (into %s)", spec, dir)
	cmd := exec.CommandContext(ctx, "apt-get", "download", "-q", spec)
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("apt-get download %s failed: %w\n%s\nThe pinned version may no longer be served: pin the one `apt-cache policy %s` shows, with its SHA256, in internal/images/catalog.go (or run apt-get update; the builder needs Debian bookworm's package lists)",
			spec, err, strings.TrimSpace(string(out)), pkg.Name)
	}
	got, err := filepath.Glob(filepath.Join(tmp, "*.deb"))
	if err != nil || len(got) != 1 {
		return "", fmt.Errorf("apt-get download %s left %d .deb files in %s, want 1", spec, len(got), tmp)
	}
	if err := checkSHA256(got[0], sum); err != nil {
		return "", fmt.Errorf("%w: the mirror serves another build of %s; check the pin in internal/images/catalog.go", err, spec)
	}
	if err := os.Rename(got[0], final); err != nil {
		return "", fmt.Errorf("Debian package cache: %w", err)
	}
	return final, nil
}

func checkSHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA-256 %s, want %s", path, got, want)
	}
	return nil
}

// readDeb returns every entry of a .deb's data archive (hard links become
// copies of their targets) and the package's control fields.
func readDeb(path string) ([]Entry, deb.Control, error) {
	pkg, closer, err := deb.LoadFile(path)
	if err != nil {
		return nil, deb.Control{}, fmt.Errorf("read Debian package %s: %w", path, err)
	}
	defer closer()
	var entries []Entry
	data := map[string][]byte{}
	for {
		hdr, err := pkg.Data.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, deb.Control{}, fmt.Errorf("read the data archive of %s: %w", path, err)
		}
		if strings.Trim(hdr.Name, "./") == "" {
			continue // the archive's root folder
		}
		e, err := debEntry(hdr, pkg.Data, data)
		if err != nil {
			return nil, deb.Control{}, fmt.Errorf("%s: %w", path, err)
		}
		entries = append(entries, e)
	}
	return entries, pkg.Control, nil
}

func debEntry(hdr *tar.Header, r io.Reader, data map[string][]byte) (Entry, error) {
	p, err := cleanPath(hdr.Name)
	if err != nil {
		return Entry{}, err
	}
	e := Entry{Path: p, Mode: hdr.FileInfo().Mode(), UID: hdr.Uid, GID: hdr.Gid}
	switch hdr.Typeflag {
	case tar.TypeDir:
	case tar.TypeSymlink:
		e.Link = hdr.Linkname
	case tar.TypeReg:
		if e.Data, err = io.ReadAll(r); err != nil {
			return Entry{}, fmt.Errorf("read %s: %w", hdr.Name, err)
		}
		data[p] = e.Data
	case tar.TypeLink:
		target, err := cleanPath(hdr.Linkname)
		if err != nil {
			return Entry{}, err
		}
		if e.Data = data[target]; e.Data == nil {
			return Entry{}, fmt.Errorf("hard link %s to %s, which is not an earlier file", hdr.Name, hdr.Linkname)
		}
	default:
		return Entry{}, fmt.Errorf("entry %s has unsupported tar type %q", hdr.Name, hdr.Typeflag)
	}
	return e, nil
}

// selectPaths keeps the entries pkg.Paths selects; every selector must match.
func selectPaths(files []Entry, pkg Package) ([]Entry, error) {
	var out []Entry
	used := make([]bool, len(pkg.Paths))
	for _, f := range files {
		for i, sel := range pkg.Paths {
			if f.Path == strings.TrimSuffix(sel, "/") || (strings.HasSuffix(sel, "/") && strings.HasPrefix(f.Path, sel)) {
				out, used[i] = append(out, f), true
				break
			}
		}
	}
	for i, ok := range used {
		if !ok {
			return nil, fmt.Errorf("Debian package %s %s has no %s: fix its Paths in internal/images/catalog.go", pkg.Name, pkg.Version, pkg.Paths[i])
		}
	}
	return out, nil
}
