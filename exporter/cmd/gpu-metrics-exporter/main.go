// Command gpu-metrics-exporter exports per-GPU utilization, memory and
// temperature (attributed to the pods using each GPU) and node CPU and memory
// usage for Prometheus, on every GPU node.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/common/version"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/medical-kg/gpu-autoscaling/exporter/collector"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpushare"
	"github.com/medical-kg/gpu-autoscaling/exporter/hostmetrics"
	"github.com/medical-kg/gpu-autoscaling/exporter/podnames"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
	"github.com/medical-kg/gpu-autoscaling/exporter/server"
)

// The version is github.com/prometheus/common/version.Version, set at build
// time with -ldflags "-X github.com/prometheus/common/version.Version=...".

// shutdownTimeout bounds how long in-flight scrapes may take after SIGTERM,
// and then how long a collection in progress may take to finish.
const shutdownTimeout = 5 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil))
}

// run is the whole program; ready, if not nil, receives the listen address
// once the server is listening. It returns the process exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) int {
	cfg, err := parseConfig(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "gpu-metrics-exporter: invalid configuration:\n%v\nRun with --help for the flags.\n", err)
		return 2
	}
	if cfg.Version {
		// version.Info and BuildContext, not version.Print: Print renders
		// with text/template, which would turn off the linker's dead-method
		// elimination (see binarysize_test.go).
		fmt.Fprintln(stderr, "gpu-metrics-exporter", version.Info(), version.BuildContext())
		return 0
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	// SIGHUP reloads: see watchSIGHUP. Installed before the server listens,
	// so a SIGHUP never finds Go's default action (exit).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	exp, err := newExporter(cfg, getenv, log)
	if err != nil {
		fmt.Fprintf(stderr, "gpu-metrics-exporter: %v\n", err)
		return 1
	}
	lis, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		exp.cleanup()
		fmt.Fprintf(stderr, "gpu-metrics-exporter: --web.listen-address %s: %v\n", cfg.ListenAddress, err)
		return 1
	}

	loopCtx, stopLoop := context.WithCancel(ctx)
	defer stopLoop()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		exp.collector.Run(loopCtx)
	}()
	go watchSIGHUP(loopCtx, hup, cfg.WebConfigFile, log)
	log.Info("serving", "address", lis.Addr().String(), "backend", cfg.Backend, "node", cfg.NodeName,
		"interval", cfg.CollectionInterval, "podResourcesSocket", cfg.PodResourcesSocket,
		"webConfigFile", cfg.WebConfigFile, "maxConnections", cfg.MaxConnections, "version", version.Version)
	if ready != nil {
		ready <- lis.Addr().String()
	}

	code := 0
	if err := exp.server.Serve(ctx, lis); err != nil {
		code = 1 // Serve logged the failure
	}
	stopLoop()
	select {
	case <-loopDone:
		exp.cleanup()
	case <-time.After(shutdownTimeout):
		// A driver call that never returns: NVML cannot be shut down safely
		// while it is in flight, so exit without it.
		log.Warn("collection still running at shutdown; exiting without NVML shutdown")
	}
	return code
}

// watchSIGHUP answers SIGHUP with a reload, which needs no restart: the
// exporter-toolkit re-reads the web config file (certificates, users) for
// every new connection and request, and the simulation file is re-read
// every collection. The signal re-validates the web config file now and logs
// the result, so an operator sees a broken file before connections fail.
func watchSIGHUP(ctx context.Context, hup <-chan os.Signal, webConfigFile string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if webConfigFile == "" {
				log.Info("SIGHUP: nothing to reload (no --web.config.file; the simulation file is re-read every collection)")
				continue
			}
			if err := web.Validate(webConfigFile); err != nil {
				log.Error("SIGHUP: web config file is invalid; new connections will fail until it is fixed",
					"file", webConfigFile, "err", err)
				continue
			}
			log.Info("SIGHUP: web config file is valid; it is re-read for every connection", "file", webConfigFile)
		}
	}
}

