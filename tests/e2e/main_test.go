// Package e2e installs the chart on a real cluster (the embedded sandbox's
// real node by default; an existing cluster or kind by
// $GPU_AUTOSCALING_E2E_PROVIDER) and proves the loop the product exists for:
// simulated GPU load → the exporter pod (attributing GPUs through the
// kubelet's pod-resources API) → Prometheus → the adapter pod → HPA →
// replicas, and back, with the chart's pods running as containers.
//
// One cluster serves the whole package (TestMain); the suite is one ordered
// test (TestE2E) because later steps (upgrade, uninstall) change what earlier
// ones need. Figures are logged with t.Logf, never asserted.
package e2e

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	psapi "k8s.io/pod-security-admission/api"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/gpuplane"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// Compressed timings of the e2e sandbox (values/sandbox.yaml compresses the
// HPA behavior windows the same way).
const (
	hpaSyncPeriod    = sandbox.CompressedHPASyncPeriod
	scrapeInterval   = sandbox.CompressedScrapeInterval
	exporterInterval = sandbox.SandboxExporterInterval
	// exporterNamespace holds the exporter and the fake device plugin.
	exporterNamespace = "gpu-monitoring"
	// cloudGPULabelValue is the real node's GKE accelerator label value.
	cloudGPULabelValue = "nvidia-tesla-a100"
)

// suite is what TestMain prepared; skip or err say why it is not usable.
type suite struct {
	cluster   provider.Cluster
	plane     *gpuplane.Plane
	skip      string
	missing   bool // skip is a missing prerequisite: a failure under prereq.RequireEnv
	err       error
	coldStart time.Duration
	install   time.Duration
}

var env suite

func TestMain(m *testing.M) {
	flag.Parse()
	if testing.Short() {
		env.skip = "e2e needs a cluster; skipped with -short"
		os.Exit(m.Run())
	}
	code := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		cleanup := setup(ctx)
		defer cleanup()
		return m.Run()
	}()
	os.Exit(code)
}

// setup starts the cluster the provider names and installs the GPU plane,
// filling env. A provider that cannot run here is a missing prerequisite:
// a skip by hand, a failure under `make test`.
func setup(ctx context.Context) func() {
	logf := func(format string, args ...any) { log.Printf(format, args...) }
	dir, err := os.MkdirTemp("", "gpu-autoscaling-e2e-")
	if err != nil {
		env.err = err
		return func() {}
	}
	if os.Getenv("GPU_AUTOSCALING_E2E_KEEP") != "" {
		logf("e2e: state in %s (kept)", dir)
	}
	p, err := provider.FromEnv(provider.SandboxOptions{
		Dir: filepath.Join(dir, "sandbox"), HPASyncPeriod: hpaSyncPeriod, HPADownscaleStabilization: 15 * time.Second,
		ScrapeInterval: scrapeInterval, Logf: logf,
		// The real node carries only GKE's GPU label, not the GPU Operator's: the exporter must find it anyway.
		NodeLabels: map[string]string{contract.GKEAcceleratorLabel: cloudGPULabelValue},
	})
	if err != nil {
		env.err = err
		return func() {}
	}
	if err := p.Available(ctx); err != nil {
		env.skip, env.missing = err.Error(), true
		return func() {}
	}
	start := time.Now()
	c, err := p.Start(ctx)
	if err != nil {
		env.err = fmt.Errorf("start the %s cluster: %w", p.Name(), err)
		return func() {}
	}
	env.coldStart, env.cluster = time.Since(start), c
	cleanup := func() {
		if env.plane != nil {
			env.plane.Close()
		}
		if err := c.Close(context.Background()); err != nil {
			logf("e2e: stop the %s cluster: %v", c.Name(), err)
		}
		if os.Getenv("GPU_AUTOSCALING_E2E_KEEP") == "" {
			_ = os.RemoveAll(dir)
		}
	}
	start = time.Now()
	// The production path: a ServiceMonitor (the provider makes the CRD
	// served), scraped at the suite's interval with the chart's honorLabels
	// and job name.
	// The release namespace enforces Pod Security restricted, as a careful team would where its GPU
	// services run; the exporter and the device plugin (hostPath, root) live in a privileged one.
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err == nil {
		err = createExporterTLSSecret(ctx, cs)
	}
	if err != nil {
		env.err = fmt.Errorf("exporter TLS Secret on the %s cluster: %w", c.Name(), err)
		return cleanup
	}
	plane, err := gpuplane.Install(ctx, gpuplane.NewReporter("e2e-setup", logf), c, gpuplane.Options{
		ServiceMonitor: true, ScrapeInterval: scrapeInterval, Logf: logf, SetValues: exporterTLSValues(),
		NamespaceLabels:   map[string]string{psapi.EnforceLevelLabel: string(psapi.LevelRestricted)},
		ExporterNamespace: exporterNamespace,
	})
	if err != nil {
		if errors.Is(err, prereq.ErrMissing) {
			env.skip, env.missing = err.Error(), true
		} else {
			env.err = fmt.Errorf("install the GPU plane on the %s cluster: %w", c.Name(), err)
		}
		return cleanup
	}
	env.install, env.plane = time.Since(start), plane
	return cleanup
}

// need returns the prepared suite or ends the test with the reason.
func need(t *testing.T) *suite {
	t.Helper()
	if env.missing {
		prereq.SkipOrFail(t, env.skip)
	}
	if env.skip != "" {
		t.Skip(env.skip)
	}
	if env.err != nil {
		t.Fatal(env.err)
	}
	return &env
}
