package simulated

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
)

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestParseNodeExample(t *testing.T) {
	data := readExample(t)
	idle := State{TemperatureCelsius: IdleTemperatureCelsius}

	// A listed node gets its own section, and only it: GPU 3 is set in the
	// top-level gpus but idle on gpu-node-1.
	own, err := ParseNode(data, a100, "gpu-node-1")
	if err != nil {
		t.Fatal(err)
	}
	if want := (State{UUID: "GPU-6f0c2a1e-0000-4000-8000-000000000100", UtilizationPercent: 40, MemoryUsedMB: 10240, TemperatureCelsius: IdleTemperatureCelsius}); own[0] != want {
		t.Fatalf("gpu-node-1 gpu 0 = %+v, want %+v", own[0], want)
	}
	if want := (State{UtilizationPercent: 95, TemperatureCelsius: 75}); own[7] != want {
		t.Fatalf("gpu-node-1 gpu 7 = %+v, want %+v", own[7], want)
	}
	if own[3] != idle {
		t.Fatalf("gpu-node-1 gpu 3 = %+v, want idle (a node's section replaces the top-level gpus)", own[3])
	}

	// Listed with an empty section: every GPU idle.
	empty, err := ParseNode(data, a100, "gpu-node-2")
	if err != nil {
		t.Fatal(err)
	}
	for i, s := range empty {
		if s != idle {
			t.Fatalf("gpu-node-2 gpu %d = %+v, want idle", i, s)
		}
	}

	// Not listed (or no node name): the top-level gpus.
	defaults, err := Parse(data, a100)
	if err != nil {
		t.Fatal(err)
	}
	for _, node := range []string{"gpu-node-3", ""} {
		states, err := ParseNode(data, a100, node)
		if err != nil {
			t.Fatal(err)
		}
		for i := range states {
			if states[i] != defaults[i] {
				t.Fatalf("unlisted node %q gpu %d = %+v, want the top-level %+v", node, i, states[i], defaults[i])
			}
		}
	}
	if defaults[3].UtilizationPercent != 12 {
		t.Fatalf("top-level gpu 3 = %+v", defaults[3])
	}
}

