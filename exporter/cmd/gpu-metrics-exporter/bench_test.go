package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
	"github.com/medical-kg/gpu-autoscaling/exporter/internal/testnode"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if builtBin != "" {
		_ = os.RemoveAll(filepath.Dir(builtBin))
	}
	os.Exit(code)
}

type benchExporter struct {
	handler http.Handler
	coll    *collector.Collector
}

// newBenchExporter wires the exporter in-process exactly as run does, with
// collections every interval.
func newBenchExporter(tb testing.TB, gpus int, interval time.Duration) benchExporter {
	tb.Helper()
	if gpus != testnode.GPUs {
		tb.Fatalf("the simulated DGX models have %d GPUs, not %d", testnode.GPUs, gpus)
	}
	node := testnode.New(tb)
	cfg, err := parseConfig([]string{"--backend=simulated", "--simulation-file=" + node.SimulationFile, "--node-name=bench-node",
		"--pod-resources-socket=" + node.KubeletSocket, "--collection-interval=1s", "--pod-resources-timeout=500ms"}, env(nil), io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	// Short intervals for tests; a generous kubelet timeout so a loaded CI
	// machine does not turn into unattributed series.
	cfg.CollectionInterval = interval
	cfg.PodResourcesTimeout = 10 * time.Second
	exp, err := newExporter(cfg, os.Getenv, slog.New(slog.DiscardHandler))
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); exp.collector.Run(ctx) }()
	tb.Cleanup(func() { cancel(); <-done; exp.cleanup() })
	for {
		if ok, _ := exp.collector.Ready(); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	return benchExporter{handler: exp.server, coll: exp.collector}
}

// percentiles reports p50 and p99 of the per-iteration durations.
func percentiles(b *testing.B, prefix string, d []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(d)
	p50 = d[len(d)*50/100]
	p99 = d[min(len(d)-1, len(d)*99/100)]
	b.ReportMetric(float64(p50.Nanoseconds()), prefix+"p50-ns")
	b.ReportMetric(float64(p99.Nanoseconds()), prefix+"p99-ns")
	return p50, p99
}

// scrape serves one /metrics request in-process (no network) and checks it.
func scrape(b *testing.B, h http.Handler, req *http.Request) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || rec.Body.Len() < 1000 {
		b.Fatalf("/metrics = %d, %d bytes", rec.Code, rec.Body.Len())
	}
}

// BenchmarkMetricsEndpoint measures one /metrics request (8 GPUs, 16
// attributed pods, uncompressed text format), reporting p50/p99 and
// allocations per scrape (-benchmem).
//
//   - served: the exporter's handler, as a scraper sees it (the encoding was
//     rendered by the collection loop);
//   - render: a fresh gather and encoding through promhttp, the work done once
//     per collection and content type (and by every scrape of an exporter
//     without the render cache, or with --runtime-metrics).
func BenchmarkMetricsEndpoint(b *testing.B) {
	e := newBenchExporter(b, 8, time.Minute)
	reg := prometheus.NewRegistry()
	reg.MustRegister(e.coll)
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"served", e.handler},
		{"render", promhttp.HandlerFor(reg, promhttp.HandlerOpts{})},
	}
	for _, hc := range handlers {
		b.Run(hc.name, func(b *testing.B) {
			req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			durations := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				start := time.Now()
				scrape(b, hc.h, req)
				durations = append(durations, time.Since(start))
			}
			b.StopTimer()
			percentiles(b, "", durations)
		})
	}
}

// BenchmarkForkExecTrue measures one fork+exec of `true`, the floor of any
// exporter that shells out to nvidia-smi per scrape.
func BenchmarkForkExecTrue(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("`true` is not on PATH")
	}
	durations := make([]time.Duration, 0, b.N)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := exec.Command(truePath).Run(); err != nil {
			b.Fatal(err)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	percentiles(b, "", durations)
}

// BenchmarkScrapeVsForkExec interleaves one scrape and one fork+exec of
// `true` per iteration, so both see the same machine load, and reports the
// ratio of their medians (fork-exec / scrape; the goal is >= 20).
func BenchmarkScrapeVsForkExec(b *testing.B) {
	truePath, err := exec.LookPath("true")
	if err != nil {
		b.Skip("`true` is not on PATH")
	}
	h := newBenchExporter(b, 8, time.Minute).handler
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	scrapes := make([]time.Duration, 0, b.N)
	forks := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		scrape(b, h, req)
		mid := time.Now()
		if err := exec.Command(truePath).Run(); err != nil {
			b.Fatal(err)
		}
		scrapes = append(scrapes, mid.Sub(start))
		forks = append(forks, time.Since(mid))
	}
	b.StopTimer()
	s50, _ := percentiles(b, "scrape-", scrapes)
	f50, _ := percentiles(b, "forkexec-", forks)
	b.ReportMetric(float64(f50)/float64(s50), "forkexec/scrape")
}

// BenchmarkExporterRSS runs the real binary (simulated backend, 8 GPUs, 16
// attributed pods from a fake kubelet, 1s collections), scrapes it over HTTP
// at least 1,000 times and reports its resident memory from
// /proc/<pid>/status. ns/op is the latency of one scrape over TCP.
func BenchmarkExporterRSS(b *testing.B) {
	bin := buildBinary(b)
	node := testnode.New(b)
	cmd := exec.Command(bin, "--listen-address=127.0.0.1:0", "--backend=simulated", "--simulation-file="+node.SimulationFile,
		"--node-name=bench-node", "--pod-resources-socket="+node.KubeletSocket, "--collection-interval=1s", "--pod-resources-timeout=500ms")
	var stderr syncBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr == "" {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if _, rest, ok := strings.Cut(line, "msg=serving address="); ok {
				addr, _, _ = strings.Cut(rest, " ")
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("exporter did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	url := "http://" + addr + "/metrics"
	client := &http.Client{}
	get := func() {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || n < 1000 {
			b.Fatalf("/metrics = %d, %d bytes", resp.StatusCode, n)
		}
	}
	// Wait for the first attributed collection.
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if strings.Contains(string(body), `pod="embedding-service-7-1"`) {
				break
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("no attributed series: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	b.ResetTimer()
	for range b.N {
		get()
	}
	b.StopTimer()
	for i := b.N; i < 1000; i++ {
		get()
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		b.Skipf("cannot read /proc/<pid>/status: %v", err)
	}
	// VmRSS = RssAnon (the exporter's own memory) + RssFile (the binary's
	// pages mapped from the page cache, shared and reclaimable).
	for _, key := range []string{"VmRSS", "VmHWM", "RssAnon", "RssFile"} {
		kib, ok := statusKiB(string(status), key)
		if !ok {
			b.Fatalf("%s missing from /proc/%d/status", key, cmd.Process.Pid)
		}
		b.ReportMetric(float64(kib)/1024, key+"-MiB")
	}
}

func statusKiB(status, key string) (int, bool) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			v, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
			return v, err == nil
		}
	}
	return 0, false
}
