package server

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/exporter-toolkit/web"
	"golang.org/x/net/netutil"
)

// Serve serves HTTP (HTTPS and basic auth when the web config file says so)
// on lis until ctx is done, then shuts down gracefully: in-flight requests
// get at most the shutdown timeout. It returns nil after a shutdown requested
// through ctx, or the error that stopped the server. Serve closes lis.
//
// At most MaxConnections connections are served at once (the others wait in
// the kernel's accept queue), and request headers are capped at
// MaxHeaderBytes, so neither many connections nor huge headers can grow the
// process beyond a few MiB.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	addr := lis.Addr().String()
	lis = netutil.LimitListener(lis, s.maxConnections)
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    MaxHeaderBytes,
		// TLS handshake failures and the like: a client's problem, not
		// the exporter's; visible at debug level.
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	systemd := false
	flags := &web.FlagConfig{
		WebListenAddresses: &[]string{addr},
		WebSystemdSocket:   &systemd,
		WebConfigFile:      &s.webConfigFile,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- web.Serve(lis, srv, flags, s.log) }()

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case err = <-serveErr:
		s.log.Error("HTTP server failed", "err", err)
		err = fmt.Errorf("serve HTTP on %s: %w", addr, err)
	}
	// ctx is done or irrelevant now: the shutdown has its own deadline.
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.shutdownTimeout)
	defer cancel()
	if e := srv.Shutdown(shutdownCtx); e != nil {
		s.log.Warn("HTTP shutdown incomplete", "err", e)
	}
	if err == nil {
		<-serveErr // http.ErrServerClosed, returned as soon as Shutdown begins
	}
	return err
}
