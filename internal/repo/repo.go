// Package repo locates the project's checkout: the one place that knows how
// to find the repository root from wherever a command or test runs.
package repo

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Module is the root module's path; its go.mod marks the repository root.
// The tools modules under tools/ have go.mod files of their own, so a plain
// "first go.mod upwards" would stop inside them.
const Module = "github.com/medical-kg/gpu-autoscaling"

// Root walks up from the working directory to the folder whose go.mod
// declares Module.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	return rootFrom(dir)
}

func rootFrom(dir string) (string, error) {
	start := dir
	for {
		if isRoot(dir) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w above %s: no go.mod declaring module %s (run from inside the checkout)", ErrNotFound, start, Module)
		}
		dir = parent
	}
}

func isRoot(dir string) bool {
	data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	return modulePath(data) == Module
}

// modulePath returns the path of go.mod's module directive.
func modulePath(gomod []byte) string {
	s := bufio.NewScanner(bytes.NewReader(gomod))
	for s.Scan() {
		line := strings.TrimSpace(s.Text())
		if rest, ok := strings.CutPrefix(line, "module"); ok && (rest == "" || rest[0] == ' ' || rest[0] == '\t') {
			rest, _, _ = strings.Cut(rest, "//")
			return strings.Trim(strings.TrimSpace(rest), `"`)
		}
	}
	return ""
}

// Path joins elements to the repository root.
func Path(elem ...string) (string, error) {
	root, err := Root()
	if err != nil {
		return "", err
	}
	return filepath.Join(append([]string{root}, elem...)...), nil
}

// ErrNotFound is returned (wrapped) when the working directory is outside
// the checkout.
var ErrNotFound = errors.New("repository root not found")
