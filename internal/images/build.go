package images

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Options configure Build and Rootfs.
type Options struct {
	// Root is the repository root (required).
	Root string
	// Catalog is the image table; nil means Catalog().
	Catalog []Spec
	// Images are the names of the catalog's images to build; empty means all. An
	// image named here whose program is not in the tree is an error; with
	// all images it is skipped.
	Images []string
	// Platform is "os/arch"; default DefaultPlatform.
	Platform string
	// OutDir receives <name>.tar and digests.txt; default Root/dist/images.
	OutDir string
	// BinDir holds prebuilt binaries (prometheus-adapter); default Root/bin.
	BinDir string
	// CacheDir caches downloaded Debian packages below debs/; default
	// ~/.cache/gpu-autoscaling.
	CacheDir string
	// Version is the version the Go binaries are stamped with (GoBuild.
	// VersionVar); default: each image's tag.
	Version string
	// Revision is the revision label; default `git rev-parse HEAD` in Root
	// (none without git).
	Revision string
	// Epoch dates every layer entry and the image's creation; the zero
	// value means the Unix epoch (SOURCE_DATE_EPOCH=0).
	Epoch time.Time
	// Log receives progress lines; nil discards them.
	Log io.Writer
}

// Result is one image of a Build.
type Result struct {
	Name string
	// Ref is the image's full reference; Digest its manifest digest.
	Ref    string
	Digest v1.Hash
	// Archive is the OCI layout archive's path and Size its bytes.
	Archive string
	Size    int64
	// Duration is how long the image took, builds and downloads included.
	Duration time.Duration
	// Skipped says why the image was not built ("" when it was).
	Skipped string
}

// DigestsFile is the file, in OutDir, listing "name ref digest" per image built.
const DigestsFile = "digests.txt"

// builder is one Build's resolved options.
type builder struct {
	root, binDir, cacheDir string
	version, revision      string
	source                 string
	target                 target
	epoch                  time.Time
	log                    io.Writer
}

func newBuilder(o Options) (*builder, error) {
	if o.Root == "" {
		return nil, errors.New("no repository root given")
	}
	t, err := resolvePlatform(firstNonEmpty(o.Platform, DefaultPlatform))
	if err != nil {
		return nil, err
	}
	b := &builder{root: o.Root, binDir: firstNonEmpty(o.BinDir, filepath.Join(o.Root, "bin")),
		cacheDir: o.CacheDir, version: o.Version, revision: o.Revision, target: t, epoch: o.Epoch.UTC(), log: o.Log}
	if b.cacheDir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return nil, fmt.Errorf("no cache folder given and no home folder: %w", err)
		}
		b.cacheDir = filepath.Join(home, ".cache", "gpu-autoscaling")
	}
	if o.Epoch.IsZero() {
		b.epoch = time.Unix(0, 0).UTC()
	}
	if b.log == nil {
		b.log = io.Discard
	}
	if b.revision == "" {
		b.revision = gitRevision(o.Root)
	}
	meta, err := readChart(o.Root, umbrellaChart)
	if err != nil {
		return nil, err
	}
	b.source = meta.Home
	return b, nil
}

func (b *builder) logf(format string, a ...any) { fmt.Fprintf(b.log, format+"\n", a...) }

