// Package server is the exporter's HTTP side: /metrics (with a render cache
// that follows the collector's collections), /healthz, /readyz and the
// landing page, and the HTTP server's lifecycle (serve, graceful shutdown).
//
// Data flows one way: the collector publishes snapshots and notifies its
// subscribers; the server subscribes and only reads from it.
package server

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultShutdownTimeout bounds how long in-flight requests may take once
// Serve's context is done, when Config.ShutdownTimeout is zero.
const DefaultShutdownTimeout = 5 * time.Second

// MaxHeaderBytes caps the request headers the server reads (Go's default is
// 1 MiB per connection); a scrape sends well under 1 KiB. Larger headers are
// answered 431 and the connection is closed.
const MaxHeaderBytes = 16 << 10

// DefaultMaxConnections bounds the connections served at once when
// Config.MaxConnections is zero; further connections wait in the kernel's
// accept queue until a slot frees.
const DefaultMaxConnections = 64

// Source is what the server needs from the collector (collector.Collector).
type Source interface {
	// Healthy reports whether the collection loop is making progress.
	Healthy(now time.Time) (bool, string)
	// Ready reports whether a collection completed and the GPU backend is up.
	Ready() (bool, string)
	// Generation identifies the published snapshot; every series the
	// Gatherer returns from the Source is a function of it.
	Generation() uint64
	// Subscribe runs fn after every collection and returns the function
	// that cancels the subscription.
	Subscribe(fn func()) (cancel func())
}

// Config wires a Server.
type Config struct {
	// Gatherer is what /metrics serves: a registry holding the Source's
	// collector (and, with RuntimeMetrics, the go_* and process_* ones).
	Gatherer prometheus.Gatherer
	Source   Source
	// NodeName, Backend and Interval (the collection interval) are shown on
	// the landing page.
	NodeName string
	Backend  string
	Interval time.Duration
	// RuntimeMetrics says the Gatherer also holds collectors whose values
	// change between scrapes (go_*, process_*), so /metrics is rendered for
	// every scrape instead of once per collection.
	RuntimeMetrics bool
	// Logger receives the lifecycle messages of Serve; nil discards them.
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful shutdown of Serve; zero means
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Registerer, if not nil, receives promhttp's own
	// promhttp_metric_handler_errors_total{cause}: gather and encoding
	// errors of /metrics (logged as well).
	Registerer prometheus.Registerer
	// WebConfigFile is an exporter-toolkit web configuration (TLS, basic
	// auth); empty serves plain HTTP without authentication. The toolkit
	// re-reads it for every connection and request.
	WebConfigFile string
	// MaxConnections bounds the connections Serve handles at once; zero
	// means DefaultMaxConnections.
	MaxConnections int
	// Version is shown on the landing page.
	Version string
}

// Server is the exporter's http.Handler; Serve runs it on a listener.
type Server struct {
	handler         http.Handler
	log             *slog.Logger
	shutdownTimeout time.Duration
	webConfigFile   string
	maxConnections  int
	unsubscribe     func()
}

// New builds the endpoints. Unless RuntimeMetrics is set it subscribes the
// render cache to the Source's collections; Close cancels that.
func New(cfg Config) (*Server, error) {
	if cfg.Gatherer == nil || cfg.Source == nil {
		return nil, errors.New("server needs a Gatherer (the metrics registry) and a Source (the collector)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	if cfg.MaxConnections <= 0 {
		cfg.MaxConnections = DefaultMaxConnections
	}
	s := &Server{log: cfg.Logger, shutdownTimeout: cfg.ShutdownTimeout, webConfigFile: cfg.WebConfigFile,
		maxConnections: cfg.MaxConnections, unsubscribe: func() {}}
	// Gather and encoding errors are logged and counted; with
	// ContinueOnError the series that could be gathered are still served
	// (the rest vanish, hence the counter). With the render cache below they
	// happen once per collection, when the body is rendered.
	opts := promhttp.HandlerOpts{
		ErrorLog:            promLogger{cfg.Logger},
		ErrorHandling:       promhttp.ContinueOnError,
		MaxRequestsInFlight: 64,
	}
	if cfg.Registerer != nil {
		opts.Registry = cfg.Registerer
	}
	var metrics http.Handler = promhttp.HandlerFor(cfg.Gatherer, opts)
	if !cfg.RuntimeMetrics {
		// Without the go_*/process_* collectors every series comes from the
		// collector's snapshot, so the encoding can be reused until the
		// next collection; it is re-rendered right after each one.
		cache := newRenderCache(metrics, cfg.Source.Generation)
		s.unsubscribe = cfg.Source.Subscribe(cache.Refresh)
		metrics = cache
	}
	s.handler = newMux(metrics, cfg)
	return s, nil
}

// promLogger passes promhttp's error messages to slog.
type promLogger struct{ log *slog.Logger }

func (l promLogger) Println(v ...any) {
	l.log.Error("serving /metrics", "err", fmt.Sprint(v...))
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.handler.ServeHTTP(w, r)
}

// Close stops the render cache from following collections (it then renders
// on demand). It does not stop Serve: cancel Serve's context for that.
func (s *Server) Close() {
	s.unsubscribe()
}
