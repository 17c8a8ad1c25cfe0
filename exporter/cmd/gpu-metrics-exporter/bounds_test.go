package main

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/contract/bounds"
)

// The collection interval is bounded by internal/contract/bounds on both
// sides; the pod-resources timeout is checked only when attribution is on.
func TestParseConfigBounds(t *testing.T) {
	node := env(map[string]string{"NODE_NAME": "gpu-node-1"})
	cases := []struct {
		name string
		args []string
		want string // "" means accepted
	}{
		{"shortest interval, attribution off", []string{"--collection-interval=" + bounds.MinCollectionInterval.String(), "--pod-resources-socket="}, ""},
		{"2s interval, attribution off, default timeout", []string{"--collection-interval=2s", "--pod-resources-socket="}, ""},
		{"zero timeout, attribution off", []string{"--pod-resources-timeout=0s", "--pod-resources-socket="}, ""},
		{"longest interval", []string{"--collection-interval=" + bounds.MaxCollectionInterval.String()}, ""},
		{"1m30s interval", []string{"--collection-interval=1m30s"}, ""},
		{"interval under the minimum", []string{"--collection-interval=" + (bounds.MinCollectionInterval - time.Millisecond).String()}, "--collection-interval 999ms: use at least 1s and at most 1h0m0s"},
		{"interval over the maximum", []string{"--collection-interval=" + (bounds.MaxCollectionInterval + time.Second).String()}, "--collection-interval 1h0m1s: use at least 1s and at most 1h0m0s"},
		{"interval that would overflow 3*interval", []string{"--collection-interval=1000000h"}, "use at least 1s and at most 1h0m0s"},
		{"1s interval with attribution and the 2s default timeout", []string{"--collection-interval=1s"}, "--pod-resources-timeout 2s: must be positive and shorter than --collection-interval 1s"},
		{"zero timeout with attribution", []string{"--pod-resources-timeout=0s"}, "--pod-resources-timeout 0s: must be positive"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := parseConfig(c.args, node, io.Discard)
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("parseConfig(%q) refused good flags: %v", c.args, err)
			case c.want != "" && err == nil:
				t.Fatalf("parseConfig(%q) accepted, want an error mentioning %q", c.args, c.want)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("parseConfig(%q) error = %v, want it to mention %q", c.args, err, c.want)
			}
		})
	}
}

// The flag's default is the shared bound (the chart's exporter.podResources.timeout default is tested
// against the same constant in tests/chart).
func TestPodResourcesTimeoutDefaultIsTheSharedOne(t *testing.T) {
	cfg, err := parseConfig(nil, env(map[string]string{"NODE_NAME": "n"}), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.PodResourcesTimeout != bounds.DefaultPodResourcesTimeout {
		t.Fatalf("--pod-resources-timeout default %s, want bounds.DefaultPodResourcesTimeout %s", cfg.PodResourcesTimeout, bounds.DefaultPodResourcesTimeout)
	}
}
