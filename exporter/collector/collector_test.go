package collector_test

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/exporter/hostmetrics"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden.prom from the current output")

const simFile = `gpus:
  - index: 0
    uuid: GPU-00000000-0000-4000-8000-000000000000
    utilizationPercent: 85
    memoryUsedMB: 20000
    temperatureCelsius: 61
  - index: 1
    uuid: GPU-00000000-0000-4000-8000-000000000001
    utilizationPercent: 40
    memoryUsedMB: 10240
    temperatureCelsius: 52
  - index: 2
    uuid: GPU-00000000-0000-4000-8000-000000000002
    utilizationPercent: 10
`

// fakeProc writes a procfs with fixed CPU and memory figures.
func fakeProc(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "stat"), []byte("cpu  300 0 100 500 100 0 0 0 0 0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "meminfo"), []byte("MemTotal: 8192000 kB\nMemAvailable: 4096000 kB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

type stack struct {
	coll *collector.Collector
	sim  *simulated.Simulator
	kube *podresourcestest.Server
	reg  *prometheus.Registry
	file string
}

// newStack wires the production path: simulated go-nvml server → gpu.Reader
// → collector, with a fake kubelet on a unix socket and a fake procfs.
func newStack(t *testing.T, file string, timeout time.Duration) *stack {
	t.Helper()
	return newStackOf(t, file, timeout, simulated.Options{Model: "dgxa100"})
}

// newStackOf is newStack with the simulated node's options (NodeName and
// File are the stack's).
func newStackOf(t *testing.T, file string, timeout time.Duration, opts simulated.Options) *stack {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(path, []byte(file), 0o644); err != nil {
		t.Fatal(err)
	}
	opts.NodeName, opts.File = "node-a", path
	sim, err := simulated.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(podresourcestest.ShortDir(t), "kubelet.sock")
	kube, err := podresourcestest.NewServer(sock)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(kube.Close)
	client, err := podresources.NewClient(sock, timeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = client.Close() })
	coll, err := collector.New(collector.Config{
		NodeName: "node-a",
		Backend:  "simulated",
		Interval: 30 * time.Second,
		GPU:      gpu.NewReader(sim, 30*time.Second),
		Reload:   sim.Reload,
		Owners:   client,
		Host:     hostmetrics.NewReader(fakeProc(t)),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll)
	return &stack{coll: coll, sim: sim, kube: kube, reg: reg, file: path}
}

// contractMetrics are compared against the golden files; build info (Go
// version) and timings vary between runs.
var contractMetrics = []string{
	"gpu_utilization_percent", "gpu_memory_usage_mb", "gpu_memory_total_mb", "gpu_temperature_celsius",
	"cpu_usage_percent", "memory_usage_mb",
	"gpu_exporter_up", "gpu_exporter_gpus", "gpu_exporter_pod_resources_up",
	"gpu_exporter_collection_errors_total", "gpu_exporter_collections_total",
}

func compareGolden(t *testing.T, g prometheus.Gatherer, name string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		var b strings.Builder
		mfs, err := g.Gather()
		if err != nil {
			t.Fatal(err)
		}
		keep := map[string]bool{}
		for _, n := range contractMetrics {
			keep[n] = true
		}
		for _, mf := range mfs {
			if keep[mf.GetName()] {
				if _, err := expfmt.MetricFamilyToText(&b, mf); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := testutil.GatherAndCompare(g, f, contractMetrics...); err != nil {
		t.Fatal(err)
	}
}

func TestGoldenAttributedSimulatedNode(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	s.kube.SetAllocations([]podresourcestest.Allocation{
		{Namespace: "medical-kg", Pod: "embedding-service-7d9f", Container: "embedding", ResourceName: "nvidia.com/gpu",
			DeviceIDs: []string{"GPU-00000000-0000-4000-8000-000000000000"}},
		{Namespace: "medical-kg", Pod: "reranking-service-5c4b", Container: "reranker", ResourceName: "nvidia.com/gpu",
			DeviceIDs: []string{"GPU-00000000-0000-4000-8000-000000000001"}},
		{Namespace: "medical-kg", Pod: "web-0", Container: "nginx"},
	})
	s.coll.CollectOnce(context.Background())
	compareGolden(t, s.reg, "attributed.golden.prom")
}

func TestSeriesPerGPU(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	id := "GPU-00000000-0000-4000-8000-000000000000"
	// Two pods time-slice GPU 0; the others are exclusive or idle.
	s.kube.SetAllocations([]podresourcestest.Allocation{
		{Namespace: "ml", Pod: "a", Container: "c", ResourceName: "nvidia.com/gpu.shared", DeviceIDs: []string{id + "::0"}},
		{Namespace: "ml", Pod: "b", Container: "c", ResourceName: "nvidia.com/gpu.shared", DeviceIDs: []string{id + "::1"}},
		{Namespace: "ml", Pod: "x", Container: "c", ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-00000000-0000-4000-8000-000000000001"}},
	})
	s.coll.CollectOnce(context.Background())
	perGPU := seriesByLabel(t, s.reg, "uuid")
	if len(perGPU) != 8 {
		t.Fatalf("series for %d GPUs, want 8", len(perGPU))
	}
	for uuid, n := range perGPU {
		want := 4
		if uuid == id {
			want = 8
		}
		if n != want {
			t.Errorf("GPU %s has %d series, want %d", uuid, n, want)
		}
		if n > 8 {
			t.Errorf("GPU %s has %d series, over the budget of 8", uuid, n)
		}
	}
	if got := valueOf(t, s.reg, "gpu_utilization_percent", map[string]string{"pod": "b"}); got != 85 {
		t.Fatalf("time-sliced pod b sees utilization %v, want GPU 0's 85", got)
	}
}

// seriesByLabel counts series per value of label.
func seriesByLabel(t *testing.T, g prometheus.Gatherer, label string) map[string]int {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label {
					out[lp.GetValue()]++
				}
			}
		}
	}
	return out
}

// valueOf returns the value of the single gauge or counter series of name
// whose labels include want.
func valueOf(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found []*dto.Metric
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if have[k] != v {
					continue next
				}
			}
			found = append(found, m)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s%v matches %d series, want 1", name, want, len(found))
	}
	if c := found[0].GetCounter(); c != nil {
		return c.GetValue()
	}
	return found[0].GetGauge().GetValue()
}

