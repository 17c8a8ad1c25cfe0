package images

import (
	"archive/tar"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// Index annotations naming an image: the OCI one, which `ctr images import`
// uses, and containerd's own, which it prefers. Both hold the full reference.
const (
	AnnotationRefName        = "org.opencontainers.image.ref.name"
	annotationContainerdName = "io.containerd.image.name"
)

// writeArchive writes img as an OCI image layout holding this one image,
// named ref, and archives the layout as a tar file at path: sorted entries,
// every one dated mtime, owned by root, mode 0644 (folders 0755).
func writeArchive(path string, img v1.Image, ref string, p v1.Platform, mtime time.Time) error {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".layout-")
	if err != nil {
		return fmt.Errorf("temporary layout folder: %w", err)
	}
	defer os.RemoveAll(tmp)
	lp, err := layout.Write(tmp, empty.Index)
	if err != nil {
		return fmt.Errorf("write OCI layout: %w", err)
	}
	anns := map[string]string{AnnotationRefName: ref, annotationContainerdName: ref}
	if err := lp.AppendImage(img, layout.WithAnnotations(anns), layout.WithPlatform(p)); err != nil {
		return fmt.Errorf("write image %s into the OCI layout: %w", ref, err)
	}
	part := path + ".part"
	if err := tarFolder(tmp, part, mtime); err != nil {
		os.Remove(part)
		return err
	}
	if err := os.Rename(part, path); err != nil {
		return fmt.Errorf("archive %s: %w", path, err)
	}
	return nil
}

// tarFolder archives the folder dir (folders and regular files only) into
// the file out, deterministically.
func tarFolder(dir, out string, mtime time.Time) error {
	var paths []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return err
		}
		if !d.IsDir() && !d.Type().IsRegular() {
			return fmt.Errorf("%s is neither a folder nor a file", p)
		}
		paths = append(paths, p)
		return nil
	})
	if err != nil {
		return fmt.Errorf("walk OCI layout: %w", err)
	}
	sort.Strings(paths)
	f, err := os.Create(out)
	if err != nil {
		return fmt.Errorf("create archive: %w", err)
	}
	tw := tar.NewWriter(f)
	for _, p := range paths {
		if err := addToTar(tw, dir, p, mtime); err != nil {
			f.Close()
			return err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return fmt.Errorf("finish archive %s: %w", out, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write archive %s: %w", out, err)
	}
	return nil
}

func addToTar(tw *tar.Writer, dir, p string, mtime time.Time) error {
	rel, err := filepath.Rel(dir, p)
	if err != nil {
		return err
	}
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	hdr := &tar.Header{Name: filepath.ToSlash(rel), Mode: 0o644, ModTime: mtime, Typeflag: tar.TypeReg, Size: st.Size()}
	if st.IsDir() {
		hdr.Name, hdr.Mode, hdr.Typeflag, hdr.Size = hdr.Name+"/", 0o755, tar.TypeDir, 0
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("archive %s: %w", rel, err)
	}
	if st.IsDir() {
		return nil
	}
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("archive %s: %w", rel, err)
	}
	return nil
}

// OpenArchive extracts an image archive written by Build into the empty
// folder dir and returns its image and the reference its index names it by.
func OpenArchive(path, dir string) (v1.Image, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err
	}
	defer f.Close()
	if err := extractTar(f, dir, extractOptions{}); err != nil {
		return nil, "", fmt.Errorf("extract %s: %w", path, err)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		return nil, "", fmt.Errorf("%s is not an OCI image layout: %w", path, err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		return nil, "", fmt.Errorf("%s: image index: %w", path, err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, "", fmt.Errorf("%s: image index: %w", path, err)
	}
	if len(im.Manifests) != 1 {
		return nil, "", fmt.Errorf("%s holds %d images, want 1", path, len(im.Manifests))
	}
	desc := im.Manifests[0]
	img, err := lp.Image(desc.Digest)
	if err != nil {
		return nil, "", fmt.Errorf("%s: image %s: %w", path, desc.Digest, err)
	}
	return img, desc.Annotations[AnnotationRefName], nil
}
