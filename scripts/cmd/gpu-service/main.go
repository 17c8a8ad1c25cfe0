// Command gpu-service is the stand-in GPU service of the sandbox's real
// node: a small HTTP service that burns the CPU and holds the memory its
// pod's share of a simulated load asks for (read from a mounted ConfigMap),
// so the kubelet, cAdvisor and metrics-server measure real usage for the
// HPAs. See README.md beside this file; the logic is in internal/standin.
//
//	gpu-service --service NAME [--listen-address :8080] [--load-file FILE] [--reload-interval 2s]
//	            [--max-cpu-millicores 1000] [--max-memory-mib 1024] [--shutdown-timeout 10s]
//
// Exit codes: 0 stopped by SIGTERM or SIGINT; 1 runtime failure; 2 bad flags.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/daemon"
	"github.com/medical-kg/gpu-autoscaling/internal/standin"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr))
}

// run parses args and serves until ctx ends; it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer) int {
	return daemon.Run(ctx, "gpu-service", args, getenv, stderr, parseFlags,
		func(ctx context.Context, cfg standin.Config, log *slog.Logger) error {
			cfg.Logger = log
			return standin.Run(ctx, cfg)
		})
}

func parseFlags(args []string, getenv func(string) string, stderr io.Writer) (standin.Config, error) {
	fs := flag.NewFlagSet("gpu-service", flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors come back as one line; -h prints the usage below
	var cfg standin.Config
	fs.StringVar(&cfg.Service, "service", getenv("SERVICE_NAME"), "service name: this pod's key in the load file (required; default $SERVICE_NAME)")
	fs.StringVar(&cfg.ListenAddress, "listen-address", ":8080", "HTTP address for /, /healthz, /readyz and /metrics")
	fs.StringVar(&cfg.LoadFile, "load-file", "/etc/gpu-service/load/load.yaml", "load file (a mounted ConfigMap): services: {<service>: {cpuMillicores: N, memoryMiB: N}}, per pod; missing means no load")
	fs.DurationVar(&cfg.ReloadInterval, "reload-interval", 2*time.Second, "how often the load file is re-read")
	fs.Float64Var(&cfg.MaxCPUMillicores, "max-cpu-millicores", 1000, "CPU targets above this are clamped (and logged)")
	fs.Float64Var(&cfg.MaxMemoryMiB, "max-memory-mib", 1024, "memory targets above this are clamped (and logged)")
	fs.DurationVar(&cfg.ServiceTime, "service-time", 10*time.Millisecond, "response time of an idle pod; under load it is service-time / (1 − ρ), ρ = the pod's request rate / --capacity-rps (capped at 0.9)")
	fs.Float64Var(&cfg.CapacityRPS, "capacity-rps", 20, "requests per second at which one pod saturates (the latency model's capacity)")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "graceful HTTP shutdown on SIGTERM")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stderr)
			fmt.Fprintln(stderr, "usage: gpu-service --service NAME [flags]")
			fs.PrintDefaults()
		}
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, fmt.Errorf("unexpected arguments %q: this command takes flags only", fs.Args())
	}
	for _, d := range []struct {
		flag  string
		value time.Duration
	}{{"reload-interval", cfg.ReloadInterval}, {"shutdown-timeout", cfg.ShutdownTimeout}} {
		if d.value <= 0 {
			return cfg, fmt.Errorf("--%s %s: use a positive duration such as 2s", d.flag, d.value)
		}
	}
	return cfg, cfg.Validate()
}
