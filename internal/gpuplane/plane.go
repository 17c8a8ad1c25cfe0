// Package gpuplane installs the product on a cluster (the umbrella chart and
// the stand-in GPU services) and drives its simulated load: it is what the
// e2e suite, the demo and `sandbox up --chart` share, on any provider. The
// chart's own pods do the work (the exporter DaemonSet reads the kubelet's
// pod-resources API, the adapter serves custom.metrics.k8s.io); the plane
// only writes the load into the ConfigMaps the charts mount: per-GPU state
// into the exporter's simulation file, per-pod CPU and memory into the
// stand-in services' load file.
package gpuplane

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	terratesting "github.com/gruntwork-io/terratest/modules/testing"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
)

// Plane is the product installed on a cluster, with its load loop.
type Plane struct {
	cluster   provider.Cluster
	t         terratesting.TestingT
	opts      Options
	main      chart
	workloads *chart
	helm      *helm.Options
	cs        kubernetes.Interface

	mu      sync.Mutex
	demand  map[string]loadmodel.Demand
	targets map[string][]string // service → its running pods' inference URLs (Step updates it)
	traffic *traffic
	// lastStep is when Step last aged the traffic's served counts (the loop's goroutine only).
	lastStep time.Time
	cancel   context.CancelFunc
	done     chan struct{}
}

// Install installs both charts with Terratest's helm module, waits until
// their pods are Ready and the custom metrics APIServices Available, and
// starts the load loop (all services idle until SetDemand).
func Install(ctx context.Context, t terratesting.TestingT, c provider.Cluster, opts Options) (*Plane, error) {
	o, main, workloads, err := opts.resolve(c.Values())
	if err != nil {
		return nil, err
	}
	if _, err := prereq.FindBinary(prereq.Helm); err != nil {
		return nil, err
	}
	if err := prereq.PutBinFirstOnPath(); err != nil {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("clientset: %w", err)
	}
	helmHome, err := os.MkdirTemp("", "gpuplane-helm-")
	if err != nil {
		return nil, fmt.Errorf("helm home: %w", err)
	}
	p := &Plane{cluster: c, t: t, opts: o, main: main, workloads: workloads, cs: cs,
		demand: map[string]loadmodel.Demand{}}
	p.helm = &helm.Options{
		KubectlOptions: k8s.NewKubectlOptions("", c.Kubeconfig(), o.Namespace),
		EnvVars: map[string]string{"HELM_CACHE_HOME": filepath.Join(helmHome, "cache"),
			"HELM_CONFIG_HOME": filepath.Join(helmHome, "config"), "HELM_DATA_HOME": filepath.Join(helmHome, "data")},
		ExtraArgs: map[string][]string{"install": {"--create-namespace", "--wait=false", "--timeout", o.Timeout.String()}},
		Logger:    logger.New(reporterLogger{}),
	}
	ictx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := p.installReleases(ictx); err != nil {
		return nil, err
	}
	if err := p.WaitReady(ictx); err != nil {
		return nil, err
	}
	loopCtx, stop := context.WithCancel(context.Background())
	p.cancel, p.done = stop, make(chan struct{})
	go p.loop(loopCtx)
	return p, nil
}

// installReleases installs the umbrella chart, then the stand-in services.
func (p *Plane) installReleases(ctx context.Context) error {
	if p.opts.ServiceMonitor {
		if err := p.cluster.EnsureServiceMonitorCRD(ctx); err != nil {
			return err
		}
	}
	if err := p.prepareNamespaces(ctx); err != nil {
		return err
	}
	for _, c := range []*chart{&p.main, p.workloads} {
		if c == nil {
			continue
		}
		if err := helm.InstallContextE(p.t, ctx, p.HelmOptions(c), c.dir, c.release); err != nil {
			return fmt.Errorf("helm install %s: %w", c.release, err)
		}
	}
	return p.cluster.Reconcile(ctx)
}

// HelmOptions returns Terratest helm options for one of the plane's charts
// (nil: the umbrella chart): kubeconfig, namespace, values files and --set
// values as installed. The copy is the caller's to change.
func (p *Plane) HelmOptions(c *chart) *helm.Options {
	if c == nil {
		c = &p.main
	}
	o := *p.helm
	o.ValuesFiles = append([]string(nil), c.files...)
	o.SetValues = maps.Clone(c.set)
	return &o
}

// WorkloadsHelmOptions are the stand-in services' helm options.
func (p *Plane) WorkloadsHelmOptions() *helm.Options { return p.HelmOptions(p.workloads) }

// Options are the options in effect; ChartDir and WorkloadsChartDir are
// absolute.
func (p *Plane) Options() Options {
	o := p.opts
	o.ChartDir, o.WorkloadsChartDir = p.main.dir, ""
	if p.workloads != nil {
		o.WorkloadsChartDir = p.workloads.dir
	}
	return o
}

// Cluster is the cluster the plane runs on.
func (p *Plane) Cluster() provider.Cluster { return p.cluster }

// Close stops the load loop; the releases and the last load stay.
func (p *Plane) Close() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
		p.cancel = nil
	}
}

// Uninstall stops the load loop and removes both releases.
func (p *Plane) Uninstall(ctx context.Context) error {
	p.Close()
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	var errs []error
	for _, c := range []*chart{p.workloads, &p.main} {
		if c == nil {
			continue
		}
		if err := helm.DeleteContextE(p.t, ctx, p.HelmOptions(c), c.release, true); err != nil {
			errs = append(errs, fmt.Errorf("helm uninstall %s: %w", c.release, err))
		}
	}
	return errors.Join(errs...)
}

// SetDemand sets a service's load; the next load step (within a second)
// writes it to the ConfigMaps.
func (p *Plane) SetDemand(service string, d loadmodel.Demand) {
	p.mu.Lock()
	p.demand[service] = d
	p.mu.Unlock()
}

// Demand returns a service's current demand.
func (p *Plane) Demand(service string) loadmodel.Demand {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.demand[service]
}

// loop writes the load once a second until ctx ends, and sends the
// services' traffic beside it.
func (p *Plane) loop(ctx context.Context) {
	var wg sync.WaitGroup
	defer func() { wg.Wait(); close(p.done) }()
	p.traffic = newTraffic(p.opts.Logf)
	wg.Go(func() { p.trafficLoop(ctx) })
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := p.Step(ctx); err != nil && ctx.Err() == nil {
			p.opts.Logf("gpu plane: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// trafficLoop sends each service's RequestsPerSecond to the pods Step last
// found running, once a second, until ctx ends.
func (p *Plane) trafficLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			p.mu.Lock()
			rates := make(map[string]float64, len(p.demand))
			for svc, d := range p.demand {
				rates[svc] = d.RequestsPerSecond
			}
			targets := p.targets
			p.mu.Unlock()
			p.traffic.step(ctx, rates, targets, now.Sub(last))
			last = now
		}
	}
}
