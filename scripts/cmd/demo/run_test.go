package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/demo"
)

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"--nodes", "-1"},
		{"--timeout", "0s"},
		{"extra-argument"},
		{"--scenario-speed", "0"},
	} {
		var out, errOut bytes.Buffer
		if code := run(args, &out, &errOut); code != exitUsage {
			t.Errorf("run(%q) = %d, want %d; stderr:\n%s", args, code, exitUsage, errOut.String())
		}
		if !strings.Contains(errOut.String(), "demo:") {
			t.Errorf("run(%q): stderr lacks a one-line reason:\n%s", args, errOut.String())
		}
	}
}

func TestMissingClusterBinariesNameTheTarget(t *testing.T) {
	t.Setenv("GPU_AUTOSCALING_BIN", t.TempDir())
	var out, errOut bytes.Buffer
	if code := run(nil, &out, &errOut); code != exitUsage {
		t.Fatalf("run with an empty bin folder = %d, want %d", code, exitUsage)
	}
	msg := errOut.String()
	for _, want := range []string{"kube-apiserver", "prometheus-adapter", "helm", "make cluster-tools"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if out.Len() != 0 {
		t.Errorf("something was started before the check failed:\n%s", out.String())
	}
}

func TestNodesForTheDefaultScenario(t *testing.T) {
	// Peaks 4.75, 3.75, 3.75, 2.75 → 5+4+4+3 = 16 GPUs, plus 2 spare: 3 nodes of 8.
	if n := nodesFor(demo.DefaultScenario()); n != 3 {
		t.Errorf("nodesFor(default) = %d, want 3", n)
	}
	small := demo.Scenario{Services: []demo.ServiceLoad{{Peak: 2.5}}}
	if n := nodesFor(small); n != 2 {
		t.Errorf("nodesFor(one small service) = %d, want the minimum 2", n)
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(o.out, "out/demo") || !strings.HasSuffix(o.dir, ".sandbox") || o.keep || o.speed != 1 || o.timeout != 20*time.Minute {
		t.Errorf("defaults %+v", o)
	}
}
