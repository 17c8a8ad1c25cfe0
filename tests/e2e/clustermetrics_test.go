package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// testCadvisorSeries: the dashboards' CPU and memory panels read the
// kubelet's cAdvisor series (container_cpu_usage_seconds_total,
// container_memory_working_set_bytes); Prometheus must have them, with
// their namespace, pod and container labels, for every running pod of every
// service. Run after the scale-up, so the new pods count too.
func testCadvisorSeries(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	for _, svc := range services {
		pods, err := runningPods(ctx, cs, svc)
		if err != nil || len(pods) == 0 {
			t.Fatalf("%s: no running pods (%v)", svc, err)
		}
		for _, p := range pods {
			eventually(t, time.Minute, 2*time.Second, "cAdvisor CPU and memory of "+p.Name, func(ctx context.Context) (bool, string) {
				for _, q := range []string{
					`rate(container_cpu_usage_seconds_total{namespace=%q, pod=%q, container!=""}[1m])`,
					`container_memory_working_set_bytes{namespace=%q, pod=%q, container!=""}`,
				} {
					q = fmt.Sprintf(q, namespace, p.Name)
					v, err := promQuery(ctx, q)
					if err != nil {
						return false, err.Error()
					}
					if len(v) != 1 || v[0].Value <= 0 {
						return false, fmt.Sprintf("%s: %d series %v, want one above 0 (job kubernetes-cadvisor)", q, len(v), v)
					}
				}
				return true, ""
			})
		}
	}
	// What the kubelet measures for the CPU-scaled service against what its
	// stand-ins were asked to burn (their own gauge): the CPU HPA's input.
	pods := fmt.Sprintf(`namespace=%q, pod=~"%s-.*"`, namespace, svcManagement)
	measured, err := promQuery(ctx, fmt.Sprintf(`sum(rate(container_cpu_usage_seconds_total{%s, container!=""}[1m])) * 1000`, pods))
	if err != nil {
		t.Fatal(err)
	}
	asked, err := promQuery(ctx, fmt.Sprintf(`sum(gpu_service_cpu_target_millicores{%s})`, pods))
	if err != nil {
		t.Fatal(err)
	}
	if len(measured) == 1 && len(asked) == 1 {
		t.Logf("figure: %s: the kubelet's cAdvisor measures %.0fm over its pods (1m rate), the stand-ins were asked for %.0fm",
			svcManagement, float64(measured[0].Value), float64(asked[0].Value))
	}
}

// testKubeStateMetrics: the replica and scaling-event panels, the
// dashboards' $namespace variable and the HPAAtMaxReplicas alert read
// kube-state-metrics; on the sandbox it runs on the real node (a cluster
// with kube-prometheus-stack has it). Prometheus must report every HPA's
// and Deployment's live replica count — after the scale-up, so a stale or
// constant series would not pass.
func testKubeStateMetrics(t *testing.T) {
	cs := adminClient(t)
	for _, svc := range services {
		eventually(t, time.Minute, 2*time.Second, "kube-state-metrics replicas of "+svc, func(ctx context.Context) (bool, string) {
			h, err := getHPA(ctx, cs, svc)
			if err != nil {
				return false, err.Error()
			}
			for _, q := range []string{
				fmt.Sprintf(`kube_horizontalpodautoscaler_status_current_replicas{namespace=%q, horizontalpodautoscaler=%q}`, namespace, h.Name),
				fmt.Sprintf(`kube_deployment_status_replicas{namespace=%q, deployment=%q}`, namespace, svc),
			} {
				v, err := promQuery(ctx, q)
				if err != nil {
					return false, err.Error()
				}
				if len(v) != 1 || int32(v[0].Value) != h.Status.CurrentReplicas {
					return false, fmt.Sprintf("%s = %v, want one series at the HPA's %d current replicas", q, v, h.Status.CurrentReplicas)
				}
			}
			return true, ""
		})
	}
}
