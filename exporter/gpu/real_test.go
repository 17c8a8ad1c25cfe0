package gpu

import (
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
)

// TestRealNVML runs the reader against the node's libnvidia-ml; it is skipped
// where there is no NVIDIA driver.
func TestRealNVML(t *testing.T) {
	lib := nvml.New()
	r := NewReader(lib, 2*time.Second)
	if err := r.Init(); err != nil {
		t.Skipf("an NVIDIA GPU with libnvidia-ml.so.1 (%v)", err)
	}
	defer func() {
		if err := r.Shutdown(); err != nil {
			t.Error(err)
		}
	}()
	first, err := r.Collect()
	if err != nil {
		t.Fatal(err)
	}
	if len(first.Devices) == 0 {
		t.Fatalf("no devices; errors: %v", first.Errors)
	}
	time.Sleep(2 * time.Second)
	second, err := r.Collect()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range second.Devices {
		t.Logf("gpu %d %s %s: util %.1f%% from %d samples, mem %d/%d MiB, %v°C, MIG devices %v",
			d.Index, d.UUID, d.Model, d.UtilizationPercent, d.UtilizationSamples, d.MemoryUsedBytes>>20, d.MemoryTotalBytes>>20, d.TemperatureCelsius, d.MIGDevices)
		if d.HasUtilization && (d.UtilizationPercent < 0 || d.UtilizationPercent > 100) {
			t.Errorf("gpu %d utilization %v out of range", d.Index, d.UtilizationPercent)
		}
		if d.MemoryTotalBytes == 0 || d.MemoryUsedBytes > d.MemoryTotalBytes {
			t.Errorf("gpu %d memory %d/%d", d.Index, d.MemoryUsedBytes, d.MemoryTotalBytes)
		}
		if d.TemperatureCelsius <= 0 || d.TemperatureCelsius > 120 {
			t.Errorf("gpu %d temperature %v", d.Index, d.TemperatureCelsius)
		}
	}
}
