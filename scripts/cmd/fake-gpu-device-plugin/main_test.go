package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

func noEnv(string) string { return "" }

func TestFlagErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no node", nil, "--node-name or the NODE_NAME"},
		{"unknown model", []string{"--node-name=n", "--simulation-model=dgx2"}, "use one of dgxa100, dgxh100, dgxh200"},
		{"too many devices", []string{"--node-name=n", "--devices=65"}, "use 1..64"},
		{"unknown flag", []string{"--node-name=n", "--gpus=2"}, "flag provided but not defined: -gpus"},
		{"stray argument", []string{"--node-name=n", "extra"}, "takes flags only"},
		{"bad poll interval", []string{"--node-name=n", "--poll-interval=0s"}, "positive duration"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tc.args, noEnv, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
			}
			if lines := strings.Count(stderr.String(), "\n"); lines != 1 {
				t.Errorf("stderr has %d lines, want one: %q", lines, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestHelpExit0(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, noEnv, &stderr); code != 0 {
		t.Fatalf("exit code %d, want 0", code)
	}
	if !strings.Contains(stderr.String(), "-simulation-model") {
		t.Errorf("usage %q does not list the flags", stderr.String())
	}
}

func TestNodeNameFromEnv(t *testing.T) {
	cfg, err := parseFlags(nil, func(k string) string {
		if k == "NODE_NAME" {
			return "from-env"
		}
		return ""
	}, &bytes.Buffer{})
	if err != nil || cfg.NodeName != "from-env" {
		t.Fatalf("parseFlags = %+v, %v", cfg, err)
	}
}

func TestCleanStopExit0(t *testing.T) {
	dir := podresourcestest.ShortDir(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stderr bytes.Buffer
	// No kubelet: the plugin waits for one until the context (the signal) ends.
	code := run(ctx, []string{"--node-name=n", "--device-plugin-path=" + dir, "--poll-interval=20ms"}, noEnv, &stderr)
	if code != 0 {
		t.Fatalf("exit code %d, want 0 (stderr %q)", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "waiting for the kubelet socket") {
		t.Errorf("stderr %q does not log the wait", stderr.String())
	}
}

func TestRuntimeFailureExit1(t *testing.T) {
	dir := podresourcestest.ShortDir(t)
	if err := os.WriteFile(filepath.Join(dir, "kubelet.sock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "fake-nvidia-gpu.sock", "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	code := run(context.Background(), []string{"--node-name=n", "--device-plugin-path=" + dir}, noEnv, &stderr)
	if code != 1 {
		t.Fatalf("exit code %d, want 1 (stderr %q)", code, stderr.String())
	}
}