func TestPromlint(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	s.coll.CollectOnce(context.Background())
	problems, err := testutil.CollectAndLint(s.coll)
	if err != nil {
		t.Fatal(err)
	}
	// The seed's metric names are the API (dashboards, adapter rules and
	// HPAs use them), so promlint's objection to the "mb" abbreviation in
	// exactly these three names is accepted; anything else fails.
	seedNames := map[string]bool{"gpu_memory_usage_mb": true, "gpu_memory_total_mb": true, "memory_usage_mb": true}
	for _, p := range problems {
		if seedNames[p.Metric] && p.Text == "metric names should not contain abbreviated units" {
			continue
		}
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func TestDeviceLostMidRun(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	s.coll.CollectOnce(context.Background())
	if n := len(seriesByLabel(t, s.reg, "uuid")); n != 8 {
		t.Fatalf("before loss: %d GPUs", n)
	}
	// GPU 1 falls off the bus: every NVML call on it fails.
	dev := s.sim.Interface.(*server.Server).Devices[1].(*server.Device)
	dev.GetSamplesFunc = func(nvml.SamplingType, uint64) (nvml.ValueType, []nvml.Sample, nvml.Return) {
		return 0, nil, nvml.ERROR_GPU_IS_LOST
	}
	dev.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) { return nvml.Utilization{}, nvml.ERROR_GPU_IS_LOST }
	s.coll.CollectOnce(context.Background())
	series := seriesByLabel(t, s.reg, "uuid")
	if len(series) != 7 {
		t.Fatalf("after loss: %d GPUs, want 7", len(series))
	}
	if _, ok := series["GPU-00000000-0000-4000-8000-000000000001"]; ok {
		t.Fatal("lost GPU still exported")
	}
	compareGolden(t, s.reg, "device_lost.golden.prom")
}

func TestLibraryMissing(t *testing.T) {
	lib := &mock.Interface{
		InitFunc: func() nvml.Return { return nvml.ERROR_LIBRARY_NOT_FOUND },
		ShutdownFunc: func() nvml.Return {
			t.Error("Shutdown called after a failed Init")
			return nvml.SUCCESS
		},
	}
	coll, err := collector.New(collector.Config{NodeName: "node-a", Backend: "nvml", Interval: 30 * time.Second,
		GPU: gpu.NewReader(lib, 30*time.Second), Host: hostmetrics.NewReader(fakeProc(t))})
	if err != nil {
		t.Fatal(err)
	}
	if ok, msg := coll.Ready(); ok || !strings.Contains(msg, "no collection") {
		t.Fatalf("ready before the first collection: %v %q", ok, msg)
	}
	coll.CollectOnce(context.Background())
	coll.CollectOnce(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll)
	compareGolden(t, reg, "library_missing.golden.prom")
	ok, msg := coll.Ready()
	if ok || !strings.Contains(msg, "libnvidia-ml.so.1 not found") {
		t.Fatalf("Ready() = %v %q, want not ready naming the missing library", ok, msg)
	}
	if ok, _ := coll.Healthy(time.Now()); !ok {
		t.Fatal("a missing library must not make the exporter unhealthy (it would restart in a loop)")
	}
	if err := coll.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDeviceCountErrorReason(t *testing.T) {
	lib := &mock.Interface{
		InitFunc:           func() nvml.Return { return nvml.SUCCESS },
		DeviceGetCountFunc: func() (int, nvml.Return) { return 0, nvml.ERROR_DRIVER_NOT_LOADED },
	}
	coll, err := collector.New(collector.Config{NodeName: "node-a", Backend: "nvml", Interval: 30 * time.Second,
		GPU: gpu.NewReader(lib, 30*time.Second), Host: hostmetrics.NewReader(fakeProc(t))})
	if err != nil {
		t.Fatal(err)
	}
	coll.CollectOnce(context.Background())
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll)
	want := `# HELP gpu_exporter_collection_errors_total Collection errors by source (gpu, pod_resources, host, simulation_file) and reason.
# TYPE gpu_exporter_collection_errors_total counter
gpu_exporter_collection_errors_total{reason="driver_not_loaded",source="gpu"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "gpu_exporter_collection_errors_total"); err != nil {
		t.Fatal(err)
	}
}

func TestPodResourcesTimeoutLeavesSeriesUnattributed(t *testing.T) {
	s := newStack(t, simFile, 100*time.Millisecond)
	s.kube.SetAllocations([]podresourcestest.Allocation{{Namespace: "ml", Pod: "p", Container: "c",
		ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-00000000-0000-4000-8000-000000000000"}}})
	s.kube.SetDelay(time.Hour)
	s.coll.CollectOnce(context.Background())
	compareGolden(t, s.reg, "pod_resources_timeout.golden.prom")
	if n := seriesByLabel(t, s.reg, "pod")["p"]; n != 0 {
		t.Fatalf("%d series attributed although the kubelet did not answer", n)
	}
	// The kubelet recovers: the next collection attributes again.
	s.kube.SetDelay(0)
	s.coll.CollectOnce(context.Background())
	if n := seriesByLabel(t, s.reg, "pod")["p"]; n != 4 {
		t.Fatalf("after recovery pod p has %d series, want 4", n)
	}
}

func TestHungKubeletDoesNotBlockScrapes(t *testing.T) {
	s := newStack(t, simFile, time.Hour)
	s.coll.CollectOnce(context.Background())
	s.kube.SetDelay(time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.coll.CollectOnce(ctx)
	}()
	for s.kube.Calls() < 2 {
		time.Sleep(time.Millisecond)
	}
	// The collection is stuck in the kubelet call; scrapes are served from
	// the previous snapshot.
	for range 10 {
		if n := testutil.CollectAndCount(s.coll, "gpu_utilization_percent"); n != 8 {
			t.Fatalf("scrape during a hung collection returned %d utilization series, want 8", n)
		}
	}
	select {
	case <-done:
		t.Fatal("collection finished although the kubelet never answered")
	default:
	}
	cancel()
	<-done
	if got := valueOf(t, s.reg, "gpu_exporter_pod_resources_up", nil); got != 0 {
		t.Fatalf("pod_resources_up = %v after a failed call", got)
	}
}

func TestSimulationFileErrorsAreCounted(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	s.coll.CollectOnce(context.Background())
	// Break the file behind the simulator's back.
	if err := os.WriteFile(s.file, []byte("gpus: [{index: 99}]"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.coll.CollectOnce(context.Background())
	if got := valueOf(t, s.reg, "gpu_exporter_collection_errors_total", map[string]string{"source": "simulation_file"}); got != 1 {
		t.Fatalf("simulation_file errors = %v, want 1", got)
	}
	// The previous values are still served.
	if got := valueOf(t, s.reg, "gpu_utilization_percent", map[string]string{"gpu": "0"}); got != 85 {
		t.Fatalf("utilization after a bad reload = %v, want the previous 85", got)
	}
}

func TestConcurrentScrapesDuringCollections(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	s.coll.CollectOnce(context.Background())
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.coll.CollectOnce(context.Background())
			}
		}
	})
	var scrapes sync.WaitGroup
	for range 100 {
		scrapes.Go(func() {
			if n := testutil.CollectAndCount(s.coll, "gpu_memory_total_mb"); n != 8 {
				t.Errorf("scrape saw %d GPUs, want 8", n)
			}
		})
	}
	scrapes.Wait()
	close(stop)
	wg.Wait()
}

func TestHealthy(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	if ok, _ := s.coll.Healthy(time.Now()); !ok {
		t.Fatal("unhealthy right after start")
	}
	if ok, msg := s.coll.Healthy(time.Now().Add(2 * time.Minute)); ok || !strings.Contains(msg, "no collection") {
		t.Fatalf("Healthy 2m later without a collection = %v %q", ok, msg)
	}
	s.coll.CollectOnce(context.Background())
	if ok, msg := s.coll.Ready(); !ok {
		t.Fatalf("not ready after a successful collection: %s", msg)
	}
}

func TestRunCollectsUntilCancelled(t *testing.T) {
	s := newStack(t, simFile, 2*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.coll.Run(ctx)
	}()
	for {
		if ok, _ := s.coll.Ready(); ok {
			break
		}
		time.Sleep(time.Millisecond)
	}
	cancel()
	<-done
}

func TestNewRejectsBadConfig(t *testing.T) {
	if _, err := collector.New(collector.Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	if _, err := collector.New(collector.Config{GPU: gpu.NewReader(&mock.Interface{}, time.Second), Host: hostmetrics.NewReader("/proc")}); err == nil {
		t.Fatal("zero interval accepted")
	}
}
