package images

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// sourceMissingError says that an image's program is not in this tree.
type sourceMissingError struct{ pkg string }

func (e *sourceMissingError) Error() string {
	return "its package folder " + e.pkg + " is not in this tree"
}

// binary returns the contents of spec's program, built for b's platform.
func (b *builder) binary(ctx context.Context, spec Spec, version string) ([]byte, error) {
	switch bin := spec.Binary; {
	case bin.Go != nil && bin.Prebuilt == nil:
		return b.goBuild(ctx, *bin.Go, version)
	case bin.Prebuilt != nil && bin.Go == nil:
		return b.prebuilt(*bin.Prebuilt)
	default:
		return nil, fmt.Errorf("image %s: set exactly one of Binary.Go and Binary.Prebuilt in the catalog", spec.Name)
	}
}

// goBuild runs `go build -trimpath` for one package of this module.
func (b *builder) goBuild(ctx context.Context, g GoBuild, version string) ([]byte, error) {
	if st, err := os.Stat(filepath.Join(b.root, g.Package)); err != nil || !st.IsDir() {
		return nil, &sourceMissingError{pkg: g.Package}
	}
	if g.CGO && !b.target.native() {
		return nil, fmt.Errorf("cgo build of %s for %s/%s needs a cross C compiler, which the builder does not set up yet",
			g.Package, b.target.platform.OS, b.target.platform.Architecture)
	}
	tmp, err := os.MkdirTemp("", "images-go-build-")
	if err != nil {
		return nil, fmt.Errorf("temporary folder for go build: %w", err)
	}
	defer os.RemoveAll(tmp)
	out := filepath.Join(tmp, filepath.Base(g.Package))
	cmd := exec.CommandContext(ctx, "go", goBuildArgs(g, version, out)...)
	cmd.Dir = b.root
	cmd.Env = append(os.Environ(), "GOOS="+b.target.platform.OS, "GOARCH="+b.target.goarch, "CGO_ENABLED=0")
	if g.CGO {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1", "CGO_CFLAGS="+g.CFlags)
	}
	b.logf("  go %s", shellWords(cmd.Args[1:]))
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build ./%s failed: %w\n%s", g.Package, err, msg)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("read the binary go build wrote: %w", err)
	}
	return data, nil
}

func goBuildArgs(g GoBuild, version, out string) []string {
	ldflags := "-s -w"
	if g.VersionVar != "" {
		ldflags += " -X " + g.VersionVar + "=" + version
	}
	args := []string{"build", "-trimpath"}
	if len(g.Tags) > 0 {
		args = append(args, "-tags", strings.Join(g.Tags, ","))
	}
	return append(args, "-ldflags", ldflags, "-o", out, "./"+filepath.ToSlash(g.Package))
}

// shellWords joins args for a log line, quoting those with spaces.
func shellWords(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = a
		if strings.ContainsAny(a, " \t\"'") {
			q[i] = strconv.Quote(a)
		}
	}
	return strings.Join(q, " ")
}

// prebuilt reads a binary another build step put into the bin folder.
func (b *builder) prebuilt(p Prebuilt) ([]byte, error) {
	path := filepath.Join(b.binDir, p.File)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w; %s", path, err, p.Hint)
	}
	if err := b.checkStatic(data); err != nil {
		return nil, fmt.Errorf("%s: %w; %s", path, err, p.Hint)
	}
	return data, nil
}

// checkStatic makes sure a prebuilt binary is a static ELF executable for
// the target: the image has no C library for it.
func (b *builder) checkStatic(data []byte) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("not an ELF executable: %w", err)
	}
	defer f.Close()
	if f.Machine != b.target.elfMachine {
		return fmt.Errorf("built for %v, the image is for %s", f.Machine, b.target.goarch)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return errors.New("dynamically linked (the image has no C library): build it with CGO_ENABLED=0")
		}
	}
	return nil
}
