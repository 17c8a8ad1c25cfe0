package images

// Spec defines one image: where its reference comes from, what goes into its
// layers and its OCI config.
type Spec struct {
	// Name names the archive (dist/images/<Name>.tar) and selects the image
	// on the command line.
	Name string
	// Description is the org.opencontainers.image.description label.
	Description string
	// Ref says where the image's repository and tag come from.
	Ref RefSource
	// Binary is the image's program, installed at Binary.Install.
	Binary Binary
	// Packages are the Debian packages whose files go into the image, one
	// layer each, below the binary's layer.
	Packages []Package
	// Files are generated files added to the image's base layer besides the
	// common ones (passwd, group, nsswitch.conf, /tmp).
	Files []Entry
	// Licenses is the SPDX expression of the image's own software; the
	// packages' licenses are added to it in the licenses label.
	Licenses string
	// User is the config's User ("uid:gid", numeric).
	User string
	// Ports are the exposed ports, e.g. "9400/tcp".
	Ports []string
	// Env is the config's environment besides PATH.
	Env []string
	// WorkingDir is the config's working directory ("/" when empty).
	WorkingDir string
}

// RefSource locates an image's reference. A chart's values.yaml
// <Values>.repository is used when Repository is empty; the tag is Tag, else
// the chart's values.yaml <Values>.tag (only when the repository also comes
// from the values), else the chart's Chart.yaml field TagField ("appVersion"
// or "version").
type RefSource struct {
	// Chart is the chart folder, relative to the repository root.
	Chart string
	// Values is the dotted path of the values.yaml block holding repository
	// and tag ("image" when empty; e.g. "devicePlugin.image").
	Values string
	// Repository, when set, is the repository (the chart's values are not read).
	Repository string
	// Tag, when set, is the tag.
	Tag string
	// TagField is the Chart.yaml field giving the tag: "appVersion" (default)
	// or "version".
	TagField string
}

// Binary is the program of an image. Exactly one of Go and Prebuilt is set.
type Binary struct {
	// Go builds the binary from this module's sources.
	Go *GoBuild
	// Prebuilt takes a binary another build produced (see Prebuilt).
	Prebuilt *Prebuilt
	// Install is the binary's absolute path in the image; it is also the
	// image's entrypoint.
	Install string
}

// GoBuild is a `go build -trimpath` of one package.
type GoBuild struct {
	// Package is the package folder, relative to the repository root
	// (e.g. "exporter/cmd/gpu-metrics-exporter"). An image whose package
	// folder is missing is skipped.
	Package string
	// CGO turns cgo on (CGO_ENABLED=1); off otherwise.
	CGO bool
	// CFlags is CGO_CFLAGS for cgo builds.
	CFlags string
	// Tags are the build tags.
	Tags []string
	// VersionVar, when set, is the variable that -ldflags -X sets to the
	// build's version (e.g. "main.version").
	VersionVar string
}

// Prebuilt is a binary built by another part of the build, found in the
// project's bin folder.
type Prebuilt struct {
	// File is the binary's name in the bin folder.
	File string
	// Hint says how to produce the file when it is missing.
	Hint string
}

// Package is a Debian package pinned by version and, per architecture, by
// the SHA-256 of its .deb (as `apt-cache show PKG=VERSION` prints it).
type Package struct {
	Name    string
	Version string
	// SHA256 maps a Debian architecture ("amd64", "arm64", "all") to the
	// .deb's SHA-256.
	SHA256 map[string]string
	// ArchAll is true for "Architecture: all" packages.
	ArchAll bool
	// Paths selects the package's files: an entry ending in "/" selects a
	// folder and everything below it, any other entry one exact path.
	Paths []string
	// Bundle, when set, concatenates the package's files below Bundle.From
	// into one generated file (the CA bundle update-ca-certificates would
	// write at install time).
	Bundle *Bundle
	// License is the SPDX expression of the package's files.
	License string
}

// Bundle concatenates a package's files (sorted by path, each ending in a
// newline) into one file.
type Bundle struct {
	From   string // folder in the package, e.g. "usr/share/ca-certificates/"
	Suffix string // only files with this suffix, e.g. ".crt"
	To     string // path of the generated file
}
