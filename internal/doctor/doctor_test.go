package doctor

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func TestHealthyClusterPassesEveryCheck(t *testing.T) {
	checks := healthyWorld().run(t)
	wantIDs := []string{idAPIService, idMetricServed, idAdapterPrometheus, idScalingActive, idExporterTargets,
		idExporterPodSecurity, idExporterCoverage, idPodLabels, idNVML, idKubeStateMetrics, idServiceMapping, idFlapping}
	for _, id := range wantIDs {
		if len(find(checks, id, "")) == 0 {
			t.Errorf("no %s check ran", id)
		}
	}
	for _, c := range checks {
		if c.Status != Pass {
			t.Errorf("%s %s: %s %s (fix: %s)", c.ID, c.Subject, c.Status, c.Detail, c.Fix)
		}
	}
	if Failed(checks) {
		t.Error("Failed() = true for a healthy cluster")
	}
	var b bytes.Buffer
	if err := Render(&b, checks); err != nil {
		t.Fatal(err)
	}
	t.Logf("doctor output:\n%s", b.String())
	if got := len(find(checks, idAPIService, "")); got != 3 {
		t.Errorf("APIService checks = %d, want 3 (two custom metrics versions and metrics.k8s.io for the cpu metric)", got)
	}
}

// expectCheck asserts that a check with id has status and that its detail and
// fix contain the given fragments.
func expectCheck(t *testing.T, checks []Check, id, subject string, status Status, detail, fix string) {
	t.Helper()
	found := find(checks, id, subject)
	if len(found) == 0 {
		t.Fatalf("no %s check for %q; checks: %+v", id, subject, checks)
	}
	for _, c := range found {
		if c.Status == status && strings.Contains(c.Detail, detail) && strings.Contains(c.Fix, fix) {
			return
		}
	}
	t.Errorf("%s %q: want %s with detail ~%q and fix ~%q, got %+v", id, subject, status, detail, fix, found)
}

func TestAdapterDownMakesAPIServiceUnavailable(t *testing.T) {
	w := healthyWorld()
	for _, v := range []string{"v1beta1", "v1beta2"} {
		w.setAPIService(apiService(v+".custom.metrics.k8s.io", apiregv1.ConditionFalse, "FailedDiscoveryCheck",
			`failing or missing response from https://localhost:7443/apis/custom.metrics.k8s.io/`+v+`: dial tcp: connection refused`))
	}
	checks := w.run(t)
	expectCheck(t, checks, idAPIService, "v1beta2.custom.metrics.k8s.io", Fail, "FailedDiscoveryCheck", "cannot reach the adapter")
	expectCheck(t, checks, idMetricServed, hpaName+" "+metric, Fail, "custom.metrics.k8s.io is not available", "APIServices Available first")
	if !Failed(checks) {
		t.Error("Failed() = false")
	}
}

func TestAPIServiceMissing(t *testing.T) {
	w := healthyWorld()
	w.removeAPIService("v1beta1.custom.metrics.k8s.io")
	checks := w.run(t)
	expectCheck(t, checks, idAPIService, "v1beta1.custom.metrics.k8s.io", Fail, "not registered", "deploy-auto-scaling --action deploy")
	// v1beta2 still serves, so the HPA's metric is still read.
	expectCheck(t, checks, idMetricServed, hpaName+" "+metric, Pass, "served for 2/2", "")
}

func TestStaleAPIServicePointsAtMissingService(t *testing.T) {
	w := healthyWorld()
	w.setAPIService(apiService("v1beta2.custom.metrics.k8s.io", apiregv1.ConditionFalse, "ServiceNotFound", `service/gpu-autoscaling-adapter in "medical-kg" is not present`))
	checks := w.run(t)
	expectCheck(t, checks, idAPIService, "v1beta2.custom.metrics.k8s.io", Fail, "ServiceNotFound", "kubectl delete apiservice v1beta2.custom.metrics.k8s.io")
}

func TestMetricsServerMissingWhenHPAUsesCPU(t *testing.T) {
	w := healthyWorld()
	w.removeAPIService(contract.ResourceMetricsAPIService)
	checks := w.run(t)
	expectCheck(t, checks, idAPIService, contract.ResourceMetricsAPIService, Fail, "not registered", "install metrics-server")
}

