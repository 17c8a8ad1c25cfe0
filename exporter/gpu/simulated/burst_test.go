package simulated

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
)

// fakeClock is Options.Now for tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// A bursty GPU (100 % for half of every 2 s, idle otherwise) and a steady one
// at the same mean: averaged over a collection interval both read ≈ 50 from
// NVML's samples (one every 1/6 s); read instantaneously, the bursty one is 0
// or 100 at every collection — the reading dcgm-exporter-style exporters give
// the HPA — while the steady one stays 50.
func TestBurstyLoadAveragedVersusInstantaneous(t *testing.T) {
	// A fixed start: the bursts' offsets are a function of the instant, so
	// the test replays the same trace every run.
	clock := &fakeClock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	src := &fileSource{data: "gpus: [{index: 0, utilizationPercent: 50, burstPeriodSeconds: 2}, {index: 1, utilizationPercent: 50}]"}
	newSim := func() *Simulator {
		sim, err := New(Options{Model: "dgxa100", NodeName: "node-a", File: "sim.yaml", ReadFile: src.read, Now: clock.now})
		if err != nil {
			t.Fatal(err)
		}
		return sim
	}
	const interval = 5 * time.Second
	const collections = 40
	run := func(sim *Simulator, reader *gpu.Reader) (bursty, steady []gpu.Reading) {
		t.Helper()
		for range collections {
			// 5 s plus a little, so the instants fall at every phase.
			clock.t = clock.t.Add(interval + 70*time.Millisecond)
			if err := sim.Reload(); err != nil {
				t.Fatal(err)
			}
			res, err := reader.Collect()
			if err != nil {
				t.Fatal(err)
			}
			bursty, steady = append(bursty, res.Devices[0]), append(steady, res.Devices[1])
		}
		return bursty, steady
	}

	sim := newSim()
	if err := sim.Reload(); err != nil { // the first sample
		t.Fatal(err)
	}
	bursty, steady := run(sim, gpu.NewReader(sim, interval))
	for i, r := range bursty[1:] { // the first collection also averages the first Reload's sample
		if r.UtilizationSamples != 30 && r.UtilizationSamples != 31 {
			t.Fatalf("collection %d averaged %d samples, want 30 or 31 (5.07 s at 1/6 s)", i+1, r.UtilizationSamples)
		}
		// 30 or 31 samples over 2.5 burst periods: 12 to 19 of them busy.
		if r.UtilizationPercent < 38 || r.UtilizationPercent > 62 {
			t.Errorf("averaged bursty reading %d = %v, want 50 ± 12", i+1, r.UtilizationPercent)
		}
		if steady[i+1].UtilizationPercent != 50 {
			t.Errorf("averaged steady reading %d = %v, want 50", i+1, steady[i+1].UtilizationPercent)
		}
	}

	sim = newSim()
	bursty, steady = run(sim, gpu.NewReader(sim, interval).WithInstantaneousUtilization())
	seen := map[float64]int{}
	var sum float64
	for i, r := range bursty {
		if r.UtilizationSamples != 0 {
			t.Fatalf("instantaneous reading %d used %d samples", i, r.UtilizationSamples)
		}
		seen[r.UtilizationPercent]++
		sum += r.UtilizationPercent
		if steady[i].UtilizationPercent != 50 {
			t.Errorf("instantaneous steady reading %d = %v, want 50", i, steady[i].UtilizationPercent)
		}
	}
	if len(seen) != 2 || seen[0] == 0 || seen[100] == 0 {
		t.Fatalf("instantaneous bursty readings %v, want only 0 and 100, both", seen)
	}
	if mean := sum / collections; math.Abs(mean-50) > 20 {
		t.Errorf("instantaneous readings average %v over %d collections: the trace's mean is 50", mean, collections)
	}
}

// Two devices with the same bursty load are not in step (each has its own
// phase), and the busy fraction follows utilizationPercent.
func TestBurstPhasesAndDutyCycle(t *testing.T) {
	st := State{UtilizationPercent: 25, BurstPeriod: time.Second}
	busy := [2]int{}
	differ := 0
	for ts := uint64(0); ts < 10_000_000; ts += 1000 { // 10 s in 1 ms steps
		a, b := st.utilizationAt(0, ts), st.utilizationAt(1, ts)
		if a == 100 {
			busy[0]++
		}
		if b == 100 {
			busy[1]++
		}
		if a != b {
			differ++
		}
	}
	for i, n := range busy {
		if n != 2500 {
			t.Errorf("device %d busy %d of 10000 ms, want 2500 (25 %%)", i, n)
		}
	}
	if differ == 0 {
		t.Error("devices 0 and 1 burst in step")
	}
	if got := (State{UtilizationPercent: 25}).utilizationAt(3, 12345); got != 25 {
		t.Errorf("steady load at an instant = %d, want 25", got)
	}
}

