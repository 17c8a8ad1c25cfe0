package simulated

import (
	"errors"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
)

var a100 = Limits{Devices: 8, MemoryTotalMB: 40960}

func TestParseExample(t *testing.T) {
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	states, err := Parse(data, a100)
	if err != nil {
		t.Fatal(err)
	}
	if len(states) != 8 {
		t.Fatalf("%d states, want one per device", len(states))
	}
	want0 := State{UUID: "GPU-6f0c2a1e-0000-4000-8000-000000000000", UtilizationPercent: 85, MemoryUsedMB: 20000, TemperatureCelsius: 60}
	if states[0] != want0 {
		t.Fatalf("gpu 0 = %+v, want %+v", states[0], want0)
	}
	if states[3] != (State{UtilizationPercent: 12, TemperatureCelsius: IdleTemperatureCelsius}) {
		t.Fatalf("gpu 3 = %+v, want 12%% and idle temperature", states[3])
	}
	if states[5] != (State{TemperatureCelsius: IdleTemperatureCelsius}) {
		t.Fatalf("unlisted gpu 5 = %+v, want idle", states[5])
	}
}

func TestParseErrorsSayWhatToFix(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"missing index":   {"gpus: [{utilizationPercent: 5}]", "gpus[0]: index is required"},
		"index too large": {"gpus: [{index: 8}]", "index 8 is out of range: the simulated model has 8 GPUs (0..7)"},
		"negative index":  {"gpus: [{index: -1}]", "out of range"},
		"duplicate index": {"gpus: [{index: 1}, {index: 1}]", "gpus[1]: index 1 is already used by gpus[0]"},
		"duplicate uuid":  {"gpus: [{index: 1, uuid: GPU-x}, {index: 2, uuid: GPU-x}]", "uuid \"GPU-x\" is already used"},
		"bad uuid":        {"gpus: [{index: 1, uuid: 'nvidia0'}]", "must look like a GPU UUID"},
		"uuid chars":      {"gpus: [{index: 1, uuid: 'GPU-a/b'}]", "only letters, digits"},
		"utilization":     {"gpus: [{index: 0, utilizationPercent: 101}]", "utilizationPercent 101 must be between 0 and 100"},
		"memory":          {"gpus: [{index: 0, memoryUsedMB: 50000}]", "memoryUsedMB 50000 exceeds the model's 40960 MB"},
		"temperature":     {"gpus: [{index: 0, temperatureCelsius: 500}]", "temperatureCelsius 500 must be between 0 and 120"},
		"unknown field":   {"gpus: [{index: 0, utilisation: 5}]", "unknown field"},
		"wrong type":      {"gpus: {index: 0}", "parse simulation file"},
		"not yaml":        {"gpus: [", "parse simulation file"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse([]byte(c.yaml), a100)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) error = %v, want it to mention %q", c.yaml, err, c.want)
			}
		})
	}
	if _, err := Parse([]byte(""), a100); err != nil {
		t.Fatalf("an empty file means all GPUs idle, got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	seed, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte("gpus: [{index: 7, utilizationPercent: 100, memoryUsedMB: 40960, temperatureCelsius: 120}]"))
	f.Add([]byte("gpus: [{index: 0, utilizationPercent: .nan}]"))
	f.Add([]byte("gpus: [{index: 0, memoryUsedMB: -1}]"))
	f.Add([]byte("gpus: [{index: 1e10}]"))
	f.Add([]byte("{}"))
	f.Add([]byte("nodes: {gpu-node-1: {gpus: [{index: 0, uuid: GPU-a, utilizationPercent: 50}, {index: 1, uuid: GPU-a}]}}"))
	f.Add([]byte("gpus: []\nnodes: {gpu-node-1: {}, n.2: {gpus: [{index: 7}]}}"))
	f.Fuzz(func(t *testing.T, data []byte) {
		states, err := Parse(data, a100)
		own, ownErr := ParseNode(data, a100, "gpu-node-1")
		if (err == nil) != (ownErr == nil) {
			t.Fatalf("Parse error %v but ParseNode error %v: every section is validated by both", err, ownErr)
		}
		if err != nil {
			if states != nil || own != nil {
				t.Fatal("states returned with an error")
			}
			return
		}
		checkStates(t, own)
		checkStates(t, states)
	})
}

// checkStates checks what a successful parse guarantees.
func checkStates(t *testing.T, states []State) {
	t.Helper()
	if len(states) != a100.Devices {
		t.Fatalf("%d states, want %d", len(states), a100.Devices)
	}
	uuids := map[string]bool{}
	for i, s := range states {
		if s.UtilizationPercent > 100 || s.MemoryUsedMB > a100.MemoryTotalMB || s.TemperatureCelsius > MaxTemperatureCelsius {
			t.Fatalf("state %d out of bounds: %+v", i, s)
		}
		if s.UUID != "" {
			if uuids[s.UUID] || validUUID(s.UUID) != nil {
				t.Fatalf("state %d has a duplicate or invalid uuid %q", i, s.UUID)
			}
			uuids[s.UUID] = true
		}
	}
}

// fileSource serves simulation file contents from memory.
type fileSource struct {
	mu   sync.Mutex
	data string
	err  error
}

func (f *fileSource) set(data string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.data, f.err = data, err
}

func (f *fileSource) read(string) ([]byte, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return []byte(f.data), f.err
}

func newSim(t *testing.T, model, node, data string) (*Simulator, *fileSource) {
	t.Helper()
	src := &fileSource{data: data}
	sim, err := New(Options{Model: model, NodeName: node, File: "sim.yaml", ReadFile: src.read})
	if err != nil {
		t.Fatal(err)
	}
	return sim, src
}

func TestModels(t *testing.T) {
	want := map[string]struct {
		mem   uint64
		model string
	}{
		"dgxa100": {40960, "A100"},
		"dgxh100": {81920, "H100"},
		"dgxh200": {144384, "H200"},
	}
	for model, w := range want {
		sim, _ := newSim(t, model, "node-a", "")
		if sim.Limits() != (Limits{Devices: 8, MemoryTotalMB: w.mem}) {
			t.Errorf("%s limits = %+v", model, sim.Limits())
		}
		// The fake device plugin advertises simuuid.Devices(model) GPUs.
		if n := simuuid.Devices(model); n != sim.Limits().Devices {
			t.Errorf("%s: simuuid.Devices = %d, the mock has %d", model, n, sim.Limits().Devices)
		}
		res, err := gpu.NewReader(sim, 30*time.Second).Collect()
		if err != nil {
			t.Fatalf("%s: %v", model, err)
		}
		if len(res.Devices) != 8 || !strings.Contains(res.Devices[0].Model, w.model) || res.Devices[0].MemoryTotalBytes != w.mem<<20 {
			t.Errorf("%s: %d devices, first %+v", model, len(res.Devices), res.Devices[0])
		}
	}
	for _, m := range Models() {
		if _, ok := models[m]; !ok {
			t.Errorf("model %s is listed by simuuid but has no mock server builder", m)
		}
	}
	if len(models) != len(Models()) {
		t.Errorf("%d builders for %d models", len(models), len(Models()))
	}
	if _, err := New(Options{Model: "dgx1"}); err == nil || !strings.Contains(err.Error(), "dgxa100") {
		t.Fatalf("unknown model error = %v, want the list of models", err)
	}
}

func TestSimulatorServesFileThroughTheReader(t *testing.T) {
	sim, src := newSim(t, "dgxa100", "node-a", "gpus: [{index: 0, uuid: GPU-fixed, utilizationPercent: 85, memoryUsedMB: 20000, temperatureCelsius: 61}]")
	reader := gpu.NewReader(sim, 30*time.Second)
	collect := func() gpu.Result {
		t.Helper()
		if err := sim.Reload(); err != nil {
			t.Fatal(err)
		}
		res, err := reader.Collect()
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Devices) != 8 || len(res.Errors) != 0 {
			t.Fatalf("%d devices, errors %v", len(res.Devices), res.Errors)
		}
		return res
	}
	res := collect()
	d0 := res.Devices[0]
	if d0.UUID != "GPU-fixed" || d0.UtilizationPercent != 85 || d0.UtilizationSamples != 1 ||
		d0.MemoryUsedBytes != 20000<<20 || d0.TemperatureCelsius != 61 {
		t.Fatalf("gpu 0 = %+v", d0)
	}
	if d1 := res.Devices[1]; d1.UtilizationPercent != 0 || d1.MemoryUsedBytes != 0 || d1.TemperatureCelsius != IdleTemperatureCelsius || !strings.HasPrefix(d1.UUID, "GPU-") {
		t.Fatalf("unlisted gpu 1 = %+v, want idle", d1)
	}

	// The file is re-read every collection.
	src.set("gpus: [{index: 0, utilizationPercent: 20}, {index: 1, utilizationPercent: 60}]", nil)
	res = collect()
	if res.Devices[0].UtilizationPercent != 20 || res.Devices[1].UtilizationPercent != 60 || res.Devices[0].UtilizationSamples != 1 {
		t.Fatalf("after rewrite: %v, %v", res.Devices[0].UtilizationPercent, res.Devices[1].UtilizationPercent)
	}
	if strings.HasPrefix(res.Devices[0].UUID, "GPU-fixed") {
		t.Fatal("uuid override kept after the file dropped it")
	}

	// A broken file keeps the previous values and reports the error.
	src.set("gpus: [{index: 0, utilizationPercent: 300}]", nil)
	if err := sim.Reload(); err == nil || !strings.Contains(err.Error(), "utilizationPercent 300") {
		t.Fatalf("Reload error = %v", err)
	}
	src.set("", errors.New("permission denied"))
	if err := sim.Reload(); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("Reload error = %v", err)
	}
	res, err := reader.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if res.Devices[0].UtilizationPercent != 20 {
		t.Fatalf("after a bad reload utilization = %v, want the previous 20", res.Devices[0].UtilizationPercent)
	}
}

