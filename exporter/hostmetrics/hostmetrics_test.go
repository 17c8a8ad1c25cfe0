package hostmetrics

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeProc(t *testing.T, dir, stat, meminfo string) {
	t.Helper()
	if stat != "" {
		if err := os.WriteFile(filepath.Join(dir, "stat"), []byte(stat), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if meminfo != "" {
		if err := os.WriteFile(filepath.Join(dir, "meminfo"), []byte(meminfo), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const meminfo = `MemTotal:       16384000 kB
MemFree:         1000000 kB
MemAvailable:   12288000 kB
Buffers:          100000 kB
`

func TestCPUUsageFromDeltas(t *testing.T) {
	dir := t.TempDir()
	// user nice system idle iowait irq softirq steal guest guest_nice
	writeProc(t, dir, "cpu  100 0 100 700 100 0 0 0 50 0\ncpu0 1 2 3 4\n", "")
	r := NewReader(dir)
	got, err := r.CPUUsagePercent()
	if err != nil {
		t.Fatal(err)
	}
	// since boot: busy 200 of 1000 (idle+iowait = 800; guest not double counted)
	if math.Abs(got-20) > 1e-9 {
		t.Fatalf("first reading = %v, want 20 (since boot)", got)
	}
	writeProc(t, dir, "cpu  400 0 200 800 100 0 0 0 0 0\n", "")
	if got, _ = r.CPUUsagePercent(); math.Abs(got-80) > 1e-9 {
		t.Fatalf("delta reading = %v, want 80 (busy 400 of 500)", got)
	}
	// No time passed.
	if got, _ = r.CPUUsagePercent(); got != 0 {
		t.Fatalf("no-delta reading = %v, want 0", got)
	}
	// Counters went backwards (different procfs): treated as since boot.
	writeProc(t, dir, "cpu  10 0 0 90 0 0 0 0\n", "")
	if got, _ = r.CPUUsagePercent(); math.Abs(got-10) > 1e-9 {
		t.Fatalf("after reset = %v, want 10", got)
	}
}

func TestCPUUsageErrors(t *testing.T) {
	dir := t.TempDir()
	r := NewReader(dir)
	if _, err := r.CPUUsagePercent(); err == nil {
		t.Fatal("missing stat accepted")
	}
	for _, bad := range []string{"intr 1 2 3\n", "cpu 1 2 x 4\n", "cpu 1 2\n", ""} {
		writeProc(t, dir, bad+" ", "")
		if _, err := r.CPUUsagePercent(); err == nil {
			t.Fatalf("stat %q accepted", bad)
		}
	}
}

func TestMemoryUsage(t *testing.T) {
	dir := t.TempDir()
	writeProc(t, dir, "", meminfo)
	got, err := NewReader(dir).MemoryUsageMB()
	if err != nil {
		t.Fatal(err)
	}
	if got != 4000 {
		t.Fatalf("memory usage = %v MiB, want (16384000-12288000)/1024 = 4000", got)
	}
	writeProc(t, dir, "", "MemTotal: 100 kB\n")
	if _, err := NewReader(dir).MemoryUsageMB(); err == nil || !strings.Contains(err.Error(), "MemAvailable") {
		t.Fatalf("err = %v, want a missing MemAvailable error", err)
	}
	writeProc(t, dir, "", "MemTotal: lots kB\nMemAvailable: 1 kB\n")
	if _, err := NewReader(dir).MemoryUsageMB(); err == nil {
		t.Fatal("unparsable MemTotal accepted")
	}
	if _, err := NewReader(t.TempDir()).MemoryUsageMB(); err == nil {
		t.Fatal("missing meminfo accepted")
	}
}

func TestRealProc(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("/proc is not mounted")
	}
	r := NewReader("/proc")
	if v, err := r.CPUUsagePercent(); err != nil || v < 0 || v > 100 {
		t.Fatalf("cpu = %v, %v", v, err)
	}
	if v, err := r.MemoryUsageMB(); err != nil || v <= 0 {
		t.Fatalf("memory = %v, %v", v, err)
	}
}
