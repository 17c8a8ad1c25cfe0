package gpuplane

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// The generator sends rate·dt requests per step, round robin, carries the
// fraction over, and rests a pod that failed.
func TestTrafficStep(t *testing.T) {
	var hits [2]atomic.Int64
	var urls []string
	for i := range hits {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { hits[i].Add(1) }))
		defer srv.Close()
		urls = append(urls, srv.URL+"/")
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	tr := newTraffic(t.Logf)
	ctx := context.Background()
	tr.step(ctx, map[string]float64{"svc": 10}, map[string][]string{"svc": urls}, time.Second)
	if a, b := hits[0].Load(), hits[1].Load(); a != 5 || b != 5 {
		t.Errorf("10 requests/s for 1 s over two pods: %d and %d, want 5 and 5", a, b)
	}
	// 0.5 requests/s: one request every other second.
	for range 4 {
		tr.step(ctx, map[string]float64{"svc": 0.5}, map[string][]string{"svc": urls[:1]}, time.Second)
	}
	if got := hits[0].Load(); got != 7 {
		t.Errorf("0.5 requests/s for 4 s: %d more requests, want 2", got-5)
	}
	// A pod that fails rests: the next step sends it nothing.
	tr.step(ctx, map[string]float64{"bad": 1}, map[string][]string{"bad": {down.URL + "/"}}, time.Second)
	tr.mu.Lock()
	resting := time.Until(tr.resting[down.URL+"/"])
	tr.mu.Unlock()
	if resting <= 0 {
		t.Errorf("a pod that answered 503 is not resting")
	}
	// Served counts: answered requests only, decaying with a 3 s half-life.
	served := tr.decayServed(0)
	if served[urls[0]] != 7 || served[urls[1]] != 5 || served[down.URL+"/"] != 0 {
		t.Errorf("served %v, want 7, 5 and nothing for the failing pod", served)
	}
	if got := tr.decayServed(3 * time.Second)[urls[0]]; got != 3.5 {
		t.Errorf("after one half-life %v, want 3.5", got)
	}
	if got := tr.decayServed(time.Minute); len(got) != 0 {
		t.Errorf("a minute without traffic still counts %v", got)
	}
}