func TestSimulatorUUIDsAreStablePerNode(t *testing.T) {
	uuids := func(node string) []string {
		sim, _ := newSim(t, "dgxh100", node, "")
		res, err := gpu.NewReader(sim, time.Minute).Collect()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for i, d := range res.Devices {
			if want := simuuid.UUID(node, "dgxh100", i); d.UUID != want {
				t.Errorf("gpu %d uuid %s, want simuuid's %s (the device plugin advertises that one)", i, d.UUID, want)
			}
			out = append(out, d.UUID)
		}
		return out
	}
	a1, a2, b := uuids("node-a"), uuids("node-a"), uuids("node-b")
	seen := map[string]bool{}
	for i := range a1 {
		if a1[i] != a2[i] {
			t.Fatalf("gpu %d uuid changed across restarts: %s vs %s", i, a1[i], a2[i])
		}
		if a1[i] == b[i] || seen[a1[i]] {
			t.Fatalf("gpu %d uuid %s not unique per node and device", i, a1[i])
		}
		seen[a1[i]] = true
	}
}

func TestSimulatorSurvivesMockRebuild(t *testing.T) {
	sim, _ := newSim(t, "dgxa100", "node-a", "gpus: [{index: 2, uuid: GPU-kept, utilizationPercent: 42}]")
	reader := gpu.NewReader(sim, time.Minute)
	before := sim.Interface
	for range rebuildEvery + 1 {
		if err := sim.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	if sim.Interface == before {
		t.Fatal("mock server was not rebuilt")
	}
	res, err := reader.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if d := res.Devices[2]; d.UUID != "GPU-kept" || d.UtilizationPercent != 42 {
		t.Fatalf("after rebuild gpu 2 = %+v", d)
	}
}

func TestSimulatorDeviceCount(t *testing.T) {
	sim, err := New(Options{Model: "dgxa100", NodeName: "node-a", Devices: 24})
	if err != nil {
		t.Fatal(err)
	}
	if sim.Limits().Devices != 24 {
		t.Fatalf("limits %+v, want 24 devices", sim.Limits())
	}
	res, err := gpu.NewReader(sim, time.Minute).Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Devices) != 24 || res.Devices[23].UUID != simuuid.UUID("node-a", "dgxa100", 23) {
		t.Fatalf("%d devices, last %+v; want 24 with simuuid's UUIDs", len(res.Devices), res.Devices[len(res.Devices)-1])
	}
	if def, _ := New(Options{Model: "dgxh100"}); def.Limits().Devices != simuuid.Devices("dgxh100") {
		t.Errorf("default count %d, want the model's %d", def.Limits().Devices, simuuid.Devices("dgxh100"))
	}
	for _, n := range []int{-1, simuuid.MaxDevices + 1} {
		if _, err := New(Options{Model: "dgxa100", Devices: n}); err == nil || !strings.Contains(err.Error(), "want 1..") {
			t.Errorf("Devices %d: error %v, want the allowed range", n, err)
		}
	}
}
