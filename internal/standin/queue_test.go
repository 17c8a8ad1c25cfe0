package standin

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time      { return c.t }
func (c *fakeClock) add(d time.Duration) { c.t = c.t.Add(d) }
func approx(a, b time.Duration) bool     { return a-b < time.Millisecond && b-a < time.Millisecond }
func ms(d time.Duration) float64         { return float64(d) / float64(time.Millisecond) }
func rate(q *queue, c *fakeClock, rps, seconds int) {
	for range seconds * rps { // evenly spread
		q.arrive()
		c.add(time.Second / time.Duration(rps))
	}
}

func TestQueueLatencyGrowsWithTheLoadPerPod(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	q := newQueue(10*time.Millisecond, 20, 5*time.Second, c.now)
	if got := q.latency(); got != 10*time.Millisecond {
		t.Fatalf("idle latency %s, want the service time 10ms", got)
	}
	// 5 req/s on a 20 req/s pod: ρ = 0.25 → 10ms / 0.75.
	rate(q, c, 5, 10)
	if got, want := q.latency(), 13333333*time.Nanosecond; !approx(got, want) {
		t.Fatalf("at 5 req/s latency %.2fms, want %.2fms (ρ %.3f)", ms(got), ms(want), q.utilization())
	}
	low := q.latency()
	// Twice as many pods' worth of requests on this one: ρ = 0.5 → 20ms.
	rate(q, c, 10, 10)
	if got := q.latency(); !approx(got, 20*time.Millisecond) || got <= low {
		t.Fatalf("at 10 req/s latency %.2fms, want 20ms", ms(got))
	}
	// Overloaded: capped at ρ 0.9 → 100ms, not unbounded.
	rate(q, c, 50, 10)
	if got := q.latency(); !approx(got, 100*time.Millisecond) || q.utilization() < 2.4 {
		t.Fatalf("at 50 req/s latency %.2fms (ρ %.2f), want the cap 100ms at ρ 2.5", ms(got), q.utilization())
	}
	// The load gone for a window: back to the service time.
	c.add(6 * time.Second)
	if got := q.latency(); got != 10*time.Millisecond || q.utilization() != 0 {
		t.Fatalf("after the load left latency %s, ρ %g; want 10ms and 0", got, q.utilization())
	}
}

func TestQueueYoungPodCountsItsAgeOnly(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	q := newQueue(10*time.Millisecond, 20, 5*time.Second, c.now)
	rate(q, c, 10, 1) // 10 requests in its first second: 10 req/s, not 2
	if got := q.utilization(); got < 0.49 || got > 0.51 {
		t.Fatalf("ρ %g after 10 requests in the first second, want 0.5", got)
	}
}

func TestQueueDelaysTheHandler(t *testing.T) {
	q := newQueue(30*time.Millisecond, 20, 5*time.Second, time.Now)
	h := q.serve(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }))
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if took := time.Since(start); took < 30*time.Millisecond || rec.Code != http.StatusNoContent {
		t.Fatalf("answered %d after %s, want 204 after at least the 30ms service time", rec.Code, took)
	}
}
