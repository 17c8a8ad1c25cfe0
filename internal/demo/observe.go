package demo

import (
	"context"
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// observation is one poll of the cluster.
type observation struct {
	hpas     map[string]*autoscalingv2.HorizontalPodAutoscaler // by scale target name
	replicas map[string]int
	running  map[string]int
}

func observe(ctx context.Context, cs kubernetes.Interface) (*observation, error) {
	ctx, cancel := context.WithTimeout(ctx, 4*time.Second)
	defer cancel()
	o := &observation{hpas: map[string]*autoscalingv2.HorizontalPodAutoscaler{}, replicas: map[string]int{}, running: map[string]int{}}
	hpas, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HPAs: %w", err)
	}
	for i := range hpas.Items {
		o.hpas[hpas.Items[i].Spec.ScaleTargetRef.Name] = &hpas.Items[i]
	}
	deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list Deployments: %w", err)
	}
	for _, dep := range deps.Items {
		if dep.Spec.Replicas != nil {
			o.replicas[dep.Name] = int(*dep.Spec.Replicas)
		}
	}
	pods, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app"})
	if err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	for _, p := range pods.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			o.running[p.Labels["app"]]++
		}
	}
	return o, nil
}

// sample turns an observation into one sample per service at a load level.
func (o *observation) sample(at time.Duration, phase string, level float64, sc Scenario, targets []Target) []Sample {
	out := make([]Sample, len(targets))
	for i, t := range targets {
		load := sc.Services[i].Load(level)
		x := Sample{At: at, Phase: phase, Load: load, Expected: t.Expected(load), Current: math.NaN(),
			Replicas: o.replicas[t.Service], Ready: o.running[t.Service]}
		if h := o.hpas[t.Service]; h != nil {
			x.Desired = int(h.Status.DesiredReplicas)
			if v, ok := CurrentValue(h, t.Driver); ok {
				x.Current = v
			}
		}
		out[i] = x
	}
	return out
}
