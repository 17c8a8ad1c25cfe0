package doctor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/prometheus/promql/parser"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggfake "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/fake"
	"k8s.io/metrics/pkg/apis/custom_metrics/v1beta2"
	cmfake "k8s.io/metrics/pkg/client/custom_metrics/fake"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

const (
	ns      = "medical-kg"
	release = "gpu-autoscaling"
	service = "embedding-service"
	hpaName = service + "-hpa"
	metric  = "gpu_utilization_percent"
)

var now = time.Date(2026, 11, 29, 14, 0, 0, 0, time.UTC)

// series is one Prometheus series of the fake Prometheus.
type series struct {
	labels map[string]string
	value  float64
}

// world is a healthy cluster; tests break one thing at a time.
type world struct {
	kubeObjects   []runtime.Object
	apiServices   []*apiregv1.APIService
	series        []series
	changes       []series // results of changes(kube_…[1h])
	metricErr     error    // what the custom metrics API answers instead of values
	metricValues  map[string]float64
	noPrometheus  bool
	deadPrometheu bool
	threshold     int
	// gpuNodeSelector is Config.GPUNodeSelector.
	gpuNodeSelector string
}

func healthyWorld() *world {
	w := &world{metricValues: map[string]float64{service + "-a": 85, service + "-b": 75}}
	minR := int32(2)
	w.kubeObjects = []runtime.Object{
		&autoscalingv2.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: hpaName, Namespace: ns, Labels: map[string]string{contract.HPAServiceLabel: service}},
			Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: service},
				MinReplicas:    &minR, MaxReplicas: 10,
				Metrics: []autoscalingv2.MetricSpec{
					{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
						Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr(int32(70))}}},
					{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
						Metric: autoscalingv2.MetricIdentifier{Name: metric},
						Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("80"))}}},
				},
			},
			Status: autoscalingv2.HorizontalPodAutoscalerStatus{
				CurrentReplicas: 2, DesiredReplicas: 2,
				Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
					{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale"},
					{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionTrue, Reason: "ValidMetricFound"},
					{Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionFalse, Reason: "DesiredWithinRange"},
				},
			},
		},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: service, Namespace: ns},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": service}}},
		},
		gpuPod(service+"-a", "gpu-node-0"),
		gpuPod(service+"-b", "gpu-node-1"),
		gpuNode("gpu-node-0", false),
		gpuNode("gpu-node-1", false),
		exporterPod("exporter-0", "gpu-node-0"),
		exporterPod("exporter-1", "gpu-node-1"),
		exporterDaemonSet(ns),
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		// A CPU node: no GPU capacity, so no exporter is expected there.
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "cpu-node-0"}},
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "gpu-autoscaling-adapter", Namespace: ns, Labels: map[string]string{
				"app.kubernetes.io/component": "adapter", "app.kubernetes.io/instance": release}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{
				Name: "prometheus-adapter", Args: []string{"--secure-port=6443", "--prometheus-url=http://prometheus.monitoring.svc:9090"}}}}}},
		},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "prometheus", Namespace: "monitoring"}},
		&discoveryv1.EndpointSlice{
			ObjectMeta: metav1.ObjectMeta{Name: "prometheus-x", Namespace: "monitoring", Labels: map[string]string{"kubernetes.io/service-name": "prometheus"}},
			Endpoints:  []discoveryv1.Endpoint{{Addresses: []string{"10.0.0.9"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}},
		},
	}
	for _, name := range []string{"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io", "v1beta1.metrics.k8s.io"} {
		w.apiServices = append(w.apiServices, apiService(name, apiregv1.ConditionTrue, "Passed", "all checks passed"))
	}
	for i, node := range []string{"gpu-node-0", "gpu-node-1"} {
		inst := fmt.Sprintf("10.0.0.%d:9400", i+1)
		pod := fmt.Sprintf("%s-%c", service, 'a'+i)
		w.series = append(w.series,
			series{map[string]string{"__name__": "up", "job": "gpu-metrics-exporter", "instance": inst}, 1},
			series{map[string]string{"__name__": "gpu_exporter_up", "backend": "nvml", "job": "gpu-metrics-exporter", "instance": inst}, 1},
			series{map[string]string{"__name__": "gpu_memory_total_mb", "gpu": "0", "node": node, "job": "gpu-metrics-exporter", "instance": inst}, 40960},
			series{map[string]string{"__name__": metric, "gpu": "0", "node": node, "namespace": ns, "pod": pod, "job": "gpu-metrics-exporter", "instance": inst}, 80},
			// An unallocated GPU: the target's own labels fill namespace/pod (the exporter pod).
			series{map[string]string{"__name__": metric, "gpu": "1", "node": node, "namespace": ns, "pod": fmt.Sprintf("exporter-%d", i), "job": "gpu-metrics-exporter", "instance": inst}, 0},
		)
	}
	w.series = append(w.series, series{map[string]string{"__name__": metricHPACurrentReplicas, "namespace": ns, "horizontalpodautoscaler": hpaName,
		"job": "kube-state-metrics"}, 2},
		series{map[string]string{"__name__": contract.WorkloadServiceRecording, "namespace": ns, "service": service,
			"horizontalpodautoscaler": hpaName, "workload": service, "workload_kind": "Deployment"}, 1})
	for _, pod := range []string{service + "-a", service + "-b"} {
		w.series = append(w.series, series{map[string]string{"__name__": contract.PodServiceRecording, "namespace": ns, "pod": pod,
			"service": service, "workload": service, "workload_kind": "Deployment"}, 1})
	}
	return w
}

