package server

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Serve serves HTTP on lis until ctx is done, then shuts down gracefully:
// in-flight requests get at most the shutdown timeout. It returns nil after a
// shutdown requested through ctx, or the error that stopped the server.
// Serve closes lis.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("shutting down")
	case err = <-serveErr:
		s.log.Error("HTTP server failed", "err", err)
		err = fmt.Errorf("serve HTTP on %s: %w", lis.Addr(), err)
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
