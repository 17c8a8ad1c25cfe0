package server

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/exporter/hostmetrics"
	"github.com/medical-kg/gpu-autoscaling/exporter/internal/testnode"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
)

// liveServer is a Server over the production collector: the simulated
// backend of testnode's 8 GPUs, its fake kubelet (16 pods) and the host's
// /proc, wired as main wires them.
type liveServer struct {
	server *Server
	coll   *collector.Collector
	node   testnode.Node
}

// newLiveServer starts the collection loop with collections every interval
// and returns once the first one is published.
func newLiveServer(t *testing.T, interval time.Duration) liveServer {
	t.Helper()
	node := testnode.New(t)
	sim, err := simulated.New(simulated.Options{Model: "dgxa100", NodeName: "bench-node", File: node.SimulationFile})
	if err != nil {
		t.Fatal(err)
	}
	// A generous kubelet timeout, so a loaded CI machine does not turn
	// into unattributed series.
	client, err := podresources.NewClient(node.KubeletSocket, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	coll, err := collector.New(collector.Config{NodeName: "bench-node", Backend: "simulated", Interval: interval,
		GPU: gpu.NewReader(sim, interval), Reload: sim.Reload, Owners: client, Host: hostmetrics.NewReader("/proc")})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll)
	srv, err := New(Config{Gatherer: reg, Source: coll, NodeName: "bench-node", Backend: "simulated", Interval: interval})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); coll.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close(); _ = coll.Close() })
	for {
		if ok, _ := coll.Ready(); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return liveServer{server: srv, coll: coll, node: node}
}

func TestServedMetricsEqualAFreshGatherAndFollowCollections(t *testing.T) {
	e := newLiveServer(t, time.Hour)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.coll)
	fresh := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	const prom = "application/openmetrics-text;version=1.0.0;q=0.5,text/plain;version=0.0.4;q=0.2,*/*;q=0.1"
	for _, accept := range []string{"", prom} {
		served, want := serve(e.server, accept), serve(fresh, accept)
		if served.Body.String() != want.Body.String() || served.Header().Get("Content-Type") != want.Header().Get("Content-Type") {
			t.Fatalf("Accept %q: served response differs from a fresh gather:\n%s\n---\n%s", accept, served.Body.String(), want.Body.String())
		}
	}

	// New data after a collection.
	if err := os.WriteFile(e.node.SimulationFile, []byte("gpus: [{index: 0, uuid: GPU-bench-0, utilizationPercent: 99}]"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.coll.CollectOnce(context.Background())
	body := serve(e.server, "").Body.String()
	if !strings.Contains(body, `pod="embedding-service-0-0",uuid="GPU-bench-0"} 99`) {
		t.Fatalf("served metrics did not follow the collection:\n%s", body)
	}
}

// Test100ConcurrentScrapes runs 100 scrapes at once against the HTTP handler
// while collections run every 50ms (run it with -race).
func Test100ConcurrentScrapes(t *testing.T) {
	h := newLiveServer(t, 50*time.Millisecond)
	srv := httptest.NewServer(h.server)
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	bodies := make([]string, 100)
	for i := range bodies {
		wg.Go(func() {
			resp, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Error(err)
				return
			}
			bodies[i] = string(body)
		})
	}
	wg.Wait()
	// Parsed here, not in the goroutines: seriesOf may call t.Fatalf.
	want := testnode.GPUs * testnode.PodsPerGPU
	for i, body := range bodies {
		if body == "" {
			continue // its request already reported an error
		}
		if n := seriesOf(t, body, "gpu_utilization_percent"); n != want {
			t.Errorf("scrape %d saw %d utilization series, want %d (%d GPUs, %d pods each):\n%s",
				i, n, want, testnode.GPUs, testnode.PodsPerGPU, body)
		}
	}
}

// seriesOf parses an exposition body and counts the series of one metric.
func seriesOf(t testing.TB, body, name string) int {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("unparsable exposition: %v", err)
	}
	return len(mfs[name].GetMetric())
}
