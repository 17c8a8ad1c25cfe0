package e2e

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/logger"
	authorizationv1 "k8s.io/api/authorization/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	custommetrics "k8s.io/metrics/pkg/client/custom_metrics"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// The four services of the contract and the load each gets in the
// scale-up step. Expected replica counts are computed from the HPA's own
// targets, not hard-coded.
const (
	svcManagement = "gpu-management-service"
	svcEmbedding  = "embedding-service"
	svcReranking  = "reranking-service"
	svcDocling    = "docling-vlm-service"
)

var apiServices = contract.CustomMetricsAPIServices()

// TestE2E runs the suite in order on the one sandbox TestMain started.
func TestE2E(t *testing.T) {
	s := need(t)
	t.Logf("figure: sandbox cold start %s (binaries cached), chart + GPU plane install %s",
		s.coldStart.Round(time.Millisecond), s.install.Round(time.Millisecond))
	steps := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"rendered objects exist", testRenderedObjectsExist},
		{"APIServices available with a verified caBundle", testAPIServices},
		{"every HPA metric served for each pod as the HPA controller", testMetricsServedAsHPA},
		{"GPU series carry the workload's namespace and pod", testSeriesAttribution},
		{"closed loop scales up", testClosedLoopUp},
		{"adapter killed keeps replicas, loop resumes", testAdapterFault},
		{"helm upgrade keeps replicas, rollback", testUpgradeRollback},
		{"closed loop scales down", testClosedLoopDown},
		{"exporter killed goes stale alone", testExporterFault},
		{"RBAC matrix", testRBACMatrix},
		{"uninstall leaves nothing cluster-wide", testUninstall},
	}
	for _, st := range steps {
		if !t.Run(st.name, st.fn) && (st.name == "closed loop scales up" || st.name == "rendered objects exist") {
			t.Fatalf("%q failed; later steps depend on it", st.name)
		}
	}
}

// manifestObjects returns the objects of a release's manifest.
func manifestObjects(t *testing.T, release string) []*unstructured.Unstructured {
	t.Helper()
	opts := env.plane.HelmOptions()
	opts.Logger = logger.Discard
	out, err := helm.RunHelmCommandAndGetStdOutContextE(t, t.Context(), opts, "get", "manifest", release)
	if err != nil {
		t.Fatalf("helm get manifest %s: %v", release, err)
	}
	var objs []*unstructured.Unstructured
	for _, doc := range strings.Split(out, "\n---") {
		doc = strings.TrimSpace(doc)
		if doc == "" || doc == "---" {
			continue
		}
		u := &unstructured.Unstructured{}
		if err := yaml.Unmarshal([]byte(doc), &u.Object); err != nil {
			t.Fatalf("manifest of %s: %v", release, err)
		}
		if len(u.Object) == 0 {
			continue
		}
		objs = append(objs, u)
	}
	if len(objs) == 0 {
		t.Fatalf("release %s has an empty manifest", release)
	}
	return objs
}

func testRenderedObjectsExist(t *testing.T) {
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(env.sb.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restMapper(t)
	opts := env.plane.Options()
	kinds := map[string]int{}
	for _, release := range []string{opts.Release, opts.WorkloadsRelease} {
		for _, obj := range manifestObjects(t, release) {
			gvk := obj.GroupVersionKind()
			kinds[gvk.Kind]++
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s %s: kind not served by the API server: %v", gvk, obj.GetName(), err)
				continue
			}
			ns := obj.GetNamespace()
			if m.Scope.Name() == "namespace" && ns == "" {
				ns = namespace
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == "namespace" {
				ri = dyn.Resource(m.Resource).Namespace(ns)
			}
			live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Errorf("%s %s/%s rendered by %s: %v", gvk.Kind, ns, obj.GetName(), release, err)
				continue
			}
			if release == opts.Release && live.GetLabels()["app.kubernetes.io/instance"] != release {
				t.Errorf("%s %s: label app.kubernetes.io/instance=%q, want %q", gvk.Kind, obj.GetName(),
					live.GetLabels()["app.kubernetes.io/instance"], release)
			}
		}
	}
	t.Logf("rendered objects found live, by kind: %v", kinds)
	t.Logf("exporter scraped per %s (job %q)", env.plane.ScrapeSource(), env.plane.ScrapeJobName())
	if !strings.HasPrefix(env.plane.ScrapeSource(), "ServiceMonitor") {
		t.Errorf("exporter scrape job from %q; want the chart's ServiceMonitor (CRD registered, serviceMonitor.enabled)", env.plane.ScrapeSource())
	}
	for _, k := range []string{"HorizontalPodAutoscaler", "APIService", "Deployment", "DaemonSet", "ClusterRole", "ServiceMonitor"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rendered; the chart contract expects one", k)
		}
	}
}

