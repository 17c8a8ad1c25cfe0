package doctor

import (
	"context"
	"fmt"
	"sort"
	"strings"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

const idMetricServed = "hpa-metric-served"

// checkHPAMetrics asks custom.metrics.k8s.io, as the HPA controller does, for
// every Pods and Object metric of every HPA, and checks each running pod of
// the scale target gets a value.
func (r *runner) checkHPAMetrics(ctx context.Context) error {
	hpas, err := r.hpas(ctx)
	if err != nil {
		return err
	}
	if len(hpas) == 0 {
		r.fail(idMetricServed, "namespace "+r.cfg.Namespace, "no HorizontalPodAutoscalers in the namespace",
			fmt.Sprintf("deploy the chart: deploy-auto-scaling --action deploy --namespace %s (or pass --namespace where it is deployed)", r.cfg.Namespace))
		return nil
	}
	for i := range hpas {
		h := &hpas[i]
		custom := customMetrics(h)
		if len(custom) == 0 {
			continue
		}
		if !r.customAvailable {
			for _, m := range custom {
				r.fail(idMetricServed, h.Name+" "+metricName(m), "custom.metrics.k8s.io is not available, so the HPA cannot read this metric",
					"make the custom metrics APIServices Available first (see the apiservice-available checks)")
			}
			continue
		}
		selector, pods, err := r.targetPods(ctx, h)
		if err != nil {
			r.fail(idMetricServed, h.Name, err.Error(),
				fmt.Sprintf("deploy the workload %s (charts/gpu-services) or fix the HPA's scaleTargetRef in the chart values", h.Spec.ScaleTargetRef.Name))
			continue
		}
		for _, m := range custom {
			switch m.Type {
			case autoscalingv2.PodsMetricSourceType:
				r.checkPodsMetric(h, m.Pods, selector, pods)
			case autoscalingv2.ObjectMetricSourceType:
				r.checkObjectMetric(h, m.Object)
			}
		}
	}
	return nil
}

func customMetrics(h *autoscalingv2.HorizontalPodAutoscaler) []autoscalingv2.MetricSpec {
	var out []autoscalingv2.MetricSpec
	for _, m := range h.Spec.Metrics {
		if (m.Type == autoscalingv2.PodsMetricSourceType && m.Pods != nil) || (m.Type == autoscalingv2.ObjectMetricSourceType && m.Object != nil) {
			out = append(out, m)
		}
	}
	return out
}

func metricName(m autoscalingv2.MetricSpec) string {
	switch {
	case m.Pods != nil:
		return m.Pods.Metric.Name
	case m.Object != nil:
		return m.Object.Metric.Name
	}
	return string(m.Type)
}

// targetPods resolves the HPA's scale target to its selector and running pods.
func (r *runner) targetPods(ctx context.Context, h *autoscalingv2.HorizontalPodAutoscaler) (labels.Selector, []corev1.Pod, error) {
	ref := h.Spec.ScaleTargetRef
	ns := r.cfg.Namespace
	var sel *metav1.LabelSelector
	var err error
	switch ref.Kind {
	case "Deployment":
		d, e := r.cfg.Kube.AppsV1().Deployments(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if e == nil {
			sel = d.Spec.Selector
		}
		err = e
	case "StatefulSet":
		s, e := r.cfg.Kube.AppsV1().StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if e == nil {
			sel = s.Spec.Selector
		}
		err = e
	case "ReplicaSet":
		s, e := r.cfg.Kube.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if e == nil {
			sel = s.Spec.Selector
		}
		err = e
	default:
		return nil, nil, fmt.Errorf("scale target kind %s is not inspected by doctor", ref.Kind)
	}
	if apierrors.IsNotFound(err) {
		return nil, nil, fmt.Errorf("scale target %s/%s does not exist", ref.Kind, ref.Name)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read scale target %s/%s: %v", ref.Kind, ref.Name, err)
	}
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, nil, fmt.Errorf("scale target %s/%s has an invalid selector: %v", ref.Kind, ref.Name, err)
	}
	list, err := r.cfg.Kube.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, nil, fmt.Errorf("list pods of %s/%s: %v", ref.Kind, ref.Name, err)
	}
	var running []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running = append(running, p)
		}
	}
	return selector, running, nil
}