func ptr[T any](v T) *T { return &v }

func gpuPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": service}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "main", Resources: corev1.ResourceRequirements{
			Limits: corev1.ResourceList{contract.GPUResource: resource.MustParse("1")}}}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

// exporterDaemonSet is the chart's exporter DaemonSet in namespace: GPU
// Operator and GKE labels in its node affinity, the nvidia.com/gpu taint
// tolerated.
func exporterDaemonSet(namespace string) *appsv1.DaemonSet {
	term := func(key string, op corev1.NodeSelectorOperator, values ...string) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
	}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: "gpu-autoscaling-gpu-metrics-exporter", Namespace: namespace, Labels: map[string]string{
			"app.kubernetes.io/component": "exporter", "app.kubernetes.io/instance": release}},
		Spec: appsv1.DaemonSetSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{
					term("nvidia.com/gpu.present", corev1.NodeSelectorOpIn, "true"),
					term("cloud.google.com/gke-accelerator", corev1.NodeSelectorOpExists),
				}}}},
			Tolerations: []corev1.Toleration{{Key: "nvidia.com/gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			Containers:  []corev1.Container{{Name: "exporter"}},
		}}},
	}
}

func exporterPod(name, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{
			"app.kubernetes.io/component": "exporter", "app.kubernetes.io/instance": release}},
		Spec:   corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "exporter"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func gpuNode(name string, fake bool) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"nvidia.com/gpu.present": "true"}},
		Status: corev1.NodeStatus{Capacity: corev1.ResourceList{contract.GPUResource: resource.MustParse("8")}}}
	if fake {
		n.Annotations = map[string]string{KwokNodeAnnotation: "fake"}
	}
	return n
}

func apiService(name string, status apiregv1.ConditionStatus, reason, msg string) *apiregv1.APIService {
	return &apiregv1.APIService{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       apiregv1.APIServiceSpec{Service: &apiregv1.ServiceReference{Namespace: ns, Name: "gpu-autoscaling-adapter"}},
		Status: apiregv1.APIServiceStatus{Conditions: []apiregv1.APIServiceCondition{
			{Type: apiregv1.Available, Status: status, Reason: reason, Message: msg}}},
	}
}

// replace swaps the kube object of the same type, name and namespace.
func (w *world) replace(obj runtime.Object) {
	m := obj.(metav1.Object)
	for i, o := range w.kubeObjects {
		om := o.(metav1.Object)
		if fmt.Sprintf("%T", o) == fmt.Sprintf("%T", obj) && om.GetName() == m.GetName() && om.GetNamespace() == m.GetNamespace() {
			w.kubeObjects[i] = obj
			return
		}
	}
	w.kubeObjects = append(w.kubeObjects, obj)
}

func (w *world) setAPIService(svc *apiregv1.APIService) {
	for i, s := range w.apiServices {
		if s.Name == svc.Name {
			w.apiServices[i] = svc
			return
		}
	}
	w.apiServices = append(w.apiServices, svc)
}

func (w *world) removeAPIService(name string) {
	var out []*apiregv1.APIService
	for _, s := range w.apiServices {
		if s.Name != name {
			out = append(out, s)
		}
	}
	w.apiServices = out
}