func testAPIServices(t *testing.T) {
	ctx := context.Background()
	ac, err := aggregator.NewForConfig(env.sb.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cs := adminClient(t)
	for _, name := range apiServices {
		svc, err := ac.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("APIService %s: %v", name, err)
		}
		if ok, err := apiServiceAvailable(ctx, name); !ok {
			t.Errorf("APIService %s not Available: %v", name, err)
		}
		if svc.Spec.InsecureSkipTLSVerify {
			t.Errorf("APIService %s skips TLS verification", name)
		}
		if len(svc.Spec.CABundle) == 0 || svc.Spec.Service == nil {
			t.Fatalf("APIService %s has no caBundle or service", name)
		}
		// The serving certificate the adapter presents must chain to the
		// caBundle for the name the aggregator checks: <service>.<namespace>.svc.
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(svc.Spec.CABundle) {
			t.Fatalf("APIService %s: caBundle holds no PEM certificate", name)
		}
		crtPath := ""
		for _, a := range env.plane.AdapterArgs() {
			if v, ok := strings.CutPrefix(a, "--tls-cert-file="); ok {
				crtPath = v
			}
		}
		secrets, err := cs.CoreV1().Secrets(svc.Spec.Service.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/tls"})
		if err != nil {
			t.Fatal(err)
		}
		verified := false
		for _, sec := range secrets.Items {
			block, _ := pem.Decode(sec.Data["tls.crt"])
			if block == nil {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				continue
			}
			dns := fmt.Sprintf("%s.%s.svc", svc.Spec.Service.Name, svc.Spec.Service.Namespace)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: dns}); err == nil {
				verified = true
				t.Logf("%s: caBundle verifies Secret %s for %s (adapter serves %s)", name, sec.Name, dns, crtPath)
			}
		}
		if !verified {
			t.Errorf("APIService %s: no kubernetes.io/tls Secret in %s verifies against its caBundle", name, svc.Spec.Service.Namespace)
		}
	}
}

