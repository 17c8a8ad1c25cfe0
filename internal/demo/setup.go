package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// missingBinaries lists the binaries the demo needs that are not built yet.
func missingBinaries() []string {
	var missing []string
	for _, b := range append(append([]string(nil), sandbox.ClusterBinaries...), prereq.Adapter, prereq.Helm) {
		if _, err := prereq.FindBinary(b); err != nil {
			missing = append(missing, b)
		}
	}
	return missing
}

// NodesFor is enough fake GPU nodes for every service's peak (one GPU per
// pod, as the stand-in services request) plus two spare GPUs.
func NodesFor(sc Scenario) int {
	gpus := 2
	for _, l := range sc.Services {
		gpus += int(math.Ceil(l.Peak))
	}
	return max(2, (gpus+gpusPerNode-1)/gpusPerNode)
}

// setUp starts the sandbox and installs the chart and the stand-in services.
func (d *demoRun) setUp(ctx context.Context) error {
	d.step(fmt.Sprintf("sandbox up: etcd, kube-apiserver, kube-controller-manager (HPA sync %s), kube-scheduler, kwok (%d fake nodes × %d GPUs), metrics-server, Prometheus",
		hpaSyncPeriod, d.o.Nodes, gpusPerNode))
	t0 := time.Now()
	sb, err := sandbox.New(sandbox.Options{Dir: d.o.Dir, GPUNodes: d.o.Nodes, GPUsPerNode: gpusPerNode,
		HPASyncPeriod: hpaSyncPeriod, HPADownscaleStabilization: downscaleStabilization,
		ScrapeInterval: scrapeInterval, Logf: d.logf})
	if err != nil {
		return err
	}
	upCtx, cancel := context.WithTimeout(ctx, 4*time.Minute)
	defer cancel()
	if err := sb.Up(upCtx); err != nil {
		return fmt.Errorf("sandbox up: %w", err)
	}
	d.sb = sb
	d.timed("sandbox up", t0)

	d.step("install the chart (values/sandbox.yaml) and the stand-in GPU services (charts/gpu-services); start prometheus-adapter and one simulated GPU exporter per node")
	t0 = time.Now()
	// helm's own output (commands, NOTES) goes to a file, not between the live lines.
	if err := os.MkdirAll(d.o.Out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", d.o.Out, err)
	}
	helmLogPath := filepath.Join(d.o.Out, "helm.log")
	helmLog, err := os.Create(helmLogPath)
	if err != nil {
		return fmt.Errorf("create %s: %w", helmLogPath, err)
	}
	d.helmLog = helmLog
	helmLogf := func(format string, args ...any) { fmt.Fprintf(helmLog, format+"\n", args...) }
	plane, err := sb.InstallGPUPlane(ctx, sandbox.NewReporter("demo", helmLogf), sandbox.ChartOptions{})
	if err != nil {
		return fmt.Errorf("install the GPU plane (helm output: %s): %w", helmLogPath, err)
	}
	d.logf("helm output: %s", helmLogPath)
	d.plane = plane
	d.timed("chart and GPU plane", t0)
	d.logf("custom.metrics.k8s.io v1beta1 and v1beta2 Available; adapter on 127.0.0.1:%d", plane.AdapterPort())
	return nil
}

// targets reads each service's HPA and checks the scenario against it.
func (d *demoRun) targets(ctx context.Context) ([]Target, error) {
	cs, err := d.sb.Clientset()
	if err != nil {
		return nil, err
	}
	d.step("the scenario, from the HPAs' own targets (load in pods' worth at the target; replicas = ceil(load) within min-max)")
	var out []Target
	var errs []error
	for _, l := range d.sc.Services {
		hpa, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, l.Service+"-hpa", metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read HPA %s-hpa: %w", l.Service, err)
		}
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, hpa.Spec.ScaleTargetRef.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("read Deployment %s: %w", hpa.Spec.ScaleTargetRef.Name, err)
		}
		t, err := TargetFromHPA(hpa, dep.Spec.Template.Spec, l.Driver)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := CheckTarget(l, t, DefaultTolerance); err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, t)
		d.logf("%-22s %s target %s per pod, replicas %d-%d: load %.2f → %.2f → %.2f pods' worth ⇒ replicas %d → %d → %d",
			l.Service, l.Driver, targetText(t), t.Min, t.Max, l.Base, l.Peak, l.Base,
			t.Expected(l.Base), t.Expected(l.Peak), t.Expected(l.Base))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("the scenario does not fit the deployed HPAs: %w", err)
	}
	var phases []string
	for _, p := range d.sc.Phases {
		s := fmt.Sprintf("%s %s", p.Name, p.Duration.Round(time.Second))
		if p.Settle {
			s = fmt.Sprintf("%s %s+ (until the replicas match, at most %s)", p.Name, p.Duration.Round(time.Second), p.MaxSettle)
		}
		phases = append(phases, s)
	}
	d.logf("phases: %s", strings.Join(phases, ", "))
	return out, nil
}

func targetText(t Target) string {
	switch t.Driver {
	case GPUMemory:
		return fmt.Sprintf("%.0f MB", t.HPATarget)
	case CPU:
		return fmt.Sprintf("%.0f%% (%.0fm)", t.HPATarget, t.PerPod)
	default:
		return fmt.Sprintf("%.0f%%", t.HPATarget)
	}
}
