package server

import (
	"flag"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/prometheus/exporter-toolkit/web"
)

var update = flag.Bool("update", false, "rewrite landing.html from exporter-toolkit's landing page")

// toolkitLandingConfig is the landing page's configuration for
// web.NewLandingPage, with placeholders for the run-time values.
func toolkitLandingConfig() web.LandingConfig {
	return web.LandingConfig{
		Name:        "GPU metrics exporter",
		Description: landingDescription,
		Version:     landingVersion,
		Profiling:   "false",
		Links: []web.LandingLinks{
			{Address: "metrics", Text: "Metrics", Description: "Prometheus metrics"},
			{Address: "healthz", Text: "Liveness", Description: "the collection loop is running"},
			{Address: "readyz", Text: "Readiness", Description: "the GPU backend answered"},
		},
	}
}

// TestLandingPageIsTheToolkits keeps the embedded landing page identical to
// what exporter-toolkit renders (go test ./exporter/server -run
// TestLandingPageIsTheToolkits -update after a toolkit upgrade).
func TestLandingPageIsTheToolkits(t *testing.T) {
	h, err := web.NewLandingPage(toolkitLandingConfig())
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	want := rec.Body.String()
	if *update {
		if err := os.WriteFile("landing.html", []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if landingHTML != want {
		t.Fatalf("landing.html differs from exporter-toolkit's landing page: regenerate it with\n  go test ./exporter/server -run TestLandingPageIsTheToolkits -update")
	}
}
