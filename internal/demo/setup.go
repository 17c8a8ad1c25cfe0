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

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/gpuplane"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// GPUsFor is how many GPUs the scenario's peak needs (one per pod, as the
// stand-in services request) plus two spare.
func GPUsFor(sc Scenario) int {
	gpus := 2
	for _, l := range sc.Services {
		gpus += int(math.Ceil(l.Peak))
	}
	return gpus
}

// checkGPUs refuses a scenario whose peak needs more GPUs than the cluster's
// GPU nodes advertise (their device plugin's nvidia.com/gpu).
func (d *demoRun) checkGPUs(ctx context.Context) error {
	cs, err := d.sb.Clientset()
	if err != nil {
		return err
	}
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list nodes: %w", err)
	}
	have := int64(0)
	for _, n := range nodes.Items {
		q := n.Status.Allocatable[contract.GPUResource]
		have += q.Value()
	}
	if need := GPUsFor(d.sc); int64(need) > have {
		return fmt.Errorf("the scenario's peak needs %d GPUs, the GPU nodes advertise %d (raise the device plugin's devicePlugin.devices and the exporter's simulation.gpuCount in the sandbox values)", need, have)
	}
	return nil
}

// setUp starts the sandbox and installs the chart and the stand-in services.
func (d *demoRun) setUp(ctx context.Context) error {
	d.step(fmt.Sprintf("sandbox up (%s profile): etcd, kube-apiserver, kube-controller-manager (HPA sync %s), kube-scheduler, metrics-server, Prometheus, and a real node (kubelet, containerd, kube-proxy) running the project's images",
		d.profile.Name, d.profile.HPASyncPeriod))
	t0 := time.Now()
	sb, err := sandbox.New(sandbox.Options{Dir: d.o.Dir, HPASyncPeriod: d.profile.HPASyncPeriod,
		HPADownscaleStabilization: downscaleStabilization, ScrapeInterval: scrapeInterval, Logf: d.logf})
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

	d.step("install the chart (values/sandbox.yaml) and the stand-in GPU services with the fake GPU device plugin (charts/gpu-services); wait until their pods are Ready")
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
	overlay, err := d.profile.valuesOverlay(d.o.Out)
	if err != nil {
		return err
	}
	var files []string
	if overlay != "" {
		files = append(files, overlay)
		d.logf("values/sandbox.yaml with %s over it", overlay)
	}
	plane, err := gpuplane.Install(ctx, gpuplane.NewReporter("demo", helmLogf), provider.SandboxCluster{SB: sb},
		gpuplane.Options{Logf: d.logf, ValuesFiles: files})
	if err != nil {
		return fmt.Errorf("install the GPU plane (helm output: %s): %w", helmLogPath, err)
	}
	d.logf("helm output: %s", helmLogPath)
	d.plane = plane
	d.timed("chart and GPU plane", t0)
	d.logf("every chart pod Ready on %s; custom.metrics.k8s.io v1beta1 and v1beta2 Available", sandbox.NodeName)
	return d.checkGPUs(ctx)
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
		t.HPASyncPeriod = d.profile.HPASyncPeriod
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