func TestParseNodesErrorsSayWhatToFix(t *testing.T) {
	cases := map[string]struct{ yaml, want string }{
		"index range": {"nodes: {gpu-node-1: {gpus: [{index: 0}, {index: 0}, {index: 9}]}}",
			`nodes["gpu-node-1"].gpus[2]: index 9 is out of range: the simulated model has 8 GPUs (0..7)`},
		"duplicate index": {"nodes: {gpu-node-1: {gpus: [{index: 1}, {index: 1}]}}",
			`nodes["gpu-node-1"].gpus[1]: index 1 is already used by nodes["gpu-node-1"].gpus[0]`},
		"duplicate uuid": {"nodes: {gpu-node-1: {gpus: [{index: 1, uuid: GPU-x}, {index: 2, uuid: GPU-x}]}}",
			`nodes["gpu-node-1"].gpus[1]: uuid "GPU-x" is already used by nodes["gpu-node-1"].gpus[0]`},
		"value": {"nodes: {gpu-node-1: {gpus: [{index: 0, memoryUsedMB: 50000}]}}",
			`nodes["gpu-node-1"].gpus[0]: memoryUsedMB 50000 exceeds the model's 40960 MB`},
		"unknown gpu key": {"nodes: {gpu-node-1: {gpus: [{index: 0, utilisation: 5}]}}",
			`nodes["gpu-node-1"].gpus[0]: json: unknown field "utilisation" (keys: index, uuid, utilizationPercent`},
		"unknown section key": {"nodes: {gpu-node-1: {gpu: []}}",
			`nodes["gpu-node-1"]: json: unknown field "gpu" (expected ` + "`{gpus: [...]}`)"},
		"section type":    {"nodes: {gpu-node-1: [{index: 0}]}", `nodes["gpu-node-1"]: got array, want a map (expected ` + "`{gpus: [...]}`)"},
		"gpu type":        {"nodes: {gpu-node-1: {gpus: [{index: zero}]}}", `nodes["gpu-node-1"].gpus[0]: index: got string, want a whole number`},
		"node name":       {"nodes: {GPU_Node_1: {gpus: []}}", `nodes["GPU_Node_1"]: node name "GPU_Node_1": a node name is what --node-name / NODE_NAME is set to`},
		"node name edge":  {"nodes: {gpu-node-: {gpus: []}}", `nodes["gpu-node-"]: node name`},
		"empty node name": {`nodes: {"": {gpus: []}}`, `nodes[""]: node name`},
		"nodes type":      {"nodes: [gpu-node-1]", "parse simulation file (expected `gpus: [{index, uuid, utilizationPercent, memoryUsedMB, temperatureCelsius, burstPeriodSeconds}]`, optionally `nodes: {<node name>: {gpus: [...]}}`): nodes: got array, want a map"},
		"negative memory": {"gpus: [{index: 0, memoryUsedMB: -1}]", "gpus[0]: memoryUsedMB: got number -1, want a whole number >= 0"},
		"duplicate node":  {"nodes: {gpu-node-1: {}, gpu-node-1: {}}", "parse simulation file"},
		"unknown top key": {"node: {gpu-node-1: {gpus: []}}", `unknown field "node"`},
		"top-level gpu key": {"gpus: [{index: 0, utilisation: 5}]",
			`gpus[0]: json: unknown field "utilisation"`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			for _, node := range []string{"gpu-node-1", "other-node"} {
				states, err := ParseNode([]byte(c.yaml), a100, node)
				if err == nil || !strings.Contains(err.Error(), c.want) || states != nil {
					t.Fatalf("ParseNode(%q, %q) error = %v, want it to mention %q", c.yaml, node, err, c.want)
				}
			}
			if _, err := Parse([]byte(c.yaml), a100); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Parse(%q) error = %v, want it to mention %q", c.yaml, err, c.want)
			}
		})
	}
}

func TestParseValidatesEveryNodeSection(t *testing.T) {
	file := `gpus: [{index: 8}]
nodes:
  gpu-node-2: {gpus: [{index: 0, temperatureCelsius: 500}]}
  gpu-node-1: {gpus: [{index: 0, utilizationPercent: 50}]}
  gpu-node-0: {gpus: [{index: 0, utilizationPercent: 101}]}
`
	// gpu-node-1's own section is valid; the file is still rejected, on every
	// node, with every error, top level first and then by node name.
	_, err := ParseNode([]byte(file), a100, "gpu-node-1")
	if err == nil {
		t.Fatal("a file with invalid sections of other nodes was accepted")
	}
	msg := err.Error()
	want := []string{
		"gpus[0]: index 8 is out of range",
		`nodes["gpu-node-0"].gpus[0]: utilizationPercent 101 must be between 0 and 100`,
		`nodes["gpu-node-2"].gpus[0]: temperatureCelsius 500 must be between 0 and 120`,
	}
	last := -1
	for _, w := range want {
		i := strings.Index(msg, w)
		if i < 0 {
			t.Fatalf("error %q does not mention %q", msg, w)
		}
		if i < last {
			t.Fatalf("error %q: %q out of order", msg, w)
		}
		last = i
	}
}

