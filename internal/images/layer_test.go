package images

import (
	"archive/tar"
	"bytes"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func sampleEntries() []Entry {
	return []Entry{
		{Path: "usr/local/bin/tool", Mode: 0o755, Data: []byte("#!binary")},
		fileEntry("etc/passwd", 0o644, "root:x:0:0::/:\n"),
		{Path: "lib64/ld.so", Mode: fs.ModeSymlink | 0o777, Link: "/lib/ld.so"},
		dirEntry("tmp", fs.ModeSticky|0o777),
		{Path: "home/nonroot", Mode: fs.ModeDir | 0o700, UID: 65532, GID: 65532},
		fileEntry("lib/ld.so", 0o755, "loader"),
	}
}

type tarEntry struct {
	hdr  tar.Header
	data string
}

func readTarEntries(t *testing.T, r io.Reader) []tarEntry {
	t.Helper()
	var out []tarEntry
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, tarEntry{*hdr, string(b)})
	}
}

func layerTar(t *testing.T, entries []Entry, mtime time.Time) []byte {
	t.Helper()
	norm, err := normalize(entries)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := writeTar(&buf, norm, mtime); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestLayerTarIsDeterministic: entries sorted with their parents first, one
// fixed mtime, explicit modes and owners, no host metadata; the input order
// does not matter.
func TestLayerTarIsDeterministic(t *testing.T) {
	epoch := time.Unix(1700000000, 0).UTC()
	a := layerTar(t, sampleEntries(), epoch)
	rev := sampleEntries()
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	if b := layerTar(t, rev, epoch); !bytes.Equal(a, b) {
		t.Fatal("the layer tar depends on the order of the entries")
	}
	want := []struct {
		name     string
		mode     int64
		uid      int
		typeflag byte
	}{
		{"etc/", 0o755, 0, tar.TypeDir},
		{"etc/passwd", 0o644, 0, tar.TypeReg},
		{"home/", 0o755, 0, tar.TypeDir},
		{"home/nonroot/", 0o700, 65532, tar.TypeDir},
		{"lib/", 0o755, 0, tar.TypeDir},
		{"lib/ld.so", 0o755, 0, tar.TypeReg},
		{"lib64/", 0o755, 0, tar.TypeDir},
		{"lib64/ld.so", 0o777, 0, tar.TypeSymlink},
		{"tmp/", 0o1777, 0, tar.TypeDir},
		{"usr/", 0o755, 0, tar.TypeDir},
		{"usr/local/", 0o755, 0, tar.TypeDir},
		{"usr/local/bin/", 0o755, 0, tar.TypeDir},
		{"usr/local/bin/tool", 0o755, 0, tar.TypeReg},
	}
	got := readTarEntries(t, bytes.NewReader(a))
	if len(got) != len(want) {
		t.Fatalf("%d entries, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		h := got[i].hdr
		if h.Name != w.name || h.Mode != w.mode || h.Uid != w.uid || h.Gid != w.uid || h.Typeflag != w.typeflag {
			t.Errorf("entry %d: %s mode %o uid %d gid %d type %q, want %s mode %o uid %d type %q",
				i, h.Name, h.Mode, h.Uid, h.Gid, h.Typeflag, w.name, w.mode, w.uid, w.typeflag)
		}
		if !h.ModTime.Equal(epoch) || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%s: mtime %v atime %v ctime %v, want mtime %v only", h.Name, h.ModTime, h.AccessTime, h.ChangeTime, epoch)
		}
		if h.Uname != "" || h.Gname != "" || len(h.PAXRecords) != 0 || h.Devmajor != 0 {
			t.Errorf("%s carries host metadata: %+v", h.Name, h)
		}
	}
	if got[7].hdr.Linkname != "/lib/ld.so" || got[12].data != "#!binary" {
		t.Errorf("link %q, data %q", got[7].hdr.Linkname, got[12].data)
	}
	if b := layerTar(t, sampleEntries(), epoch.Add(time.Second)); bytes.Equal(a, b) {
		t.Error("the layer tar does not depend on the epoch")
	}
}

func TestNormalizeRejects(t *testing.T) {
	for name, entries := range map[string][]Entry{
		"two files":           {fileEntry("etc/a", 0o644, "1"), fileEntry("etc/a", 0o644, "2")},
		"folders that differ": {dirEntry("tmp", 0o755), dirEntry("tmp", 0o700)},
		"file below a file":   {fileEntry("etc", 0o644, ""), fileEntry("etc/a", 0o644, "")},
		"parent path":         {fileEntry("../etc/a", 0o644, "")},
		"unclean path":        {fileEntry("etc//a", 0o644, "")},
		"root":                {dirEntry("/", 0o755)},
	} {
		if _, err := normalize(entries); err == nil {
			t.Errorf("%s: normalize accepted %+v", name, entries)
		}
	}
	// Identical folders merge, and a leading "/" or "./" is dropped.
	got, err := normalize([]Entry{dirEntry("/etc/", 0o755), dirEntry("./etc", 0o755), fileEntry("/etc/a", 0o644, "")})
	if err != nil || len(got) != 2 || got[0].Path != "etc" || got[1].Path != "etc/a" {
		t.Errorf("normalize = %+v, %v", got, err)
	}
}

func TestWriteTarRejectsDevices(t *testing.T) {
	err := writeTar(io.Discard, []Entry{{Path: "dev/null", Mode: fs.ModeDevice | 0o666}}, time.Unix(0, 0))
	if err == nil || !strings.Contains(err.Error(), "unsupported") {
		t.Errorf("writeTar(device) = %v, want an unsupported-type error", err)
	}
}
