// Package e2e installs the chart on a cluster (the embedded sandbox by
// default) and proves the loop the product exists for: simulated GPU load →
// exporter → Prometheus → prometheus-adapter → HPA → replicas, and back.
//
// One sandbox serves the whole package (TestMain); the suite is one ordered
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

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// Compressed timings of the e2e sandbox (the chart's sandbox values compress
// the HPA behavior windows the same way).
const (
	hpaSyncPeriod  = 5 * time.Second
	scrapeInterval = 5 * time.Second
	// exporterInterval is exporter.collectionInterval in values/sandbox.yaml.
	exporterInterval = 5 * time.Second
	gpuNodes         = 3
)

// suite is what TestMain prepared; skip or err say why it is not usable.
type suite struct {
	sb        *sandbox.Sandbox
	plane     *sandbox.GPUPlane
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
		ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
		defer cancel()
		cleanup := setup(ctx)
		defer cleanup()
		return m.Run()
	}()
	os.Exit(code)
}

// setup starts the sandbox and installs the GPU plane, filling env.
func setup(ctx context.Context) func() {
	logf := func(format string, args ...any) { log.Printf(format, args...) }
	dir, err := os.MkdirTemp("", "gpu-autoscaling-e2e-")
	if err != nil {
		env.err = err
		return func() {}
	}
	if os.Getenv("GPU_AUTOSCALING_E2E_KEEP") != "" {
		logf("e2e: sandbox state in %s (kept)", dir)
	}
	provider, err := sandbox.ProviderFromEnv(sandbox.Options{
		Dir: filepath.Join(dir, "sandbox"), GPUNodes: gpuNodes,
		HPASyncPeriod: hpaSyncPeriod, HPADownscaleStabilization: 15 * time.Second,
		ScrapeInterval: scrapeInterval, Logf: logf,
	})
	if err != nil {
		env.err = err
		return func() {}
	}
	if provider.Name() != "sandbox" {
		// The GPU plane (adapter and exporters as processes, simulated load)
		// exists only in the sandbox; other providers are for the chart
		// suites that deploy real pods.
		env.skip = fmt.Sprintf("e2e closed loop runs on the sandbox provider only (GPU_AUTOSCALING_E2E_PROVIDER=%s)", provider.Name())
		return func() {}
	}
	if err := provider.Available(ctx); err != nil {
		env.skip, env.missing = err.Error(), true
		return func() {}
	}
	for _, bin := range []string{prereq.Helm, prereq.Adapter} {
		if _, err := prereq.FindBinary(bin); err != nil {
			env.skip, env.missing = err.Error(), true
			return func() {}
		}
	}
	start := time.Now()
	cluster, err := provider.Start(ctx)
	if err != nil {
		env.err = fmt.Errorf("start sandbox: %w", err)
		return func() {}
	}
	env.coldStart = time.Since(start)
	env.sb = cluster.Sandbox()
	cleanup := func() {
		if env.plane != nil {
			env.plane.Close()
		}
		if err := cluster.Close(context.Background()); err != nil {
			logf("e2e: stop sandbox: %v", err)
		}
		if os.Getenv("GPU_AUTOSCALING_E2E_KEEP") == "" {
			_ = os.RemoveAll(dir)
		}
	}
	start = time.Now()
	// The production path: a ServiceMonitor (the CRD is registered so the
	// chart renders it), scraped at the sandbox's interval with the chart's
	// honorLabels and job name.
	plane, err := env.sb.InstallGPUPlane(ctx, sandbox.NewReporter("e2e-setup", logf), sandbox.ChartOptions{
		ServiceMonitorCRD: true,
		SetValues: map[string]string{
			"exporter.serviceMonitor.enabled":       "true",
			"exporter.serviceMonitor.interval":      scrapeInterval.String(),
			"exporter.serviceMonitor.scrapeTimeout": "4s",
		},
	})
	if err != nil {
		if errors.Is(err, prereq.ErrMissing) {
			env.skip, env.missing = err.Error(), true
		} else {
			env.err = fmt.Errorf("install the GPU plane (logs in %s): %w", filepath.Join(env.sb.Dir(), "logs"), err)
		}
		return cleanup
	}
	env.install = time.Since(start)
	env.plane = plane
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