func testMetricsServedAsHPA(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	hpas, err := cs.AutoscalingV2().HorizontalPodAutoscalers(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(hpas.Items) != 4 {
		t.Errorf("got %d HPAs in %s, want 4 (one per service)", len(hpas.Items), namespace)
	}
	asHPA := asHPAController()
	v1beta1 := customMetricsClient(t, asHPA, "v1beta1")
	v1beta2 := customMetricsClient(t, asHPA, "v1beta2")
	rm := resourceMetricsClient(t, asHPA)
	for _, hpa := range hpas.Items {
		service := hpa.Spec.ScaleTargetRef.Name
		for _, metric := range hpastatus.PodsMetrics(&hpa) {
			for version, c := range map[string]custommetrics.CustomMetricsClient{"v1beta1": v1beta1, "v1beta2": v1beta2} {
				eventually(t, 90*time.Second, time.Second, fmt.Sprintf("%s %s for every pod via %s", service, metric, version),
					func(ctx context.Context) (bool, string) {
						pods, err := runningPods(ctx, cs, service)
						if err != nil {
							return false, err.Error()
						}
						values, err := podMetricValues(t, c, service, metric)
						if err != nil {
							return false, err.Error()
						}
						for _, p := range pods {
							if _, ok := values[p.Name]; !ok {
								return false, fmt.Sprintf("no value for pod %s (got %v)", p.Name, values)
							}
						}
						return len(pods) > 0, fmt.Sprintf("%d running pods", len(pods))
					})
			}
		}
		if res := hpastatus.ResourceMetrics(&hpa); len(res) > 0 {
			eventually(t, 90*time.Second, time.Second, fmt.Sprintf("%s resource metrics %v for every pod", service, res),
				func(ctx context.Context) (bool, string) {
					pods, err := runningPods(ctx, cs, service)
					if err != nil {
						return false, err.Error()
					}
					// The HPA controller lists pod metrics by its selector (its
					// bootstrap role grants list, not get).
					list, err := rm.MetricsV1beta1().PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + service})
					if err != nil {
						return false, err.Error()
					}
					byName := map[string]int{}
					for i, pm := range list.Items {
						byName[pm.Name] = i
					}
					for _, p := range pods {
						i, ok := byName[p.Name]
						if !ok {
							return false, fmt.Sprintf("no metrics for pod %s yet", p.Name)
						}
						pm := list.Items[i]
						for _, r := range res {
							found := false
							for _, c := range pm.Containers {
								if _, ok := c.Usage[r]; ok {
									found = true
								}
							}
							if !found {
								return false, fmt.Sprintf("pod %s has no %s usage", p.Name, r)
							}
						}
					}
					return len(pods) > 0, ""
				})
		}
	}
	// The chart grants metric reads to nobody else: a workload's service
	// account is refused by the adapter's delegated authorization.
	outsider := env.sb.RESTConfig()
	outsider.Impersonate.UserName = "system:serviceaccount:" + namespace + ":default"
	outsider.Impersonate.Groups = []string{"system:serviceaccounts", "system:authenticated"}
	if _, err := podMetricValues(t, customMetricsClient(t, outsider, "v1beta2"), svcEmbedding, "gpu_utilization_percent"); !apierrors.IsForbidden(err) {
		t.Errorf("custom metrics read as %s: got %v, want Forbidden", outsider.Impersonate.UserName, err)
	}
}