// Readings at a fixed interval that is a multiple of the burst period (every
// 5 s, bursts of 2.5 s) do not alias: a fixed phase would read the same value
// at every collection; each period's own offset makes the GPU busy at a given
// phase with a probability equal to the duty cycle.
func TestBurstsDoNotAliasWithTheReadingInterval(t *testing.T) {
	st := State{UtilizationPercent: 30, BurstPeriod: 2500 * time.Millisecond}
	start := uint64(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro())
	const readings = 2000
	busy := 0
	for n := range uint64(readings) {
		if st.utilizationAt(0, start+n*5_000_000) == 100 {
			busy++
		}
	}
	// 2000 draws at p = 0.3: 600 ± 20.5 (one standard deviation).
	if busy < 500 || busy > 700 {
		t.Errorf("busy at %d of %d readings 5 s apart, want about 30 %% (600)", busy, readings)
	}
}

// sampleTimes fills the interval on the 1/6 s grid, keeps at most
// samplesKept, and always returns one.
func TestSampleTimes(t *testing.T) {
	period := uint64(SamplePeriod / time.Microsecond)
	if got := sampleTimes(0, 5_000_000); len(got) != 1 || got[0] != 5_000_000 {
		t.Errorf("first = %v", got)
	}
	got := sampleTimes(1_000_000, 2_000_000)
	if len(got) != 6 || got[0] != 1_000_000+period || got[5] != 1_000_000+6*period {
		t.Errorf("one second = %d samples %v, want 6 on the grid", len(got), got)
	}
	if got := sampleTimes(1_000_000, 1_000_000+period/2); len(got) != 1 {
		t.Errorf("less than a period = %v, want one sample", got)
	}
	long := sampleTimes(1_000_000, 1_000_000+3600_000_000)
	if len(long) != samplesKept || long[len(long)-1] > 1_000_000+3600_000_000 || long[len(long)-1] < 1_000_000+3600_000_000-period {
		t.Errorf("an hour = %d samples ending %d, want the last %d", len(long), long[len(long)-1], samplesKept)
	}
	if got := sampleTimes(5, 5); len(got) != 1 || got[0] != 6 {
		t.Errorf("clock did not move = %v, want one just after", got)
	}
}

func TestBurstPeriodValidated(t *testing.T) {
	lim := Limits{Devices: 8, MemoryTotalMB: 40960}
	for _, bad := range []string{"0", "0.2", "-1", "3601"} {
		_, err := Parse([]byte("gpus: [{index: 0, utilizationPercent: 50, burstPeriodSeconds: "+bad+"}]"), lim)
		if err == nil || !strings.Contains(err.Error(), "gpus[0]: burstPeriodSeconds "+bad+" must be between 0.3333") {
			t.Errorf("burstPeriodSeconds %s: error %v", bad, err)
		}
	}
	st, err := Parse([]byte("gpus: [{index: 0, utilizationPercent: 50, burstPeriodSeconds: 4}]"), lim)
	if err != nil || st[0].BurstPeriod != 4*time.Second {
		t.Fatalf("burstPeriodSeconds 4: %v %v", st[0].BurstPeriod, err)
	}
}

// GPU 0 of two nodes does not burst in step: the seed follows the node too.
func TestBurstSeedsDifferAcrossNodes(t *testing.T) {
	var seeds []uint64
	for _, node := range []string{"node-a", "node-b"} {
		sim, err := New(Options{Model: "dgxa100", NodeName: node})
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, sim.burstSeed[0])
	}
	st := State{UtilizationPercent: 50, BurstPeriod: time.Second}
	differ := 0
	for ts := uint64(0); ts < 10_000_000; ts += 10_000 {
		if st.utilizationAt(seeds[0], ts) != st.utilizationAt(seeds[1], ts) {
			differ++
		}
	}
	if seeds[0] == seeds[1] || differ == 0 {
		t.Errorf("GPU 0 of node-a and node-b: seeds %v, %d of 1000 instants differ", seeds, differ)
	}
}
