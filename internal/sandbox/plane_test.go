package sandbox

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"k8s.io/apimachinery/pkg/types"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

func TestRewriteArgs(t *testing.T) {
	mounts := map[string]string{
		"/etc/adapter":                   "/s/gpu/adapter/config",
		"/var/run/serving-cert":          "/s/gpu/adapter/serving-cert",
		"/tmp":                           "/s/gpu/adapter/tmp",
		"/var/lib/kubelet/pod-resources": "/s/gpu/gpu-node-0/pod-resources",
	}
	in := []string{
		"--secure-port=6443",
		"--tls-cert-file=/var/run/serving-cert/tls.crt",
		"--config=/etc/adapter/config.yaml",
		"--cert-dir=/tmp/cert",
		"--pod-resources-socket=/var/lib/kubelet/pod-resources/kubelet.sock",
		"--prometheus-url=http://prometheus:9090",
		"--proc-path=/proc",
		"--tmpdir=/tmpfoo/x", // a prefix match on the name only must not be rewritten
		"-v",
	}
	want := []string{
		"--secure-port=6443",
		"--tls-cert-file=/s/gpu/adapter/serving-cert/tls.crt",
		"--config=/s/gpu/adapter/config/config.yaml",
		"--cert-dir=/s/gpu/adapter/tmp/cert",
		"--pod-resources-socket=/s/gpu/gpu-node-0/pod-resources/kubelet.sock",
		"--prometheus-url=http://prometheus:9090",
		"--proc-path=/proc",
		"--tmpdir=/tmpfoo/x",
		"-v",
	}
	if got := rewriteArgs(in, mounts); !reflect.DeepEqual(got, want) {
		t.Errorf("rewriteArgs:\n got %q\nwant %q", got, want)
	}
}

func TestSetArgAndArgValue(t *testing.T) {
	args := []string{"--a=1", "--b", "--c=3"}
	args = setArg(args, "a", "10")
	args = setArg(args, "b", "20")
	args = setArg(args, "d", "40")
	want := []string{"--a=10", "--b=20", "--c=3", "--d=40"}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("setArg: got %q, want %q", args, want)
	}
	if v := argValue(args, "c"); v != "3" {
		t.Errorf("argValue(c) = %q, want 3", v)
	}
	if v := argValue(args, "e"); v != "" {
		t.Errorf("argValue(e) = %q, want empty", v)
	}
}

func TestGPUUUIDIsAValidDeviceID(t *testing.T) {
	// The exporter's simulation file accepts "GPU-" + letters, digits, '-'.
	for _, id := range []string{GPUUUID("gpu-node-0", 0), GPUUUID("gpu-node-12", 7)} {
		if len(id) > 96 || id[:4] != "GPU-" {
			t.Errorf("%q is not a GPU UUID", id)
		}
		for _, r := range id {
			if !(r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
				t.Errorf("%q has %q", id, r)
			}
		}
	}
	if GPUUUID("gpu-node-0", 1) == GPUUUID("gpu-node-1", 0) {
		t.Error("UUIDs collide across nodes")
	}
}

// TestSimulationFileMatchesExporterParser writes a node's simulation file the
// way the load loop does and parses it with the exporter's own parser.
func TestSimulationFileMatchesExporterParser(t *testing.T) {
	g := &GPUPlane{sb: &Sandbox{opts: Options{GPUsPerNode: 8}}, model: "dgxa100"}
	n := &fakeNode{name: "gpu-node-0", simFile: filepath.Join(t.TempDir(), "sim", "simulation.yaml"),
		owner: map[int]podRef{2: {uid: "u1", gpus: 1}, 5: {uid: "u2", gpus: 2}, 6: {uid: "u2", gpus: 2}}}
	loads := map[types.UID]loadmodel.PodLoad{
		"u1": {GPUUtilization: 85, GPUMemoryMB: 20000},
		"u2": {GPUUtilization: 40, GPUMemoryMB: 100000}, // 50000 per GPU, capped at the A100's 40960
	}
	if err := g.writeSimulationLocked(n, loads); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(n.simFile)
	if err != nil {
		t.Fatal(err)
	}
	states, err := simulated.Parse(data, simulated.Limits{Devices: 8, MemoryTotalMB: 40960})
	if err != nil {
		t.Fatalf("the exporter rejects the sandbox's simulation file: %v\n%s", err, data)
	}
	if s := states[2]; s.UtilizationPercent != 85 || s.MemoryUsedMB != 20000 || s.UUID != GPUUUID("gpu-node-0", 2) {
		t.Errorf("GPU 2: %+v", s)
	}
	for _, i := range []int{5, 6} {
		if s := states[i]; s.UtilizationPercent != 40 || s.MemoryUsedMB != 40960 {
			t.Errorf("GPU %d: %+v, want 40 %% and memory capped at 40960 MB", i, s)
		}
	}
	if s := states[0]; s.UtilizationPercent != 0 || s.MemoryUsedMB != 0 || s.UUID != GPUUUID("gpu-node-0", 0) {
		t.Errorf("idle GPU 0: %+v", s)
	}
}
