package images

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"golang.org/x/sys/unix"
)

// extractOptions says what extractTar restores besides contents and modes.
type extractOptions struct {
	// owners restores each entry's uid and gid (needs root).
	owners bool
	// times restores each entry's modification time (symlinks' own too).
	times bool
}

// extractImage writes img's file system into dir, layer by layer. The
// builder's images have no whiteouts; one is an error.
func extractImage(img v1.Image, dir string, o extractOptions) error {
	layers, err := img.Layers()
	if err != nil {
		return fmt.Errorf("image layers: %w", err)
	}
	for i, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
		err = extractTar(rc, dir, o)
		rc.Close()
		if err != nil {
			return fmt.Errorf("layer %d: %w", i, err)
		}
	}
	return nil
}

// extractTar writes a tar stream's folders, regular files and symbolic links
// below dir. It refuses paths that leave dir, also through a symbolic link.
func extractTar(r io.Reader, dir string, o extractOptions) error {
	tr := tar.NewReader(r)
	type stamp struct {
		path string
		t    time.Time
	}
	var stamps []stamp
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		target, err := extractEntry(tr, hdr, dir)
		if err != nil {
			return err
		}
		if o.owners {
			if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
				return fmt.Errorf("%s: %w (restoring owners needs root)", hdr.Name, err)
			}
		}
		if o.times {
			stamps = append(stamps, stamp{target, hdr.ModTime})
		}
	}
	// Children first: setting a file's time leaves its folder's alone.
	for i := len(stamps) - 1; i >= 0; i-- {
		ts := unix.NsecToTimespec(stamps[i].t.UnixNano())
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, stamps[i].path, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return fmt.Errorf("set the time of %s: %w", stamps[i].path, err)
		}
	}
	return nil
}

func extractEntry(tr *tar.Reader, hdr *tar.Header, dir string) (string, error) {
	p, err := cleanPath(hdr.Name)
	if err != nil {
		return "", err
	}
	if strings.HasPrefix(path.Base(p), ".wh.") {
		return "", fmt.Errorf("%s: whiteouts are not supported", hdr.Name)
	}
	if err := checkParents(dir, p); err != nil {
		return "", err
	}
	target := filepath.Join(dir, filepath.FromSlash(p))
	mode := hdr.FileInfo().Mode()
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.MkdirAll(target, 0o755); err != nil {
			return "", err
		}
		return target, os.Chmod(target, mode)
	case tar.TypeReg:
		if err := replaceable(target); err != nil {
			return "", err
		}
		f, err := os.OpenFile(target, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return "", err
		}
		_, err = io.Copy(f, tr)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return "", fmt.Errorf("write %s: %w", target, err)
		}
		return target, os.Chmod(target, mode)
	case tar.TypeSymlink:
		if err := replaceable(target); err != nil {
			return "", err
		}
		return target, os.Symlink(hdr.Linkname, target)
	default:
		return "", fmt.Errorf("%s: unsupported tar entry type %q", hdr.Name, hdr.Typeflag)
	}
}

// checkParents creates p's missing parent folders below dir and refuses a
// parent that is anything but a folder (a symbolic link could lead out of dir).
func checkParents(dir, p string) error {
	cur := dir
	parts := strings.Split(p, "/")
	for _, part := range parts[:len(parts)-1] {
		cur = filepath.Join(cur, part)
		st, err := os.Lstat(cur)
		if errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !st.IsDir() {
			return fmt.Errorf("%s: parent %s is not a folder", p, cur)
		}
	}
	return nil
}

// replaceable removes a file or link an upper layer replaces; a folder
// cannot be replaced by a file.
func replaceable(target string) error {
	st, err := os.Lstat(target)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if st.IsDir() {
		return fmt.Errorf("%s is a folder in a lower layer", target)
	}
	return os.Remove(target)
}
