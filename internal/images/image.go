package images

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// layerSpec is one layer to assemble: its entries and the history line
// that says where they come from.
type layerSpec struct {
	entries   []Entry
	createdBy string
}

// assemble builds an OCI image (OCI manifest and config media types) from
// layers, with config cfg for platform p, everything dated created.
func assemble(layers []layerSpec, cfg v1.Config, p v1.Platform, created time.Time) (v1.Image, error) {
	img := mutate.MediaType(empty.Image, types.OCIManifestSchema1)
	img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
	when := v1.Time{Time: created.UTC()}
	adds := make([]mutate.Addendum, 0, len(layers))
	for _, ls := range layers {
		l, err := newLayer(ls.entries, created.UTC())
		if err != nil {
			return nil, fmt.Errorf("layer %q: %w", ls.createdBy, err)
		}
		adds = append(adds, mutate.Addendum{Layer: l, MediaType: types.OCILayer,
			History: v1.History{Created: when, CreatedBy: ls.createdBy}})
	}
	img, err := mutate.Append(img, adds...)
	if err != nil {
		return nil, fmt.Errorf("append layers: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("image config: %w", err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS, cf.Variant = p.Architecture, p.OS, p.Variant
	cf.Created = when
	cf.Config = cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return nil, fmt.Errorf("set image config: %w", err)
	}
	return img, nil
}

// imageConfig is spec's OCI config: entrypoint, user, environment, ports,
// working folder and the org.opencontainers.image labels.
func imageConfig(spec Spec, m imageMeta) v1.Config {
	cfg := v1.Config{
		Entrypoint: []string{spec.Binary.Install},
		User:       spec.User,
		Env:        append([]string{defaultPath}, spec.Env...),
		WorkingDir: firstNonEmpty(spec.WorkingDir, "/"),
		Labels: map[string]string{
			"org.opencontainers.image.title":       spec.Name,
			"org.opencontainers.image.description": spec.Description,
			"org.opencontainers.image.version":     m.version,
			"org.opencontainers.image.licenses":    licenses(spec),
			"org.opencontainers.image.source":      m.source,
		},
	}
	if m.revision != "" {
		cfg.Labels["org.opencontainers.image.revision"] = m.revision
	}
	if len(spec.Ports) > 0 {
		cfg.ExposedPorts = make(map[string]struct{}, len(spec.Ports))
		for _, p := range spec.Ports {
			cfg.ExposedPorts[p] = struct{}{}
		}
	}
	return cfg
}

// imageMeta is what an image's labels say besides the catalog's facts.
type imageMeta struct {
	version  string // the image's tag
	source   string // the project's home page
	revision string // the git commit the image was built from, if known
}

// licenses joins the image's and its packages' SPDX expressions.
func licenses(spec Spec) string {
	seen := map[string]bool{spec.Licenses: true}
	var extra []string
	for _, p := range spec.Packages {
		if p.License != "" && !seen[p.License] {
			seen[p.License] = true
			extra = append(extra, p.License)
		}
	}
	sort.Strings(extra)
	return strings.Join(append([]string{spec.Licenses}, extra...), " AND ")
}

// layers gathers spec's layers: the base files, one layer per Debian
// package, then the binary.
func (b *builder) layers(ctx context.Context, spec Spec, version string) ([]layerSpec, error) {
	bin, err := b.binary(ctx, spec, version)
	if err != nil {
		return nil, err
	}
	out := []layerSpec{{entries: append(baseEntries(), spec.Files...), createdBy: "base files (users, groups, nsswitch.conf, /tmp)"}}
	for _, pkg := range spec.Packages {
		entries, err := b.packageEntries(ctx, pkg)
		if err != nil {
			return nil, err
		}
		out = append(out, layerSpec{entries: entries, createdBy: fmt.Sprintf("Debian package %s %s", pkg.Name, pkg.Version)})
	}
	how := "prebuilt " + spec.Binary.Install
	if g := spec.Binary.Go; g != nil {
		how = "go build -trimpath ./" + g.Package
	}
	out = append(out, layerSpec{entries: []Entry{{Path: spec.Binary.Install, Mode: 0o755, Data: bin}}, createdBy: how})
	return out, nil
}