func TestSimulatorUsesItsNodeSection(t *testing.T) {
	data := string(readExample(t))
	// One reader per simulator, as in the exporter: each collection
	// averages the samples since the previous one.
	utilization := func(sim *Simulator, reader *gpu.Reader) []float64 {
		t.Helper()
		if err := sim.Reload(); err != nil {
			t.Fatal(err)
		}
		res, err := reader.Collect()
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float64, len(res.Devices))
		for i, d := range res.Devices {
			out[i] = d.UtilizationPercent
		}
		return out
	}
	listed, src := newSim(t, "dgxa100", "gpu-node-1", data)
	listedReader := gpu.NewReader(listed, 30*time.Second)
	if u := utilization(listed, listedReader); u[0] != 40 || u[3] != 0 || u[7] != 95 {
		t.Fatalf("gpu-node-1 utilization = %v, want its own section (40 %% on GPU 0, 95 %% on GPU 7)", u)
	}
	unlisted, _ := newSim(t, "dgxa100", "gpu-node-3", data)
	if u := utilization(unlisted, gpu.NewReader(unlisted, 30*time.Second)); u[0] != 85 || u[3] != 12 || u[7] != 0 {
		t.Fatalf("gpu-node-3 utilization = %v, want the top-level gpus (85 %% on GPU 0, 12 %% on GPU 3)", u)
	}

	// The node's section removed: the node falls back to the top-level gpus
	// at the next collection.
	src.set("gpus: [{index: 0, utilizationPercent: 33}]\nnodes: {gpu-node-2: {gpus: []}}\n", nil)
	if u := utilization(listed, listedReader); u[0] != 33 || u[7] != 0 {
		t.Fatalf("gpu-node-1 after its section was removed = %v, want the top-level 33 %% on GPU 0", u)
	}
}

func TestSimulatorCapsTheFileSize(t *testing.T) {
	// A file of exactly MaxFileBytes is read; one byte more is refused.
	valid := "gpus: [{index: 1, utilizationPercent: 7}]\n#"
	exact := valid + strings.Repeat("x", MaxFileBytes-len(valid))
	path := filepath.Join(t.TempDir(), "sim.yaml")
	if err := os.WriteFile(path, []byte(exact), 0o644); err != nil {
		t.Fatal(err)
	}
	sim, err := New(Options{Model: "dgxa100", NodeName: "n", File: path})
	if err != nil {
		t.Fatalf("a file of exactly MaxFileBytes: %v", err)
	}
	if st := sim.state(1); st.UtilizationPercent != 7 {
		t.Fatalf("gpu 1 = %+v", st)
	}

	if err := os.WriteFile(path, []byte(exact+"x"), 0o644); err != nil {
		t.Fatal(err)
	}
	wantMsg := "larger than the simulator's limit of 1048576 bytes (1 MiB)"
	if err := sim.Reload(); err == nil || !strings.Contains(err.Error(), path+" is 1048577 bytes, ") || !strings.Contains(err.Error(), wantMsg) {
		t.Fatalf("Reload of an oversized file = %v, want it to name the file, its size and the limit", err)
	}
	// A 100 MB file (sparse: no disk used) is refused with its size, without being read whole.
	huge := filepath.Join(t.TempDir(), "huge.yaml")
	if err := os.WriteFile(huge, nil, 0o644); err != nil || os.Truncate(huge, 100<<20) != nil {
		t.Fatalf("sparse file: %v", err)
	}
	if _, err := New(Options{Model: "dgxa100", NodeName: "n", File: huge}); err == nil || !strings.Contains(err.Error(), huge+" is 104857600 bytes, "+wantMsg) {
		t.Fatalf("New with a 100 MB file = %v", err)
	}
	if st := sim.state(1); st.UtilizationPercent != 7 {
		t.Fatalf("an oversized file replaced the state: %+v", st)
	}
	if _, err := New(Options{Model: "dgxa100", NodeName: "n", File: path}); err == nil || !strings.Contains(err.Error(), wantMsg) {
		t.Fatalf("New with an oversized file = %v", err)
	}
	// The cap holds for any ReadFile.
	big := func(string) ([]byte, error) { return make([]byte, 2*MaxFileBytes), nil }
	if _, err := New(Options{Model: "dgxa100", File: "big.yaml", ReadFile: big}); err == nil || !strings.Contains(err.Error(), wantMsg) {
		t.Fatalf("New with a 2 MiB ReadFile = %v", err)
	}
}
