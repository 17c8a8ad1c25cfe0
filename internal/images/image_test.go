package images

import (
	"reflect"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func sampleSpec() Spec {
	return Spec{
		Name: "sample", Description: "a sample image", Licenses: "Apache-2.0",
		Binary:   Binary{Install: "/usr/local/bin/tool"},
		Packages: []Package{{Name: "libx", License: "MIT"}, {Name: "liby", License: "Apache-2.0"}},
		User:     "65532:65532", Ports: []string{"9400/tcp"}, Env: []string{"A=b"},
	}
}

func sampleImage(t *testing.T, entries []Entry, epoch time.Time) v1.Image {
	t.Helper()
	cfg := imageConfig(sampleSpec(), imageMeta{version: "1.2.3", source: "https://example.com/src", revision: "abc"})
	img, err := assemble([]layerSpec{{entries: entries, createdBy: "files"},
		{entries: []Entry{{Path: "usr/local/bin/tool", Mode: 0o755, Data: []byte("bin")}}, createdBy: "binary"}},
		cfg, v1.Platform{OS: "linux", Architecture: "amd64"}, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func digestOf(t *testing.T, img v1.Image) v1.Hash {
	t.Helper()
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestAssembleIsReproducible: the same inputs give the same manifest digest,
// whatever the order of the entries; another epoch gives another digest.
func TestAssembleIsReproducible(t *testing.T) {
	epoch := time.Unix(0, 0)
	a := digestOf(t, sampleImage(t, sampleEntries(), epoch))
	rev := sampleEntries()
	rev[0], rev[len(rev)-1] = rev[len(rev)-1], rev[0]
	if b := digestOf(t, sampleImage(t, rev, epoch)); a != b {
		t.Errorf("digests %s and %s from the same inputs", a, b)
	}
	if c := digestOf(t, sampleImage(t, sampleEntries(), epoch.Add(time.Hour))); a == c {
		t.Error("the digest does not depend on the epoch")
	}
}

// TestAssembleConfig: OCI media types, platform, created, history and the
// config fields the catalog sets.
func TestAssembleConfig(t *testing.T) {
	epoch := time.Unix(1700000000, 0).UTC()
	img := sampleImage(t, sampleEntries(), epoch)
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	if m.MediaType != types.OCIManifestSchema1 || m.Config.MediaType != types.OCIConfigJSON || len(m.Layers) != 2 {
		t.Fatalf("manifest %+v", m)
	}
	for _, l := range m.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("layer media type %s, want %s", l.MediaType, types.OCILayer)
		}
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || !cf.Created.Time.Equal(epoch) || len(cf.History) != 2 ||
		!cf.History[1].Created.Time.Equal(epoch) || cf.History[1].CreatedBy != "binary" {
		t.Errorf("config file %+v", cf)
	}
	want := v1.Config{
		Entrypoint: []string{"/usr/local/bin/tool"}, User: "65532:65532", WorkingDir: "/",
		Env:          []string{defaultPath, "A=b"},
		ExposedPorts: map[string]struct{}{"9400/tcp": {}},
		Labels: map[string]string{
			"org.opencontainers.image.title":       "sample",
			"org.opencontainers.image.description": "a sample image",
			"org.opencontainers.image.version":     "1.2.3",
			"org.opencontainers.image.licenses":    "Apache-2.0 AND MIT",
			"org.opencontainers.image.source":      "https://example.com/src",
			"org.opencontainers.image.revision":    "abc",
		},
	}
	if !reflect.DeepEqual(cf.Config, want) {
		t.Errorf("config\n got %+v\nwant %+v", cf.Config, want)
	}
}
