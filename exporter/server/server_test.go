package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fakeSource is a Source whose health, readiness and generation the test
// sets, and whose collections the test triggers with collect.
type fakeSource struct {
	mu                  sync.Mutex
	healthy, ready      bool
	healthMsg, readyMsg string
	gen                 atomic.Uint64
	subs                map[int]func()
	nextSub             int
}

func newFakeSource() *fakeSource {
	return &fakeSource{healthy: true, ready: true, healthMsg: "ok", readyMsg: "ok", subs: map[int]func(){}}
}

func (f *fakeSource) Healthy(time.Time) (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.healthy, f.healthMsg
}

func (f *fakeSource) Ready() (bool, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ready, f.readyMsg
}

func (f *fakeSource) Generation() uint64 { return f.gen.Load() }

func (f *fakeSource) Subscribe(fn func()) func() {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.nextSub
	f.nextSub++
	f.subs[id] = fn
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.subs, id)
	}
}

func (f *fakeSource) subscribers() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// collect publishes a new generation and notifies the subscribers, as the
// collector does after each collection.
func (f *fakeSource) collect() {
	f.gen.Add(1)
	f.mu.Lock()
	subs := make([]func(), 0, len(f.subs))
	for _, fn := range f.subs {
		subs = append(subs, fn)
	}
	f.mu.Unlock()
	for _, fn := range subs {
		fn()
	}
}

// genCollector emits one gauge, the source's generation, and counts gathers.
type genCollector struct {
	src     *fakeSource
	desc    *prometheus.Desc
	gathers atomic.Int32
	block   chan struct{} // when not nil, Collect waits for it to close
}

func newGenCollector(src *fakeSource) *genCollector {
	return &genCollector{src: src, desc: prometheus.NewDesc("test_generation", "The source's generation.", nil, nil)}
}

func (g *genCollector) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

func (g *genCollector) Collect(ch chan<- prometheus.Metric) {
	g.gathers.Add(1)
	if g.block != nil {
		<-g.block
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, float64(g.src.Generation()))
}

func newTestServer(t *testing.T, runtimeMetrics bool) (*Server, *fakeSource, *genCollector) {
	t.Helper()
	src := newFakeSource()
	gc := newGenCollector(src)
	reg := prometheus.NewRegistry()
	reg.MustRegister(gc)
	srv, err := New(Config{Gatherer: reg, Source: src, NodeName: "gpu-node-<1>", Backend: "simulated",
		Interval: 15 * time.Second, RuntimeMetrics: runtimeMetrics})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv, src, gc
}

func request(h http.Handler, method, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec
}

func TestNewNeedsGathererAndSource(t *testing.T) {
	if _, err := New(Config{Source: newFakeSource()}); err == nil || !strings.Contains(err.Error(), "Gatherer") {
		t.Fatalf("New without a Gatherer: %v", err)
	}
	if _, err := New(Config{Gatherer: prometheus.NewRegistry()}); err == nil || !strings.Contains(err.Error(), "Source") {
		t.Fatalf("New without a Source: %v", err)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	srv, src, _ := newTestServer(t, false)
	for _, path := range []string{"/healthz", "/readyz"} {
		rec := request(srv, http.MethodGet, path)
		if rec.Code != http.StatusOK || rec.Body.String() != "ok\n" || rec.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("%s = %d %q (%s)", path, rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"))
		}
	}
	src.mu.Lock()
	src.healthy, src.healthMsg = false, "no collection for 2m0s (interval 30s)"
	src.ready, src.readyMsg = false, "GPU backend nvml unavailable: libnvidia-ml.so.1 not found"
	src.mu.Unlock()
	if rec := request(srv, http.MethodGet, "/healthz"); rec.Code != http.StatusServiceUnavailable || rec.Body.String() != "no collection for 2m0s (interval 30s)\n" {
		t.Fatalf("/healthz = %d %q", rec.Code, rec.Body.String())
	}
	if rec := request(srv, http.MethodGet, "/readyz"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "libnvidia-ml.so.1 not found") {
		t.Fatalf("/readyz = %d %q", rec.Code, rec.Body.String())
	}
}

func TestLandingPageAndRoutes(t *testing.T) {
	srv, _, _ := newTestServer(t, false)
	rec := request(srv, http.MethodGet, "/")
	body := rec.Body.String()
	// exporter-toolkit's landing page; the node name is escaped.
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "<h2>Node gpu-node-&lt;1&gt;, backend simulated, collection every 15s.</h2>") ||
		!strings.Contains(body, `<a href="/metrics">Metrics</a>`) || !strings.Contains(body, `<a href="/readyz">Readiness</a>`) ||
		!strings.Contains(body, `<a href="/healthz">Liveness</a>`) || strings.Contains(body, "pprof/heap") {
		t.Fatalf("/ = %d %q", rec.Code, body)
	}
	if rec := request(srv, http.MethodGet, "/nope"); rec.Code != http.StatusNotFound {
		t.Fatalf("/nope = %d, want 404", rec.Code)
	}
	if rec := request(srv, http.MethodPost, "/metrics"); rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST /metrics = %d, want 405", rec.Code)
	}
}