// testSeriesAttribution checks in Prometheus what the HPA Pods metrics rest
// on: each GPU a workload pod holds is one series labelled with that pod
// (pod-resources attribution, kept by honor_labels), never exported_pod.
func testSeriesAttribution(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	for _, svc := range []string{svcManagement, svcEmbedding, svcReranking, svcDocling} {
		eventually(t, 30*time.Second, time.Second, svc+" GPU series per pod", func(ctx context.Context) (bool, string) {
			pods, err := runningPods(ctx, cs, svc)
			if err != nil {
				return false, err.Error()
			}
			v, err := promQuery(ctx, fmt.Sprintf(`count by (pod) (gpu_utilization_percent{namespace=%q, pod=~"%s-.*"})`, namespace, svc))
			if err != nil {
				return false, err.Error()
			}
			got := map[string]int{}
			for _, s := range v {
				got[string(s.Metric["pod"])] = int(s.Value)
			}
			for _, p := range pods {
				gpus := p.Spec.Containers[0].Resources.Limits[contract.GPUResource]
				if got[p.Name] != int(gpus.Value()) {
					return false, fmt.Sprintf("pod %s: %d GPU series, want %d (series by pod: %v)", p.Name, got[p.Name], gpus.Value(), got)
				}
			}
			return len(pods) > 0 && len(got) == len(pods), fmt.Sprintf("series by pod %v for %d running pods", got, len(pods))
		})
	}
	v, err := promQuery(ctx, `count({__name__=~"gpu_.*", exported_pod!=""})`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 0 {
		t.Errorf("%v GPU series carry exported_pod: the scrape job lost honor_labels", v)
	}
}

// loadStep is the closed loop's scale-up load for each service.
type loadStep struct {
	service string
	demand  loadmodel.Demand
	// want computes the expected replicas from the HPA and running pods.
	want int
}

// scaleUpSteps derives each service's demand from its HPA targets so that
// the expected replica count follows from the metric each test is about.
func scaleUpSteps(t *testing.T) []loadStep {
	t.Helper()
	cs := adminClient(t)
	ctx := context.Background()
	var steps []loadStep
	get := func(svc string) (*autoscalingv2.HorizontalPodAutoscaler, error) { return getHPA(ctx, cs, svc) }
	// podsStep loads a service with `worth` pods' worth of its Pods metric's
	// target; set puts that total into the right field of the demand.
	podsStep := func(svc, metric string, worth float64, set func(d *loadmodel.Demand, total float64)) loadStep {
		t.Helper()
		h, err := get(svc)
		if err != nil {
			t.Fatal(err)
		}
		target := podsTarget(t, h, metric)
		var d loadmodel.Demand
		set(&d, worth*target)
		return loadStep{svc, d, loadmodel.DesiredReplicas(worth*target, target, int(*h.Spec.MinReplicas), int(h.Spec.MaxReplicas))}
	}
	steps = append(steps,
		// embedding: GPU utilization, 5 pods' worth at the target.
		podsStep(svcEmbedding, "gpu_utilization_percent", 5, func(d *loadmodel.Demand, v float64) { d.GPUUtilization = v }),
		// reranking: GPU utilization, 3.75 pods' worth → 4.
		podsStep(svcReranking, "gpu_utilization_percent", 3.75, func(d *loadmodel.Demand, v float64) { d.GPUUtilization = v }),
		// docling-vlm: GPU memory, 3.5 pods' worth → 4; utilization stays low.
		podsStep(svcDocling, "gpu_memory_usage_mb", 3.5, func(d *loadmodel.Demand, v float64) { d.GPUMemoryMB, d.GPUUtilization = v, 40 }),
	)
	// gpu-management: cpu (Resource metric through metrics-server), 3.5
	// pods' worth of the cpu target → 4; memory at 30 % of requests at 4 pods.
	mg, err := get(svcManagement)
	if err != nil {
		t.Fatal(err)
	}
	pods, err := runningPods(ctx, cs, svcManagement)
	if err != nil || len(pods) == 0 {
		t.Fatalf("%s: no running pods (%v)", svcManagement, err)
	}
	cpuReq := pods[0].Spec.Containers[0].Resources.Requests.Cpu().MilliValue()
	memReq := pods[0].Spec.Containers[0].Resources.Requests.Memory().Value()
	cpuTarget := resourceTarget(t, mg, corev1.ResourceCPU)
	if cpuReq == 0 || cpuTarget == 0 {
		t.Fatalf("%s: cpu request %dm, HPA cpu target %v%%: both are needed", svcManagement, cpuReq, cpuTarget)
	}
	perPodTarget := float64(cpuReq) * cpuTarget / 100
	wantMg := loadmodel.DesiredReplicas(3.5*perPodTarget, perPodTarget, int(*mg.Spec.MinReplicas), int(mg.Spec.MaxReplicas))
	steps = append(steps, loadStep{svcManagement, loadmodel.Demand{CPUMillicores: 3.5 * perPodTarget,
		MemoryMiB: float64(wantMg) * float64(memReq) / (1 << 20) * 0.30}, wantMg})
	return steps
}

// loop state shared between the closed-loop steps.
var (
	trackersMu sync.Mutex
	trackers   = map[string]*replicaTracker{}
	upSteps    []loadStep
)

func tracker(cs *kubernetes.Clientset, svc string) *replicaTracker {
	trackersMu.Lock()
	defer trackersMu.Unlock()
	if trackers[svc] == nil {
		trackers[svc] = trackReplicas(cs, svc)
	}
	return trackers[svc]
}

func testClosedLoopUp(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	upSteps = scaleUpSteps(t)
	for _, st := range upSteps {
		tracker(cs, st.service).mark(ctx, cs)
		env.plane.SetDemand(st.service, st.demand)
		t.Logf("load step: %s demand %+v → want %d replicas", st.service, st.demand, st.want)
	}
	stepAt := time.Now()
	var wg sync.WaitGroup
	for _, st := range upSteps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			reached := waitReplicas(t, cs, st.service, st.want, 4*time.Minute)
			rt := tracker(cs, st.service)
			if reached {
				window := time.Duration(0)
				if h, err := getHPA(ctx, cs, st.service); err == nil && h.Spec.Behavior != nil && h.Spec.Behavior.ScaleUp != nil &&
					h.Spec.Behavior.ScaleUp.StabilizationWindowSeconds != nil {
					window = time.Duration(*h.Spec.Behavior.ScaleUp.StabilizationWindowSeconds) * time.Second
				}
				t.Logf("figure: %s scaled to %d in %s; load step → HPA desiredReplicas change %s (exporter %s + scrape %s + HPA sync %s = %s; the behavior's scale-up stabilization window %s can add to it); history %s",
					st.service, st.want, time.Since(stepAt).Round(time.Second), rt.latency().Round(100*time.Millisecond),
					exporterInterval, scrapeInterval, hpaSyncPeriod, exporterInterval+scrapeInterval+hpaSyncPeriod, window, rt)
			}
		}()
	}
	wg.Wait()
	for _, st := range upSteps {
		checkRatePolicy(t, tracker(cs, st.service), 15*time.Second)
	}
	// The memory Resource metric flows too: gpu-management's HPA reports the
	// memory utilization its pods' usage implies (30 % of requests).
	eventually(t, 90*time.Second, 2*time.Second, "gpu-management memory utilization ≈ 30 %", func(ctx context.Context) (bool, string) {
		h, err := getHPA(ctx, cs, svcManagement)
		if err != nil {
			return false, err.Error()
		}
		for _, m := range h.Status.CurrentMetrics {
			if m.Resource != nil && m.Resource.Name == corev1.ResourceMemory && m.Resource.Current.AverageUtilization != nil {
				u := *m.Resource.Current.AverageUtilization
				return math.Abs(float64(u)-30) <= 3, fmt.Sprintf("memory utilization %d%%", u)
			}
		}
		return false, "no memory metric in status"
	})
}

