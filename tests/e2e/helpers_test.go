package e2e

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	custommetrics "k8s.io/metrics/pkg/client/custom_metrics"

	"github.com/medical-kg/gpu-autoscaling/internal/apiservice"
	"github.com/medical-kg/gpu-autoscaling/internal/behavior"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
)

const (
	namespace = contract.DefaultNamespace
	// hpaUser is the HPA controller's own identity (kcm runs with
	// --use-service-account-credentials): metrics are read as it, never as
	// admin, because system:masters would hide broken RBAC.
	hpaUser = "system:serviceaccount:kube-system:horizontal-pod-autoscaler"
)

func adminClient(t *testing.T) *kubernetes.Clientset {
	t.Helper()
	cs, err := kubernetes.NewForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// asHPAController returns a client config impersonating the HPA controller's
// service account (with the groups a service-account token carries).
func asHPAController() *rest.Config {
	cfg := env.cluster.RESTConfig()
	cfg.Impersonate = rest.ImpersonationConfig{
		UserName: hpaUser,
		Groups:   []string{"system:serviceaccounts", "system:serviceaccounts:kube-system", "system:authenticated"},
	}
	return cfg
}

// customMetricsClient talks to one version of custom.metrics.k8s.io.
func customMetricsClient(t *testing.T, cfg *rest.Config, version string) custommetrics.CustomMetricsClient {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(memory.NewMemCacheClient(dc))
	c, err := custommetrics.NewForVersionForConfig(cfg, mapper, schema.GroupVersion{Group: "custom.metrics.k8s.io", Version: version})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func resourceMetricsClient(t *testing.T, cfg *rest.Config) *metricsclient.Clientset {
	t.Helper()
	c, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls cond every interval until it returns ok or timeout passes;
// then it fails the test with cond's last message.
func eventually(t *testing.T, timeout, interval time.Duration, what string, cond func(ctx context.Context) (bool, string)) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		ok, msg := cond(ctx)
		if ok {
			return
		}
		last = msg
		select {
		case <-ctx.Done():
			t.Fatalf("%s: not reached within %s: %s", what, timeout, last)
		case <-time.After(interval):
		}
	}
}

func getHPA(ctx context.Context, cs *kubernetes.Clientset, service string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	return cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).Get(ctx, service+"-hpa", metav1.GetOptions{})
}

// runningPods lists the Running pods of a service.
func runningPods(ctx context.Context, cs *kubernetes.Clientset, service string) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + service})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// replicaSample is one observation of a Deployment's desired replicas.
type replicaSample struct {
	at       time.Time
	replicas int32
}

// replicaTracker records a Deployment's spec.replicas and its HPA's
// status.desiredReplicas every 250 ms.
type replicaTracker struct {
	service string
	mu      sync.Mutex
	samples []replicaSample
	// desiredChanged records when the HPA's desiredReplicas first moved
	// after mark() was called.
	markAt        time.Time
	markDesired   int32
	desiredMoveAt time.Time
	// metricMoveAt records when the metrics in the HPA's status first asked
	// for another count than markDesired (hpastatus.Recommendation): the
	// metric path's end. desiredMoveAt minus it is what the behavior
	// (stabilization window) added.
	metricMoveAt time.Time
	stop         chan struct{}
	done         chan struct{}
}

func trackReplicas(cs *kubernetes.Clientset, service string) *replicaTracker {
	rt := &replicaTracker{service: service, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(rt.done)
		for {
			rt.sample(cs)
			select {
			case <-rt.stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}()
	return rt
}

// sample records the Deployment's replicas and notices the HPA's move.
func (rt *replicaTracker) sample(cs *kubernetes.Clientset) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, rt.service, metav1.GetOptions{})
	hpa, herr := getHPA(ctx, cs, rt.service)
	cancel()
	now := time.Now()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if err == nil && dep.Spec.Replicas != nil {
		if n := len(rt.samples); n == 0 || rt.samples[n-1].replicas != *dep.Spec.Replicas {
			rt.samples = append(rt.samples, replicaSample{at: now, replicas: *dep.Spec.Replicas})
		}
	}
	if herr != nil || rt.markAt.IsZero() {
		return
	}
	if rec, ok := hpastatus.Recommendation(hpa, hpastatus.DefaultTolerance); ok && rt.metricMoveAt.IsZero() && rec != rt.markDesired {
		rt.metricMoveAt = now
	}
	if rt.desiredMoveAt.IsZero() && hpa.Status.DesiredReplicas != 0 && hpa.Status.DesiredReplicas != rt.markDesired {
		rt.desiredMoveAt = now
		if rt.metricMoveAt.IsZero() { // both within one poll
			rt.metricMoveAt = now
		}
	}
}

// mark notes a load step: the latency to the HPA's next desiredReplicas
// change is measured from here. The baseline is the HPA's desiredReplicas,
// or the Deployment's replicas while the HPA has computed none yet.
func (rt *replicaTracker) mark(ctx context.Context, cs *kubernetes.Clientset) {
	hpa, err := getHPA(ctx, cs, rt.service)
	dep, derr := cs.AppsV1().Deployments(namespace).Get(ctx, rt.service, metav1.GetOptions{})
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.markAt = time.Now()
	rt.desiredMoveAt, rt.metricMoveAt = time.Time{}, time.Time{}
	rt.markDesired = 0
	if err == nil {
		rt.markDesired = hpa.Status.DesiredReplicas
	}
	if rt.markDesired == 0 && derr == nil && dep.Spec.Replicas != nil {
		rt.markDesired = *dep.Spec.Replicas
	}
}