func TestExporterSeriesWithoutPodLabels(t *testing.T) {
	w := healthyWorld()
	// The exporter could not reach pod-resources: every GPU series carries the
	// exporter pod's own namespace/pod (target labels), none a workload's.
	w.mapSeries(func(s series) series {
		if s.labels["__name__"] == metric {
			s.labels["pod"] = "exporter-" + strings.TrimPrefix(s.labels["node"], "gpu-node-")
		}
		return s
	})
	w.metricErr = apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, metric)
	checks := w.run(t)
	expectCheck(t, checks, idPodLabels, metric, Fail, "none of the 2 running GPU pods", "kubelet pod-resources socket")
	expectCheck(t, checks, idMetricServed, hpaName+" "+metric, Fail, "returned no gpu_utilization_percent", "labelled with these pods")
}

func TestExporterSeriesWithExportedPod(t *testing.T) {
	w := healthyWorld()
	// honor_labels off: Prometheus renames the exporter's labels.
	w.mapSeries(func(s series) series {
		if s.labels["__name__"] == metric {
			s.labels["exported_pod"], s.labels["exported_namespace"] = s.labels["pod"], s.labels["namespace"]
			s.labels["pod"] = "exporter-x"
		}
		return s
	})
	checks := w.run(t)
	expectCheck(t, checks, idPodLabels, metric, Fail, "renamed pod labels", "honor_labels")
}

func TestSomeGPUPodsUnattributedWarns(t *testing.T) {
	w := healthyWorld()
	w.kubeObjects = append(w.kubeObjects, gpuPod(service+"-c", "gpu-node-1"))
	delete(w.metricValues, service+"-b")
	checks := w.run(t)
	expectCheck(t, checks, idPodLabels, metric, Warn, "2/3 GPU pods attributed; missing: embedding-service-c", "pod-resources")
	expectCheck(t, checks, idMetricServed, hpaName+" "+metric, Warn, "served for 1/3", "")
}

func TestScalingActiveFalse(t *testing.T) {
	w := healthyWorld()
	h := w.kubeObjects[0].(*autoscalingv2.HorizontalPodAutoscaler).DeepCopy()
	h.Status.Conditions[1] = autoscalingv2.HorizontalPodAutoscalerCondition{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse,
		Reason: "FailedGetPodsMetric", Message: "the HPA was unable to compute the replica count: unable to get metric gpu_utilization_percent"}
	w.replace(h)
	checks := w.run(t)
	expectCheck(t, checks, idScalingActive, hpaName, Fail, "FailedGetPodsMetric", "custom.metrics.k8s.io/v1beta2/namespaces/medical-kg/pods/*/gpu_utilization_percent")
}

func TestHPAWithoutConditionsWarns(t *testing.T) {
	w := healthyWorld()
	h := w.kubeObjects[0].(*autoscalingv2.HorizontalPodAutoscaler).DeepCopy()
	h.Status.Conditions = nil
	w.replace(h)
	expectCheck(t, w.run(t), idScalingActive, hpaName, Warn, "not reported conditions", "kube-controller-manager")
}

func TestMissingScaleTarget(t *testing.T) {
	w := healthyWorld()
	w.kubeObjects = w.kubeObjects[:1:1] // only the HPA
	checks := w.run(t)
	expectCheck(t, checks, idMetricServed, hpaName, Fail, "scale target Deployment/embedding-service does not exist", "charts/gpu-services")
}

func TestNoHPAs(t *testing.T) {
	w := healthyWorld()
	w.kubeObjects = w.kubeObjects[1:]
	expectCheck(t, w.run(t), idMetricServed, "namespace "+ns, Fail, "no HorizontalPodAutoscalers", "--action deploy")
}

func TestAdapterCannotReachPrometheus(t *testing.T) {
	w := healthyWorld()
	w.metricErr = apierrors.NewInternalError(errors.New("unable to fetch metrics"))
	checks := w.run(t)
	expectCheck(t, checks, idAdapterPrometheus, "", Fail, "unable to fetch metrics", "adapter.prometheus.url")
	expectCheck(t, checks, idMetricServed, hpaName+" "+metric, Fail, "unable to fetch metrics", "cannot query Prometheus")
}

