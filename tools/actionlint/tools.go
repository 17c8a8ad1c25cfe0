//go:build tools

// Package tools pins actionlint (make lint checks .github/workflows with it).
package tools

import _ "github.com/rhysd/actionlint/cmd/actionlint"
