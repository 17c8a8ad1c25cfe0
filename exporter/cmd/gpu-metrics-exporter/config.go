package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/exporter-toolkit/web"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simulated"
	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
	"github.com/medical-kg/gpu-autoscaling/exporter/podresources"
	"github.com/medical-kg/gpu-autoscaling/exporter/server"
	"github.com/medical-kg/gpu-autoscaling/internal/contract/bounds"
)

// config is the exporter's command line; every flag has an environment
// variable equivalent, and an explicit flag wins over the environment.
type config struct {
	ListenAddress       string
	WebConfigFile       string
	MaxConnections      int
	Version             bool
	Backend             string
	SimulationFile      string
	SimulationModel     string
	SimulationGPUs      int
	SimulationMIG       int
	NodeName            string
	CollectionInterval  time.Duration
	PodResourcesSocket  string
	PodResourcesTimeout time.Duration
	ProcPath            string
	LogLevel            slog.Level
	RuntimeMetrics      bool
	ProcessAttribution  bool
	UtilizationReading  string
}

// envFor maps flag names to their environment variables.
// --listen-address is the older name of --web.listen-address; both names
// and both variables set the same value.
var envFor = map[string]string{
	"web.listen-address":     "EXPORTER_WEB_LISTEN_ADDRESS",
	"listen-address":         "EXPORTER_LISTEN_ADDRESS",
	"web.config.file":        "EXPORTER_WEB_CONFIG_FILE",
	"web.max-connections":    "EXPORTER_WEB_MAX_CONNECTIONS",
	"backend":                "EXPORTER_BACKEND",
	"simulation-file":        "EXPORTER_SIMULATION_FILE",
	"simulation-model":       "EXPORTER_SIMULATION_MODEL",
	"simulation-gpus":        "EXPORTER_SIMULATION_GPUS",
	"simulation-mig-devices": "EXPORTER_SIMULATION_MIG_DEVICES",
	"node-name":              "NODE_NAME",
	"collection-interval":    "EXPORTER_COLLECTION_INTERVAL",
	"pod-resources-socket":   "EXPORTER_POD_RESOURCES_SOCKET",
	"pod-resources-timeout":  "EXPORTER_POD_RESOURCES_TIMEOUT",
	"proc-path":              "EXPORTER_PROC_PATH",
	"log-level":              "EXPORTER_LOG_LEVEL",
	"runtime-metrics":        "EXPORTER_RUNTIME_METRICS",
	"process-attribution":    "EXPORTER_PROCESS_ATTRIBUTION",
	"utilization-reading":    "EXPORTER_UTILIZATION_READING",
}

