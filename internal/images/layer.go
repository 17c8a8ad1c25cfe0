package images

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// Entry is one file system entry of a layer: a folder, a regular file or a
// symbolic link.
type Entry struct {
	// Path is relative and slash-separated ("usr/local/bin/x"); a leading
	// "/" or "./" is dropped.
	Path string
	// Mode holds the type (fs.ModeDir, fs.ModeSymlink or none for a regular
	// file), the permission bits and setuid, setgid and sticky.
	Mode     fs.FileMode
	UID, GID int
	// Data is a regular file's contents.
	Data []byte
	// Link is a symbolic link's target.
	Link string
}

func fileEntry(p string, perm fs.FileMode, data string) Entry {
	return Entry{Path: p, Mode: perm, Data: []byte(data)}
}

func dirEntry(p string, perm fs.FileMode) Entry {
	return Entry{Path: p, Mode: fs.ModeDir | perm}
}

// normalize cleans the entries' paths, adds the missing parent folders
// (0755, root) and sorts the entries by path, so that a parent always comes
// before its children. Two entries for one path are an error, except two
// identical folders.
func normalize(entries []Entry) ([]Entry, error) {
	byPath := make(map[string]Entry, len(entries))
	for _, e := range entries {
		p, err := cleanPath(e.Path)
		if err != nil {
			return nil, err
		}
		e.Path = p
		if prev, ok := byPath[p]; ok {
			if prev.Mode.IsDir() && e.Mode == prev.Mode && e.UID == prev.UID && e.GID == prev.GID {
				continue
			}
			return nil, fmt.Errorf("two layer entries for %q (%v and %v): one path must have one source", p, prev.Mode, e.Mode)
		}
		byPath[p] = e
	}
	for p := range byPath {
		for dir := path.Dir(p); dir != "."; dir = path.Dir(dir) {
			if prev, ok := byPath[dir]; ok {
				if !prev.Mode.IsDir() {
					return nil, fmt.Errorf("layer entry %q is below %q, which is not a folder", p, dir)
				}
				continue
			}
			byPath[dir] = dirEntry(dir, 0o755)
		}
	}
	out := make([]Entry, 0, len(byPath))
	for _, e := range byPath {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// cleanPath drops a leading "./" or "/" and a trailing "/"; what is left
// must be a clean path inside the layer.
func cleanPath(p string) (string, error) {
	s := strings.TrimSuffix(strings.TrimPrefix(strings.TrimPrefix(p, "./"), "/"), "/")
	if s == "" || s == "." || s == ".." || strings.HasPrefix(s, "../") || path.Clean(s) != s {
		return "", fmt.Errorf("layer entry path %q is not a clean path inside the image", p)
	}
	return s, nil
}

// writeTar writes the normalized entries as a tar stream: every entry with
// the same modification time, its own owner and mode, no user or group
// names and no access or change times.
func writeTar(w io.Writer, entries []Entry, mtime time.Time) error {
	tw := tar.NewWriter(w)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.Path, Mode: unixMode(e.Mode), Uid: e.UID, Gid: e.GID, ModTime: mtime}
		switch {
		case e.Mode.IsDir():
			hdr.Typeflag, hdr.Name = tar.TypeDir, e.Path+"/"
		case e.Mode&fs.ModeSymlink != 0:
			hdr.Typeflag, hdr.Linkname = tar.TypeSymlink, e.Link
		case e.Mode.IsRegular():
			hdr.Typeflag, hdr.Size = tar.TypeReg, int64(len(e.Data))
		default:
			return fmt.Errorf("layer entry %q: unsupported file type %v (only folders, files and symlinks)", e.Path, e.Mode.Type())
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("tar header for %q: %w", e.Path, err)
		}
		if hdr.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.Data); err != nil {
				return fmt.Errorf("tar data for %q: %w", e.Path, err)
			}
		}
	}
	return tw.Close()
}

// unixMode converts an fs.FileMode's permission and special bits to the
// tar header's Unix mode bits.
func unixMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		mode |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		mode |= 0o1000
	}
	return mode
}

// newLayer builds a gzip-compressed OCI layer from the entries.
func newLayer(entries []Entry, mtime time.Time) (v1.Layer, error) {
	norm, err := normalize(entries)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, norm, mtime); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(data)), nil
	}, tarball.WithMediaType(types.OCILayer), tarball.WithCompressedCaching)
	if err != nil {
		return nil, fmt.Errorf("layer from tar stream: %w", err)
	}
	return layer, nil
}
