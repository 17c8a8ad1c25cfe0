package main

import (
	"fmt"
	"html"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
)

// newHandler serves the exporter's endpoints. It returns the render cache's
// Refresh (nil when runtime metrics disable the cache) for the collection
// loop to call after each collection.
func newHandler(reg *prometheus.Registry, coll *collector.Collector, cfg config) (http.Handler, func()) {
	mux := http.NewServeMux()
	var metrics http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 64,
	})
	var refresh func()
	if !cfg.RuntimeMetrics {
		// Without the go_*/process_* collectors every series comes from the
		// collector's snapshot, so the encoding can be reused until the
		// next collection.
		cache := newRenderCache(metrics, coll.Generation)
		metrics, refresh = cache, cache.Refresh
	}
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := coll.Healthy(time.Now())
		writeStatus(w, ok, msg)
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		ok, msg := coll.Ready()
		writeStatus(w, ok, msg)
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
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
`, html.EscapeString(cfg.NodeName), html.EscapeString(cfg.Backend), cfg.CollectionInterval)
	})
	return mux, refresh
}

func writeStatus(w http.ResponseWriter, ok bool, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}
