package images

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// fakeDeb builds a small .deb with dpkg-deb (no apt, no network) and puts it
// into a fresh cache as the builder names it; it returns the cache folder
// and the .deb's SHA-256.
func fakeDeb(t *testing.T) (cache, sum string) {
	t.Helper()
	if _, err := exec.LookPath("dpkg-deb"); err != nil {
		t.Skip("dpkg-deb not installed")
	}
	src := t.TempDir()
	writeFiles(t, src, map[string]string{
		"DEBIAN/control": "Package: libfake\nSource: fake\nVersion: 1.0-1\nArchitecture: amd64\n" +
			"Maintainer: nobody <nobody@example.com>\nDescription: fake\n",
		"lib/x86_64-linux-gnu/libfake.so.1": "ELF",
		"usr/share/doc/libfake/copyright":   "GPL\n",
		"usr/share/doc/libfake/changelog":   "not wanted\n",
		"usr/share/certs/b.crt":             "B\n",
		"usr/share/certs/a.crt":             "A", // no final newline
	})
	if err := os.Chmod(filepath.Join(src, "lib/x86_64-linux-gnu/libfake.so.1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(src, "lib64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/lib/x86_64-linux-gnu/libfake.so.1", filepath.Join(src, "lib64/fake")); err != nil {
		t.Fatal(err)
	}
	if err := os.Link(filepath.Join(src, "usr/share/certs/b.crt"), filepath.Join(src, "usr/share/certs/c.crt")); err != nil {
		t.Fatal(err)
	}
	cache = t.TempDir()
	deb := filepath.Join(cache, "debs", "libfake_1.0-1_amd64.deb")
	if err := os.MkdirAll(filepath.Dir(deb), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("dpkg-deb", "--root-owner-group", "--build", src, deb).CombinedOutput(); err != nil {
		t.Fatalf("dpkg-deb --build: %v\n%s", err, out)
	}
	b, err := os.ReadFile(deb)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.Sum256(b)
	return cache, hex.EncodeToString(h[:])
}

func fakePackage(sum string) Package {
	return Package{Name: "libfake", Version: "1.0-1", SHA256: map[string]string{"amd64": sum},
		Paths:  []string{"lib/", "lib64/", "usr/share/doc/libfake/copyright"},
		Bundle: &Bundle{From: "usr/share/certs/", Suffix: ".crt", To: "etc/ssl/bundle.crt"}, License: "MIT"}
}

func testBuilder(t *testing.T, cache string) *builder {
	t.Helper()
	tg, err := resolvePlatform(DefaultPlatform)
	if err != nil {
		t.Fatal(err)
	}
	return &builder{cacheDir: cache, target: tg, log: io.Discard}
}

// TestPackageEntries reads a cached .deb: the selected files with the
// package's modes, the bundle, the status.d record.
func TestPackageEntries(t *testing.T) {
	cache, sum := fakeDeb(t)
	entries, err := testBuilder(t, cache).packageEntries(context.Background(), fakePackage(sum))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	var paths []string
	for _, e := range entries {
		got[e.Path] = e
		paths = append(paths, e.Path)
	}
	sort.Strings(paths)
	want := []string{"etc/ssl/bundle.crt", "lib", "lib/x86_64-linux-gnu", "lib/x86_64-linux-gnu/libfake.so.1",
		"lib64", "lib64/fake", "usr/share/doc/libfake/copyright", "var/lib/dpkg/status.d/libfake"}
	if strings.Join(paths, " ") != strings.Join(want, " ") {
		t.Fatalf("entries %v, want %v", paths, want)
	}
	if e := got["lib/x86_64-linux-gnu/libfake.so.1"]; e.Mode != 0o755 || string(e.Data) != "ELF" || e.UID != 0 {
		t.Errorf("library entry %+v", e)
	}
	if e := got["lib64/fake"]; e.Mode&fs.ModeSymlink == 0 || e.Link != "/lib/x86_64-linux-gnu/libfake.so.1" {
		t.Errorf("symlink entry %+v", e)
	}
	// Sorted, each part ending in a newline; the hard link is a copy of b.crt.
	if s := string(got["etc/ssl/bundle.crt"].Data); s != "A\nB\nB\n" {
		t.Errorf("bundle %q, want %q", s, "A\nB\nB\n")
	}
	if s := string(got["var/lib/dpkg/status.d/libfake"].Data); s != "Package: libfake\nSource: fake\nVersion: 1.0-1\nArchitecture: amd64\n" {
		t.Errorf("status.d record %q", s)
	}
}

// TestPackageEntriesErrors: a pin that does not match the cached .deb, a
// path selector that matches nothing, an architecture without a pin.
func TestPackageEntriesErrors(t *testing.T) {
	cache, sum := fakeDeb(t)
	b := testBuilder(t, cache)
	stale := fakePackage(sum)
	stale.Paths = append(stale.Paths, "usr/bin/")
	noPin := fakePackage(sum)
	noPin.SHA256 = map[string]string{"arm64": sum}
	for name, c := range map[string]struct {
		pkg  Package
		want string
	}{
		"stale paths": {stale, "has no usr/bin/"},
		"no pin":      {noPin, "no SHA-256 pinned"},
	} {
		if _, err := b.packageEntries(context.Background(), c.pkg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error with %q", name, err, c.want)
		}
	}
	if err := checkSHA256(filepath.Join(cache, "debs", "libfake_1.0-1_amd64.deb"), strings.Repeat("0", 64)); err == nil {
		t.Error("checkSHA256 accepted a wrong sum")
	}
}
