package images

import (
	"archive/tar"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func rawTar(t *testing.T, hdrs ...*tar.Header) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if h.Size > 0 {
			if _, err := tw.Write(bytes.Repeat([]byte("x"), int(h.Size))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(buf.Bytes())
}

// TestExtractRefusesEscapes: no path may leave the folder, also not through
// a symbolic link an earlier entry made.
func TestExtractRefusesEscapes(t *testing.T) {
	outside := t.TempDir()
	for name, hdrs := range map[string][]*tar.Header{
		"dot-dot": {{Name: "../x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1}},
		"through a link": {
			{Name: "lib64", Typeflag: tar.TypeSymlink, Linkname: outside},
			{Name: "lib64/x", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1},
		},
		"whiteout": {{Name: "etc/.wh.passwd", Typeflag: tar.TypeReg, Mode: 0o644}},
		"device":   {{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666}},
	} {
		if err := extractTar(rawTar(t, hdrs...), t.TempDir(), extractOptions{}); err == nil {
			t.Errorf("%s: extracted", name)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Errorf("extraction wrote %v outside its folder", entries)
	}
}

// TestExtractLayers: an upper layer's file replaces a lower one's; modes
// (sticky included) and times are restored.
func TestExtractLayers(t *testing.T) {
	dir := t.TempDir()
	epoch := time.Unix(1000, 0)
	lower := layerTar(t, []Entry{fileEntry("etc/a", 0o600, "old"), dirEntry("tmp", fs.ModeSticky|0o777)}, epoch)
	upper := layerTar(t, []Entry{fileEntry("etc/a", 0o644, "new"), {Path: "bin/l", Mode: fs.ModeSymlink | 0o777, Link: "../etc/a"}}, epoch)
	for _, l := range [][]byte{lower, upper} {
		if err := extractTar(bytes.NewReader(l), dir, extractOptions{times: true}); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "bin/l"))
	if err != nil || string(b) != "new" {
		t.Errorf("bin/l -> etc/a: %q, %v", b, err)
	}
	if st, err := os.Lstat(filepath.Join(dir, "bin/l")); err != nil || !st.ModTime().Equal(epoch) {
		t.Errorf("symlink bin/l: %v, want mtime %v", err, epoch)
	}
	for p, want := range map[string]fs.FileMode{"etc/a": 0o644, "tmp": fs.ModeDir | fs.ModeSticky | 0o777, "etc": fs.ModeDir | 0o755} {
		st, err := os.Stat(filepath.Join(dir, p))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode() != want || !st.ModTime().Equal(epoch) {
			t.Errorf("%s: %v %v, want %v %v", p, st.Mode(), st.ModTime(), want, epoch)
		}
	}
}