// exporter is the wired program: the collector feeds the HTTP server.
type exporter struct {
	collector *collector.Collector
	server    *server.Server
	// cleanup releases the backend and the kubelet client; call it once the
	// collection loop has stopped.
	cleanup func()
}

// newExporter wires the collector, its registry and the HTTP server, which
// subscribes to the collector's collections; the caller runs the collector's
// loop and the server.
func newExporter(cfg config, getenv func(string) string, log *slog.Logger) (*exporter, error) {
	coll, cleanup, err := buildCollector(cfg, getenv, log)
	if err != nil {
		return nil, err
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(coll)
	reg.MustRegister(versioncollector.NewCollector("gpu_exporter"))
	if cfg.RuntimeMetrics {
		reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	srv, err := server.New(server.Config{
		Gatherer:        reg,
		Source:          coll,
		NodeName:        cfg.NodeName,
		Backend:         cfg.Backend,
		Interval:        cfg.CollectionInterval,
		RuntimeMetrics:  cfg.RuntimeMetrics,
		Logger:          log,
		ShutdownTimeout: shutdownTimeout,
		Registerer:      reg,
		WebConfigFile:   cfg.WebConfigFile,
		MaxConnections:  cfg.MaxConnections,
		Version:         version.Version,
	})
	if err != nil {
		cleanup()
		return nil, fmt.Errorf("HTTP server: %w", err)
	}
	return &exporter{collector: coll, server: srv, cleanup: func() { srv.Close(); cleanup() }}, nil
}

// buildCollector wires the backend, the pod-resources client and the host
// reader; cleanup releases them (NVML is shut down only if Init succeeded).
func buildCollector(cfg config, getenv func(string) string, log *slog.Logger) (*collector.Collector, func(), error) {
	var lib nvml.Interface
	var reload func() error
	switch cfg.Backend {
	case "simulated":
		sim, err := simulated.New(simulated.Options{Model: cfg.SimulationModel, Devices: cfg.SimulationGPUs, MIGDevices: cfg.SimulationMIG, NodeName: cfg.NodeName, File: cfg.SimulationFile})
		if err != nil {
			return nil, nil, fmt.Errorf("simulated backend: %w (fix --simulation-file / EXPORTER_SIMULATION_FILE)", err)
		}
		lib, reload = sim, sim.Reload
	default:
		lib = nvml.New()
	}
	reader := gpu.NewReader(lib, cfg.CollectionInterval)
	if cfg.UtilizationReading == "instantaneous" {
		reader.WithInstantaneousUtilization()
	}
	var podOf gpushare.PodOf
	if cfg.ProcessAttribution {
		in, err := podnames.InCluster(cfg.NodeName, getenv)
		if err != nil {
			return nil, nil, err
		}
		names, err := podnames.New(in)
		if err != nil {
			return nil, nil, err
		}
		reader.WithProcesses()
		podOf = gpushare.CgroupPodOf(cfg.ProcPath, names.Lookup)
	}

	var owners collector.OwnerLister
	var prClient *podresources.Client
	if cfg.PodResourcesSocket != "" {
		c, err := podresources.NewClient(cfg.PodResourcesSocket, cfg.PodResourcesTimeout)
		if err != nil {
			return nil, nil, err
		}
		prClient, owners = c, c
	}
	coll, err := collector.New(collector.Config{
		NodeName: cfg.NodeName,
		Backend:  cfg.Backend,
		Interval: cfg.CollectionInterval,
		GPU:      reader,
		Reload:   reload,
		Owners:   owners,
		PodOf:    podOf,
		Host:     hostmetrics.NewReader(cfg.ProcPath),
		Logger:   log,
	})
	if err != nil {
		return nil, nil, err
	}
	cleanup := func() {
		if err := coll.Close(); err != nil {
			log.Warn("GPU backend shutdown", "err", err)
		}
		if prClient != nil {
			_ = prClient.Close()
		}
	}
	return coll, cleanup, nil
}
