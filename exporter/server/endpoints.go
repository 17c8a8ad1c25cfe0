package server

import (
	"fmt"
	"html"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
)

// newMux routes the exporter's endpoints; anything else is a 404.
func newMux(metrics http.Handler, cfg Config) (*http.ServeMux, error) {
	landing, err := landingPage(cfg)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := cfg.Source.Healthy(time.Now())
		writeStatus(w, ok, msg)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := cfg.Source.Ready()
		writeStatus(w, ok, msg)
	})
	mux.Handle("GET /{$}", landing)
	return mux, nil
}

// landingPage is exporter-toolkit's landing page: it links the endpoints and
// says what this exporter collects. The toolkit renders it with text/template,
// so the values are HTML-escaped here.
func landingPage(cfg Config) (http.Handler, error) {
	return web.NewLandingPage(web.LandingConfig{
		Name: "GPU metrics exporter",
		Description: html.EscapeString(fmt.Sprintf("Node %s, backend %s, collection every %s.",
			cfg.NodeName, cfg.Backend, cfg.Interval)),
		Version:   html.EscapeString(cfg.Version),
		Profiling: "false",
		Links: []web.LandingLinks{
			{Address: "metrics", Text: "Metrics", Description: "Prometheus metrics"},
			{Address: "healthz", Text: "Liveness", Description: "the collection loop is running"},
			{Address: "readyz", Text: "Readiness", Description: "the GPU backend answered"},
		},
	})
}

// writeStatus answers a health check: 200 or 503, with the reason as text.
func writeStatus(w http.ResponseWriter, ok bool, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}
