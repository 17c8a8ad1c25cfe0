package standin

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// queue is the stand-in's latency model, a processor-sharing server: a pod
// answers a request in its service time S when idle and in S / (1 − ρ) under
// load, where ρ = λ / capacity and λ is the rate of requests this pod has
// seen over the last window (the mean response time of an M/M/1-PS queue).
// Response time therefore grows with the load per pod and falls when the HPA
// adds pods. ρ is capped at maxUtilization (10·S at most): a real server
// would shed load there, and the stand-in must stay a predictable load
// itself (the traffic generator has few requests in flight).
type queue struct {
	service  time.Duration
	capacity float64 // requests per second at ρ = 1
	window   time.Duration
	now      func() time.Time

	mu      sync.Mutex
	buckets []int // arrivals per window/len(buckets), ring
	head    int   // bucket of headAt
	headAt  time.Time
	started time.Time
}

const (
	// queueWindow is how far back a pod's arrival rate looks.
	queueWindow    = 5 * time.Second
	queueBuckets   = 10
	maxUtilization = 0.9
)

func newQueue(service time.Duration, capacity float64, window time.Duration, now func() time.Time) *queue {
	t := now()
	return &queue{service: service, capacity: capacity, window: window, now: now, buckets: make([]int, queueBuckets),
		headAt: t.Truncate(window / queueBuckets), started: t}
}

// arrive records a request and returns how long it is to take.
func (q *queue) arrive() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance()
	q.buckets[q.head]++
	return q.latencyLocked()
}

// latency is the mean time in the system at the current arrival rate.
func (q *queue) latency() time.Duration {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance()
	return q.latencyLocked()
}

// utilization is ρ, the arrival rate over the capacity (uncapped).
func (q *queue) utilization() float64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.advance()
	return q.utilizationLocked()
}

func (q *queue) latencyLocked() time.Duration {
	rho := min(q.utilizationLocked(), maxUtilization)
	return time.Duration(float64(q.service) / (1 - rho))
}

func (q *queue) utilizationLocked() float64 {
	n := 0
	for _, c := range q.buckets {
		n += c
	}
	// The ring covers the full buckets behind the head and the head's part so
	// far; a pod younger than that has seen arrivals over its age only.
	step := q.window / queueBuckets
	now := q.now()
	span := max(min(time.Duration(queueBuckets-1)*step+now.Sub(q.headAt), now.Sub(q.started)), step)
	return float64(n) / span.Seconds() / q.capacity
}

// advance moves the ring to now, clearing the buckets it passes.
func (q *queue) advance() {
	step := q.window / queueBuckets
	t := q.now().Truncate(step)
	for n := 0; t.After(q.headAt) && n < queueBuckets; n++ {
		q.headAt = q.headAt.Add(step)
		q.head = (q.head + 1) % queueBuckets
		q.buckets[q.head] = 0
	}
	if t.After(q.headAt) { // idle for more than the window: all cleared
		q.headAt = t
	}
}

// serve delays h by the queue's latency for each request (the time the
// request would wait and be served), ending early if the client goes away.
func (q *queue) serve(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := sleep(r.Context(), q.arrive()); err != nil {
			return
		}
		h.ServeHTTP(w, r)
	})
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
