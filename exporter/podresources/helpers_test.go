package podresources_test

import (
	"os"
	"testing"
)

// shortTempDir makes a short temporary directory, removed after the test:
// unix socket paths are limited to about 108 bytes, which t.TempDir() can
// exceed.
func shortTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pr")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}
