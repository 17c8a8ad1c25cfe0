package standin

import (
	"context"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// overheadWindow is how often the burner measures the CPU the rest of the
// process uses, and overheadWeight how much each new window counts in the
// running estimate (an exponentially weighted average: a change in the
// overhead is mostly absorbed within three windows).
const (
	overheadWindow = time.Second
	overheadWeight = 0.5
)

// burner burns CPU in a duty cycle so that the whole process uses a target
// amount: in every period each worker goroutine is busy for its share (at
// most one core) and sleeps the rest. The kubelet measures the container,
// not the loop, so the burner measures what the rest of the process uses
// (the Go runtime, HTTP serving, the ballast, the load reloads) and burns
// that much less. Worker i takes min(1000, effective-1000·i) millicores of
// the effective target, so a target above one core spreads over workers.
type burner struct {
	period     time.Duration
	workers    int
	processCPU func() (time.Duration, bool) // CPU time of the whole process; nil or false: no compensation
	target     atomic.Uint64                // float64 bits of the target millicores
	overhead   atomic.Uint64                // float64 bits of the measured overhead, millicores
	spent      atomic.Int64                 // CPU time the workers' threads have used, ns
}

// newBurner makes a burner able to burn up to maxMillicores (one worker per
// started core) in periods of period, compensating for the CPU the rest of
// the process uses as processCPU measures it (nil: no compensation).
func newBurner(maxMillicores float64, period time.Duration, processCPU func() (time.Duration, bool)) *burner {
	return &burner{period: period, workers: max(1, int(math.Ceil(maxMillicores/1000))), processCPU: processCPU}
}

// setTarget sets the millicores to burn, clamped to [0, workers·1000].
func (b *burner) setTarget(millicores float64) {
	millicores = math.Min(math.Max(millicores, 0), float64(b.workers)*1000)
	b.target.Store(math.Float64bits(millicores))
}

func (b *burner) targetMillicores() float64 { return math.Float64frombits(b.target.Load()) }

// overheadMillicores is the CPU the process uses outside the burn loop, as
// last estimated.
func (b *burner) overheadMillicores() float64 { return math.Float64frombits(b.overhead.Load()) }

// run burns until ctx ends.
func (b *burner) run(ctx context.Context) {
	var wg sync.WaitGroup
	for i := range b.workers {
		wg.Go(func() { b.work(ctx, i) })
	}
	if b.processCPU != nil {
		wg.Go(func() { b.measureOverhead(ctx) })
	}
	wg.Wait()
}

// share is worker i's busy fraction of a period: its part of the target
// less the measured overhead.
func (b *burner) share(i int) float64 {
	effective := b.targetMillicores() - b.overheadMillicores()
	return math.Min(math.Max(effective-1000*float64(i), 0), 1000) / 1000
}

// measureOverhead estimates, every overheadWindow, the CPU the process used
// beyond what the workers' threads did.
func (b *burner) measureOverhead(ctx context.Context) {
	proc0, ok := b.processCPU()
	if !ok {
		return
	}
	spent0 := b.spent.Load()
	ticker := time.NewTicker(overheadWindow)
	defer ticker.Stop()
	last := time.Now()
	for first := true; ; first = false {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		proc, ok := b.processCPU()
		if !ok {
			return
		}
		now, spent := time.Now(), b.spent.Load()
		other := float64((proc-proc0)-time.Duration(spent-spent0)) / float64(now.Sub(last)) * 1000
		est := math.Max(other, 0)
		if !first {
			est = overheadWeight*est + (1-overheadWeight)*b.overheadMillicores()
		}
		b.overhead.Store(math.Float64bits(est))
		proc0, spent0, last = proc, spent, now
	}
}

func (b *burner) work(ctx context.Context, i int) {
	// A locked thread lets the worker count its own CPU time (where the
	// platform can), so a busy machine that preempts it does not make it
	// burn less than its share, and the overhead estimate can leave the
	// workers' own time out.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	prev, haveClock := threadCPUTime()
	for {
		start := time.Now()
		if busy := time.Duration(b.share(i) * float64(b.period)); busy > 0 {
			spin(busy, start.Add(b.period))
		}
		if haveClock {
			now, _ := threadCPUTime()
			b.spent.Add(int64(now - prev))
			prev = now
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
