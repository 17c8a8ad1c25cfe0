package repo

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRootSkipsNestedToolsModules(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "// the product\nmodule "+Module+"\n\ngo 1.26\n")
	write("tools/cluster/kwok/go.mod", "module "+Module+"/tools/cluster/kwok\n")
	got, err := rootFrom(filepath.Join(dir, "tools", "cluster", "kwok"))
	if err != nil || got != dir {
		t.Fatalf("rootFrom(tools/cluster/kwok) = %q, %v; want %q", got, err, dir)
	}
	if _, err := rootFrom(filepath.Join(dir, "tools")); err != nil {
		t.Fatal(err)
	}
	other := t.TempDir()
	if err := os.WriteFile(filepath.Join(other, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rootFrom(other); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rootFrom(other module) error = %v, want ErrNotFound", err)
	}
}

func TestModulePath(t *testing.T) {
	for in, want := range map[string]string{
		"module a/b\n":              "a/b",
		"// x\nmodule \"a/b\"\n":    "a/b",
		"go 1.26\nmodule\ta/b // c": "a/b",
		"modules a/b\n":             "",
		"":                          "",
	} {
		if got := modulePath([]byte(in)); got != want {
			t.Errorf("modulePath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRootFromThisPackage(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "charts", "gpu-autoscaling", "Chart.yaml")); err != nil {
		t.Fatalf("Root() = %s has no chart: %v", root, err)
	}
}
