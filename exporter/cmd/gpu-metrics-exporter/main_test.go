package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

func env(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

func TestParseConfigDefaultsEnvAndFlags(t *testing.T) {
	cfg, err := parseConfig(nil, env(map[string]string{"NODE_NAME": "gpu-node-1"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != ":9400" || cfg.Backend != "nvml" || cfg.SimulationModel != "dgxa100" || cfg.CollectionInterval != 30*time.Second ||
		cfg.PodResourcesSocket != "/var/lib/kubelet/pod-resources/kubelet.sock" || cfg.PodResourcesTimeout != 2*time.Second ||
		cfg.ProcPath != "/proc" || cfg.NodeName != "gpu-node-1" || cfg.RuntimeMetrics {
		t.Fatalf("defaults = %+v", cfg)
	}

	e := env(map[string]string{
		"EXPORTER_LISTEN_ADDRESS":        ":9500",
		"EXPORTER_BACKEND":               "simulated",
		"EXPORTER_SIMULATION_FILE":       "/etc/sim/gpus.yaml",
		"EXPORTER_SIMULATION_MODEL":      "dgxh200",
		"NODE_NAME":                      "from-env",
		"EXPORTER_COLLECTION_INTERVAL":   "15s",
		"EXPORTER_POD_RESOURCES_SOCKET":  "/run/pr.sock",
		"EXPORTER_POD_RESOURCES_TIMEOUT": "500ms",
		"EXPORTER_PROC_PATH":             "/",
		"EXPORTER_LOG_LEVEL":             "debug",
		"EXPORTER_RUNTIME_METRICS":       "true",
	})
	cfg, err = parseConfig([]string{"--collection-interval=60s", "--node-name", "from-flag"}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != ":9500" || cfg.Backend != "simulated" || cfg.SimulationFile != "/etc/sim/gpus.yaml" ||
		cfg.SimulationModel != "dgxh200" || cfg.PodResourcesSocket != "/run/pr.sock" || cfg.PodResourcesTimeout != 500*time.Millisecond ||
		cfg.ProcPath != "/" || cfg.LogLevel.String() != "DEBUG" || !cfg.RuntimeMetrics {
		t.Fatalf("env not applied: %+v", cfg)
	}
	if cfg.CollectionInterval != time.Minute || cfg.NodeName != "from-flag" {
		t.Fatalf("flags must win over the environment: %+v", cfg)
	}
}

func TestParseConfigErrorsSayWhatToFix(t *testing.T) {
	cases := []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--backend=dcgm"}, nil, `--backend "dcgm": use nvml or simulated`},
		{[]string{"--backend=simulated", "--simulation-model=dgx1"}, nil, "--simulation-model \"dgx1\": use one of dgxa100, dgxh100, dgxh200"},
		{[]string{"--simulation-file=/x.yaml"}, nil, "--simulation-file is only used with --backend=simulated"},
		{[]string{"--backend=simulated", "--simulation-gpus=65"}, nil, "--simulation-gpus 65: use 1..64"},
		{nil, map[string]string{"EXPORTER_BACKEND": "simulated", "EXPORTER_SIMULATION_GPUS": "-1"}, "--simulation-gpus -1: use 1..64"},
		{[]string{"--collection-interval=100ms"}, nil, "use at least 1s"},
		{[]string{"--pod-resources-timeout=45s"}, nil, "shorter than --collection-interval"},
		{[]string{"--log-level=loud"}, nil, "--log-level \"loud\""},
		{[]string{"--proc-path=/does/not/exist"}, nil, "mount the host's /proc there"},
		{[]string{"extra"}, nil, "unexpected arguments"},
		{nil, map[string]string{"EXPORTER_COLLECTION_INTERVAL": "soon"}, "EXPORTER_COLLECTION_INTERVAL=\"soon\" (for --collection-interval)"},
		{[]string{"--collection-interval=often"}, nil, `--collection-interval: "often" is not a duration: write a number with a unit, like 30s`},
		{[]string{"--collection-interval=5"}, nil, `--collection-interval: "5" is not a duration: write a number with a unit, like 30s`},
		{[]string{"--pod-resources-timeout=2"}, nil, `--pod-resources-timeout: "2" is not a duration`},
		{nil, map[string]string{"EXPORTER_POD_RESOURCES_TIMEOUT": "2"}, `EXPORTER_POD_RESOURCES_TIMEOUT="2" (for --pod-resources-timeout): "2" is not a duration: write a number with a unit, like 30s`},
		{[]string{"--simulation-gpus=many"}, nil, `--simulation-gpus: "many" is not a whole number`},
		{[]string{"--backend=simulated", "--simulation-mig-devices=8"}, nil, "--simulation-mig-devices 8: use 1..7 MIG devices per GPU, or 0 for MIG off"},
		{nil, map[string]string{"EXPORTER_BACKEND": "simulated", "EXPORTER_SIMULATION_MIG_DEVICES": "-1"}, "--simulation-mig-devices -1: use 1..7"},
		{[]string{"--runtime-metrics=maybe"}, nil, `--runtime-metrics: "maybe" is not true or false`},
		{[]string{"--no-such-flag"}, nil, "flag provided but not defined: --no-such-flag (run with --help for the flags)"},
		{[]string{"--web.max-connections=0"}, nil, "--web.max-connections 0: use at least 1"},
		{[]string{"--web.config.file=/does/not/exist.yml"}, nil, "--web.config.file /does/not/exist.yml:"},
		{[]string{"--web.listen-address="}, nil, "--web.listen-address must not be empty"},
		{[]string{"--backend=simulated", "--process-attribution"}, nil, "--process-attribution needs --backend=nvml"},
		{[]string{"--utilization-reading=peak"}, nil, `--utilization-reading "peak": use average or instantaneous`},
		{nil, map[string]string{"EXPORTER_UTILIZATION_READING": "last"}, `--utilization-reading "last": use average or instantaneous`},
		{[]string{"--process-attribution", "--pod-resources-socket="}, nil, "--process-attribution needs --pod-resources-socket"},
	}
	oneDash := regexp.MustCompile(`(^|[\s("])-[a-z]`)
	for _, c := range cases {
		var out bytes.Buffer
		_, err := parseConfig(c.args, env(c.env), &out)
		if err == nil || !strings.Contains(err.Error()+out.String(), c.want) {
			t.Errorf("parseConfig(%q, %v) error = %v, want it to mention %q", c.args, c.env, err, c.want)
		}
		if err != nil && oneDash.MatchString(err.Error()+out.String()) {
			t.Errorf("parseConfig(%q, %v) names a flag with one dash: %v", c.args, c.env, err)
		}
	}
}

func TestParseConfigWebFlags(t *testing.T) {
	cfg, err := parseConfig(nil, env(map[string]string{"NODE_NAME": "n"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != ":9400" || cfg.WebConfigFile != "" || cfg.MaxConnections != 64 || cfg.Version {
		t.Fatalf("web defaults = %+v", cfg)
	}
	webConfig := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(webConfig, []byte("basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"new flag", []string{"--web.listen-address=:9501"}, nil, ":9501"},
		{"alias flag", []string{"--listen-address=:9502"}, nil, ":9502"},
		{"new env", nil, map[string]string{"EXPORTER_WEB_LISTEN_ADDRESS": ":9503"}, ":9503"},
		{"old env", nil, map[string]string{"EXPORTER_LISTEN_ADDRESS": ":9504"}, ":9504"},
		{"flag wins over env", []string{"--listen-address=:9505"}, map[string]string{"EXPORTER_WEB_LISTEN_ADDRESS": ":9503"}, ":9505"},
	} {
		e := map[string]string{"NODE_NAME": "n"}
		maps.Copy(e, c.env)
		cfg, err := parseConfig(c.args, env(e), io.Discard)
		if err != nil || cfg.ListenAddress != c.want {
			t.Errorf("%s: listen address %q, %v; want %q", c.name, cfg.ListenAddress, err, c.want)
		}
	}
	cfg, err = parseConfig([]string{"--web.max-connections=8"}, env(map[string]string{"NODE_NAME": "n", "EXPORTER_WEB_CONFIG_FILE": webConfig}), io.Discard)
	if err != nil || cfg.MaxConnections != 8 || cfg.WebConfigFile != webConfig {
		t.Fatalf("web flags: %+v, %v", cfg, err)
	}
	if err := os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: /nope.crt\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := parseConfig([]string{"--web.config.file=" + webConfig}, env(map[string]string{"NODE_NAME": "n"}), io.Discard); err == nil ||
		!strings.Contains(err.Error(), "--web.config.file "+webConfig) {
		t.Fatalf("invalid web config file: %v", err)
	}
	var usage bytes.Buffer
	if _, err := parseConfig([]string{"--help"}, env(nil), &usage); !errors.Is(err, flag.ErrHelp) ||
		!strings.Contains(usage.String(), "--listen-address [EXPORTER_LISTEN_ADDRESS]") || !strings.Contains(usage.String(), "--web.listen-address [EXPORTER_WEB_LISTEN_ADDRESS]") ||
		!strings.Contains(usage.String(), "--web.max-connections [EXPORTER_WEB_MAX_CONNECTIONS] (default \"64\")") || !strings.Contains(usage.String(), "--version (default \"false\")") {
		t.Fatalf("usage: %v\n%s", err, usage.String())
	}
}

func TestRunVersion(t *testing.T) {
	var out bytes.Buffer
	if c := run(context.Background(), []string{"--version"}, env(nil), &out, nil); c != 0 ||
		!strings.Contains(out.String(), "gpu-metrics-exporter (version=") || !strings.Contains(out.String(), ", platform=linux/") {
		t.Fatalf("--version: exit %d, %q", c, out.String())
	}
}

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

// startRun runs the exporter in-process and returns its base URL and a stop
// function that returns the exit code.
func startRun(t *testing.T, args []string) (string, func() int, *syncBuffer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	code := make(chan int, 1)
	logs := &syncBuffer{}
	go func() { code <- run(ctx, args, env(nil), logs, ready) }()
	select {
	case addr := <-ready:
		return "http://" + addr, func() int { cancel(); return <-code }, logs
	case c := <-code:
		cancel()
		t.Fatalf("exporter exited with %d: %s", c, logs.String())
	}
	return "", nil, nil
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// families parses an exposition body.
func families(t testing.TB, body string) map[string][]model.LabelSet {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("unparsable exposition: %v", err)
	}
	out := map[string][]model.LabelSet{}
	for name, mf := range mfs {
		for _, m := range mf.GetMetric() {
			ls := model.LabelSet{}
			for _, lp := range m.GetLabel() {
				ls[model.LabelName(lp.GetName())] = model.LabelValue(lp.GetValue())
			}
			out[name] = append(out[name], ls)
		}
	}
	return out
}

const simFile = `gpus:
  - {index: 0, uuid: GPU-e2e-0, utilizationPercent: 70, memoryUsedMB: 1000, temperatureCelsius: 55}
  - {index: 1, uuid: GPU-e2e-1, utilizationPercent: 20}
`

func TestRunSimulatedEndToEnd(t *testing.T) {
	dir := podresourcestest.ShortDir(t)
	sock := filepath.Join(dir, "kubelet.sock")
	kube, err := podresourcestest.NewServer(sock)
	if err != nil {
		t.Fatal(err)
	}
	defer kube.Close()
	kube.SetAllocations([]podresourcestest.Allocation{{Namespace: "medical-kg", Pod: "embedding-service-0", Container: "embedding",
		ResourceName: "nvidia.com/gpu", DeviceIDs: []string{"GPU-e2e-0"}}})
	file := filepath.Join(dir, "sim.yaml")
	if err := os.WriteFile(file, []byte(simFile), 0o644); err != nil {
		t.Fatal(err)
	}
	base, stop, logs := startRun(t, []string{"--listen-address=127.0.0.1:0", "--backend=simulated", "--simulation-file=" + file,
		"--node-name=gpu-node-1", "--pod-resources-socket=" + sock, "--collection-interval=1s", "--pod-resources-timeout=500ms"})

	// The first collection runs at start; wait for readiness.
	waitReady(t, base, logs.String)
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics = %d", code)
	}
	fams := families(t, body)
	if n := len(fams["gpu_utilization_percent"]); n != 8 {
		t.Fatalf("%d utilization series, want 8", n)
	}
	attributed := 0
	for _, ls := range fams["gpu_utilization_percent"] {
		if ls["uuid"] == "GPU-e2e-0" {
			if ls["pod"] != "embedding-service-0" || ls["namespace"] != "medical-kg" || ls["container"] != "embedding" || ls["node"] != "gpu-node-1" || ls["gpu"] != "0" {
				t.Fatalf("GPU-e2e-0 labels = %v", ls)
			}
			attributed++
		}
	}
	if attributed != 1 || len(fams["cpu_usage_percent"]) != 1 || len(fams["memory_usage_mb"]) != 1 || len(fams["go_goroutines"]) != 0 {
		t.Fatalf("unexpected exposition:\n%s", body)
	}
	if code, body := get(t, base+"/healthz"); code != http.StatusOK || !strings.Contains(body, "ok") {
		t.Fatalf("/healthz = %d %q", code, body)
	}
	if code, body := get(t, base+"/"); code != http.StatusOK || !strings.Contains(body, "gpu-node-1") || !strings.Contains(body, `href="/metrics"`) {
		t.Fatalf("/ = %d %q", code, body)
	}
	if code, _ := get(t, base+"/nope"); code != http.StatusNotFound {
		t.Fatalf("/nope = %d, want 404", code)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit code %d after cancellation: %s", c, logs.String())
	}
	if !strings.Contains(logs.String(), "shutting down") {
		t.Fatalf("no shutdown log: %s", logs.String())
	}
}

func nvmlPresent() bool {
	lib := nvml.New()
	if lib.Init() != nvml.SUCCESS {
		return false // never Shutdown after a failed Init
	}
	_ = lib.Shutdown()
	return true
}

func TestRunNVMLWithoutLibraryServesNodeMetrics(t *testing.T) {
	if nvmlPresent() {
		t.Skip("libnvidia-ml is installed here; this test needs a node without it")
	}
	base, stop, logs := startRun(t, []string{"--listen-address=127.0.0.1:0", "--pod-resources-socket=", "--node-name=cpu-node"})
	deadline := time.Now().Add(30 * time.Second)
	var code int
	var body string
	for {
		code, body = get(t, base+"/readyz")
		if strings.Contains(body, "unavailable") || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "libnvidia-ml.so.1 not found") {
		t.Fatalf("/readyz = %d %q, want 503 naming the missing library", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	fams := families(t, metrics)
	if len(fams["cpu_usage_percent"]) != 1 || len(fams["memory_usage_mb"]) != 1 || len(fams["gpu_utilization_percent"]) != 0 {
		t.Fatalf("exposition without NVML:\n%s", metrics)
	}
	if !strings.Contains(metrics, `gpu_exporter_up{backend="nvml"} 0`) {
		t.Fatalf("gpu_exporter_up not 0:\n%s", metrics)
	}
	if code, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz = %d: a node without GPUs must not be restarted", code)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
	if !strings.Contains(logs.String(), "libnvidia-ml.so.1 not found") {
		t.Fatalf("no clear log line about the missing library: %s", logs.String())
	}
}

func TestRunExitCodes(t *testing.T) {
	var out bytes.Buffer
	if c := run(context.Background(), []string{"--process-attribution"}, env(nil), &out, nil); c != 1 ||
		!strings.Contains(out.String(), "KUBERNETES_SERVICE_HOST") {
		t.Fatalf("per-process attribution outside a pod: exit %d, %q", c, out.String())
	}
	out.Reset()
	if c := run(context.Background(), []string{"--backend=simulated", "--simulation-file=/nonexistent/gpus.yaml"}, env(nil), &out, nil); c != 1 ||
		!strings.Contains(out.String(), "/nonexistent/gpus.yaml") || !strings.Contains(out.String(), "EXPORTER_SIMULATION_FILE") {
		t.Fatalf("unreadable simulation file: exit %d, %q", c, out.String())
	}
	out.Reset()
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("gpus: [{index: 12}]"), 0o644); err != nil {
		t.Fatal(err)
	}
	if c := run(context.Background(), []string{"--backend=simulated", "--simulation-file=" + bad}, env(nil), &out, nil); c != 1 ||
		!strings.Contains(out.String(), "index 12 is out of range") {
		t.Fatalf("invalid simulation file: exit %d, %q", c, out.String())
	}
	out.Reset()
	if c := run(context.Background(), []string{"--backend=gpu"}, env(nil), &out, nil); c != 2 || !strings.Contains(out.String(), "--help") {
		t.Fatalf("bad flag: exit %d, %q", c, out.String())
	}
	out.Reset()
	if c := run(context.Background(), []string{"--help"}, env(nil), &out, nil); c != 0 || !strings.Contains(out.String(), "[EXPORTER_BACKEND]") {
		t.Fatalf("--help: exit %d, %q", c, out.String())
	}
	out.Reset()
	if c := run(context.Background(), []string{"--listen-address=256.0.0.1:1", "--pod-resources-socket="}, env(nil), &out, nil); c != 1 ||
		!strings.Contains(out.String(), "--web.listen-address 256.0.0.1:1") {
		t.Fatalf("unusable listen address: exit %d, %q", c, out.String())
	}
}

// startBinary starts the built exporter with args and returns its address
// (from the "serving" log line) and its stderr; the process is killed when
// the test ends if it is still running.
func startBinary(t *testing.T, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	bin := buildBinary(t)
	cmd := exec.Command(bin, args...)
	stderr := &syncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // an error once the test made it exit
		_ = cmd.Wait()
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		for _, line := range strings.Split(stderr.String(), "\n") {
			if _, rest, ok := strings.Cut(line, "msg=serving address="); ok {
				addr, _, _ := strings.Cut(rest, " ")
				return cmd, addr, stderr
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("binary did not start: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitReady waits up to 30 s for base's /readyz to answer 200 (the first
// collection done), failing with logs() otherwise.
func waitReady(t *testing.T, base string, logs func() string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if code, _ := get(t, base+"/readyz"); code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not ready within 30s: %s", logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestBinaryGracefulSIGTERM builds the real binary and checks that SIGHUP
// reloads (the process keeps serving) and SIGTERM exits 0.
func TestBinaryGracefulSIGTERM(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary; skipped with -short")
	}
	cmd, addr, stderr := startBinary(t, "--listen-address=127.0.0.1:0", "--backend=simulated", "--pod-resources-socket=", "--node-name=n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(stderr.String(), "SIGHUP: nothing to reload") {
		if time.Now().After(deadline) {
			t.Fatalf("no SIGHUP log line: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if code, _ := get(t, "http://"+addr+"/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz after SIGHUP = %d", code)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "shutting down") {
		t.Fatalf("no graceful shutdown: %s", stderr.String())
	}
}

var (
	buildOnce sync.Once
	builtBin  string
	buildErr  error
)

// buildTags drops golang.org/x/net/trace (and with it html/template) from
// grpc: the exporter never enables grpc tracing, and the binary loses ~4 MB.
const buildTags = "grpcnotrace"

// buildBinary builds the exporter once per test process.
func buildBinary(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		tb.Skip("the go tool is not on PATH")
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gme-bin")
		if err != nil {
			buildErr = err
			return
		}
		builtBin = filepath.Join(dir, "gpu-metrics-exporter")
		// The same flags as exporter/Dockerfile, so the RSS benchmark
		// measures the shipped binary.
		cmd := exec.Command(goTool, "build", "-trimpath", "-tags", buildTags, "-ldflags", "-s -w", "-o", builtBin, ".")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		tb.Fatal(buildErr)
	}
	return builtBin
}

// TestShutdownWithHungCollection: a backend call that never returns (here a
// simulation file that is a FIFO nobody writes to) must not block SIGTERM.
func TestShutdownWithHungCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the shutdown timeout; skipped with -short")
	}
	fifo := filepath.Join(podresourcestest.ShortDir(t), "gpus.yaml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	// Serve the first read (the startup check); the collection's re-read
	// then blocks.
	go func() {
		if err := os.WriteFile(fifo, []byte("gpus: []\n"), 0o600); err != nil {
			t.Error(err)
		}
	}()
	base, stop, logs := startRun(t, []string{"--listen-address=127.0.0.1:0", "--backend=simulated", "--simulation-file=" + fifo,
		"--pod-resources-socket=", "--node-name=n"})
	if code, body := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "no collection") {
		t.Fatalf("/readyz during a hung first collection = %d %q", code, body)
	}
	if code, _ := get(t, base+"/metrics"); code != http.StatusOK {
		t.Fatalf("/metrics during a hung collection = %d", code)
	}
	if c := stop(); c != 0 {
		t.Fatalf("exit %d", c)
	}
	if !strings.Contains(logs.String(), "exiting without NVML shutdown") {
		t.Fatalf("logs: %s", logs.String())
	}
	// Unblock the stuck reader so it does not outlive the test.
	if err := os.WriteFile(fifo, nil, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestSIGHUPRevalidatesTheWebConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "web.yml")
	if err := os.WriteFile(file, []byte("basic_auth_users:\n  prometheus: $2y$10$QOauhQNbBCuQDKes6eFzPeMqBSjb7Mr5DUmpZ/VcEd00UAV/LDeSi\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	hup := make(chan os.Signal)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); watchSIGHUP(ctx, hup, file, slog.New(slog.NewTextHandler(logs, nil))) }()
	// hup is unbuffered and handled one at a time: a send returns once the
	// handler took it, so the send after it returns once that one was handled.
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // the first (valid file) was handled
	if err := os.WriteFile(file, []byte("basic_auth_users: [not, a, map]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hup <- syscall.SIGHUP
	hup <- syscall.SIGHUP // the one before (invalid file) was handled
	cancel()
	<-done
	out := logs.String()
	if !strings.Contains(out, `level=INFO msg="SIGHUP: web config file is valid`) ||
		!strings.Contains(out, `level=ERROR msg="SIGHUP: web config file is invalid; new connections will fail until it is fixed" file=`+file) {
		t.Fatalf("SIGHUP logs:\n%s", out)
	}
}
