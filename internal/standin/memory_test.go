package standin

import (
	"runtime/debug"
	"testing"
	"time"
)

// settle adjusts b until done(RSS) (or the time is up) and returns the
// last RSS.
func settle(t *testing.T, b *ballast, done func(rss uint64) bool) uint64 {
	t.Helper()
	var rss uint64
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
		if err := b.adjust(); err != nil {
			t.Fatal(err)
		}
		var err error
		if rss, err = selfRSS(); err != nil {
			t.Fatal(err)
		}
		if done(rss) {
			return rss
		}
		time.Sleep(50 * time.Millisecond)
	}
	return rss
}

const mib = 1 << 20

func TestBallastSteersTowardTarget(t *testing.T) {
	// A model process: 30 MiB of its own plus the ballast plus 0.5 MiB of
	// bookkeeping per 64 MiB of ballast.
	var b *ballast
	b = newBallast(func() (uint64, error) {
		held := uint64(b.bytes())
		return 30*mib + held + held/128, nil
	})
	for _, target := range []uint64{120 * mib, 70 * mib, 20 * mib, 30*mib + mib/2, 50 * mib} {
		b.setTarget(target)
		for range 5 {
			if err := b.adjust(); err != nil {
				t.Fatal(err)
			}
		}
		rss, _ := b.rss()
		held := b.bytes()
		t.Logf("target %.1f MiB: RSS %.1f MiB, ballast %d MiB", float64(target)/mib, float64(rss)/mib, held/mib)
		if target < 31*mib {
			// Below the baseline, or less than a chunk above it: no ballast.
			if held != 0 {
				t.Errorf("target %.1f MiB: ballast %d MiB, want none", float64(target)/mib, held/mib)
			}
			continue
		}
		// Within one chunk below (never overshooting on the way up) and
		// two chunks above (the slack that prevents oscillation).
		if rss+mib < target || rss > target+2*mib {
			t.Errorf("target %d MiB: RSS %.1f MiB, want %d-1..%d+2 MiB", target/mib, float64(rss)/mib, target/mib, target/mib)
		}
	}
	b.setTarget(0)
	if err := b.adjust(); err != nil || b.bytes() != 0 {
		t.Errorf("release: ballast %d, %v", b.bytes(), err)
	}
}

func TestBallastMovesRSSUpAndDown(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector's shadow memory grows with every allocation and is never returned, so RSS cannot come back down")
	}
	b := newBallast(selfRSS)
	debug.FreeOSMemory() // earlier tests' garbage is not part of the baseline
	base, err := selfRSS()
	if err != nil {
		t.Fatal(err)
	}
	target := base + 96*mib
	b.setTarget(target)
	up := settle(t, b, func(rss uint64) bool { return rss+8*mib >= target && rss <= target+8*mib })
	t.Logf("baseline %d MiB, target %d MiB: RSS %d MiB, ballast %d MiB", base/mib, target/mib, up/mib, b.bytes()/mib)
	if up+8*mib < target || up > target+8*mib {
		t.Fatalf("RSS %d MiB, want %d±8 MiB", up/mib, target/mib)
	}
	if b.bytes() < 64*mib {
		t.Errorf("ballast %d MiB for a 96 MiB rise", b.bytes()/mib)
	}

	b.setTarget(0) // below the baseline: the ballast empties
	down := settle(t, b, func(rss uint64) bool { return rss <= base+24*mib })
	t.Logf("target 0: RSS %d MiB, ballast %d MiB", down/mib, b.bytes()/mib)
	if b.bytes() != 0 {
		t.Errorf("ballast %d bytes at target 0, want 0", b.bytes())
	}
	if down > base+24*mib {
		t.Errorf("RSS %d MiB after release, want back near the baseline %d MiB", down/mib, base/mib)
	}
}

func TestSelfRSS(t *testing.T) {
	rss, err := selfRSS()
	if err != nil || rss < 1<<20 {
		t.Fatalf("selfRSS = %d, %v", rss, err)
	}
}
