// Package hpastatus summarises HorizontalPodAutoscalers (replicas, every
// metric's current value against its target, the scaling conditions and the
// last scale time) and renders them as plain-text tables, the information
// `kubectl describe hpa` spreads over a page.
package hpastatus

import (
	"context"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"text/tabwriter"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/textfmt"
)

// Conditions the table always shows, in this order.
var shownConditions = []autoscalingv2.HorizontalPodAutoscalerConditionType{
	autoscalingv2.AbleToScale, autoscalingv2.ScalingActive, autoscalingv2.ScalingLimited,
}

// HPA is the summary of one HorizontalPodAutoscaler.
type HPA struct {
	Name            string
	Target          string // Kind/name of the scale target
	CurrentReplicas int32
	DesiredReplicas int32
	MinReplicas     int32
	MaxReplicas     int32
	LastScaleTime   *time.Time
	Metrics         []Metric
	Conditions      []Condition
}

// Metric is one entry of spec.metrics with its current value, if reported.
type Metric struct {
	Type    string // Resource, Pods, Object, External, ContainerResource
	Name    string // e.g. "cpu", "gpu_utilization_percent"
	Current string // "<unknown>" when the controller has not reported it
	Target  string
}

// Condition is one HPA status condition.
type Condition struct {
	Type    string
	Status  string // True, False, Unknown, or "-" when absent
	Reason  string
	Message string
}

// Summarize turns an HPA object into its summary.
func Summarize(h *autoscalingv2.HorizontalPodAutoscaler) HPA {
	s := HPA{
		Name:            h.Name,
		Target:          h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name,
		CurrentReplicas: h.Status.CurrentReplicas,
		DesiredReplicas: h.Status.DesiredReplicas,
		MaxReplicas:     h.Spec.MaxReplicas,
		MinReplicas:     MinReplicas(h),
	}
	if h.Status.LastScaleTime != nil {
		t := h.Status.LastScaleTime.Time
		s.LastScaleTime = &t
	}
	for _, spec := range h.Spec.Metrics {
		m := Metric{Type: string(spec.Type), Current: "<unknown>"}
		var target autoscalingv2.MetricTarget
		switch spec.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if spec.Resource != nil {
				m.Name, target = string(spec.Resource.Name), spec.Resource.Target
			}
		case autoscalingv2.ContainerResourceMetricSourceType:
			if spec.ContainerResource != nil {
				m.Name, target = spec.ContainerResource.Container+"/"+string(spec.ContainerResource.Name), spec.ContainerResource.Target
			}
		case autoscalingv2.PodsMetricSourceType:
			if spec.Pods != nil {
				m.Name, target = spec.Pods.Metric.Name, spec.Pods.Target
			}
		case autoscalingv2.ObjectMetricSourceType:
			if spec.Object != nil {
				m.Name = spec.Object.Metric.Name + " on " + spec.Object.DescribedObject.Kind + "/" + spec.Object.DescribedObject.Name
				target = spec.Object.Target
			}
		case autoscalingv2.ExternalMetricSourceType:
			if spec.External != nil {
				m.Name, target = spec.External.Metric.Name, spec.External.Target
			}
		}
		m.Target = formatTarget(target)
		if cur, ok := findCurrent(h.Status.CurrentMetrics, spec); ok {
			m.Current = formatCurrent(cur, target.Type)
		}
		s.Metrics = append(s.Metrics, m)
	}
	for _, t := range shownConditions {
		c := Condition{Type: string(t), Status: "-"}
		if hc, ok := FindCondition(h, t); ok {
			c.Status, c.Reason, c.Message = string(hc.Status), hc.Reason, hc.Message
		}
		s.Conditions = append(s.Conditions, c)
	}
	return s
}