// waitReplicas waits until the Deployment wants n replicas and n pods run.
func waitReplicas(t *testing.T, cs *kubernetes.Clientset, svc string, n int, timeout time.Duration) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	last := ""
	for {
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svc, metav1.GetOptions{})
		if err == nil && dep.Spec.Replicas != nil {
			pods, _ := runningPods(ctx, cs, svc)
			if int(*dep.Spec.Replicas) == n && len(pods) == n {
				tracker(cs, svc).sample(cs)
				return true
			}
			h, _ := getHPA(ctx, cs, svc)
			status := ""
			if h != nil {
				c, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
				status = fmt.Sprintf("HPA desired %d, ScalingActive %s: %s", h.Status.DesiredReplicas, c.Reason, c.Message)
			}
			last = fmt.Sprintf("replicas %d, running %d; %s", *dep.Spec.Replicas, len(pods), status)
		} else if err != nil {
			last = err.Error()
		}
		select {
		case <-ctx.Done():
			t.Errorf("%s: want %d replicas within %s: %s (history %s)", svc, n, timeout, last, tracker(cs, svc))
			return false
		case <-time.After(time.Second):
		}
	}
}

func testAdapterFault(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svcEmbedding, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	before := *dep.Spec.Replicas
	if err := env.plane.KillAdapter(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	eventually(t, 90*time.Second, time.Second, "v1beta1.custom.metrics.k8s.io unavailable", func(ctx context.Context) (bool, string) {
		ok, err := apiServiceAvailable(ctx, apiServices[0])
		return !ok, fmt.Sprint(err)
	})
	t.Logf("figure: adapter killed → APIService unavailable in %s", time.Since(killedAt).Round(100*time.Millisecond))
	eventually(t, 60*time.Second, time.Second, "embedding HPA reports it cannot get its GPU metric", func(ctx context.Context) (bool, string) {
		h, err := getHPA(ctx, cs, svcEmbedding)
		if err != nil {
			return false, err.Error()
		}
		c, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
		return c.Status == corev1.ConditionFalse && strings.Contains(c.Reason, "Failed"), fmt.Sprintf("ScalingActive %s %s: %s", c.Status, c.Reason, c.Message)
	})
	// With the metric gone, replicas must hold, not fall to min (cpu/memory
	// alone would say "scale down"). A wrong scale-down would only show after
	// the HPA's scale-down stabilization window, so hold past it.
	h, err := getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	hold := 4 * hpaSyncPeriod
	if b := h.Spec.Behavior; b != nil && b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
		hold = max(hold, time.Duration(*b.ScaleDown.StabilizationWindowSeconds)*time.Second+2*hpaSyncPeriod)
	}
	t.Logf("holding %s (scale-down window + 2 sync periods) with custom metrics unavailable", hold)
	deadline := time.Now().Add(hold)
	for time.Now().Before(deadline) {
		dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svcEmbedding, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *dep.Spec.Replicas != before {
			t.Fatalf("embedding replicas changed %d → %d while custom metrics were unavailable", before, *dep.Spec.Replicas)
		}
		time.Sleep(time.Second)
	}
	if err := env.plane.StartAdapter(ctx); err != nil {
		t.Fatal(err)
	}
	if err := env.plane.WaitAPIServices(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, time.Second, "embedding HPA active again", func(ctx context.Context) (bool, string) {
		h, err := getHPA(ctx, cs, svcEmbedding)
		if err != nil {
			return false, err.Error()
		}
		c, _ := hpastatus.FindCondition(h, autoscalingv2.ScalingActive)
		return c.Status == corev1.ConditionTrue, fmt.Sprintf("ScalingActive %s %s: %s", c.Status, c.Reason, c.Message)
	})
	t.Logf("figure: adapter back → HPA active again %s after the kill", time.Since(killedAt).Round(time.Second))
}