// parseConfig parses args (without the program name) with env as the
// environment lookup. Errors say which flag or variable to fix.
func parseConfig(args []string, getenv func(string) string, output io.Writer) (config, error) {
	var c config
	fs := flag.NewFlagSet("gpu-metrics-exporter", flag.ContinueOnError)
	// The flag package's own messages name flags with one dash; parse
	// errors are reworded below and usage is printed by fs.Usage.
	fs.SetOutput(io.Discard)
	const listenUsage = "address to serve /metrics, /healthz, /readyz and / on"
	c.ListenAddress = ":9400"
	fs.Var(stringValue{&c.ListenAddress}, "web.listen-address", listenUsage)
	fs.Var(stringValue{&c.ListenAddress}, "listen-address", "alias of --web.listen-address")
	fs.StringVar(&c.WebConfigFile, "web.config.file", "", "exporter-toolkit web configuration file (TLS, basic auth), re-read for every connection and request (empty: plain HTTP, no authentication)")
	c.MaxConnections = server.DefaultMaxConnections
	fs.Var(intValue{&c.MaxConnections}, "web.max-connections", "connections served at once; more wait in the kernel's accept queue")
	fs.Var(boolValue{&c.Version}, "version", "print the version and exit")
	fs.StringVar(&c.Backend, "backend", "nvml", "GPU backend: nvml (the node's libnvidia-ml) or simulated (go-nvml mock server fed by --simulation-file)")
	fs.StringVar(&c.SimulationFile, "simulation-file", "", "YAML file with per-GPU utilization, memory and temperature, re-read every collection (simulated backend; empty: all GPUs idle)")
	fs.StringVar(&c.SimulationModel, "simulation-model", "dgxa100", "simulated server model: "+strings.Join(simulated.Models(), ", "))
	fs.Var(intValue{&c.SimulationGPUs}, "simulation-gpus", fmt.Sprintf("number of simulated GPUs, 1..%d (0: the model's own, 8)", simuuid.MaxDevices))
	fs.Var(intValue{&c.SimulationMIG}, "simulation-mig-devices", fmt.Sprintf("MIG devices per simulated GPU, 1..%d (1g instances; 0: MIG off); MIG-enabled GPUs report no utilization, as in NVML", simuuid.MaxMIGDevices))
	fs.StringVar(&c.NodeName, "node-name", "", "node name for the node label (default: the hostname)")
	c.CollectionInterval = 30 * time.Second
	fs.Var(durationValue{&c.CollectionInterval}, "collection-interval", "how often GPUs, pod resources and the host are read; utilization is averaged over it")
	fs.StringVar(&c.PodResourcesSocket, "pod-resources-socket", podresources.DefaultSocket, "kubelet pod-resources socket for GPU-to-pod attribution (empty: disabled)")
	c.PodResourcesTimeout = 2 * time.Second
	fs.Var(durationValue{&c.PodResourcesTimeout}, "pod-resources-timeout", "timeout of one pod-resources List call")
	fs.StringVar(&c.ProcPath, "proc-path", "/proc", "procfs of the host, for cpu_usage_percent and memory_usage_mb")
	logLevel := fs.String("log-level", "info", "log level: debug, info, warn or error")
	fs.Var(boolValue{&c.RuntimeMetrics}, "runtime-metrics", "also export go_* and process_* metrics of the exporter itself")
	fs.StringVar(&c.UtilizationReading, "utilization-reading", "average", "how gpu_utilization_percent is read: average (of NVML's samples since the last collection) or instantaneous (one reading at collection time, as dcgm-exporter and nvidia-smi read; for comparison only: it makes HPAs flap on bursty load)")
	fs.Var(boolValue{&c.ProcessAttribution}, "process-attribution", "on GPUs several pods hold (time-slicing, MPS), report each pod its own processes' utilization and memory: NVML per-process data, <proc-path>/<pid>/cgroup, and the node's pods from the API server (needs list on pods)")
	fs.Usage = func() {
		fmt.Fprintf(output, "Usage: gpu-metrics-exporter [flags]\n\nEvery flag can also be set through the environment variable in brackets.\n\n")
		fs.VisitAll(func(f *flag.Flag) {
			env := ""
			if e := envFor[f.Name]; e != "" {
				env = " [" + e + "]"
			}
			fmt.Fprintf(output, "  --%s%s (default %q)\n    \t%s\n", f.Name, env, f.DefValue, f.Usage)
		})
	}

	var errs []error
	fs.VisitAll(func(f *flag.Flag) {
		env := envFor[f.Name]
		if v := getenv(env); env != "" && v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("environment variable %s=%q (for --%s): %w", env, v, f.Name, err))
			}
		}
		// On the command line a bad value is reported as --name: why, with
		// the other problems, instead of the flag package's "-name".
		f.Value = checkedValue{Value: f.Value, name: f.Name, errs: &errs}
	})
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err // the flag package has already called fs.Usage
		}
		return c, fmt.Errorf("%s (run with --help for the flags)", strings.Replace(err.Error(), ": -", ": --", 1))
	}
	if c.Version {
		return c, nil
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
	if c.UtilizationReading != "average" && c.UtilizationReading != "instantaneous" {
		errs = append(errs, fmt.Errorf("--utilization-reading %q: use average or instantaneous", c.UtilizationReading))
	}
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
		if c.SimulationMIG < 0 || c.SimulationMIG > simuuid.MaxMIGDevices {
			errs = append(errs, fmt.Errorf("--simulation-mig-devices %d: use 1..%d MIG devices per GPU, or 0 for MIG off", c.SimulationMIG, simuuid.MaxMIGDevices))
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
	if c.ProcessAttribution {
		if c.Backend != "nvml" {
			errs = append(errs, errors.New("--process-attribution needs --backend=nvml: the simulated backend reports no GPU processes"))
		}
		if c.PodResourcesSocket == "" {
			errs = append(errs, errors.New("--process-attribution needs --pod-resources-socket: it splits a GPU among the pods the kubelet allocated it to"))
		}
	}
	if c.ListenAddress == "" {
		errs = append(errs, errors.New("--web.listen-address must not be empty (for example :9400)"))
	}
	if c.MaxConnections < 1 {
		errs = append(errs, fmt.Errorf("--web.max-connections %d: use at least 1 (default %d)", c.MaxConnections, server.DefaultMaxConnections))
	}
	if c.WebConfigFile != "" {
		if err := web.Validate(c.WebConfigFile); err != nil {
			errs = append(errs, fmt.Errorf("--web.config.file %s: %w (see exporter-toolkit's web configuration format)", c.WebConfigFile, err))
		}
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

// checkedValue records a bad command-line value as "--name: why" and lets
// parsing go on, so that every problem is reported at once.
type checkedValue struct {
	flag.Value
	name string
	errs *[]error
}

func (v checkedValue) Set(s string) error {
	if err := v.Value.Set(s); err != nil {
		*v.errs = append(*v.errs, fmt.Errorf("--%s: %w", v.name, err))
	}
	return nil
}

func (v checkedValue) IsBoolFlag() bool {
	b, ok := v.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// The flag values below say what to write instead of "parse error".

type stringValue struct{ p *string }

func (v stringValue) Set(s string) error { *v.p = s; return nil }
func (v stringValue) String() string {
	if v.p == nil {
		return ""
	}
	return *v.p
}

type durationValue struct{ p *time.Duration }

func (v durationValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("%q is not a duration: write a number with a unit, like 30s", s)
	}
	*v.p = d
	return nil
}

func (v durationValue) String() string {
	if v.p == nil {
		return ""
	}
	return v.p.String()
}

type intValue struct{ p *int }

func (v intValue) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil {
		return fmt.Errorf("%q is not a whole number", s)
	}
	*v.p = n
	return nil
}

func (v intValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.Itoa(*v.p)
}

type boolValue struct{ p *bool }

func (v boolValue) Set(s string) error {
	b, err := strconv.ParseBool(s)
	if err != nil {
		return fmt.Errorf("%q is not true or false", s)
	}
	*v.p = b
	return nil
}

func (v boolValue) String() string {
	if v.p == nil {
		return ""
	}
	return strconv.FormatBool(*v.p)
}

func (v boolValue) IsBoolFlag() bool { return true }