func TestAdapterPrometheusServiceWithoutEndpoints(t *testing.T) {
	w := healthyWorld()
	// No Pods metric queried, so doctor falls back to the adapter's --prometheus-url.
	h := w.kubeObjects[0].(*autoscalingv2.HorizontalPodAutoscaler).DeepCopy()
	h.Spec.Metrics = h.Spec.Metrics[:1]
	w.replace(h)
	objs := w.kubeObjects[:0]
	for _, o := range w.kubeObjects {
		if m, ok := o.(metav1.Object); ok && m.GetNamespace() == "monitoring" && m.GetName() != "prometheus" {
			continue // drop the EndpointSlice
		}
		objs = append(objs, o)
	}
	w.kubeObjects = objs
	checks := w.run(t)
	expectCheck(t, checks, idAdapterPrometheus, "", Fail, "Service monitoring/prometheus has no ready endpoints", "adapter.prometheus.url")
}

func TestExporterTargetDownAndNodeUncovered(t *testing.T) {
	w := healthyWorld()
	w.mapSeries(func(s series) series {
		if s.labels["instance"] == "10.0.0.2:9400" && s.labels["__name__"] == "up" {
			s.value = 0
		}
		return s
	})
	checks := w.run(t)
	expectCheck(t, checks, idExporterTargets, "", Fail, "1 of 2 exporter targets down: 10.0.0.2:9400", "NetworkPolicy")
	expectCheck(t, checks, idExporterCoverage, "", Fail, "gpu-node-1 (pod exporter-1 ready, but no GPU series in Prometheus)", "kubectl get ds,pods -A")
}

func TestNoExporterTargets(t *testing.T) {
	w := healthyWorld()
	w.mapSeries(func(s series) series {
		if s.labels["__name__"] == "up" {
			s.labels["job"] = "kubernetes-pods"
		}
		return s
	})
	expectCheck(t, w.run(t), idExporterTargets, "", Fail, "no scrape targets", "--exporter-job")
}

func TestNVMLDown(t *testing.T) {
	w := healthyWorld()
	w.mapSeries(func(s series) series {
		if s.labels["__name__"] == "gpu_exporter_up" && s.labels["instance"] == "10.0.0.1:9400" {
			s.value = 0
		}
		return s
	})
	checks := w.run(t)
	expectCheck(t, checks, idNVML, "", Fail, "GPU backend down on 1 of 2 exporters: 10.0.0.1:9400 (backend nvml)", "libnvidia-ml.so.1")
}

func TestWithoutPrometheus(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	checks := w.run(t)
	for _, id := range []string{idExporterTargets, idPodLabels, idNVML} {
		expectCheck(t, checks, id, "", Warn, "not checked without Prometheus", "--prometheus-url")
	}
	// Real nodes with ready DaemonSet pods are covered without Prometheus.
	expectCheck(t, checks, idExporterCoverage, "", Pass, "gpu-node-0 (pod exporter-0)", "")
	if Failed(checks) {
		t.Errorf("a healthy cluster without Prometheus must not fail: %+v", checks)
	}
}

func TestKwokFakeNodes(t *testing.T) {
	w := healthyWorld()
	w.replace(gpuNode("gpu-node-0", true))
	w.replace(gpuNode("gpu-node-1", true))
	// With Prometheus the exporter processes count: PASS.
	expectCheck(t, w.run(t), idExporterCoverage, "", Pass, "gpu-node-0 (target 10.0.0.1:9400)", "")
	// Without, pod readiness on fake nodes proves nothing: WARN, not FAIL.
	w.noPrometheus = true
	expectCheck(t, w.run(t), idExporterCoverage, "", Warn, "kwok fake nodes gpu-node-0, gpu-node-1", "--prometheus-url")
}

func TestRealNodeWithoutExporterPodFailsWithoutPrometheus(t *testing.T) {
	w := healthyWorld()
	w.noPrometheus = true
	objs := w.kubeObjects[:0]
	for _, o := range w.kubeObjects {
		if p, ok := o.(*corev1.Pod); ok && p.Name == "exporter-1" {
			continue
		}
		objs = append(objs, o)
	}
	w.kubeObjects = objs
	expectCheck(t, w.run(t), idExporterCoverage, "", Fail,
		"gpu-node-1 (DaemonSet medical-kg/gpu-autoscaling-gpu-metrics-exporter selects it but has no pod there", "exporter.tolerations")
}

func TestPrometheusUnreachable(t *testing.T) {
	w := healthyWorld()
	w.deadPrometheu = true
	checks := w.run(t)
	expectCheck(t, checks, idPrometheus, "", Fail, "failed", "--prometheus-url")
	expectCheck(t, checks, idPodLabels, "", Warn, "Prometheus could not be queried", "prometheus-query")
	if n := len(find(checks, idPrometheus, "")); n != 1 {
		t.Errorf("prometheus-query reported %d times, want once", n)
	}
}