func testUpgradeRollback(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	opts := env.plane.HelmOptions()
	chart := env.plane.Options()
	replicasOf := func() map[string]int32 {
		out := map[string]int32{}
		for _, svc := range []string{svcManagement, svcEmbedding, svcReranking, svcDocling} {
			dep, err := cs.AppsV1().Deployments(namespace).Get(ctx, svc, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			out[svc] = *dep.Spec.Replicas
		}
		return out
	}
	before := replicasOf()
	opts.SetValues["services.embedding-service.maxReplicas"] = "12"
	if err := helm.UpgradeContextE(t, ctx, opts, chart.ChartDir, chart.Release); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	h, err := getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.MaxReplicas != 12 {
		t.Errorf("after upgrade maxReplicas = %d, want 12", h.Spec.MaxReplicas)
	}
	// The workloads chart upgraded with its own values must not reset what
	// the HPAs decided either.
	wopts := env.plane.HelmOptions()
	wopts.ValuesFiles = chart.WorkloadsValuesFiles
	wopts.SetValues = nil
	if err := helm.UpgradeContextE(t, ctx, wopts, chart.WorkloadsChartDir, chart.WorkloadsRelease); err != nil {
		t.Fatalf("helm upgrade %s: %v", chart.WorkloadsRelease, err)
	}
	if after := replicasOf(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("replicas changed by the upgrades: before %v, after %v", before, after)
	}
	// The chart reuses its CA and certificate on upgrade: the running adapter
	// (started with the first revision's files) still serves both APIServices.
	for _, name := range apiServices {
		eventually(t, 30*time.Second, time.Second, name+" Available after upgrade", func(ctx context.Context) (bool, string) {
			ok, err := apiServiceAvailable(ctx, name)
			return ok, fmt.Sprint(err)
		})
	}
	if err := helm.RollbackContextE(t, ctx, opts, chart.Release, "1"); err != nil {
		t.Fatalf("helm rollback: %v", err)
	}
	h, err = getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.MaxReplicas != 10 {
		t.Errorf("after rollback maxReplicas = %d, want 10", h.Spec.MaxReplicas)
	}
	if after := replicasOf(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("replicas changed by the rollback: before %v, after %v", before, after)
	}
}

func testClosedLoopDown(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	if len(upSteps) == 0 {
		t.Skip("closed loop up did not run")
	}
	for _, st := range upSteps {
		tracker(cs, st.service).mark(ctx, cs)
		env.plane.SetDemand(st.service, loadmodel.Demand{})
	}
	stepAt := time.Now()
	var wg sync.WaitGroup
	for _, st := range upSteps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := getHPA(ctx, cs, st.service)
			if err != nil {
				t.Error(err)
				return
			}
			min := int(*h.Spec.MinReplicas)
			if waitReplicas(t, cs, st.service, min, 4*time.Minute) {
				rt := tracker(cs, st.service)
				t.Logf("figure: %s back to min %d in %s; load drop → HPA desiredReplicas change %s (includes the scale-down stabilization window); history %s",
					st.service, min, time.Since(stepAt).Round(time.Second), rt.latency().Round(100*time.Millisecond), rt)
			}
		}()
	}
	wg.Wait()
	for _, st := range upSteps {
		checkRatePolicy(t, tracker(cs, st.service), 15*time.Second)
	}
}

