package standin

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// started is a Serve running on a loopback port for one test.
type started struct {
	url      string
	loadFile string
	stop     func() error // cancels and returns Serve's result
}

func startService(t *testing.T, cfg Config) *started {
	t.Helper()
	if cfg.Service == "" {
		cfg.Service = "gpu-management-service"
	}
	if cfg.LoadFile == "" {
		cfg.LoadFile = filepath.Join(t.TempDir(), "load.yaml")
	}
	cfg.ListenAddress = "127.0.0.1:0"
	cfg.ReloadInterval = orDefault(cfg.ReloadInterval, 50*time.Millisecond)
	cfg.MaxCPUMillicores = max(cfg.MaxCPUMillicores, 1000)
	cfg.MaxMemoryMiB = max(cfg.MaxMemoryMiB, 1024)
	cfg.Logger = slog.New(slog.NewTextHandler(testWriter{t}, nil))
	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, cfg, lis) }()
	var result error
	stopped := false
	s := &started{url: "http://" + lis.Addr().String(), loadFile: cfg.LoadFile, stop: func() error {
		if !stopped {
			cancel()
			result, stopped = <-done, true
		}
		return result
	}}
	t.Cleanup(func() { _ = s.stop() })
	return s
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func get(t *testing.T, method, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

func TestEndpoints(t *testing.T) {
	s := startService(t, Config{Service: "embedding-service"})
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/readyz", 200, "ok"},
		{"GET", "/", 200, `"service":"embedding-service"`},
		{"POST", "/", 200, `"result":"ok"`},
		{"DELETE", "/", 405, "use GET or POST"},
		{"GET", "/nope", 404, ""},
		{"GET", "/metrics", 200, "gpu_service_cpu_target_millicores 0"},
	} {
		code, body := get(t, tc.method, s.url+tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
	_, metrics := get(t, "GET", s.url+"/metrics")
	for _, want := range []string{
		`service_requests_total{code="200",method="get"} 1`,
		`service_requests_total{code="200",method="post"} 1`,
		`service_requests_total{code="405",method="delete"} 1`,
		`service_response_time_seconds_count{code="200",method="get"} 1`,
		"gpu_service_memory_target_bytes 0",
		"gpu_service_memory_ballast_bytes 0",
		"gpu_service_load_file_errors_total 0",
		"process_resident_memory_bytes",
		"go_goroutines",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	// Probes and scrapes are not service requests.
	if strings.Contains(metrics, `service_requests_total{code="404"`) || strings.Count(metrics, "service_requests_total{") != 3 {
		t.Errorf("service_requests_total counts more than the inference endpoint:\n%s", grep(metrics, "service_requests_total"))
	}
}

func grep(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestMetricsLint(t *testing.T) {
	mt := newMetrics(newBurner(1000, 100*time.Millisecond, processCPUTime), newBallast(selfRSS), newQueue(10*time.Millisecond, 20, queueWindow, time.Now))
	mt.requests.WithLabelValues("200", "get").Inc()
	mt.responseTime.WithLabelValues("200", "get").Observe(0.01)
	problems, err := testutil.GatherAndLint(mt.registry)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	n, err := testutil.GatherAndCount(mt.registry, "gpu_service_cpu_target_millicores", "gpu_service_cpu_overhead_millicores",
		"gpu_service_memory_target_bytes", "gpu_service_memory_ballast_bytes", "gpu_service_load_file_errors_total", "service_requests_total", "service_response_time_seconds")
	if err != nil || n != 7 {
		t.Errorf("GatherAndCount = %d, %v: want the 7 service metrics", n, err)
	}
}

func TestLoadFileDrivesTargetsAndClamps(t *testing.T) {
	s := startService(t, Config{MaxCPUMillicores: 1000, MaxMemoryMiB: 1024})
	writeFile(t, s.loadFile, "services:\n  gpu-management-service: {cpuMillicores: 5000, memoryMiB: 4096}\n  embedding-service: {cpuMillicores: 10}\n")
	waitMetrics(t, s.url, "gpu_service_cpu_target_millicores 1000", "gpu_service_memory_target_bytes 1.073741824e+09")

	writeFile(t, s.loadFile, "services: {gpu-management-service: {cpuMillicores: 20, memoryMiB: 16}}\n")
	waitMetrics(t, s.url, "gpu_service_cpu_target_millicores 20", "gpu_service_memory_target_bytes 1.6777216e+07")

	writeFile(t, s.loadFile, "services: {gpu-management-service: {cpuMillicores: oops}}\n")
	for deadline := time.Now().Add(10 * time.Second); metricValue(t, s.url, "gpu_service_load_file_errors_total") < 1; {
		if time.Now().After(deadline) {
			t.Fatal("gpu_service_load_file_errors_total stayed 0 after a bad load file")
		}
		time.Sleep(25 * time.Millisecond)
	}
	waitMetrics(t, s.url, "gpu_service_cpu_target_millicores 20") // last good load kept
}

// metricValue is the value of the unlabelled series name on /metrics.
func metricValue(t *testing.T, url, name string) float64 {
	t.Helper()
	_, body := get(t, "GET", url+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// waitMetrics polls /metrics until every line in want appears.
func waitMetrics(t *testing.T, url string, want ...string) {
	t.Helper()
	var body string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(25 * time.Millisecond) {
		_, body = get(t, "GET", url+"/metrics")
		missing := false
		for _, w := range want {
			missing = missing || !strings.Contains(body, w+"\n")
		}
		if !missing {
			return
		}
	}
	t.Fatalf("/metrics never showed %q:\n%s", want, grep(body, "gpu_service_"))
}

func TestGracefulShutdown(t *testing.T) {
	s := startService(t, Config{})
	if code, _ := get(t, "GET", s.url+"/readyz"); code != 200 {
		t.Fatalf("readyz %d before shutdown", code)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("Serve after cancel = %v, want nil", err)
	}
	if _, err := http.Get(s.url + "/healthz"); err == nil {
		t.Error("still serving after shutdown")
	}
}

func TestServeConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no service", Config{ListenAddress: ":0", LoadFile: "f", MaxCPUMillicores: 1, MaxMemoryMiB: 1}, "--service or the SERVICE_NAME"},
		{"no max cpu", Config{Service: "s", ListenAddress: ":0", LoadFile: "f", MaxMemoryMiB: 1}, "--max-cpu-millicores"},
		{"huge max memory", Config{Service: "s", ListenAddress: ":0", LoadFile: "f", MaxCPUMillicores: 1, MaxMemoryMiB: 1e9}, "--max-memory-mib"},
		{"no load file", Config{Service: "s", ListenAddress: ":0", MaxCPUMillicores: 1, MaxMemoryMiB: 1}, "--load-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Run(context.Background(), tc.cfg)
			if !IsConfigError(err) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Run = %v, want a ConfigError mentioning %s", err, tc.want)
			}
		})
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	err = Run(context.Background(), Config{Service: "s", ListenAddress: busy.Addr().String(), LoadFile: "f", MaxCPUMillicores: 1, MaxMemoryMiB: 1})
	if err == nil || IsConfigError(err) || !strings.Contains(err.Error(), "listen on") {
		t.Fatalf("Run on a busy port = %v, want a listen error", err)
	}
}

// An idle pod exports its request series at 0 (not nothing), so the
// adapter's request-rate metric has a value for every pod.
func TestIdleRequestSeriesExist(t *testing.T) {
	mt := newMetrics(newBurner(1000, 100*time.Millisecond, processCPUTime), newBallast(selfRSS), newQueue(10*time.Millisecond, 20, queueWindow, time.Now))
	n, err := testutil.GatherAndCount(mt.registry, "service_requests_total", "service_response_time_seconds")
	if err != nil || n != 2 {
		t.Errorf("GatherAndCount = %d, %v before any request: want service_requests_total and service_response_time_seconds", n, err)
	}
}