func rescale(name string, at time.Time, count int32) *corev1.Event {
	return &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", name, at.UnixNano()), Namespace: ns},
		InvolvedObject: corev1.ObjectReference{Kind: "HorizontalPodAutoscaler", Name: name, Namespace: ns},
		Reason:         "SuccessfulRescale", Message: "New size: 3; reason: pods metric gpu_utilization_percent above target",
		LastTimestamp: metav1.NewTime(at), Count: count,
	}
}

func TestFlapping(t *testing.T) {
	w := healthyWorld()
	for i := range 8 {
		w.kubeObjects = append(w.kubeObjects, rescale(hpaName, now.Add(-time.Duration(i*5)*time.Minute), 1))
	}
	// Old events are outside the hour and do not count.
	w.kubeObjects = append(w.kubeObjects, rescale(hpaName, now.Add(-3*time.Hour), 20))
	expectCheck(t, w.run(t), idFlapping, "", Warn, hpaName+": 8", "stabilizationWindowSeconds")
	w.threshold = 8
	expectCheck(t, w.run(t), idFlapping, "", Pass, hpaName+": 8", "")
}

func TestFlappingFromKubeStateMetrics(t *testing.T) {
	w := healthyWorld()
	w.changes = []series{{map[string]string{"__name__": "kube_horizontalpodautoscaler_status_current_replicas", "namespace": ns, "horizontalpodautoscaler": hpaName}, 12}}
	expectCheck(t, w.run(t), idFlapping, "", Warn, "kube-state-metrics", "stabilizationWindowSeconds")
}

func TestKubeStateMetricsMissing(t *testing.T) {
	w := healthyWorld()
	var kept []series
	for _, s := range w.series {
		if s.labels["__name__"] != metricHPACurrentReplicas {
			kept = append(kept, s)
		}
	}
	w.series = kept
	expectCheck(t, w.run(t), idKubeStateMetrics, "", Warn, "no series in namespace "+ns, "install kube-state-metrics")
	w.noPrometheus = true
	expectCheck(t, w.run(t), idKubeStateMetrics, "", Warn, "not checked without Prometheus", "--prometheus-url")
}

// The dashboards' pod -> service mapping: missing rules, missing pod owners,
// and HPAs the chart did not render (not checked).
func TestServiceMapping(t *testing.T) {
	without := func(w *world, name string) {
		var kept []series
		for _, s := range w.series {
			if s.labels["__name__"] != name {
				kept = append(kept, s)
			}
		}
		w.series = kept
	}
	w := healthyWorld()
	without(w, contract.PodServiceRecording)
	expectCheck(t, w.run(t), idServiceMapping, "", Warn, "no pods mapped for "+hpaName, "replicasets")
	without(w, contract.WorkloadServiceRecording)
	expectCheck(t, w.run(t), idServiceMapping, "", Warn, "recording rules are not loaded", "prometheusRule.configMap=true")

	w = healthyWorld()
	expectCheck(t, w.run(t), idServiceMapping, "", Pass, "2 pods mapped to the 1 HPAs' services", "")
	w.kubeObjects[0].(*autoscalingv2.HorizontalPodAutoscaler).Labels = nil // not this chart's HPA
	without(w, contract.WorkloadServiceRecording)
	if got := find(w.run(t), idServiceMapping, ""); len(got) != 0 {
		t.Errorf("an HPA the chart did not render was checked: %+v", got)
	}
}

func TestRenderShowsFixes(t *testing.T) {
	checks := []Check{
		{ID: idAPIService, Subject: "v1beta1.custom.metrics.k8s.io", Status: Pass, Detail: "Available"},
		{ID: idNVML, Subject: "gpu_exporter_up", Status: Fail, Detail: "down", Fix: "install the driver"},
		{ID: idFlapping, Subject: "namespace x", Status: Warn, Detail: "many", Fix: "raise windows"},
	}
	var b bytes.Buffer
	if err := Render(&b, checks); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"STATUS", "PASS", "FAIL", "fix: install the driver", "fix: raise windows", "1 passed, 1 warnings, 1 failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "fix:") != 2 {
		t.Errorf("want a fix line for each non-passing check only:\n%s", out)
	}
}

func TestRunRejectsMissingClients(t *testing.T) {
	if _, err := Run(t.Context(), Config{}); err == nil {
		t.Fatal("Run without clients returned no error")
	}
}
