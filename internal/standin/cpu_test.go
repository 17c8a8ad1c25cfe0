package standin

import (
	"context"
	"syscall"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) this test process has used.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// burnFor runs a burner at target for d and returns the process CPU time it
// used. Not parallel: the measurement is process-wide.
func burnFor(t *testing.T, target float64, d time.Duration) time.Duration {
	t.Helper()
	b := newBurner(1000, 100*time.Millisecond)
	b.setTarget(target)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	before := processCPU(t)
	go func() { defer close(done); b.run(ctx) }()
	time.Sleep(d)
	cancel()
	<-done
	return processCPU(t) - before
}

func TestBurnerDutyCycle(t *testing.T) {
	const window = 1500 * time.Millisecond
	// 300 millicores for 1.5 s is 450 ms of CPU. The band is wide on
	// purpose: a loaded 2-core machine may starve the burner, the race
	// detector slows the clock checks, and the runtime adds its own.
	used := burnFor(t, 300, window)
	t.Logf("target 300m for %s: %s CPU (%.0fm)", window, used, float64(used)/float64(window)*1000)
	if used < 200*time.Millisecond || used > 900*time.Millisecond {
		t.Errorf("burned %s of CPU in %s at 300m, want about 450ms (200ms..900ms)", used, window)
	}
	idle := burnFor(t, 0, window)
	t.Logf("target 0m for %s: %s CPU", window, idle)
	if idle > 150*time.Millisecond {
		t.Errorf("burned %s of CPU at target 0, want almost none", idle)
	}
}

func TestBurnerSharesAcrossWorkers(t *testing.T) {
	b := newBurner(2500, 100*time.Millisecond)
	if b.workers != 3 {
		t.Fatalf("workers %d for 2500m, want 3", b.workers)
	}
	b.setTarget(1700)
	if got := []float64{b.share(0), b.share(1), b.share(2)}; got[0] != 1 || got[1] < 0.69 || got[1] > 0.71 || got[2] != 0 {
		t.Errorf("shares at 1700m = %v, want [1 0.7 0]", got)
	}
	b.setTarget(9000)
	if b.targetMillicores() != 3000 {
		t.Errorf("target %g, want clamped to 3000", b.targetMillicores())
	}
	b.setTarget(-5)
	if b.targetMillicores() != 0 {
		t.Errorf("target %g, want clamped to 0", b.targetMillicores())
	}
}
