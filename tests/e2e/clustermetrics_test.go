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
