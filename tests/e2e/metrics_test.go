package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	custommetrics "k8s.io/metrics/pkg/client/custom_metrics"

	"github.com/medical-kg/gpu-autoscaling/exporter/gpu/simuuid"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/hpastatus"
	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
)

// simulationModel is exporter.simulation.model in values/sandbox.yaml.
const simulationModel = "dgxa100"

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
	// A request-rate metric exists once a pod has served requests: send
	// each such service the traffic of its base load (half a pod's worth
	// per pod) for as long as this check runs.
	for _, hpa := range hpas.Items {
		if target, ok := hpastatus.PodsTarget(&hpa, contract.RequestRateMetric); ok {
			svc := hpa.Spec.ScaleTargetRef.Name
			env.plane.SetDemand(svc, loadmodel.Demand{RequestsPerSecond: 0.5 * target * float64(hpastatus.MinReplicas(&hpa))})
			defer env.plane.SetDemand(svc, loadmodel.Demand{})
		}
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
	outsider := env.cluster.RESTConfig()
	outsider.Impersonate.UserName = "system:serviceaccount:" + namespace + ":default"
	outsider.Impersonate.Groups = []string{"system:serviceaccounts", "system:authenticated"}
	if _, err := podMetricValues(t, customMetricsClient(t, outsider, "v1beta2"), svcEmbedding, "gpu_utilization_percent"); !apierrors.IsForbidden(err) {
		t.Errorf("custom metrics read as %s: got %v, want Forbidden", outsider.Impersonate.UserName, err)
	}
}

// testSeriesAttribution checks in Prometheus what the HPA Pods metrics rest
// on: each GPU a workload pod holds is one series labelled with that pod and
// its container (attributed by the exporter pod from the kubelet's
// pod-resources API, kept by honor_labels), never exported_pod; and each
// series' uuid is a device ID the device plugin advertised to the kubelet.
func testSeriesAttribution(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	for _, svc := range services {
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
	checkDeviceIDs(t, ctx)
	v, err := promQuery(ctx, `count({__name__=~"gpu_.*", exported_pod!=""})`)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != 0 {
		t.Errorf("%v GPU series carry exported_pod: the scrape job lost honor_labels", v)
	}
}

// checkDeviceIDs: every attributed series names its pod's container, and
// its uuid is what the fake device plugin advertised for that node and
// index (simuuid), so the kubelet's allocation is what the exporter reports.
func checkDeviceIDs(t *testing.T, ctx context.Context) {
	t.Helper()
	v, err := promQuery(ctx, fmt.Sprintf(`gpu_utilization_percent{namespace=%q, pod=~"(%s)-.*"}`, namespace, strings.Join(services, "|")))
	if err != nil || len(v) == 0 {
		t.Fatalf("attributed series: %v (%d)", err, len(v))
	}
	cs := adminClient(t)
	for _, s := range v {
		node, pod, gpu := string(s.Metric["node"]), string(s.Metric["pod"]), string(s.Metric["gpu"])
		idx, err := strconv.Atoi(gpu)
		if err != nil {
			t.Errorf("series %v: gpu label %q is not an index", s.Metric, gpu)
			continue
		}
		if want := simuuid.UUID(node, simulationModel, idx); string(s.Metric["uuid"]) != want {
			t.Errorf("series of %s GPU %d on %s: uuid %s, want the device plugin's %s", pod, idx, node, s.Metric["uuid"], want)
		}
		p, err := cs.CoreV1().Pods(namespace).Get(ctx, pod, metav1.GetOptions{})
		if err != nil {
			continue // scaled away meanwhile
		}
		if c := string(s.Metric["container"]); c != p.Spec.Containers[0].Name {
			t.Errorf("series of %s: container %q, want %q", pod, c, p.Spec.Containers[0].Name)
		}
	}
}
