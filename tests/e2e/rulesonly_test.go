package e2e

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/deploy"
	"github.com/medical-kg/gpu-autoscaling/internal/rulesonly"
)

// existingAdapterConfig is the configuration an existing prometheus-adapter already serves other HPAs
// with: a rule of its own (the GPU temperature under another name), resource rules and an external rule.
const existingAdapterConfig = `rules:
  - seriesQuery: 'gpu_temperature_celsius{namespace!="",pod!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
        pod: {resource: pod}
    name:
      matches: ^gpu_temperature_celsius$
      as: legacy_gpu_temperature
    metricsQuery: max(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
resourceRules:
  cpu:
    containerQuery: sum(rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,container!=""}[3m])) by (<<.GroupBy>>)
    nodeQuery: sum(rate(container_cpu_usage_seconds_total{<<.LabelMatchers>>,id='/'}[3m])) by (<<.GroupBy>>)
    resources:
      overrides:
        node: {resource: node}
        namespace: {resource: namespace}
        pod: {resource: pod}
    containerLabel: container
  memory:
    containerQuery: sum(container_memory_working_set_bytes{<<.LabelMatchers>>,container!=""}) by (<<.GroupBy>>)
    nodeQuery: sum(container_memory_working_set_bytes{<<.LabelMatchers>>,id='/'}) by (<<.GroupBy>>)
    resources:
      overrides:
        node: {resource: node}
        namespace: {resource: namespace}
        pod: {resource: pod}
    containerLabel: container
  window: 3m
externalRules:
  - seriesQuery: 'up{job!=""}'
    resources:
      overrides:
        namespace: {resource: namespace}
    name:
      matches: ^up$
      as: scrape_targets_up
    metricsQuery: sum(<<.Series>>{<<.LabelMatchers>>}) by (<<.GroupBy>>)
`

// testRulesOnlyMergeOnTheRealAdapter plays an existing prometheus-adapter: the chart's adapter pod
// (the pinned prometheus-adapter image) is restarted on the rules-only merge of an existing config and
// this chart's rules, and must then serve both the existing adapter's metric and every metric of the
// chart's rules. The release's own config is restored afterwards.
func testRulesOnlyMergeOnTheRealAdapter(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	opts := env.plane.HelmOptions(nil)
	var set []string
	for k, v := range opts.SetValues {
		set = append(set, k+"="+v)
	}
	sort.Strings(set)
	merged, err := rulesonly.Render(deploy.Options{Release: env.plane.Options().Release, Namespace: namespace,
		ValueFiles: opts.ValuesFiles, Set: set}, []byte(existingAdapterConfig))
	if err != nil {
		t.Fatal(err)
	}
	if merged.Config.ResourceRules == nil || len(merged.Config.ExternalRules) != 1 {
		t.Fatalf("merged config lost the existing resourceRules or externalRules:\n%s", merged.ConfigYAML)
	}

	deps, err := cs.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{
		LabelSelector: contract.ComponentLabel + "=adapter," + contract.InstanceLabel + "=" + env.plane.Options().Release})
	if err != nil || len(deps.Items) != 1 {
		t.Fatalf("adapter Deployment: %v, %v", deps, err)
	}
	var cmName string
	for _, v := range deps.Items[0].Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil {
			cmName = v.ConfigMap.Name
		}
	}
	if cmName == "" {
		t.Fatal("the adapter mounts no ConfigMap")
	}
	original, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, cmName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	apply := func(config string) {
		t.Helper()
		cm, err := cs.CoreV1().ConfigMaps(namespace).Get(ctx, cmName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cm.Data[rulesonly.ConfigKey] = config
		if _, err := cs.CoreV1().ConfigMaps(namespace).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		restartAdapter(t, ctx)
	}
	apply(string(merged.ConfigYAML))
	defer apply(original.Data[rulesonly.ConfigKey])

	c := customMetricsClient(t, asHPAController(), "v1beta2")
	want := []string{"legacy_gpu_temperature"}
	for _, r := range merged.Values.Rules.Custom {
		want = append(want, r.Name.As)
	}
	eventually(t, 2*time.Minute, 2*time.Second, "the existing adapter's metric and the chart's metrics served", func(ctx context.Context) (bool, string) {
		// Each metric for some service's pods: the GPU series exist for every
		// GPU pod, the request rate only for pods that served requests.
		var missing []string
		for _, m := range want {
			var lastErr error
			found := false
			for _, svc := range services {
				v, err := podMetricValues(t, c, svc, m)
				if err == nil && len(v) > 0 {
					found = true
					break
				}
				lastErr = err
			}
			if !found {
				missing = append(missing, fmt.Sprintf("%s (%v)", m, lastErr))
			}
		}
		return len(missing) == 0, fmt.Sprint("missing: ", missing)
	})
	t.Logf("served after the merge: %v", want)
}

// restartAdapter deletes the adapter's pods (prometheus-adapter reads its config at start) and waits
// for the replacement to serve the custom metrics APIServices again.
func restartAdapter(t *testing.T, ctx context.Context) {
	t.Helper()
	cs := adminClient(t)
	pods, err := componentPods(ctx, cs, env.plane.Options().Release, "adapter")
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		if err := cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
			t.Fatal(err)
		}
	}
	old := map[string]bool{}
	for _, p := range pods {
		old[p.Name] = true
	}
	eventually(t, 2*time.Minute, time.Second, "a new adapter pod Ready", func(ctx context.Context) (bool, string) {
		now, err := componentPods(ctx, cs, env.plane.Options().Release, "adapter")
		if err != nil {
			return false, err.Error()
		}
		for _, p := range now {
			if !old[p.Name] && podIsReady(&p) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d adapter pods, none new and Ready", len(now))
	})
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := env.plane.WaitAPIServices(wctx); err != nil {
		t.Fatal(err)
	}
}