// mapSeries rewrites every series of the fake Prometheus.
func (w *world) mapSeries(f func(s series) series) {
	for i := range w.series {
		w.series[i] = f(w.series[i])
	}
}

// run runs doctor against the world and returns its checks.
func (w *world) run(t *testing.T) []Check {
	t.Helper()
	kube := kubefake.NewClientset(w.kubeObjects...)
	var aggObjs []runtime.Object
	for _, s := range w.apiServices {
		aggObjs = append(aggObjs, s)
	}
	agg := aggfake.NewClientset(aggObjs...)
	custom := &cmfake.FakeCustomMetricsClient{}
	custom.AddReactor("get", "pods", func(action clienttesting.Action) (bool, runtime.Object, error) {
		get := action.(cmfake.GetForAction)
		if w.metricErr != nil {
			return true, nil, w.metricErr
		}
		if get.GetMetricName() != metric {
			return true, nil, apierrors.NewNotFound(schema.GroupResource{Resource: "pods"}, get.GetMetricName())
		}
		sel := get.GetLabelSelector()
		list := &v1beta2.MetricValueList{}
		for name, v := range w.metricValues {
			if sel != nil && !sel.Matches(labels.Set{"app": service}) {
				continue
			}
			list.Items = append(list.Items, v1beta2.MetricValue{
				DescribedObject: corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name},
				Metric:          v1beta2.MetricIdentifier{Name: metric},
				Value:           *resource.NewMilliQuantity(int64(v*1000), resource.DecimalSI),
			})
		}
		return true, list, nil
	})
	cfg := Config{
		Namespace: ns, Release: release,
		Kube: kube, Aggregator: agg, CustomMetrics: custom,
		FlapThreshold: w.threshold, GPUNodeSelector: w.gpuNodeSelector,
		Now: func() time.Time { return now },
	}
	if !w.noPrometheus {
		srv := httptest.NewServer(w.prometheusHandler(t))
		if w.deadPrometheu {
			srv.Close()
		} else {
			t.Cleanup(srv.Close)
		}
		client, err := promapi.NewClient(promapi.Config{Address: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		cfg.Prometheus = promv1.NewAPI(client)
		cfg.PrometheusURL = srv.URL
	}
	checks, err := Run(t.Context(), cfg)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return checks
}

// prometheusHandler answers /api/v1/query by evaluating the query's label
// matchers (parsed with the PromQL parser) over w.series; changes(...) is
// answered from w.changes.
func (w *world) prometheusHandler(t *testing.T) http.Handler {
	p := parser.NewParser(parser.Options{})
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			http.Error(rw, err.Error(), http.StatusBadRequest)
			return
		}
		expr, err := p.ParseExpr(r.Form.Get("query"))
		if err != nil {
			writeProm(rw, http.StatusBadRequest, map[string]any{"status": "error", "errorType": "bad_data", "error": err.Error()})
			return
		}
		pool := w.series
		var vs *parser.VectorSelector
		switch e := expr.(type) {
		case *parser.VectorSelector:
			vs = e
		case *parser.Call:
			if e.Func.Name != "changes" {
				t.Errorf("fake prometheus: unsupported function %s", e.Func.Name)
			}
			vs = e.Args[0].(*parser.MatrixSelector).VectorSelector.(*parser.VectorSelector)
			pool = w.changes
		default:
			t.Errorf("fake prometheus: unsupported query %q", r.Form.Get("query"))
		}
		result := []map[string]any{}
		for _, s := range pool {
			match := true
			for _, m := range vs.LabelMatchers {
				match = match && m.Matches(s.labels[m.Name])
			}
			if match {
				result = append(result, map[string]any{"metric": s.labels, "value": []any{float64(now.Unix()), fmt.Sprint(s.value)}})
			}
		}
		writeProm(rw, http.StatusOK, map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	})
}

func writeProm(rw http.ResponseWriter, code int, body any) {
	rw.Header().Set("Content-Type", "application/json")
	rw.WriteHeader(code)
	_ = json.NewEncoder(rw).Encode(body)
}

// find returns the checks with id (and subject, when given).
func find(checks []Check, id, subject string) []Check {
	var out []Check
	for _, c := range checks {
		if c.ID == id && (subject == "" || c.Subject == subject) {
			out = append(out, c)
		}
	}
	return out
}