func testExporterFault(t *testing.T) {
	ctx := context.Background()
	nodes := env.sb.Nodes()
	victim := nodes[0]
	count := func(ctx context.Context, node string) (int, error) {
		v, err := promQuery(ctx, fmt.Sprintf(`count(gpu_utilization_percent{node=%q})`, node))
		if err != nil || len(v) == 0 {
			return 0, err
		}
		return int(v[0].Value), nil
	}
	for _, n := range nodes {
		eventually(t, 30*time.Second, time.Second, "GPU series of "+n, func(ctx context.Context) (bool, string) {
			c, err := count(ctx, n)
			return c == env.sb.Options().GPUsPerNode, fmt.Sprintf("%d series (%v)", c, err)
		})
	}
	if err := env.plane.KillExporter(victim); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	eventually(t, 60*time.Second, time.Second, "series of "+victim+" stale", func(ctx context.Context) (bool, string) {
		c, err := count(ctx, victim)
		return c == 0 && err == nil, fmt.Sprintf("%d series (%v)", c, err)
	})
	t.Logf("figure: exporter killed → its series stale in Prometheus after %s", time.Since(killedAt).Round(100*time.Millisecond))
	v, err := promQuery(ctx, fmt.Sprintf(`up{job=%q,instance=%q}`, env.plane.ScrapeJobName(), victim))
	if err != nil || len(v) != 1 || v[0].Value != 0 {
		t.Errorf("up for %s: got %v (%v), want 0", victim, v, err)
	}
	for _, n := range nodes[1:] {
		if c, err := count(ctx, n); c != env.sb.Options().GPUsPerNode {
			t.Errorf("node %s: %d GPU series while %s is down (%v), want %d", n, c, victim, err, env.sb.Options().GPUsPerNode)
		}
	}
	if err := env.plane.StartExporter(ctx, victim); err != nil {
		t.Fatal(err)
	}
	eventually(t, 60*time.Second, time.Second, "series of "+victim+" back", func(ctx context.Context) (bool, string) {
		c, err := count(ctx, victim)
		return c == env.sb.Options().GPUsPerNode, fmt.Sprintf("%d series (%v)", c, err)
	})
}

