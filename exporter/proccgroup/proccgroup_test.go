package proccgroup

import (
	"errors"
	"strings"
	"testing"
)

func TestLookupFakeProc(t *testing.T) {
	tests := []struct {
		pid  uint32
		want Ref
		err  error
	}{
		{101, Ref{"1b2c3d4e-0000-4000-8000-000000000001", strings.Repeat("a", 64)}, nil}, // v2, systemd, containerd
		{102, Ref{"1b2c3d4e-0000-4000-8000-000000000002", strings.Repeat("b", 64)}, nil}, // v1, cgroupfs
		{103, Ref{"1b2c3d4e-0000-4000-8000-000000000003", strings.Repeat("c", 64)}, nil}, // v2, systemd, CRI-O, guaranteed
		{104, Ref{"1b2c3d4e-0000-4000-8000-000000000004", strings.Repeat("d", 64)}, nil}, // v2, cgroupfs
		{105, Ref{}, ErrNotAPod}, // host service
		{106, Ref{}, ErrNotAPod}, // malformed
	}
	for _, tt := range tests {
		got, err := Lookup("testdata/proc", tt.pid)
		if !errors.Is(err, tt.err) || got != tt.want {
			t.Errorf("Lookup(%d) = %+v, %v; want %+v, %v", tt.pid, got, err, tt.want, tt.err)
		}
	}
	if _, err := Lookup("testdata/proc", 999); err == nil || errors.Is(err, ErrNotAPod) {
		t.Errorf("Lookup of a missing pid: got %v, want a read error", err)
	}
}

func TestParseRejectsNonUIDPodSegment(t *testing.T) {
	if _, err := Parse([]byte("0::/kubepods/podnotauid/abc\n")); !errors.Is(err, ErrNotAPod) {
		t.Errorf("got %v, want ErrNotAPod", err)
	}
}
