package images

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"sigs.k8s.io/yaml"
)

// chartMeta is what the builder reads from a Chart.yaml.
type chartMeta struct {
	Version    string `json:"version"`
	AppVersion string `json:"appVersion"`
	Home       string `json:"home"`
}

// imageValues is the block of a chart's values.yaml that names an image.
type imageValues struct {
	Repository string
	Tag        string
}

// readImageValues returns the block at the dotted path key ("image",
// "devicePlugin.image") of the values file p.
func readImageValues(p, key string) (imageValues, error) {
	var doc map[string]any
	if err := readYAML(p, &doc); err != nil {
		return imageValues{}, err
	}
	var cur any = doc
	for _, k := range strings.Split(key, ".") {
		m, _ := cur.(map[string]any)
		cur = m[k]
	}
	block, _ := cur.(map[string]any)
	str := func(k string) string { s, _ := block[k].(string); return s }
	return imageValues{Repository: str("repository"), Tag: str("tag")}, nil
}

func readChart(root, chart string) (chartMeta, error) {
	var m chartMeta
	p := filepath.Join(root, chart, "Chart.yaml")
	if err := readYAML(p, &m); err != nil {
		return m, err
	}
	if m.Version == "" {
		return m, fmt.Errorf("%s has no version", p)
	}
	return m, nil
}

func readYAML(p string, v any) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return fmt.Errorf("read %s (image references come from the charts): %w", p, err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		return fmt.Errorf("parse %s: %w", p, err)
	}
	return nil
}

// resolveRef returns an image's full reference (registry/repository:tag)
// from its RefSource and the charts below root, as written there.
func resolveRef(root string, src RefSource) (string, error) {
	repo, tag := src.Repository, src.Tag
	if src.Chart != "" && (repo == "" || tag == "") {
		meta, err := readChart(root, src.Chart)
		if err != nil {
			return "", err
		}
		if repo == "" {
			key := firstNonEmpty(src.Values, "image")
			p := filepath.Join(root, src.Chart, "values.yaml")
			vals, err := readImageValues(p, key)
			if err != nil {
				return "", err
			}
			if repo, tag = vals.Repository, firstNonEmpty(tag, vals.Tag); repo == "" {
				return "", fmt.Errorf("%s has no %s.repository", p, key)
			}
		}
		if tag == "" {
			tag = meta.AppVersion
			if src.TagField == "version" {
				tag = meta.Version
			}
		}
	}
	ref := repo + ":" + tag
	if repo == "" || tag == "" {
		return "", fmt.Errorf("image reference %q is incomplete: set a repository and a tag (or the chart that owns them) in the catalog", ref)
	}
	// containerd's CRI resolves fully qualified names only: the registry
	// must be explicit (no Docker Hub defaulting).
	if first, _, _ := strings.Cut(repo, "/"); !strings.ContainsAny(first, ".:") && first != "localhost" {
		return "", fmt.Errorf("image reference %q has no registry host: write it fully qualified", ref)
	}
	if _, err := name.NewTag(ref, name.StrictValidation); err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	return ref, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