// findCurrent finds the status entry that reports the spec metric.
func findCurrent(status []autoscalingv2.MetricStatus, spec autoscalingv2.MetricSpec) (autoscalingv2.MetricValueStatus, bool) {
	for _, st := range status {
		if st.Type != spec.Type {
			continue
		}
		switch spec.Type {
		case autoscalingv2.ResourceMetricSourceType:
			if st.Resource != nil && spec.Resource != nil && st.Resource.Name == spec.Resource.Name {
				return st.Resource.Current, true
			}
		case autoscalingv2.ContainerResourceMetricSourceType:
			if st.ContainerResource != nil && spec.ContainerResource != nil &&
				st.ContainerResource.Name == spec.ContainerResource.Name && st.ContainerResource.Container == spec.ContainerResource.Container {
				return st.ContainerResource.Current, true
			}
		case autoscalingv2.PodsMetricSourceType:
			if st.Pods != nil && spec.Pods != nil && st.Pods.Metric.Name == spec.Pods.Metric.Name {
				return st.Pods.Current, true
			}
		case autoscalingv2.ObjectMetricSourceType:
			if st.Object != nil && spec.Object != nil && st.Object.Metric.Name == spec.Object.Metric.Name &&
				st.Object.DescribedObject.Name == spec.Object.DescribedObject.Name {
				return st.Object.Current, true
			}
		case autoscalingv2.ExternalMetricSourceType:
			if st.External != nil && spec.External != nil && st.External.Metric.Name == spec.External.Metric.Name {
				return st.External.Current, true
			}
		}
	}
	return autoscalingv2.MetricValueStatus{}, false
}

func formatTarget(t autoscalingv2.MetricTarget) string {
	switch t.Type {
	case autoscalingv2.UtilizationMetricType:
		if t.AverageUtilization != nil {
			return fmt.Sprintf("%d%% (avg utilization)", *t.AverageUtilization)
		}
	case autoscalingv2.AverageValueMetricType:
		if t.AverageValue != nil {
			return FormatQuantity(*t.AverageValue) + " (avg)"
		}
	case autoscalingv2.ValueMetricType:
		if t.Value != nil {
			return FormatQuantity(*t.Value)
		}
	}
	return "<unset>"
}

func formatCurrent(c autoscalingv2.MetricValueStatus, kind autoscalingv2.MetricTargetType) string {
	switch {
	case kind == autoscalingv2.UtilizationMetricType && c.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *c.AverageUtilization)
	case kind == autoscalingv2.ValueMetricType && c.Value != nil:
		return FormatQuantity(*c.Value)
	case c.AverageValue != nil:
		return FormatQuantity(*c.AverageValue)
	case c.AverageUtilization != nil:
		return fmt.Sprintf("%d%%", *c.AverageUtilization)
	case c.Value != nil:
		return FormatQuantity(*c.Value)
	}
	return "<unknown>"
}

// FormatQuantity prints a quantity as a plain decimal ("85", "0.5",
// "20480") rather than Kubernetes' milli-unit notation ("85500m").
func FormatQuantity(q resource.Quantity) string {
	v := q.AsApproximateFloat64()
	if math.Abs(v) >= 1e6 || v == math.Trunc(v) {
		return strconv.FormatFloat(math.Round(v), 'f', -1, 64)
	}
	return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
}

// Collect summarises every HPA in namespace, sorted by name.
func Collect(ctx context.Context, kube kubernetes.Interface, namespace string) ([]HPA, error) {
	list, err := kube.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list HPAs in %s: %w", namespace, err)
	}
	out := make([]HPA, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, Summarize(&list.Items[i]))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Render writes one table per HPA. now is used for "ago" durations.
func Render(w io.Writer, hpas []HPA, now time.Time) error {
	if len(hpas) == 0 {
		_, err := fmt.Fprintln(w, "no HorizontalPodAutoscalers found")
		return err
	}
	for i, h := range hpas {
		if i > 0 {
			fmt.Fprintln(w)
		}
		last := "never"
		if h.LastScaleTime != nil {
			last = fmt.Sprintf("%s (%s ago)", h.LastScaleTime.UTC().Format(time.RFC3339), now.Sub(*h.LastScaleTime).Truncate(time.Second))
		}
		fmt.Fprintf(w, "HPA %s -> %s\n", h.Name, h.Target)
		fmt.Fprintf(w, "  replicas: current %d, desired %d, min %d, max %d; last scale: %s\n",
			h.CurrentReplicas, h.DesiredReplicas, h.MinReplicas, h.MaxReplicas, last)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  METRIC\tTYPE\tCURRENT\tTARGET")
		for _, m := range h.Metrics {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", m.Name, m.Type, m.Current, m.Target)
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("render HPA %s: %w", h.Name, err)
		}
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  CONDITION\tSTATUS\tREASON\tMESSAGE")
		for _, c := range h.Conditions {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", c.Type, c.Status, dash(c.Reason), dash(textfmt.OneLine(c.Message)))
		}
		if err := tw.Flush(); err != nil {
			return fmt.Errorf("render HPA %s: %w", h.Name, err)
		}
	}
	return nil
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
