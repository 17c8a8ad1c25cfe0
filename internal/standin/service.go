package standin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Run listens on cfg.ListenAddress and serves until ctx ends (see Serve).
func Run(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.ListenAddress, err)
	}
	return Serve(ctx, cfg, lis)
}

// Serve runs the stand-in service on lis until ctx ends: it applies the load
// file's entry for cfg.Service every ReloadInterval, burns that CPU, holds
// that memory and answers HTTP. When ctx ends it stops being ready, shuts
// the HTTP server down gracefully (within ShutdownTimeout) and returns nil;
// it returns an error if the server fails. Serve closes lis.
func Serve(ctx context.Context, cfg Config, lis net.Listener) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		_ = lis.Close()
		return err
	}
	log := cfg.Logger
	burn := newBurner(cfg.MaxCPUMillicores, cfg.CPUPeriod, processCPUTime)
	mem := newBallast(selfRSS)
	q := newQueue(cfg.ServiceTime, cfg.CapacityRPS, queueWindow, time.Now)
	mt := newMetrics(burn, mem, q)
	src := newLoadSource(cfg.LoadFile, cfg.Service, log, mt.loadErrors.Inc)
	apply := applier(cfg, burn, mem)
	apply(src.read())

	var ready atomic.Bool
	srv := &http.Server{Handler: newMux(cfg.Service, mt, q, &ready), ReadHeaderTimeout: 10 * time.Second}
	workCtx, stopWork := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { burn.run(workCtx) })
	wg.Go(func() { mem.run(workCtx, cfg.BallastInterval, onceLogger(log, "cannot steer memory")) })
	wg.Go(func() { reload(workCtx, cfg.ReloadInterval, src, apply) })
	defer func() { stopWork(); wg.Wait() }()

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	ready.Store(true)
	log.Info("gpu stand-in service serving", "service", cfg.Service, "address", lis.Addr().String(), "load_file", cfg.LoadFile)
	select {
	case err := <-served:
		return fmt.Errorf("serve HTTP on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}
	ready.Store(false)
	shutCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("shut down HTTP server: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve HTTP on %s: %w", lis.Addr(), err)
	}
	log.Info("gpu stand-in service stopped", "service", cfg.Service)
	return nil
}

func reload(ctx context.Context, interval time.Duration, src *loadSource, apply func(Load)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			apply(src.read())
		}
	}
}

// applier returns the function that clamps a load to the configured maxima
// and hands it to the burner and the ballast, logging each change once.
func applier(cfg Config, burn *burner, mem *ballast) func(Load) {
	var last *Load
	return func(l Load) {
		if last != nil && *last == l {
			return
		}
		last = &l
		cpu, memMiB := l.CPUMillicores, l.MemoryMiB
		if cpu > cfg.MaxCPUMillicores {
			cfg.Logger.Warn("CPU target above the maximum: clamped", "cpu_millicores", cpu, "max_cpu_millicores", cfg.MaxCPUMillicores)
			cpu = cfg.MaxCPUMillicores
		}
		if memMiB > cfg.MaxMemoryMiB {
			cfg.Logger.Warn("memory target above the maximum: clamped", "memory_mib", memMiB, "max_memory_mib", cfg.MaxMemoryMiB)
			memMiB = cfg.MaxMemoryMiB
		}
		burn.setTarget(cpu)
		mem.setTarget(uint64(memMiB * (1 << 20)))
		cfg.Logger.Info("load applied", "service", cfg.Service, "cpu_millicores", cpu, "memory_mib", memMiB)
	}
}

// onceLogger logs each distinct error once, under msg.
func onceLogger(log *slog.Logger, msg string) func(error) {
	var last string
	return func(err error) {
		if err.Error() != last {
			last = err.Error()
			log.Error(msg, "err", err)
		}
	}
}
