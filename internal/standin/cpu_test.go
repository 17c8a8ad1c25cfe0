package standin

import (
	"context"
	"math"
	"sync"
	"testing"
	"time"
)

// processCPU is the CPU time (user + system) this test process has used.
func processCPU(t *testing.T) time.Duration {
	t.Helper()
	cpu, ok := processCPUTime()
	if !ok {
		t.Skip("no process CPU clock on this platform: the burner's CPU cannot be measured")
	}
	return cpu
}

// burnFor runs burners at the given targets for d (the first one
// compensating for the process's overhead, the others not: they stand for
// the rest of the process) and returns the process CPU time used in the
// last measure of d. Not parallel: the measurement is process-wide.
func burnFor(t *testing.T, d, measure time.Duration, target float64, noise ...float64) time.Duration {
	t.Helper()
	burners := []*burner{newBurner(1000, 100*time.Millisecond, processCPUTime)}
	burners[0].setTarget(target)
	for _, n := range noise {
		b := newBurner(1000, 100*time.Millisecond, nil)
		b.setTarget(n)
		burners = append(burners, b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, b := range burners {
		wg.Go(func() { b.run(ctx) })
	}
	time.Sleep(d - measure)
	before := processCPU(t)
	time.Sleep(measure)
	used := processCPU(t) - before
	cancel()
	wg.Wait()
	return used
}

func millicores(used, window time.Duration) float64 { return float64(used) / float64(window) * 1000 }

func TestBurnerDutyCycle(t *testing.T) {
	const window = 1500 * time.Millisecond
	// 300 millicores for 1.5 s is 450 ms of CPU. The band is wide on
	// purpose: a loaded 2-core machine may starve the burner, the race
	// detector slows the clock checks, and the runtime adds its own.
	used := burnFor(t, window, window, 300)
	t.Logf("target 300m for %s: %s CPU (%.0fm)", window, used, millicores(used, window))
	if used < 200*time.Millisecond || used > 900*time.Millisecond {
		t.Errorf("burned %s of CPU in %s at 300m, want about 450ms (200ms..900ms)", used, window)
	}
	idle := burnFor(t, window, window, 0)
	t.Logf("target 0m for %s: %s CPU", window, idle)
	if idle > 150*time.Millisecond {
		t.Errorf("burned %s of CPU at target 0, want almost none", idle)
	}
}

// The kubelet measures the container, so CPU the rest of the process uses
// must come out of the burn loop's share: with 150m of other work beside a
// 300m target the process uses about 300m, not 450m.
func TestBurnerCompensatesForTheRestOfTheProcess(t *testing.T) {
	const settle, window = 3 * time.Second, 3 * time.Second
	used := burnFor(t, settle+window, window, 300, 150)
	got := millicores(used, window)
	t.Logf("target 300m beside 150m of other work: the process used %.0fm over the last %s", got, window)
	// Without compensation it is 450m; the band leaves room for a loaded
	// machine and the race detector.
	if got < 220 || got > 390 {
		t.Errorf("process used %.0fm, want about 300m (220..390): the burner must burn the target less the rest of the process", got)
	}
}

func TestBurnerSharesAcrossWorkers(t *testing.T) {
	b := newBurner(2500, 100*time.Millisecond, nil)
	if b.workers != 3 {
		t.Fatalf("workers %d for 2500m, want 3", b.workers)
	}
	b.setTarget(1700)
	if got := []float64{b.share(0), b.share(1), b.share(2)}; got[0] != 1 || got[1] < 0.69 || got[1] > 0.71 || got[2] != 0 {
		t.Errorf("shares at 1700m = %v, want [1 0.7 0]", got)
	}
	b.overhead.Store(math.Float64bits(200))
	if got := b.share(1); got < 0.49 || got > 0.51 {
		t.Errorf("share(1) at 1700m with 200m overhead = %g, want 0.5", got)
	}
	b.overhead.Store(0)
	b.setTarget(9000)
	if b.targetMillicores() != 3000 {
		t.Errorf("target %g, want clamped to 3000", b.targetMillicores())
	}
	b.setTarget(-5)
	if b.targetMillicores() != 0 {
		t.Errorf("target %g, want clamped to 0", b.targetMillicores())
	}
}