func TestMetricsAreRenderedOncePerCollection(t *testing.T) {
	srv, src, gc := newTestServer(t, false)
	if src.subscribers() != 1 {
		t.Fatalf("%d subscriptions, want the render cache's one", src.subscribers())
	}
	for range 3 {
		if body := serve(srv, "").Body.String(); !strings.Contains(body, "test_generation 0") {
			t.Fatalf("/metrics = %q", body)
		}
	}
	if n := gc.gathers.Load(); n != 1 {
		t.Fatalf("%d gathers for 3 scrapes of one generation, want 1", n)
	}
	// The collection notifies the server, which re-renders before any
	// scrape asks.
	src.collect()
	if n := gc.gathers.Load(); n != 2 {
		t.Fatalf("%d gathers after a collection, want 2 (re-rendered on notification)", n)
	}
	if body := serve(srv, "").Body.String(); !strings.Contains(body, "test_generation 1") {
		t.Fatalf("/metrics after a collection = %q", body)
	}
	if n := gc.gathers.Load(); n != 2 {
		t.Fatalf("the scrape after a collection gathered again (%d)", n)
	}

	srv.Close()
	if src.subscribers() != 0 {
		t.Fatal("Close left the render cache subscribed")
	}
	// Unsubscribed, the cache still serves fresh data, rendered on demand.
	src.collect()
	if body := serve(srv, "").Body.String(); !strings.Contains(body, "test_generation 2") {
		t.Fatalf("/metrics after Close = %q", body)
	}
}

func TestRuntimeMetricsRenderEveryScrape(t *testing.T) {
	srv, src, gc := newTestServer(t, true)
	if src.subscribers() != 0 {
		t.Fatal("without the render cache there is nothing to subscribe")
	}
	for range 3 {
		serve(srv, "")
	}
	if n := gc.gathers.Load(); n != 3 {
		t.Fatalf("%d gathers for 3 scrapes with runtime metrics, want 3", n)
	}
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startServe runs Serve on a loopback listener; wait returns its error.
func startServe(t *testing.T, cfg Config) (base string, cancel func(), wait func() error, logs *syncBuffer) {
	t.Helper()
	logs = &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, lis) }()
	return "http://" + lis.Addr().String(), cancel, func() error { return <-done }, logs
}

func TestServeShutsDownWhenTheContextIsDone(t *testing.T) {
	src := newFakeSource()
	base, cancel, wait, logs := startServe(t, Config{Gatherer: prometheus.NewRegistry(), Source: src})
	resp, err := http.Get(base + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok\n" {
		t.Fatalf("/healthz over TCP = %d %q", resp.StatusCode, body)
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Serve after cancellation = %v, want nil", err)
	}
	if !strings.Contains(logs.String(), `msg="shutting down"`) || strings.Contains(logs.String(), "incomplete") {
		t.Fatalf("logs: %s", logs.String())
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Fatal("still serving after Serve returned")
	}
}

func TestServeShutdownTimeoutBoundsAHungScrape(t *testing.T) {
	src := newFakeSource()
	gc := newGenCollector(src)
	gc.block = make(chan struct{})
	defer close(gc.block)
	reg := prometheus.NewRegistry()
	reg.MustRegister(gc)
	base, cancel, wait, logs := startServe(t, Config{Gatherer: reg, Source: src, RuntimeMetrics: true,
		ShutdownTimeout: 100 * time.Millisecond})
	go func() {
		if resp, err := http.Get(base + "/metrics"); err == nil {
			resp.Body.Close()
		}
	}()
	for gc.gathers.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	began := time.Now()
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Serve = %v, want nil after a requested shutdown", err)
	}
	if d := time.Since(began); d > 10*time.Second {
		t.Fatalf("shutdown took %s with a 100ms timeout", d)
	}
	if !strings.Contains(logs.String(), `msg="HTTP shutdown incomplete"`) {
		t.Fatalf("no warning about the request cut short: %s", logs.String())
	}
}

// failingListener fails Accept, as a listener whose socket broke does.
type failingListener struct{ net.Listener }

func (failingListener) Accept() (net.Conn, error) { return nil, errors.New("accept: socket broken") }

func TestServeReturnsTheErrorThatStoppedIt(t *testing.T) {
	logs := &syncBuffer{}
	srv, err := New(Config{Gatherer: prometheus.NewRegistry(), Source: newFakeSource(), Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Serve(context.Background(), failingListener{lis})
	if err == nil || !strings.Contains(err.Error(), "serve HTTP on "+lis.Addr().String()) || !strings.Contains(err.Error(), "socket broken") {
		t.Fatalf("Serve = %v, want the accept error with the address", err)
	}
	if !strings.Contains(logs.String(), `msg="HTTP server failed" err="accept: socket broken"`) {
		t.Fatalf("logs: %s", logs.String())
	}
}
