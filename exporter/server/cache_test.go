package server

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

func serve(h http.Handler, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func TestRenderCacheRendersOncePerGenerationAndContentType(t *testing.T) {
	var gen atomic.Uint64
	var renders atomic.Int32
	status := http.StatusOK
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		renders.Add(1)
		w.Header().Set("Content-Type", "text/plain; accept="+r.Header.Get("Accept"))
		w.WriteHeader(status)
		fmt.Fprintf(w, "gen=%d accept=%s", gen.Load(), r.Header.Get("Accept"))
	})
	c := newRenderCache(inner, gen.Load)

	for range 3 {
		if rec := serve(c, "a"); rec.Body.String() != "gen=0 accept=a" || rec.Header().Get("Content-Type") != "text/plain; accept=a" {
			t.Fatalf("got %q / %q", rec.Body.String(), rec.Header().Get("Content-Type"))
		}
	}
	serve(c, "b")
	if n := renders.Load(); n != 2 {
		t.Fatalf("%d renders for two content types, want 2", n)
	}

	// A new generation: Refresh re-renders both content types, so the
	// following scrapes cost no rendering and see the new data.
	gen.Store(1)
	c.Refresh()
	if n := renders.Load(); n != 4 {
		t.Fatalf("%d renders after Refresh, want 4", n)
	}
	if rec := serve(c, "a"); rec.Body.String() != "gen=1 accept=a" {
		t.Fatalf("after refresh got %q", rec.Body.String())
	}
	if rec := serve(c, "b"); rec.Body.String() != "gen=1 accept=b" {
		t.Fatalf("after refresh got %q", rec.Body.String())
	}
	if n := renders.Load(); n != 4 {
		t.Fatalf("%d renders, want still 4", n)
	}
	c.Refresh() // same generation: nothing to do
	if n := renders.Load(); n != 4 {
		t.Fatalf("Refresh without a new generation rendered (%d)", n)
	}

	// Without Refresh, a new generation is rendered on demand.
	gen.Store(2)
	if rec := serve(c, "a"); rec.Body.String() != "gen=2 accept=a" {
		t.Fatalf("stale response %q", rec.Body.String())
	}

	// Errors are passed through and not cached.
	gen.Store(3)
	status = http.StatusInternalServerError
	if rec := serve(c, "a"); rec.Code != http.StatusInternalServerError {
		t.Fatalf("status %d, want 500 passed through", rec.Code)
	}
	status = http.StatusOK
	if rec := serve(c, "a"); rec.Code != http.StatusOK || rec.Body.String() != "gen=3 accept=a" {
		t.Fatalf("error response was cached: %d %q", rec.Code, rec.Body.String())
	}
}