func (r *runner) checkPodsMetric(h *autoscalingv2.HorizontalPodAutoscaler, m *autoscalingv2.PodsMetricSource, selector labels.Selector, pods []corev1.Pod) {
	subject := h.Name + " " + m.Metric.Name
	if len(pods) == 0 {
		r.warn(idMetricServed, subject, fmt.Sprintf("no running pods of %s/%s to read the metric for", h.Spec.ScaleTargetRef.Kind, h.Spec.ScaleTargetRef.Name),
			fmt.Sprintf("check the workload: kubectl -n %s get pods -l %s (Pending pods usually lack free nvidia.com/gpu)", r.cfg.Namespace, selector))
		return
	}
	metricSel := labels.Everything()
	if m.Metric.Selector != nil {
		s, err := metav1.LabelSelectorAsSelector(m.Metric.Selector)
		if err != nil {
			r.fail(idMetricServed, subject, fmt.Sprintf("invalid metric selector: %v", err), "fix the metric selector in the HPA values")
			return
		}
		metricSel = s
	}
	r.metricQueries++
	list, err := r.cfg.CustomMetrics.NamespacedMetrics(r.cfg.Namespace).GetForObjects(schema.GroupKind{Kind: "Pod"}, selector, m.Metric.Name, metricSel)
	if err != nil {
		r.fail(idMetricServed, subject, fmt.Sprintf("the custom metrics API returned no %s for pods %s: %v", m.Metric.Name, selector, err), r.metricErrorFix(err, m.Metric.Name))
		return
	}
	r.metricSuccesses++
	got := map[string]string{}
	for _, v := range list.Items {
		got[v.DescribedObject.Name] = hpastatus.FormatQuantity(v.Value)
	}
	var missing, values []string
	for _, p := range pods {
		if v, ok := got[p.Name]; ok {
			values = append(values, p.Name+"="+v)
		} else {
			missing = append(missing, p.Name)
		}
	}
	sort.Strings(values)
	sort.Strings(missing)
	switch {
	case len(missing) == 0:
		r.pass(idMetricServed, subject, fmt.Sprintf("served for %d/%d running pods (%s)", len(values), len(pods), abbreviate(values, 3)))
	case len(values) == 0:
		r.fail(idMetricServed, subject, fmt.Sprintf("served for none of the %d running pods", len(pods)), noPodLabelsFix(r.cfg.Namespace, m.Metric.Name))
	default:
		r.warn(idMetricServed, subject, fmt.Sprintf("served for %d/%d running pods; missing: %s", len(values), len(pods), abbreviate(missing, 5)),
			"new pods appear after one exporter collection and scrape; if they stay missing, "+noPodLabelsFix(r.cfg.Namespace, m.Metric.Name))
	}
}

func (r *runner) checkObjectMetric(h *autoscalingv2.HorizontalPodAutoscaler, m *autoscalingv2.ObjectMetricSource) {
	obj := m.DescribedObject
	subject := fmt.Sprintf("%s %s on %s/%s", h.Name, m.Metric.Name, obj.Kind, obj.Name)
	gv, err := schema.ParseGroupVersion(obj.APIVersion)
	if err != nil {
		r.fail(idMetricServed, subject, fmt.Sprintf("invalid describedObject apiVersion %q", obj.APIVersion), "fix describedObject.apiVersion in the HPA values")
		return
	}
	metricSel := labels.Everything()
	if m.Metric.Selector != nil {
		if s, err := metav1.LabelSelectorAsSelector(m.Metric.Selector); err == nil {
			metricSel = s
		}
	}
	r.metricQueries++
	v, err := r.cfg.CustomMetrics.NamespacedMetrics(r.cfg.Namespace).GetForObject(schema.GroupKind{Group: gv.Group, Kind: obj.Kind}, obj.Name, m.Metric.Name, metricSel)
	if err != nil {
		r.fail(idMetricServed, subject, fmt.Sprintf("the custom metrics API returned no value: %v", err), r.metricErrorFix(err, m.Metric.Name))
		return
	}
	r.metricSuccesses++
	r.pass(idMetricServed, subject, "served: "+hpastatus.FormatQuantity(v.Value))
}

// metricErrorFix maps a custom metrics API error to the fix.
func (r *runner) metricErrorFix(err error, metric string) string {
	switch {
	case isPrometheusFetchError(err):
		r.promFetchErrors = append(r.promFetchErrors, err.Error())
		return "the adapter cannot query Prometheus: check its --prometheus-url (values adapter.prometheus.url), that Prometheus is up, and that NetworkPolicy allows adapter → Prometheus"
	case apierrors.IsNotFound(err):
		return noPodLabelsFix(r.cfg.Namespace, metric)
	case apierrors.IsServiceUnavailable(err) || strings.Contains(err.Error(), "no custom metrics API"):
		return "the custom metrics API is not served: make the custom.metrics.k8s.io APIServices Available (see apiservice-available)"
	case apierrors.IsForbidden(err):
		return "RBAC: grant read on custom.metrics.k8s.io to this user (the HPA controller has it through system:controller:horizontal-pod-autoscaler)"
	}
	return fmt.Sprintf("query it by hand: kubectl get --raw '/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/pods/*/%s' and read the adapter's logs", r.cfg.Namespace, metric)
}

func noPodLabelsFix(ns, metric string) string {
	return fmt.Sprintf("the adapter finds no %s series labelled with these pods: the exporter must attribute GPUs to pods (kubelet pod-resources socket mounted, see gpu-series-pod-labels) "+
		"and Prometheus must keep its namespace/pod labels (honor_labels); check: kubectl get --raw '/apis/custom.metrics.k8s.io/v1beta2/namespaces/%s/pods/*/%s'", metric, ns, metric)
}

// isPrometheusFetchError recognises prometheus-adapter's answer when its
// query to Prometheus failed (HTTP 500 "unable to fetch metrics").
func isPrometheusFetchError(err error) bool {
	return apierrors.IsInternalError(err) && strings.Contains(err.Error(), "unable to fetch metrics")
}

func abbreviate(items []string, n int) string {
	if len(items) <= n {
		return strings.Join(items, ", ")
	}
	return strings.Join(items[:n], ", ") + fmt.Sprintf(", … %d more", len(items)-n)
}
