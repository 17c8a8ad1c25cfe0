//go:build tools

// Package kwok pins kwok (fake nodes and pods) for the sandbox.
package kwok

import _ "sigs.k8s.io/kwok/cmd/kwok"
