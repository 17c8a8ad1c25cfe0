package standin

import (
	"bytes"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFile replaces path atomically (as the kubelet's ConfigMap update
// does), so a concurrent reader never sees a half-written file.
func writeFile(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSourceReloadSemantics(t *testing.T) {
	path := filepath.Join(t.TempDir(), "load.yaml")
	var logs bytes.Buffer
	errs := 0
	src := newLoadSource(path, "embedding-service", slog.New(slog.NewTextHandler(&logs, nil)), func() { errs++ })

	if got := src.read(); got != (Load{}) {
		t.Fatalf("missing file: %+v, want no load", got)
	}
	good := Load{CPUMillicores: 250, MemoryMiB: 64}
	writeFile(t, path, "services: {embedding-service: {cpuMillicores: 250, memoryMiB: 64}, other: {cpuMillicores: 1}}\n")
	if got := src.read(); got != good {
		t.Fatalf("good file: %+v, want %+v", got, good)
	}

	writeFile(t, path, "services: {embedding-service: {cpuMillicores: -1}}\n")
	for range 3 {
		if got := src.read(); got != good {
			t.Fatalf("bad file: %+v, want the last good %+v", got, good)
		}
	}
	if n := strings.Count(logs.String(), "bad load file"); n != 1 {
		t.Errorf("the same bad file was logged %d times, want once:\n%s", n, logs.String())
	}
	writeFile(t, path, "services: {embedding-service: {cpuMilicores: 1}}\n")
	src.read()
	if n := strings.Count(logs.String(), "bad load file"); n != 2 {
		t.Errorf("a changed bad file was logged %d times in all, want 2:\n%s", n, logs.String())
	}
	if errs != 4 {
		t.Errorf("error counter %d, want 4 (every bad read)", errs)
	}

	writeFile(t, path, "services: {reranking-service: {cpuMillicores: 5}}\n")
	if got := src.read(); got != (Load{}) {
		t.Fatalf("file without this service: %+v, want no load", got)
	}
	writeFile(t, path, "services: {embedding-service: {memoryMiB: 8}}\n")
	src.read()
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if got := src.read(); got != (Load{}) {
		t.Fatalf("removed file: %+v, want no load", got)
	}
	if n := strings.Count(logs.String(), "no load file"); n != 2 {
		t.Errorf("missing file logged %d times, want once per disappearance (2):\n%s", n, logs.String())
	}
}

func TestLoadSourceFollowsConfigMapSymlinks(t *testing.T) {
	// A mounted ConfigMap is load.yaml -> ..data/load.yaml, ..data -> ..<timestamp>.
	dir := t.TempDir()
	for _, d := range []string{"..v1", "..v2"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, filepath.Join(dir, "..v1", "load.yaml"), "services: {s: {cpuMillicores: 1}}\n")
	writeFile(t, filepath.Join(dir, "..v2", "load.yaml"), "services: {s: {cpuMillicores: 2}}\n")
	link := func(target, name string) {
		t.Helper()
		tmp := filepath.Join(dir, name+".tmp")
		if err := os.Symlink(target, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	link("..v1", "..data")
	link("..data/load.yaml", "load.yaml")
	src := newLoadSource(filepath.Join(dir, "load.yaml"), "s", slog.New(slog.DiscardHandler), nil)
	if got := src.read().CPUMillicores; got != 1 {
		t.Fatalf("cpu %g, want 1", got)
	}
	link("..v2", "..data") // the kubelet's atomic update
	if got := src.read().CPUMillicores; got != 2 {
		t.Fatalf("after the update cpu %g, want 2", got)
	}
}
