package images

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// testRoot writes a tiny module with one command and the umbrella chart's
// Chart.yaml (the builder reads the source label from it).
func testRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	files := map[string]string{
		"go.mod":                      "module example.com/imgtest\n\ngo 1.26\n",
		"cmd/hello/main.go":           "package main\n\nvar version = \"dev\"\n\nfunc main() { println(\"hello\", version) }\n",
		umbrellaChart + "/Chart.yaml": "apiVersion: v2\nname: x\nversion: 0.1.0\nappVersion: \"0.1.0\"\nhome: https://example.com/src\n",
		"charts/hello/Chart.yaml":     "apiVersion: v2\nname: hello\nversion: 0.3.0\nappVersion: \"1.0\"\n",
		"charts/hello/values.yaml":    "image:\n  repository: registry.example.com/hello\n  tag: \"\"\n",
	}
	for p, s := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testCatalog() []Spec {
	return []Spec{
		{
			Name: "hello", Description: "hello", Licenses: "Apache-2.0", User: nonroot,
			Ref:    RefSource{Chart: "charts/hello"},
			Binary: Binary{Install: "/usr/local/bin/hello", Go: &GoBuild{Package: "cmd/hello", VersionVar: "main.version"}},
			Files:  []Entry{fileEntry("etc/hello.conf", 0o644, "x\n")},
		},
		{
			Name: "missing", Licenses: "Apache-2.0", Ref: RefSource{Repository: "registry.example.com/missing", Tag: "1"},
			Binary: Binary{Install: "/missing", Go: &GoBuild{Package: "cmd/missing"}},
		},
	}
}

func buildInto(t *testing.T, root, out string) []Result {
	t.Helper()
	res, err := Build(context.Background(), Options{Root: root, Catalog: testCatalog(), OutDir: out,
		CacheDir: t.TempDir(), Revision: "r1"})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return res
}

func fileSum(t *testing.T, p string) [32]byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

// TestBuildIsReproducible builds the same image twice (a Go binary the
// builder compiles, generated files) and compares digests and archives;
// an image whose package is missing is skipped.
func TestBuildIsReproducible(t *testing.T) {
	root := testRoot(t)
	out1, out2 := t.TempDir(), t.TempDir()
	r1 := buildInto(t, root, out1)
	r2 := buildInto(t, root, out2)
	if len(r1) != 2 || r1[0].Skipped != "" || !strings.Contains(r1[1].Skipped, "cmd/missing") {
		t.Fatalf("results %+v", r1)
	}
	if r1[0].Ref != "registry.example.com/hello:1.0" {
		t.Errorf("ref %q, want the chart's repository and appVersion", r1[0].Ref)
	}
	if r1[0].Digest != r2[0].Digest {
		t.Errorf("two builds from the same inputs: %s and %s", r1[0].Digest, r2[0].Digest)
	}
	if fileSum(t, r1[0].Archive) != fileSum(t, r2[0].Archive) {
		t.Error("the two archives differ")
	}
	d1, _ := os.ReadFile(filepath.Join(out1, DigestsFile))
	d2, _ := os.ReadFile(filepath.Join(out2, DigestsFile))
	want := "hello registry.example.com/hello:1.0 " + r1[0].Digest.String() + "\n"
	if string(d1) != want || !bytes.Equal(d1, d2) {
		t.Errorf("digests.txt %q and %q, want %q", d1, d2, want)
	}
	listed, err := ReadDigests(out1)
	if err != nil || len(listed) != 1 || listed[0].Ref != r1[0].Ref || listed[0].Digest != r1[0].Digest || listed[0].Archive != r1[0].Archive {
		t.Errorf("ReadDigests = %+v, %v, want %+v", listed, err, r1[0])
	}
	_, err = Build(context.Background(), Options{Root: root, Catalog: testCatalog(), Images: []string{"missing"},
		OutDir: t.TempDir(), CacheDir: t.TempDir()})
	var missing *sourceMissingError
	if !errors.As(err, &missing) {
		t.Errorf("building a missing image by name: %v, want its source-missing error", err)
	}
}

// TestArchiveLoadsBack: the archive is an OCI layout that go-containerregistry
// reads back, naming the image by its full reference, with its platform and
// config.
func TestArchiveLoadsBack(t *testing.T) {
	root := testRoot(t)
	res := buildInto(t, root, t.TempDir())
	img, ref, err := OpenArchive(res[0].Archive, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if ref != res[0].Ref || digestOf(t, img) != res[0].Digest {
		t.Errorf("archive holds %s %s, want %s %s", ref, digestOf(t, img), res[0].Ref, res[0].Digest)
	}
	dir := t.TempDir()
	if _, _, err := OpenArchive(res[0].Archive, dir); err != nil {
		t.Fatal(err)
	}
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	idx, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, err := idx.IndexManifest()
	if err != nil {
		t.Fatal(err)
	}
	desc := im.Manifests[0]
	if desc.Annotations[AnnotationRefName] != res[0].Ref || desc.Annotations[annotationContainerdName] != res[0].Ref ||
		desc.Platform == nil || desc.Platform.Architecture != "amd64" || desc.Platform.OS != "linux" {
		t.Errorf("index entry %+v", desc)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if c.Entrypoint[0] != "/usr/local/bin/hello" || c.User != nonroot || c.Labels["org.opencontainers.image.revision"] != "r1" ||
		c.Labels["org.opencontainers.image.source"] != "https://example.com/src" || !cf.Created.Time.Equal(time.Unix(0, 0)) {
		t.Errorf("config %+v", cf)
	}
}

// TestRootfsRuns writes an image's file system into a folder: the files,
// with their modes, and the binary runs, stamped with the image's tag.
func TestRootfsRuns(t *testing.T) {
	root := testRoot(t)
	dir := filepath.Join(t.TempDir(), "rootfs")
	err := Rootfs(context.Background(), Options{Root: root, Catalog: testCatalog(), CacheDir: t.TempDir()}, "hello", dir)
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]os.FileMode{
		"usr/local/bin/hello": 0o755, "etc/hello.conf": 0o644, "etc/passwd": 0o644,
		"tmp": os.ModeDir | os.ModeSticky | 0o777, "home/nonroot": os.ModeDir | 0o700,
	} {
		st, err := os.Lstat(filepath.Join(dir, p))
		if err != nil {
			t.Error(err)
			continue
		}
		if st.Mode() != want {
			t.Errorf("%s: mode %v, want %v", p, st.Mode(), want)
		}
		if !st.ModTime().Equal(time.Unix(0, 0)) {
			t.Errorf("%s: mtime %v, want the epoch", p, st.ModTime())
		}
	}
	out, err := exec.Command(filepath.Join(dir, "usr/local/bin/hello")).CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello 1.0" {
		t.Errorf("hello: %q, %v", out, err)
	}
}
