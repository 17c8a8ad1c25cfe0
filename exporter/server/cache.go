package server

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
)

// maxRenderings bounds the cache: one entry per distinct pair of Accept and
// Accept-Encoding headers (a Prometheus server always sends the same pair).
const maxRenderings = 8

// renderCache serves /metrics from the response the wrapped promhttp handler
// produced for the current snapshot generation. Everything the collector
// emits is a function of the snapshot, so the cached bytes equal what a fresh
// gather would encode; the ConstMetrics are built and encoded once per
// collection and content type instead of once per scrape. Refresh, which New
// subscribes to the collector's collections (it runs on the collection loop
// right after each one), re-renders the content types scrapers asked for, so
// scrapes do not pay for the encoding.
type renderCache struct {
	next       http.Handler
	generation func() uint64

	mu      sync.Mutex
	gen     uint64
	valid   bool
	entries map[string]*rendering
}

type rendering struct {
	accept, acceptEncoding       string
	contentType, contentEncoding string
	body                         []byte
}

func newRenderCache(next http.Handler, generation func() uint64) *renderCache {
	return &renderCache{next: next, generation: generation, entries: map[string]*rendering{}}
}

func (c *renderCache) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Accept") + "\n" + r.Header.Get("Accept-Encoding")
	c.mu.Lock()
	if gen := c.generation(); !c.valid || gen != c.gen {
		clear(c.entries)
		c.gen, c.valid = gen, true
	}
	e := c.entries[key]
	if e == nil {
		var rec *recorder
		e, rec = c.renderLocked(r)
		if e == nil {
			c.mu.Unlock()
			rec.replay(w)
			return
		}
		if len(c.entries) >= maxRenderings {
			clear(c.entries)
		}
		c.entries[key] = e
	}
	c.mu.Unlock()

	h := w.Header()
	h.Set("Content-Type", e.contentType)
	if e.contentEncoding != "" {
		h.Set("Content-Encoding", e.contentEncoding)
	}
	h.Set("Vary", "Accept-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(e.body)))
	_, _ = w.Write(e.body)
}

// renderLocked runs the wrapped handler; it returns a nil rendering and the
// recorded response when that is not a 200.
func (c *renderCache) renderLocked(r *http.Request) (*rendering, *recorder) {
	rec := &recorder{header: http.Header{}, status: http.StatusOK}
	c.next.ServeHTTP(rec, r)
	if rec.status != http.StatusOK {
		return nil, rec
	}
	return &rendering{
		accept: r.Header.Get("Accept"), acceptEncoding: r.Header.Get("Accept-Encoding"),
		contentType: rec.header.Get("Content-Type"), contentEncoding: rec.header.Get("Content-Encoding"),
		body: rec.body.Bytes(),
	}, nil
}

// Refresh re-renders, for a new generation, the content types requested in
// the previous one.
func (c *renderCache) Refresh() {
	c.mu.Lock()
	defer c.mu.Unlock()
	gen := c.generation()
	if c.valid && gen == c.gen {
		return
	}
	previous := make([]*rendering, 0, len(c.entries))
	for _, e := range c.entries {
		previous = append(previous, e)
	}
	clear(c.entries)
	c.gen, c.valid = gen, true
	for _, old := range previous {
		req, err := http.NewRequest(http.MethodGet, "/metrics", nil)
		if err != nil {
			continue
		}
		req.Header.Set("Accept", old.accept)
		req.Header.Set("Accept-Encoding", old.acceptEncoding)
		if e, _ := c.renderLocked(req); e != nil {
			c.entries[old.accept+"\n"+old.acceptEncoding] = e
		}
	}
}

// recorder captures a response in memory.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header         { return r.header }
func (r *recorder) Write(p []byte) (int, error) { return r.body.Write(p) }
func (r *recorder) WriteHeader(status int)      { r.status = status }

func (r *recorder) replay(w http.ResponseWriter) {
	for k, v := range r.header {
		w.Header()[k] = v
	}
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body.Bytes())
}
