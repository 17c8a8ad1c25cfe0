package e2e

import (
	"context"
	"fmt"
	"math"
	"os"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// The anti-flap benchmark's load: embedding-service at 2.5 pods' worth of
// its utilization target (→ 3 replicas), as bursts of 100 % every 2 s.
const (
	flapWorth       = 2.5
	flapBurstPeriod = 2.0 // seconds
	flapWindow      = 2 * time.Minute
	flapWarmUp      = 45 * time.Second
	flapMetric      = "gpu_utilization_percent"
	benchFlapEnv    = "GPU_AUTOSCALING_BENCH_FLAP"
)

// flapRun is what one exporter reading mode did to the HPA over the window.
type flapRun struct {
	mode string
	// changes counts the Deployment's replica changes; asked counts the
	// changes of the count the HPA's current metrics ask for
	// (hpastatus.Recommendation), before the behavior's windows and policies.
	changes, asked int
	// over and under are how long the Deployment had more or fewer replicas
	// than the load needs.
	over, under time.Duration
	// readings are the per-pod values the custom metrics API served.
	readings []float64
	history  string
}

// extreme is how many readings are 0 or 100: a GPU read at an instant.
func (r flapRun) extreme() int {
	n := 0
	for _, v := range r.readings {
		if v <= 0.5 || v >= 99.5 {
			n++
		}
	}
	return n
}

func (r flapRun) mean() float64 {
	if len(r.readings) == 0 {
		return math.NaN()
	}
	sum := 0.0
	for _, v := range r.readings {
		sum += v
	}
	return sum / float64(len(r.readings))
}

func (r flapRun) String() string {
	return fmt.Sprintf("%s: %d replica changes (the metrics asked for a new count %d times), over-provisioned %s and under-provisioned %s of %s; %d per-pod readings, mean %.1f, %d at 0 or 100; history %s",
		r.mode, r.changes, r.asked, r.over.Round(time.Second), r.under.Round(time.Second), flapWindow,
		len(r.readings), r.mean(), r.extreme(), r.history)
}

// TestBurstyLoadFlap is the anti-flap benchmark (`make bench-flap`, about 11
// minutes, not part of `make test`): the same bursty load read two ways by
// the exporter — NVML's sample buffer averaged over the collection interval
// (the default) and one instantaneous reading per collection, as
// dcgm-exporter-style exporters give the HPA — first with the sandbox's
// compressed behavior, then with embedding-service's scale-up stabilization
// window at 0, so only the readings decide. Averaged readings must make the
// HPA change its mind less often, at equal or better provisioning.
func TestBurstyLoadFlap(t *testing.T) {
	if os.Getenv(benchFlapEnv) == "" {
		t.Skipf("the anti-flap benchmark runs with %s=1 (make bench-flap, about 11 minutes)", benchFlapEnv)
	}
	s := need(t)
	cs := adminClient(t)
	ctx := t.Context()
	h0, err := getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	target := podsTarget(t, h0, flapMetric)
	want := loadmodel.DesiredReplicas(flapWorth*target, target, int(*h0.Spec.MinReplicas), int(h0.Spec.MaxReplicas))
	chart := s.plane.Options()
	defer func() {
		s.plane.SetDemand(svcEmbedding, loadmodel.Demand{})
		// Back to the values as installed.
		if err := helm.UpgradeContextE(t, context.Background(), s.plane.HelmOptions(nil), chart.ChartDir, chart.Release); err != nil {
			t.Errorf("helm upgrade back to the installed values: %v", err)
		}
	}()
	// Each pair of windows compares the two reading modes under one
	// scale-up stabilization window: the sandbox's (values/sandbox.yaml),
	// then none, so the readings alone decide.
	for _, window := range []string{"", "0"} {
		var runs []flapRun
		for _, mode := range []string{"averaged", "instantaneous"} {
			opts := s.plane.HelmOptions(nil)
			if window != "" {
				opts.SetValues["services.embedding-service.behavior.scaleUp.stabilizationWindowSeconds"] = window
			}
			if mode == "instantaneous" {
				opts.SetJSONValues = map[string]string{"exporter.extraArgs": `["--utilization-reading=instantaneous"]`}
			}
			if err := helm.UpgradeContextE(t, ctx, opts, chart.ChartDir, chart.Release); err != nil {
				t.Fatalf("helm upgrade (%s readings): %v", mode, err)
			}
			wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			err := s.plane.WaitReady(wctx)
			cancel()
			if err != nil {
				t.Fatalf("%s readings: %v", mode, err)
			}
			h, err := getHPA(ctx, cs, svcEmbedding)
			if err != nil {
				t.Fatal(err)
			}
			s.plane.SetDemand(svcEmbedding, loadmodel.Demand{GPUUtilization: flapWorth * target,
				RequestsPerSecond: flapWorth * loadmodel.RequestsPerPod, GPUBurstPeriodSeconds: flapBurstPeriod})
			if mode == "averaged" {
				// Averaged readings of a 2.5 pods' load settle at its count.
				waitReplicas(t, cs, svcEmbedding, want, 3*time.Minute)
			} else {
				time.Sleep(flapWarmUp)
			}
			r := observeFlap(t, cs, want)
			r.mode = fmt.Sprintf("%s readings, scale-up stabilization window %s", mode, scaleUpWindow(h))
			t.Logf("figure: bursty load (%.1f pods' worth of %s, %.0f s bursts, want %d replicas), %s", flapWorth, flapMetric, flapBurstPeriod, want, r)
			runs = append(runs, r)
		}
		compareFlap(t, runs[0], runs[1])
	}
}

// compareFlap asserts what averaging must do against instantaneous readings
// of the same load under the same behavior.
func compareFlap(t *testing.T, avg, inst flapRun) {
	t.Helper()
	if len(inst.readings) == 0 || len(avg.readings) == 0 {
		t.Fatalf("no per-pod readings served: averaged %d, instantaneous %d", len(avg.readings), len(inst.readings))
	}
	// The modes did what they claim: one reading at an instant of a bursty
	// GPU is 0 or 100; the average of its samples mostly is not.
	if 10*inst.extreme() < 8*len(inst.readings) {
		t.Errorf("%s: %d of %d readings at 0 or 100, want at least 80 %%", inst.mode, inst.extreme(), len(inst.readings))
	}
	if 10*avg.extreme() > 2*len(avg.readings) {
		t.Errorf("%s: %d of %d readings at 0 or 100, want at most 20 %%", avg.mode, avg.extreme(), len(avg.readings))
	}
	if avg.asked >= inst.asked {
		t.Errorf("%s asked for a new count %d times, %s %d: averaging must ask less often", avg.mode, avg.asked, inst.mode, inst.asked)
	}
	if avg.changes > inst.changes {
		t.Errorf("%s changed replicas %d times, %s %d", avg.mode, avg.changes, inst.mode, inst.changes)
	}
	if avg.over+avg.under > inst.over+inst.under {
		t.Errorf("%s mis-provisioned %s, %s %s: averaging must not provision worse", avg.mode,
			(avg.over + avg.under).Round(time.Second), inst.mode, (inst.over + inst.under).Round(time.Second))
	}
}

// observeFlap watches embedding-service for flapWindow: every second its
// replicas and what its HPA's metrics ask for, every collection interval
// the per-pod readings the custom metrics API serves (as the HPA controller
// reads them).
func observeFlap(t *testing.T, cs *kubernetes.Clientset, want int) flapRun {
	t.Helper()
	ctx := t.Context()
	metrics := customMetricsClient(t, asHPAController(), "v1beta2")
	rt := trackReplicas(cs, svcEmbedding)
	defer rt.close()
	var r flapRun
	start := time.Now()
	last := start
	var replicas, recommended int32 = -1, -1
	nextReading := start
	for now := start; now.Sub(start) < flapWindow; now = time.Now() {
		// The time since the last poll counts at the count that held
		// through it: the one seen then.
		switch d := now.Sub(last); {
		case replicas > int32(want):
			r.over += d
		case replicas >= 0 && replicas < int32(want):
			r.under += d
		}
		last = now
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svcEmbedding, metav1.GetOptions{})
		if err == nil && dep.Spec.Replicas != nil {
			n := *dep.Spec.Replicas
			if replicas >= 0 && n != replicas {
				r.changes++
			}
			replicas = n
		}
		if h, err := getHPA(ctx, cs, svcEmbedding); err == nil {
			if rec, ok := hpastatus.Recommendation(h, hpastatus.DefaultTolerance); ok {
				if recommended >= 0 && rec != recommended {
					r.asked++
				}
				recommended = rec
			}
		}
		if !now.Before(nextReading) {
			if vals, err := podMetricValues(t, metrics, svcEmbedding, flapMetric); err == nil {
				for _, v := range vals {
					r.readings = append(r.readings, v)
				}
			}
			nextReading = now.Add(exporterInterval)
		}
		select {
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		case <-time.After(time.Second):
		}
	}
	r.history = rt.String()
	return r
}
