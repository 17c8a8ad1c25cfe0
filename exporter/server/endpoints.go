package server

import (
	"fmt"
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
	mux.Handle("GET /{$}", landingPage(cfg))
	return mux
}

// writeStatus answers a health check: 200 or 503, with the reason as text.
func writeStatus(w http.ResponseWriter, ok bool, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	fmt.Fprintln(w, msg)
}