// gitRevision is the commit checked out in root, "" when git cannot say.
func gitRevision(root string) string {
	cmd := exec.Command("git", "rev-parse", "HEAD")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// selectSpecs returns the images named in names (all when empty) of the
// catalog (Catalog() when nil).
func selectSpecs(all []Spec, names []string) ([]Spec, error) {
	if all == nil {
		all = Catalog()
	}
	if len(names) == 0 {
		return all, nil
	}
	var out []Spec
	for _, n := range names {
		s, ok := find(all, n)
		if !ok {
			var known []string
			for _, s := range all {
				known = append(known, s.Name)
			}
			return nil, fmt.Errorf("unknown image %q (known: %s)", n, strings.Join(known, ", "))
		}
		out = append(out, s)
	}
	return out, nil
}

// image assembles spec's image and returns it with its reference.
func (b *builder) image(ctx context.Context, spec Spec) (v1.Image, string, error) {
	ref, err := resolveRef(b.root, spec.Ref)
	if err != nil {
		return nil, "", fmt.Errorf("image %s: %w", spec.Name, err)
	}
	tag := ref[strings.LastIndex(ref, ":")+1:]
	layers, err := b.layers(ctx, spec, firstNonEmpty(b.version, tag))
	if err != nil {
		return nil, "", fmt.Errorf("image %s: %w", spec.Name, err)
	}
	cfg := imageConfig(spec, imageMeta{version: tag, source: b.source, revision: b.revision})
	img, err := assemble(layers, cfg, b.target.platform, b.epoch)
	if err != nil {
		return nil, "", fmt.Errorf("image %s: %w", spec.Name, err)
	}
	return img, ref, nil
}

// Build builds the selected images into OutDir, one OCI layout archive
// each, and lists them in OutDir/digests.txt. It returns the images built
// or skipped so far, also on error.
func Build(ctx context.Context, o Options) ([]Result, error) {
	b, err := newBuilder(o)
	if err != nil {
		return nil, err
	}
	specs, err := selectSpecs(o.Catalog, o.Images)
	if err != nil {
		return nil, err
	}
	out := firstNonEmpty(o.OutDir, filepath.Join(o.Root, "dist", "images"))
	if err := os.MkdirAll(out, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	var results []Result
	for _, spec := range specs {
		r, err := b.buildOne(ctx, spec, out)
		var missing *sourceMissingError
		if errors.As(err, &missing) && len(o.Images) == 0 {
			r.Skipped = missing.Error()
			b.logf("  skipped: %s", r.Skipped)
		} else if err != nil {
			return results, err
		}
		results = append(results, r)
	}
	return results, writeDigests(filepath.Join(out, DigestsFile), results)
}

func (b *builder) buildOne(ctx context.Context, spec Spec, out string) (Result, error) {
	start := time.Now()
	r := Result{Name: spec.Name, Archive: filepath.Join(out, spec.Name+".tar")}
	b.logf("==> %s", spec.Name)
	img, ref, err := b.image(ctx, spec)
	if err != nil {
		return r, err
	}
	r.Ref = ref
	if r.Digest, err = img.Digest(); err != nil {
		return r, fmt.Errorf("image %s: digest: %w", spec.Name, err)
	}
	if err := writeArchive(r.Archive, img, ref, b.target.platform, b.epoch); err != nil {
		return r, fmt.Errorf("image %s: %w", spec.Name, err)
	}
	st, err := os.Stat(r.Archive)
	if err != nil {
		return r, err
	}
	r.Size, r.Duration = st.Size(), time.Since(start)
	return r, nil
}

func writeDigests(path string, results []Result) error {
	var buf bytes.Buffer
	for _, r := range results {
		if r.Skipped == "" {
			fmt.Fprintf(&buf, "%s %s %s\n", r.Name, r.Ref, r.Digest)
		}
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// Rootfs writes the file system of the image called name into the folder
// dir, with its modes and times and, when run as root, its owners: the same
// files as the image's layers. exporter/Dockerfile builds its image from it.
func Rootfs(ctx context.Context, o Options, name, dir string) error {
	b, err := newBuilder(o)
	if err != nil {
		return err
	}
	specs, err := selectSpecs(o.Catalog, []string{name})
	if err != nil {
		return err
	}
	img, _, err := b.image(ctx, specs[0])
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("root file system folder: %w", err)
	}
	root := os.Geteuid() == 0
	if !root {
		b.logf("  not root: the files in %s are owned by you, not by the image's owners", dir)
	}
	if err := extractImage(img, dir, extractOptions{owners: root, times: true}); err != nil {
		return fmt.Errorf("image %s: write its file system into %s: %w", name, dir, err)
	}
	return nil
}

// ModulePath is the module whose root FindRoot looks for.
const ModulePath = "github.com/medical-kg/gpu-autoscaling"

// FindRoot returns the repository root at or above dir: the folder whose
// go.mod declares ModulePath.
func FindRoot(dir string) (string, error) {
	for d := dir; ; d = filepath.Dir(d) {
		if b, err := os.ReadFile(filepath.Join(d, "go.mod")); err == nil && bytes.HasPrefix(b, []byte("module "+ModulePath+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s at or above %s: run from the repository or pass --root", ModulePath, dir)
		}
	}
}

// Reference returns the full reference of the catalog's image called name,
// as Build tags it (e.g. the pause image for containerd's sandbox_image).
func Reference(root, name string) (string, error) {
	spec, ok := Lookup(name)
	if !ok {
		return "", fmt.Errorf("unknown image %q", name)
	}
	return resolveRef(root, spec.Ref)
}

// ReadDigests reads the digests.txt Build wrote into dir: the images built,
// with their archives' paths (what a loader imports into containerd).
func ReadDigests(dir string) ([]Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, DigestsFile))
	if err != nil {
		return nil, fmt.Errorf("%w (run make images)", err)
	}
	var out []Result
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		var d v1.Hash
		if len(f) == 3 {
			d, err = v1.NewHash(f[2])
		}
		if len(f) != 3 || err != nil {
			return nil, fmt.Errorf("%s line %d: %q is not \"name reference digest\"", DigestsFile, i+1, line)
		}
		out = append(out, Result{Name: f[0], Ref: f[1], Digest: d, Archive: filepath.Join(dir, f[0]+".tar")})
	}
	return out, nil
}
