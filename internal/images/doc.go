// Package images builds the project's container images without a container
// engine, reproducibly: the same inputs (sources, Go toolchain, pinned Go
// modules and Debian packages, SOURCE_DATE_EPOCH) give the same manifest
// digest.
//
// An image is assembled from three kinds of input:
//
//   - Go binaries the builder compiles itself with `go build -trimpath`
//     (or, for prometheus-adapter, the binary tools/cluster/build.sh built
//     from its pinned module);
//   - files extracted from Debian packages pinned by version and SHA-256,
//     downloaded once with `apt-get download` into a cache outside the clone;
//   - small generated files (/etc/passwd, /etc/group with the distroless
//     nonroot user 65532, /etc/nsswitch.conf).
//
// Layers are deterministic tar streams (sorted entries, fixed mtime, explicit
// modes and owners, no host metadata) wrapped by go-containerregistry, which
// also writes every config, manifest and OCI image layout. Each image is
// written as one OCI image-layout tar archive whose index names the image by
// its full reference (annotation org.opencontainers.image.ref.name), which is
// what `ctr images import` and containerd's CRI resolve.
//
// The image definitions live in one table (catalog.go); their references
// come from the charts' Chart.yaml and values.yaml, so that the charts'
// default values run the images built here unchanged. The platform is a
// parameter throughout; only linux/amd64 is built today.
package images