// latency is the time from mark to the HPA's desiredReplicas change (0 if none yet).
func (rt *replicaTracker) latency() time.Duration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return since(rt.markAt, rt.desiredMoveAt)
}

// metricLatency is the metric path alone: the time from mark until the
// metrics the HPA reports ask for another count (0 if not yet).
func (rt *replicaTracker) metricLatency() time.Duration {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return since(rt.markAt, rt.metricMoveAt)
}

// since is end − start, or 0 when end has not happened.
func since(start, end time.Time) time.Duration {
	if end.IsZero() {
		return 0
	}
	return end.Sub(start)
}

func (rt *replicaTracker) close() {
	close(rt.stop)
	<-rt.done
}

func (rt *replicaTracker) history() []replicaSample {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return append([]replicaSample(nil), rt.samples...)
}

func (rt *replicaTracker) String() string {
	var b strings.Builder
	var t0 time.Time
	for i, s := range rt.history() {
		if i == 0 {
			t0 = s.at
		}
		fmt.Fprintf(&b, " %d@%.0fs", s.replicas, s.at.Sub(t0).Seconds())
	}
	return strings.TrimSpace(b.String())
}

// checkRatePolicy verifies every change of the history against the HPA's
// own behavior policies, as the controller applies them
// (behavior.PolicyViolations, 2 s of polling slack).
func checkRatePolicy(t *testing.T, cs *kubernetes.Clientset, rt *replicaTracker) {
	t.Helper()
	h, err := getHPA(t.Context(), cs, rt.service)
	if err != nil {
		t.Fatal(err)
	}
	var points []behavior.Point
	for _, s := range rt.history() {
		points = append(points, behavior.Point{At: s.at, Replicas: s.replicas})
	}
	for _, v := range behavior.PolicyViolations(points, h.Spec.Behavior, 2*time.Second) {
		t.Errorf("%s: %s; history %s", rt.service, v, rt)
	}
}

// promAPI is the HTTP API of the cluster's Prometheus.
func promAPI() (promv1.API, error) {
	c, err := promapi.NewClient(promapi.Config{Address: env.cluster.PrometheusURL()})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(c), nil
}

// prometheusAPI is promAPI for a test: failing to build it fails the test.
func prometheusAPI(t *testing.T) promv1.API {
	t.Helper()
	api, err := promAPI()
	if err != nil {
		t.Fatal(err)
	}
	return api
}

// promQuery runs an instant query against the sandbox Prometheus.
func promQuery(ctx context.Context, query string) (model.Vector, error) {
	api, err := promAPI()
	if err != nil {
		return nil, err
	}
	v, _, _, err := api.Query(ctx, query, time.Now())
	if err != nil {
		return nil, fmt.Errorf("query %q: %w", query, err)
	}
	vec, ok := v.(model.Vector)
	if !ok {
		return nil, fmt.Errorf("query %q: got %s, want a vector", query, v.Type())
	}
	return vec, nil
}

// podMetricValues reads a Pods custom metric for a service's pods as the HPA
// controller does, through the given API version.
func podMetricValues(t *testing.T, c custommetrics.CustomMetricsClient, service, metric string) (map[string]float64, error) {
	t.Helper()
	sel, err := labels.Parse("app=" + service)
	if err != nil {
		return nil, err
	}
	list, err := c.NamespacedMetrics(namespace).GetForObjects(schema.GroupKind{Kind: "Pod"}, sel, metric, labels.Everything())
	if err != nil {
		return nil, err
	}
	out := map[string]float64{}
	for _, item := range list.Items {
		out[item.DescribedObject.Name] = item.Value.AsApproximateFloat64()
	}
	return out, nil
}

// scaleUpWindow is the HPA's scale-up stabilization window (0 when its
// behavior sets none: the controller's default for scale-up).
func scaleUpWindow(h *autoscalingv2.HorizontalPodAutoscaler) time.Duration {
	if b := h.Spec.Behavior; b != nil && b.ScaleUp != nil && b.ScaleUp.StabilizationWindowSeconds != nil {
		return time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
	}
	return 0
}

// podsTarget returns an HPA's AverageValue target for a Pods metric; the
// test fails when the HPA has none.
func podsTarget(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, metric string) float64 {
	t.Helper()
	v, ok := hpastatus.PodsTarget(hpa, metric)
	if !ok {
		t.Fatalf("HPA %s has no Pods target for %s", hpa.Name, metric)
	}
	return v
}

// resourceTarget returns an HPA's averageUtilization for a resource; the
// test fails when the HPA has none.
func resourceTarget(t *testing.T, hpa *autoscalingv2.HorizontalPodAutoscaler, name corev1.ResourceName) float64 {
	t.Helper()
	v, ok := hpastatus.ResourceTarget(hpa, name)
	if !ok {
		t.Fatalf("HPA %s has no %s utilization target", hpa.Name, name)
	}
	return v
}

// apiServiceAvailable asks the aggregator (as admin) whether an APIService is Available.
func apiServiceAvailable(ctx context.Context, name string) (bool, error) {
	agg, err := aggregator.NewForConfig(env.cluster.RESTConfig())
	if err != nil {
		return false, err
	}
	return apiservice.Available(ctx, agg, name)
}

// restMapper maps manifests' kinds to resources.
func restMapper(t *testing.T) meta.RESTMapper {
	t.Helper()
	dc, err := discovery.NewDiscoveryClientForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	groups, err := restmapper.GetAPIGroupResources(dc)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	return restmapper.NewDiscoveryRESTMapper(groups)
}
