package gpuplane

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// maxRequestsPerStep bounds the traffic one service gets per step (a
// second): the generator stays a small, predictable load on a 2-core
// machine whatever a scenario asks.
const maxRequestsPerStep = 200

// trafficWorkers is how many requests are in flight at most.
const trafficWorkers = 4

// traffic sends each service's RequestsPerSecond as GET / requests to its
// running pods, round robin, once per step. It keeps the fraction a step
// could not send for the next one, so 0.5 requests per second is one
// request every other second.
type traffic struct {
	client *http.Client
	logf   func(string, ...any)

	mu      sync.Mutex
	owed    map[string]float64   // service → requests not sent yet
	next    map[string]int       // service → the pod the next request goes to
	resting map[string]time.Time // pod URL → until when it gets no traffic (it failed)
	served  map[string]float64   // pod URL → requests answered 2xx, decayed (see decayServed)
	lastErr time.Time
}

// servedHalfLife is how fast a pod's served count forgets: the GPU work
// follows the requests of the last few seconds.
const servedHalfLife = 3 * time.Second

// restAfterFailure is how long a pod that failed a request is left alone:
// pods that run nothing (kwok's) or are going away must not slow the rest.
const restAfterFailure = 30 * time.Second

func newTraffic(logf func(string, ...any)) *traffic {
	return &traffic{
		client: &http.Client{Timeout: time.Second, Transport: &http.Transport{
			DialContext: (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext, MaxIdleConnsPerHost: 2}},
		logf: logf, owed: map[string]float64{}, next: map[string]int{}, resting: map[string]time.Time{},
		served: map[string]float64{},
	}
}

// step sends, for every service, rate·dt requests (plus what is owed) to
// its pods' URLs and waits for the answers. A pod that fails a request rests
// for restAfterFailure; failures are logged at most once a minute (the
// traffic is a load, not a check).
func (t *traffic) step(ctx context.Context, rates map[string]float64, pods map[string][]string, dt time.Duration) {
	type req struct{ svc, url string }
	var reqs []req
	now := time.Now()
	t.mu.Lock()
	for svc, rate := range rates {
		var urls []string
		for _, u := range pods[svc] {
			if now.After(t.resting[u]) {
				urls = append(urls, u)
			}
		}
		if rate <= 0 || len(urls) == 0 {
			delete(t.owed, svc)
			continue
		}
		owed := t.owed[svc] + rate*dt.Seconds()
		n := int(math.Min(math.Floor(owed), maxRequestsPerStep))
		t.owed[svc] = math.Min(owed-float64(n), 1)
		for range n {
			i := t.next[svc] % len(urls)
			t.next[svc] = i + 1
			reqs = append(reqs, req{svc, urls[i]})
		}
	}
	t.mu.Unlock()
	work := make(chan req)
	var wg sync.WaitGroup
	for range min(trafficWorkers, len(reqs)) {
		wg.Go(func() {
			for r := range work {
				err := t.get(ctx, r.url)
				t.mu.Lock()
				if err == nil {
					t.served[r.url]++
				}
				if err != nil && ctx.Err() == nil {
					t.resting[r.url] = time.Now().Add(restAfterFailure)
				}
				if err != nil && ctx.Err() == nil && time.Since(t.lastErr) > time.Minute {
					t.lastErr = time.Now()
					t.logf("gpu plane: traffic to %s: %v (logged once a minute)", r.svc, err)
				}
				t.mu.Unlock()
			}
		})
	}
	for _, r := range reqs {
		work <- r
	}
	close(work)
	wg.Wait()
}

// decayServed ages every pod's served count by dt (half-life
// servedHalfLife), drops the ones that no longer count, and returns a copy:
// pod URL → recent requests answered.
func (t *traffic) decayServed(dt time.Duration) map[string]float64 {
	f := math.Pow(0.5, dt.Seconds()/servedHalfLife.Seconds())
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[string]float64, len(t.served))
	for u, n := range t.served {
		if n *= f; n < 0.01 {
			delete(t.served, u)
			continue
		}
		t.served[u] = n
		out[u] = n
	}
	return out
}

func (t *traffic) get(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := t.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// podURL is the inference endpoint of a pod: its IP and the container port
// named http.
func podURL(ip string, port int32) string {
	return "http://" + net.JoinHostPort(ip, strconv.Itoa(int(port))) + "/"
}
