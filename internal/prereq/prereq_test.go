package prereq

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

type recorder struct {
	skipped, failed string
}

func (r *recorder) Helper()                           {}
func (r *recorder) Skip(args ...any)                  { r.skipped = fmt.Sprint(args...) }
func (r *recorder) Fatalf(format string, args ...any) { r.failed = fmt.Sprintf(format, args...) }

func TestSkipOrFail(t *testing.T) {
	t.Setenv(RequireEnv, "")
	var r recorder
	SkipOrFail(&r, "kwok missing")
	if r.skipped != "kwok missing" || r.failed != "" {
		t.Fatalf("without %s: skipped %q failed %q", RequireEnv, r.skipped, r.failed)
	}
	t.Setenv(RequireEnv, "1")
	r = recorder{}
	SkipOrFail(&r, "kwok missing")
	if r.skipped != "" || !strings.Contains(r.failed, "kwok missing") || !strings.Contains(r.failed, RequireEnv) {
		t.Fatalf("with %s: skipped %q failed %q", RequireEnv, r.skipped, r.failed)
	}
}

func TestFindBinariesNamesEveryMissingOneAndItsTarget(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(BinEnv, dir)
	if err := os.WriteFile(filepath.Join(dir, Etcd), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, Kwok), []byte("not executable"), 0o644); err != nil {
		t.Fatal(err)
	}
	if p, err := FindBinary(Etcd); err != nil || p != filepath.Join(dir, Etcd) {
		t.Fatalf("FindBinary(etcd) = %q, %v", p, err)
	}
	_, err := FindBinaries(Etcd, Kwok, Helm)
	if !errors.Is(err, ErrMissing) {
		t.Fatalf("error %v does not wrap ErrMissing", err)
	}
	for _, want := range []string{"kwok, helm", "`make cluster-tools`", "`make tools`"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
