package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
	"github.com/medical-kg/gpu-autoscaling/internal/contract/bounds"
)

// config is the exporter's command line; every flag has an environment
// variable equivalent, and an explicit flag wins over the environment.
type config struct {
	ListenAddress       string
	Backend             string
	SimulationFile      string
	SimulationModel     string
	SimulationGPUs      int
	NodeName            string
	CollectionInterval  time.Duration
	PodResourcesSocket  string
	PodResourcesTimeout time.Duration
	ProcPath            string
	LogLevel            slog.Level
	RuntimeMetrics      bool
}

// envFor maps flag names to their environment variables.
var envFor = map[string]string{
	"listen-address":        "EXPORTER_LISTEN_ADDRESS",
	"backend":               "EXPORTER_BACKEND",
	"simulation-file":       "EXPORTER_SIMULATION_FILE",
	"simulation-model":      "EXPORTER_SIMULATION_MODEL",
	"simulation-gpus":       "EXPORTER_SIMULATION_GPUS",
	"node-name":             "NODE_NAME",
	"collection-interval":   "EXPORTER_COLLECTION_INTERVAL",
	"pod-resources-socket":  "EXPORTER_POD_RESOURCES_SOCKET",
	"pod-resources-timeout": "EXPORTER_POD_RESOURCES_TIMEOUT",
	"proc-path":             "EXPORTER_PROC_PATH",
	"log-level":             "EXPORTER_LOG_LEVEL",
	"runtime-metrics":       "EXPORTER_RUNTIME_METRICS",
}

// parseConfig parses args (without the program name) with env as the
// environment lookup. Errors say which flag or variable to fix.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gpu-metrics-exporter", flag.ContinueOnError)
	fs.SetOutput(output)
	fs.StringVar(&c.ListenAddress, "listen-address", ":9400", "address to serve /metrics, /healthz, /readyz and / on")
	fs.StringVar(&c.Backend, "backend", "nvml", "GPU backend: nvml (the node's libnvidia-ml) or simulated (go-nvml mock server fed by --simulation-file)")
	fs.StringVar(&c.SimulationFile, "simulation-file", "", "YAML file with per-GPU utilization, memory and temperature, re-read every collection (simulated backend; empty: all GPUs idle)")
	fs.StringVar(&c.SimulationModel, "simulation-model", "dgxa100", "simulated server model: "+strings.Join(simulated.Models(), ", "))
	fs.IntVar(&c.SimulationGPUs, "simulation-gpus", 0, fmt.Sprintf("number of simulated GPUs, 1..%d (0: the model's own, 8)", simuuid.MaxDevices))
	fs.StringVar(&c.NodeName, "node-name", "", "node name for the node label (default: the hostname)")
	fs.DurationVar(&c.CollectionInterval, "collection-interval", 30*time.Second, "how often GPUs, pod resources and the host are read; utilization is averaged over it")
	fs.StringVar(&c.PodResourcesSocket, "pod-resources-socket", podresources.DefaultSocket, "kubelet pod-resources socket for GPU-to-pod attribution (empty: disabled)")
	fs.DurationVar(&c.PodResourcesTimeout, "pod-resources-timeout", 2*time.Second, "timeout of one pod-resources List call")
	fs.StringVar(&c.ProcPath, "proc-path", "/proc", "procfs of the host, for cpu_usage_percent and memory_usage_mb")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&c.RuntimeMetrics, "runtime-metrics", false, "also export go_* and process_* metrics of the exporter itself")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: gpu-metrics-exporter [flags]\n\nEvery flag can also be set through the environment variable in brackets.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			fmt.Fprintf(fs.Output(), "  --%s [%s] (default %q)\n    \t%s\n", f.Name, envFor[f.Name], f.DefValue, f.Usage)
		})
	}

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := envFor[f.Name]
		if v := getenv(env); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q (for --%s): %w", env, v, f.Name, err))
			}
		}
	})
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		errs = append(errs, fmt.Errorf("unexpected arguments %q: all options are --flags", fs.Args()))
	}
	if err := c.LogLevel.UnmarshalText([]byte(*logLevel)); err != nil {
		errs = append(errs, fmt.Errorf("--log-level %q: use debug, info, warn or error", *logLevel))
	}
	errs = append(errs, c.validate()...)
	return c, errors.Join(errs...)
}

// validate checks the parsed values and fills the node name from the
// hostname when it is not set; every problem is returned.
func (c *config) validate() []error {
	var errs []error
	switch c.Backend {
	case "nvml", "simulated":
	default:
		errs = append(errs, fmt.Errorf("--backend %q: use nvml or simulated", c.Backend))
	}
	if c.Backend == "simulated" {
		valid := false
		for _, m := range simulated.Models() {
			valid = valid || m == c.SimulationModel
		}
		if !valid {
			errs = append(errs, fmt.Errorf("--simulation-model %q: use one of %s", c.SimulationModel, strings.Join(simulated.Models(), ", ")))
		}
		if c.SimulationGPUs < 0 || c.SimulationGPUs > simuuid.MaxDevices {
			errs = append(errs, fmt.Errorf("--simulation-gpus %d: use 1..%d, or 0 for the model's own count", c.SimulationGPUs, simuuid.MaxDevices))
		}
	} else if c.SimulationFile != "" {
		errs = append(errs, fmt.Errorf("--simulation-file is only used with --backend=simulated"))
	}
	if c.CollectionInterval < bounds.MinCollectionInterval || c.CollectionInterval > bounds.MaxCollectionInterval {
		errs = append(errs, fmt.Errorf("--collection-interval %s: use at least %s and at most %s (15s-60s is typical)", c.CollectionInterval, bounds.MinCollectionInterval, bounds.MaxCollectionInterval))
	}
	// The timeout bounds only a pod-resources call: with attribution off
	// (empty socket) it is unused, so any value, the default included, is fine.
	if c.PodResourcesSocket != "" && (c.PodResourcesTimeout <= 0 || (c.CollectionInterval > 0 && c.PodResourcesTimeout >= c.CollectionInterval)) {
		errs = append(errs, fmt.Errorf("--pod-resources-timeout %s: must be positive and shorter than --collection-interval %s (or disable attribution with --pod-resources-socket=)", c.PodResourcesTimeout, c.CollectionInterval))
	}
	if c.ListenAddress == "" {
		errs = append(errs, errors.New("--listen-address must not be empty (for example :9400)"))
	}
	if st, err := os.Stat(c.ProcPath); err != nil || !st.IsDir() {
		errs = append(errs, fmt.Errorf("--proc-path %q is not a readable directory: mount the host's /proc there", c.ProcPath))
	}
	if c.NodeName == "" {
		host, err := os.Hostname()
		if err != nil {
			errs = append(errs, fmt.Errorf("--node-name is empty and the hostname is unknown (%v): set NODE_NAME from spec.nodeName", err))
		}
		c.NodeName = host
	}
	return errs
}
