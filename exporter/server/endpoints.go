package server

import (
	"fmt"
	"html"
	"net/http"
	"time"
)

// newMux routes the exporter's endpoints; anything else is a 404.
func newMux(metrics http.Handler, cfg Config) *http.ServeMux {
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
	mux.Handle("GET /{$}", landingPage(cfg.NodeName, cfg.Backend, cfg.Interval))
	return mux
}

// landingPage links the endpoints and says what this exporter collects.
func landingPage(node, backend string, interval time.Duration) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><title>GPU metrics exporter</title></head><body>
<h1>GPU metrics exporter</h1>
<p>Node %s, backend %s, collection every %s.</p>
<ul>
<li><a href="metrics">/metrics</a> Prometheus metrics</li>
<li><a href="healthz">/healthz</a> liveness (the collection loop is running)</li>
<li><a href="readyz">/readyz</a> readiness (the GPU backend answered)</li>
</ul></body></html>
`, html.EscapeString(node), html.EscapeString(backend), interval)
	}
}

// writeStatus answers a health check: 200 or 503, with the reason as text.
func writeStatus(w http.ResponseWriter, ok bool, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}
