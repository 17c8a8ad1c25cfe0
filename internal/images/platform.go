package images

import (
	"debug/elf"
	"fmt"
	"runtime"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// DefaultPlatform is the platform images are built for unless told otherwise.
const DefaultPlatform = "linux/amd64"

// target is a platform with the names Go and Debian give it.
type target struct {
	platform v1.Platform
	goarch   string // GOARCH
	debArch  string // Debian architecture
	// elfMachine is the machine of the platform's executables.
	elfMachine elf.Machine
}

// resolvePlatform parses "os/arch[/variant]" into a known target. The
// builder knows linux/amd64 and linux/arm64 (for the multi-arch pushes to
// come); only linux/amd64 is built today.
func resolvePlatform(s string) (target, error) {
	p, err := v1.ParsePlatform(s)
	if err != nil {
		return target{}, fmt.Errorf("platform %q: %w", s, err)
	}
	var t target
	switch {
	case p.OS == "linux" && p.Architecture == "amd64" && p.Variant == "":
		t = target{platform: v1.Platform{OS: "linux", Architecture: "amd64"}, goarch: "amd64", debArch: "amd64", elfMachine: elf.EM_X86_64}
	case p.OS == "linux" && p.Architecture == "arm64" && (p.Variant == "" || p.Variant == "v8"):
		t = target{platform: v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, goarch: "arm64", debArch: "arm64", elfMachine: elf.EM_AARCH64}
	default:
		return target{}, fmt.Errorf("platform %q is not supported (want linux/amd64 or linux/arm64)", s)
	}
	return t, nil
}

// native reports whether binaries for t run on this machine (a cgo build for
// another architecture needs a cross compiler, which the builder does not set up).
func (t target) native() bool {
	return runtime.GOOS == t.platform.OS && runtime.GOARCH == t.goarch
}
