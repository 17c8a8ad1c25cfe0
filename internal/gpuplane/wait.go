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
		if msg, done := deploymentRolledOut(&d); !done {
			out = append(out, fmt.Sprintf("Deployment %s %d/%d ready: %s", d.Name, d.Status.ReadyReplicas, replicas(&d), msg))
		}
	}
	for _, d := range dss.Items {
		if msg, done := daemonSetRolledOut(&d); !done {
			out = append(out, fmt.Sprintf("DaemonSet %s %d/%d ready: %s", d.Name, d.Status.NumberReady, d.Status.DesiredNumberScheduled, msg))
		}
	}
	return out, nil
}

// deploymentRolledOut applies kubectl rollout status's rules: the spec's
// generation observed, every replica updated, no old one left (an
// upgrade's surge pod beside the old one is not done), every updated one
// available.
func deploymentRolledOut(d *appsv1.Deployment) (string, bool) {
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return "spec update not observed yet", false
	case s.UpdatedReplicas < replicas(d):
		return fmt.Sprintf("%d of %d new replicas updated", s.UpdatedReplicas, replicas(d)), false
	case s.Replicas > s.UpdatedReplicas:
		return fmt.Sprintf("%d old replicas pending termination", s.Replicas-s.UpdatedReplicas), false
	case s.AvailableReplicas < s.UpdatedReplicas:
		return fmt.Sprintf("%d of %d updated replicas available", s.AvailableReplicas, s.UpdatedReplicas), false
	}
	return "", true
}

// daemonSetRolledOut is the same for a DaemonSet, which must also have
// pods at all (none: no GPU node matches its selector). An OnDelete
// DaemonSet has no rollout to follow: its pods only need to be Ready.
func daemonSetRolledOut(d *appsv1.DaemonSet) (string, bool) {
	s := d.Status
	switch {
	case s.ObservedGeneration < d.Generation:
		return "spec update not observed yet", false
	case s.DesiredNumberScheduled == 0:
		return "no pod (no GPU node matches its selector?)", false
	case d.Spec.UpdateStrategy.Type == appsv1.OnDeleteDaemonSetStrategyType:
		if s.NumberReady < s.DesiredNumberScheduled {
			return "pods not Ready", false
		}
	case s.UpdatedNumberScheduled < s.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d new pods updated", s.UpdatedNumberScheduled, s.DesiredNumberScheduled), false
	case s.NumberAvailable < s.DesiredNumberScheduled:
		return fmt.Sprintf("%d of %d updated pods available", s.NumberAvailable, s.DesiredNumberScheduled), false
	}
	return "", true
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
