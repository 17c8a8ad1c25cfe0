package sandbox

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/internal/images"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// fakeEnvironment is a machine that has everything; each case takes one
// thing away.
func fakeEnvironment(t *testing.T) nodeEnvironment {
	dir := t.TempDir()
	var lines []string
	for _, spec := range images.Catalog() {
		if err := os.WriteFile(filepath.Join(dir, spec.Name+".tar"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, spec.Name+" example.com/"+spec.Name+":1 sha256:"+strings.Repeat("0", 64))
	}
	if err := os.WriteFile(filepath.Join(dir, images.DigestsFile), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return nodeEnvironment{
		euid:          func() int { return 0 },
		memoryCgroup:  func() (string, error) { return "/process_api/x", nil },
		stat:          func(p string) (os.FileInfo, error) { return os.Stat(dir) },
		lookPath:      func(b string) (string, error) { return "/usr/sbin/" + b, nil },
		socketAnswers: func(context.Context, string) bool { return false },
		imagesDir:     dir,
	}
}

func TestNodeEnvironmentSaysWhatIsMissing(t *testing.T) {
	ctx := context.Background()
	if err := fakeEnvironment(t).check(ctx); err != nil {
		t.Fatalf("a complete machine is refused: %v", err)
	}
	for name, tc := range map[string]struct {
		change func(*nodeEnvironment)
		is     error
		want   []string
	}{
		"not root": {func(e *nodeEnvironment) { e.euid = func() int { return 1000 } }, ErrEnvironment, []string{"needs root", "--kwok-only"}},
		"no memory cgroup": {func(e *nodeEnvironment) {
			e.memoryCgroup = func() (string, error) { return "", errors.New("no memory cgroup in /proc/self/cgroup") }
		}, ErrEnvironment, []string{"no memory cgroup"}},
		"no runc, no CNI": {func(e *nodeEnvironment) { e.stat = notFoundExcept(e.stat, filepath.Join(cgroupMount, "memory")) }, prereq.ErrMissing,
			[]string{runcBinary, "/usr/lib/cni/bridge", "make cluster-tools"}},
		"no iptables": {func(e *nodeEnvironment) {
			e.lookPath = func(string) (string, error) { return "", errors.New("not found") }
		}, prereq.ErrMissing,
			[]string{"iptables-save", "make cluster-tools"}},
		"no images": {func(e *nodeEnvironment) { e.imagesDir = t.TempDir() }, prereq.ErrMissing, []string{"make images"}},
		"another kubelet": {func(e *nodeEnvironment) { e.socketAnswers = func(context.Context, string) bool { return true } }, ErrEnvironment,
			[]string{"another real node", "sandbox down"}},
	} {
		e := fakeEnvironment(t)
		tc.change(&e)
		err := e.check(ctx)
		if !errors.Is(err, tc.is) {
			t.Errorf("%s: error %v, want one wrapping %v", name, err, tc.is)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q lacks %q", name, err, w)
			}
		}
	}
}

// notFoundExcept fails every stat but keep's.
func notFoundExcept(stat func(string) (os.FileInfo, error), keep string) func(string) (os.FileInfo, error) {
	return func(p string) (os.FileInfo, error) {
		if p == keep {
			return stat(p)
		}
		return nil, fs.ErrNotExist
	}
}
