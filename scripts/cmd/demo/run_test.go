package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestBadFlagsExit2(t *testing.T) {
	for _, args := range [][]string{
		{"--bogus"},
		{"--timeout", "0s"},
		{"extra-argument"},
		{"--scenario-speed", "0"},
		{"--production", "--scenario-speed", "2"},
		{"--production", "--timeout", "2m"},
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
	for _, want := range []string{"helm", "make tools", "make demo"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if out.Len() != 0 {
		t.Errorf("something was started before the check failed:\n%s", out.String())
	}
}

func TestParseFlagsDefaults(t *testing.T) {
	o, err := parseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(o.Out, "out/demo") || !strings.HasSuffix(o.Dir, ".sandbox") || o.Keep || o.Speed != 1 || o.Timeout != 20*time.Minute {
		t.Errorf("defaults %+v", o)
	}
}

func TestParseFlagsProduction(t *testing.T) {
	o, err := parseFlags([]string{"--production"}, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	sc := o.Profile().Scenario
	if !o.Production || o.Profile().Name != "production" || o.Timeout != sc.MaxDuration()+10*time.Minute {
		t.Errorf("--production: %+v, timeout %s, want the production profile and %s", o, o.Timeout, sc.MaxDuration()+10*time.Minute)
	}
	if o, err := parseFlags([]string{"--production", "--timeout", "40m"}, &bytes.Buffer{}); err != nil || o.Timeout != 40*time.Minute {
		t.Errorf("--production --timeout 40m: %v, %v", o.Timeout, err)
	}
	var errOut bytes.Buffer
	run([]string{"--production", "--timeout", "2m"}, &bytes.Buffer{}, &errOut)
	if !strings.Contains(errOut.String(), "the production scenario alone takes at least") {
		t.Errorf("a timeout shorter than the scenario: %s", errOut.String())
	}
}
