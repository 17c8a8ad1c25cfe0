package standin

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// burner burns a target amount of CPU in a duty cycle: in every period each
// worker goroutine is busy for its share of the target (at most one core)
// and sleeps the rest. Worker i takes min(1000, target-1000·i) millicores,
// so a target above one core spreads over several workers.
type burner struct {
	period  time.Duration
	workers int
	target  atomic.Uint64 // float64 bits of the target millicores
}

// newBurner makes a burner able to burn up to maxMillicores (one worker per
// started core) in periods of period.
func newBurner(maxMillicores float64, period time.Duration) *burner {
	return &burner{period: period, workers: max(1, int(math.Ceil(maxMillicores/1000)))}
}

// setTarget sets the millicores to burn, clamped to [0, workers·1000].
func (b *burner) setTarget(millicores float64) {
	millicores = math.Min(math.Max(millicores, 0), float64(b.workers)*1000)
	b.target.Store(math.Float64bits(millicores))
}

func (b *burner) targetMillicores() float64 { return math.Float64frombits(b.target.Load()) }

// run burns until ctx ends.
func (b *burner) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range b.workers {
		wg.Go(func() { b.work(ctx, i) })
	}
	wg.Wait()
}

// share is worker i's busy fraction of a period for the current target.
func (b *burner) share(i int) float64 {
	return math.Min(math.Max(b.targetMillicores()-1000*float64(i), 0), 1000) / 1000
}

func (b *burner) work(ctx context.Context, i int) {
	// A locked thread lets the worker count its own CPU time (where the
	// platform can), so a busy machine that preempts it does not make it
	// burn less than its share.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for {
		start := time.Now()
		if busy := time.Duration(b.share(i) * float64(b.period)); busy > 0 {
			spin(busy, start.Add(b.period))
		}
		timer.Reset(time.Until(start.Add(b.period)))
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
	}
}

// spin keeps the CPU busy until the thread has used busy CPU time (or,
// without a thread clock, for busy wall time), but never past deadline.
func spin(busy time.Duration, deadline time.Time) {
	cpu0, haveClock := threadCPUTime()
	wallEnd := time.Now().Add(busy)
	for {
		// Check the clocks every ~50µs of spinning.
		for t := time.Now(); time.Since(t) < 50*time.Microsecond; {
		}
		now := time.Now()
		if !now.Before(deadline) {
			return
		}
		if !haveClock {
			if !now.Before(wallEnd) {
				return
			}
			continue
		}
		if cpu, _ := threadCPUTime(); cpu-cpu0 >= busy {
			return
		}
	}
}
