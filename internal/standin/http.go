package standin

import (
	"fmt"
	"net/http"
	"sync/atomic"
)

// newMux routes the service's endpoints. Only the inference endpoint "/" is
// instrumented and queued (q sets its response time from the pod's load):
// probes and scrapes are not service requests, and the HPA's
// requests-per-second metric must not count them.
func newMux(service string, mt *metrics, q *queue, ready *atomic.Bool) *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.Handle("GET /metrics", mt.handler())
	mux.Handle("/{$}", mt.instrument(q.serve(inference(service))))
	return mux
}

// inference is the stand-in's "model": it answers GET and POST with a short
// body naming the service.
func inference(service string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			w.Header().Set("Allow", "GET, POST")
			http.Error(w, "use GET or POST", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, "{\"service\":%q,\"result\":\"ok\"}\n", service)
	})
}
