package main

import (
	"context"
	"errors"
	"io"
	"testing"
)

// TestBadInput: bad input is errUsage (exit status 2), before any build.
func TestBadInput(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"push"},
		{"build", "--image", "no-such-image"},
		{"build", "--no-such-flag"},
		{"rootfs", "--out", "/tmp/x"},
		{"rootfs", "--image", "pause"},
		{"rootfs", "--image", "pause,gpu-metrics-exporter", "--out", "/tmp/x"},
	} {
		if err := run(context.Background(), args, io.Discard, io.Discard); !errors.Is(err, errUsage) {
			t.Errorf("images %q: %v, want a usage error", args, err)
		}
	}
	t.Setenv("SOURCE_DATE_EPOCH", "yesterday")
	if err := run(context.Background(), []string{"build", "--image", "pause"}, io.Discard, io.Discard); !errors.Is(err, errUsage) {
		t.Errorf("bad SOURCE_DATE_EPOCH: %v, want a usage error", err)
	}
}
