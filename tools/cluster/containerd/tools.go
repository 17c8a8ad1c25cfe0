//go:build tools

// Package containerd pins the container runtime of the sandbox's real node:
// containerd (with its CRI plugin), its runc shim and the ctr client.
package containerd

import (
	_ "github.com/containerd/containerd/v2/cmd/containerd"
	_ "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2"
	_ "github.com/containerd/containerd/v2/cmd/ctr"
)
