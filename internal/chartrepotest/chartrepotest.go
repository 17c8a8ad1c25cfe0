// Package chartrepotest serves charts as a classic chart repository for
// tests: each chart packaged (as `helm package` does) into a folder with an
// index.yaml (as `helm repo index` writes it), over HTTP on loopback, the way
// `make package` output is published.
package chartrepotest

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/repo"
)

// Serve packages charts, indexes them and serves the folder until the test
// ends; it returns the repository's URL.
func Serve(t testing.TB, charts ...*chart.Chart) string {
	t.Helper()
	dir := t.TempDir()
	for _, c := range charts {
		if _, err := chartutil.Save(c, dir); err != nil {
			t.Fatalf("package %s %s: %v", c.Name(), c.Metadata.Version, err)
		}
	}
	srv := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(srv.Close)
	index, err := repo.IndexDirectory(dir, srv.URL)
	if err != nil {
		t.Fatalf("index %s: %v", dir, err)
	}
	if err := index.WriteFile(filepath.Join(dir, "index.yaml"), 0o644); err != nil {
		t.Fatal(err)
	}
	return srv.URL
}
