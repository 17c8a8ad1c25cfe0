package gpuplane

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/apiservice"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// WaitReady waits until every Deployment and DaemonSet of both releases has
// all its pods Ready (the exporter on every GPU node, the adapter, the
// device plugin, every stand-in service) and, when the release has an
// adapter, both custom metrics APIServices are Available.
func (p *Plane) WaitReady(ctx context.Context) error {
	releases := []string{p.main.release}
	if p.workloads != nil {
		releases = append(releases, p.workloads.release)
	}
	if err := poll(ctx, "the releases' pods Ready", func(ctx context.Context) (bool, string, error) {
		var pending []string
		for _, r := range releases {
			notReady, err := p.notReady(ctx, r)
			if err != nil {
				return false, "", err
			}
			pending = append(pending, notReady...)
		}
		return len(pending) == 0, strings.Join(pending, "; "), nil
	}); err != nil {
		return err
	}
	adapters, err := p.cs.AppsV1().Deployments(p.opts.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: contract.ComponentLabel + "=adapter," + contract.InstanceLabel + "=" + p.main.release})
	if err != nil || len(adapters.Items) == 0 {
		return err // rules-only: no APIService of ours
	}
	return p.WaitAPIServices(ctx)
}

// WaitAPIServices waits until both custom metrics APIServices are Available.
func (p *Plane) WaitAPIServices(ctx context.Context) error {
	agg, err := aggregator.NewForConfig(p.cluster.RESTConfig())
	if err != nil {
		return fmt.Errorf("aggregator client: %w", err)
	}
	for _, name := range contract.CustomMetricsAPIServices() {
		if err := poll(ctx, "APIService "+name+" Available", func(ctx context.Context) (bool, string, error) {
			ok, err := apiservice.Available(ctx, agg, name)
			return ok, fmt.Sprint(err), nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// notReady lists a release's workloads whose pods are not all Ready.
func (p *Plane) notReady(ctx context.Context, release string) ([]string, error) {
	sel := metav1.ListOptions{LabelSelector: contract.InstanceLabel + "=" + release}
	deps, err := p.cs.AppsV1().Deployments(p.opts.Namespace).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("list Deployments of %s: %w", release, err)
	}
	// DaemonSets may live in a namespace of their own (exporter.namespaceOverride, devicePlugin.namespace).
	dss, err := p.cs.AppsV1().DaemonSets(metav1.NamespaceAll).List(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("list DaemonSets of %s: %w", release, err)
	}
	var out []string
	for _, d := range deps.Items {
		// An observedGeneration behind the spec's is a status from before the last change (an upgrade's).
		if want := replicas(&d); d.Status.ObservedGeneration < d.Generation || d.Status.ReadyReplicas < want || d.Status.UpdatedReplicas < want {
			out = append(out, fmt.Sprintf("Deployment %s %d/%d ready", d.Name, d.Status.ReadyReplicas, want))
		}
	}
	for _, d := range dss.Items {
		if s := d.Status; s.ObservedGeneration < d.Generation || s.DesiredNumberScheduled == 0 || s.NumberReady < s.DesiredNumberScheduled ||
			s.UpdatedNumberScheduled < s.DesiredNumberScheduled {
			out = append(out, fmt.Sprintf("DaemonSet %s %d/%d ready (no GPU node matches its selector?)", d.Name, s.NumberReady, s.DesiredNumberScheduled))
		}
	}
	return out, nil
}

func replicas(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// poll checks every 500 ms until ok, ctx's end or a hard error; the last
// message says what was still pending.
func poll(ctx context.Context, what string, check func(context.Context) (bool, string, error)) error {
	last := ""
	for {
		ok, msg, err := check(ctx)
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		last = msg
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w (still: %s)", what, errors.Join(ctx.Err()), last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
