package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

const (
	idScalingActive = "hpa-scaling-active"
	idFlapping      = "hpa-flapping"
)

// checkScalingActive reads the HPA controller's own verdict: AbleToScale and
// ScalingActive must be True.
func (r *runner) checkScalingActive(ctx context.Context) error {
	hpas, err := r.hpas(ctx)
	if err != nil {
		return err
	}
	for i := range hpas {
		h := &hpas[i]
		able, hasAble := hpastatus.FindCondition(h, autoscalingv2.AbleToScale)
		active, hasActive := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
		switch {
		case !hasActive:
			r.warn(idScalingActive, h.Name, "the HPA controller has not reported conditions yet",
				"wait one HPA sync period (15 s by default); if it stays, check kube-controller-manager is running with the horizontalpodautoscaling controller")
		case active.Status != corev1.ConditionTrue:
			r.fail(idScalingActive, h.Name, fmt.Sprintf("ScalingActive=%s %s: %s", active.Status, active.Reason, active.Message), scalingActiveFix(h, active, r.cfg))
		case hasAble && able.Status == corev1.ConditionFalse:
			r.fail(idScalingActive, h.Name, fmt.Sprintf("AbleToScale=False %s: %s", able.Reason, able.Message),
				fmt.Sprintf("the HPA cannot change %s/%s: check the scale subresource and RBAC of the HPA controller (kubectl describe hpa %s -n %s)",
					h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name, h.Name, r.cfg.Namespace))
		default:
			r.pass(idScalingActive, h.Name, fmt.Sprintf("ScalingActive=True (%s); replicas %d/%d (min %d, max %d)",
				active.Reason, h.Status.CurrentReplicas, h.Status.DesiredReplicas, hpastatus.MinReplicas(h), h.Spec.MaxReplicas))
		}
	}
	return nil
}

func scalingActiveFix(h *autoscalingv2.HorizontalPodAutoscaler, c autoscalingv2.HorizontalPodAutoscalerCondition, cfg Config) string {
	switch c.Reason {
	case "FailedGetPodsMetric", "FailedGetObjectMetric":
		return fmt.Sprintf("the HPA cannot read a custom metric: see the hpa-metric-served and apiservice-available checks; by hand: kubectl get --raw '/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/pods/*/gpu_utilization_percent'", cfg.Namespace)
	case "FailedGetResourceMetric":
		return "the HPA cannot read cpu/memory: metrics.k8s.io must be Available (metrics-server) and the pods must set cpu/memory requests"
	case "FailedGetExternalMetric":
		return "the HPA cannot read an external metric: register external.metrics.k8s.io or drop the External metric"
	case "FailedGetScale":
		return fmt.Sprintf("the scale target %s/%s does not exist or has no scale subresource: deploy the workload (charts/gpu-services)", h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name)
	case "ScalingDisabled":
		return "the target is scaled to zero, which disables the HPA: scale it to at least minReplicas"
	case "InvalidSelector", "SelectorRequired", "AmbiguousSelector":
		return "the scale target's selector is missing or shared with another HPA: give each Deployment its own selector"
	}
	return fmt.Sprintf("kubectl describe hpa %s -n %s shows the controller's events for this condition", h.Name, cfg.Namespace)
}

// checkFlapping counts replica changes per HPA over the last hour, from the
// HPA controller's SuccessfulRescale events and, when Prometheus has
// kube-state-metrics, from changes(kube_horizontalpodautoscaler_status_current_replicas[1h]).
func (r *runner) checkFlapping(ctx context.Context) error {
	hpas, err := r.hpas(ctx)
	if err != nil {
		return err
	}
	if len(hpas) == 0 {
		return nil
	}
	now := r.cfg.Now()
	since := now.Add(-time.Hour)
	events, err := r.cfg.Kube.CoreV1().Events(r.cfg.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list events in %s: %w", r.cfg.Namespace, err)
	}
	changes := map[string]int{}
	for _, e := range events.Items {
		if e.InvolvedObject.Kind != "HorizontalPodAutoscaler" || e.Reason != "SuccessfulRescale" {
			continue
		}
		if !eventTime(e).After(since) {
			continue
		}
		n := int(e.Count)
		if e.Series != nil && int(e.Series.Count) > n {
			n = int(e.Series.Count)
		}
		if n < 1 {
			n = 1
		}
		changes[e.InvolvedObject.Name] += n
	}
	source := "HPA events"
	if fromProm, ok := r.replicaChangesFromPrometheus(ctx); ok {
		source = "HPA events and kube-state-metrics"
		for name, n := range fromProm {
			if n > changes[name] {
				changes[name] = n
			}
		}
	}
	var flapping []string
	for _, h := range hpas {
		if n := changes[h.Name]; n > r.cfg.FlapThreshold {
			flapping = append(flapping, fmt.Sprintf("%s: %d", h.Name, n))
		}
	}
	sort.Strings(flapping)
	if len(flapping) > 0 {
		r.warn(idFlapping, "namespace "+r.cfg.Namespace,
			fmt.Sprintf("replica changes in the last hour above %d (%s): %s", r.cfg.FlapThreshold, source, strings.Join(flapping, "; ")),
			"scaling too aggressively: raise behavior.scaleDown.stabilizationWindowSeconds (seed: 600) and scaleUp's (seed: 300), "+
				"lower the policies' pods/percent per period, or lengthen the exporter's collection interval so utilization is averaged over longer")
		return nil
	}
	var counts []string
	for _, h := range hpas {
		counts = append(counts, fmt.Sprintf("%s: %d", h.Name, changes[h.Name]))
	}
	r.pass(idFlapping, "namespace "+r.cfg.Namespace, fmt.Sprintf("replica changes in the last hour at most %d (%s): %s", r.cfg.FlapThreshold, source, strings.Join(counts, "; ")))
	return nil
}

func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}
