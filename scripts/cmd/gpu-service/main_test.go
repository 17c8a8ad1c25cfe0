package main

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func noEnv(string) string { return "" }

func TestFlagErrorsExit2(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no service", nil, "--service or the SERVICE_NAME"},
		{"bad max cpu", []string{"--service=s", "--max-cpu-millicores=0"}, "--max-cpu-millicores"},
		{"bad max memory", []string{"--service=s", "--max-memory-mib=-1"}, "--max-memory-mib"},
		{"negative service time", []string{"--service=s", "--service-time=-5ms"}, "--service-time"},
		{"service time too long", []string{"--service=s", "--service-time=2s"}, "--service-time"},
		{"bad capacity", []string{"--service=s", "--capacity-rps=-1"}, "--capacity-rps"},
		{"NaN capacity", []string{"--service=s", "--capacity-rps=NaN"}, "--capacity-rps"},
		{"bad reload interval", []string{"--service=s", "--reload-interval=0s"}, "--reload-interval 0s: use a positive duration"},
		{"not a duration", []string{"--service=s", "--reload-interval=2"}, "invalid value"},
		{"unknown flag", []string{"--service=s", "--cpu=1"}, "flag provided but not defined: -cpu"},
		{"stray argument", []string{"--service=s", "x"}, "takes flags only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stderr bytes.Buffer
			if code := run(context.Background(), tc.args, noEnv, &stderr); code != 2 {
				t.Fatalf("exit code %d, want 2 (stderr %q)", code, stderr.String())
			}
			if n := strings.Count(stderr.String(), "\n"); n != 1 {
				t.Errorf("stderr has %d lines, want one: %q", n, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("stderr %q does not say %q", stderr.String(), tc.want)
			}
		})
	}
}

func TestServiceFromEnv(t *testing.T) {
	cfg, err := parseFlags(nil, func(k string) string {
		if k == "SERVICE_NAME" {
			return "embedding-service"
		}
		return ""
	}, &bytes.Buffer{})
	if err != nil || cfg.Service != "embedding-service" || cfg.ListenAddress != ":8080" || cfg.LoadFile != "/etc/gpu-service/load/load.yaml" {
		t.Fatalf("parseFlags = %+v, %v", cfg, err)
	}
}

func TestHelpExit0(t *testing.T) {
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, noEnv, &stderr); code != 0 || !strings.Contains(stderr.String(), "-load-file") {
		t.Fatalf("exit %d, usage %q", code, stderr.String())
	}
}

func TestCleanStopExit0(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var stderr bytes.Buffer
	args := []string{"--service=s", "--listen-address=127.0.0.1:0", "--load-file=" + filepath.Join(t.TempDir(), "load.yaml")}
	if code := run(ctx, args, noEnv, &stderr); code != 0 {
		t.Fatalf("exit code %d, want 0 (stderr %q)", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("stderr %q does not log the stop", stderr.String())
	}
}

func TestRuntimeFailureExit1(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	var stderr bytes.Buffer
	if code := run(context.Background(), []string{"--service=s", "--listen-address=" + busy.Addr().String()}, noEnv, &stderr); code != 1 {
		t.Fatalf("exit code %d, want 1 (stderr %q)", code, stderr.String())
	}
}