func testRBACMatrix(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	sas, err := cs.CoreV1().ServiceAccounts(namespace).List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/instance=" + env.plane.Options().Release})
	if err != nil {
		t.Fatal(err)
	}
	byComponent := map[string]string{}
	for _, sa := range sas.Items {
		byComponent[sa.Labels["app.kubernetes.io/component"]] = "system:serviceaccount:" + namespace + ":" + sa.Name
	}
	adapter, exporter := byComponent["adapter"], byComponent["exporter"]
	if adapter == "" || exporter == "" {
		t.Fatalf("service accounts by component: %v; want adapter and exporter", byComponent)
	}
	type check struct {
		user  string
		attrs authorizationv1.ResourceAttributes
		allow bool
	}
	ra := func(verb, group, resource, ns, name string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: ns, Name: name}
	}
	checks := []check{
		// The adapter: delegated authn/authz, the authentication ConfigMap, read-only object mapping.
		{adapter, ra("create", "authentication.k8s.io", "tokenreviews", "", ""), true},
		{adapter, ra("create", "authorization.k8s.io", "subjectaccessreviews", "", ""), true},
		{adapter, ra("get", "", "configmaps", "kube-system", "extension-apiserver-authentication"), true},
		{adapter, ra("list", "", "pods", namespace, ""), true},
		{adapter, ra("list", "", "namespaces", "", ""), true},
		{adapter, ra("get", "", "nodes", "", "gpu-node-0"), true},
		{adapter, ra("get", "", "secrets", namespace, ""), false},
		{adapter, ra("list", "", "secrets", "kube-system", ""), false},
		{adapter, ra("*", "*", "*", "", ""), false},
		{adapter, ra("create", "", "pods", namespace, ""), false},
		{adapter, ra("delete", "apps", "deployments", "default", ""), false},
		{adapter, ra("update", "autoscaling", "horizontalpodautoscalers", namespace, ""), false},
		{adapter, ra("create", "apiregistration.k8s.io", "apiservices", "", ""), false},
		{adapter, ra("update", "", "configmaps", "kube-system", "extension-apiserver-authentication"), false},
		{adapter, ra("create", "", "configmaps", namespace, ""), false},
		{adapter, ra("list", "", "configmaps", "default", ""), false},
		{adapter, ra("create", "authentication.k8s.io", "serviceaccounts/token", namespace, ""), false},
		{adapter, ra("impersonate", "", "users", "", ""), false},
		// The exporter never calls the API.
		{exporter, ra("list", "", "pods", namespace, ""), false},
		{exporter, ra("get", "", "secrets", namespace, ""), false},
		{exporter, ra("*", "*", "*", "", ""), false},
		{exporter, ra("get", "", "nodes", "", ""), false},
		// The HPA controller reads the metrics it scales on.
		{hpaUser, ra("list", "custom.metrics.k8s.io", "pods", namespace, ""), true},
		{hpaUser, ra("list", "metrics.k8s.io", "pods", namespace, ""), true},
		{hpaUser, ra("get", "", "secrets", namespace, ""), false},
	}
	for _, c := range checks {
		groups := []string{"system:serviceaccounts", "system:authenticated"}
		if parts := strings.Split(c.user, ":"); len(parts) == 4 {
			groups = append(groups, "system:serviceaccounts:"+parts[2])
		}
		attrs := c.attrs
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: c.user, Groups: groups, ResourceAttributes: &attrs}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != c.allow {
			t.Errorf("%s %s %s/%s in %q (name %q): allowed=%t, want %t (%s)", c.user, attrs.Verb, attrs.Group,
				attrs.Resource, attrs.Namespace, attrs.Name, got.Status.Allowed, c.allow, got.Status.Reason)
		}
	}
}

func testUninstall(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	release := env.plane.Options().Release
	var clusterScoped []*unstructured.Unstructured
	for _, obj := range manifestObjects(t, release) {
		switch obj.GetKind() {
		case "APIService", "ClusterRole", "ClusterRoleBinding":
			clusterScoped = append(clusterScoped, obj)
		}
	}
	if len(clusterScoped) == 0 {
		t.Fatal("the release has no APIService, ClusterRole or ClusterRoleBinding to check")
	}
	if err := env.plane.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	ac, err := aggregator.NewForConfig(env.sb.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range clusterScoped {
		var err error
		switch obj.GetKind() {
		case "APIService":
			_, err = ac.ApiregistrationV1().APIServices().Get(ctx, obj.GetName(), metav1.GetOptions{})
		case "ClusterRole":
			_, err = cs.RbacV1().ClusterRoles().Get(ctx, obj.GetName(), metav1.GetOptions{})
		case "ClusterRoleBinding":
			_, err = cs.RbacV1().ClusterRoleBindings().Get(ctx, obj.GetName(), metav1.GetOptions{})
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s %s still present after uninstall (err %v)", obj.GetKind(), obj.GetName(), err)
		}
	}
	// Discovery must be whole again: no group fails because of a dead backend.
	dc, err := discovery.NewDiscoveryClientForConfig(env.sb.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dc.ServerGroupsAndResources(); err != nil {
		var failed *discovery.ErrGroupDiscoveryFailed
		if errors.As(err, &failed) {
			t.Errorf("discovery after uninstall: %v", failed)
		} else {
			t.Errorf("discovery after uninstall: %v", err)
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%d cluster-scoped objects removed", len(clusterScoped))
	t.Log(buf.String())
}
