package e2e

import (
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/logger"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// The four services of the contract. Expected replica counts are computed
// from each HPA's own targets, not hard-coded.
const (
	svcManagement = "gpu-management-service"
	svcEmbedding  = "embedding-service"
	svcReranking  = "reranking-service"
	svcDocling    = "docling-vlm-service"
)

var (
	services    = []string{svcManagement, svcEmbedding, svcReranking, svcDocling}
	apiServices = contract.CustomMetricsAPIServices()
)

// TestE2E runs the suite in order on the one cluster TestMain started.
func TestE2E(t *testing.T) {
	s := need(t)
	t.Logf("figure: %s cold start %s (binaries and images cached), chart + stand-in services installed and Ready %s",
		s.cluster.Name(), s.coldStart.Round(time.Millisecond), s.install.Round(time.Millisecond))
	steps := []struct {
		name string
		fn   func(*testing.T)
	}{
		{"rendered objects exist", testRenderedObjectsExist},
		{"chart pods run under their security contexts", testChartPods},
		{"APIServices available with a verified caBundle", testAPIServices},
		{"every HPA metric served for each pod as the HPA controller", testMetricsServedAsHPA},
		{"rules-only merge served by the pinned adapter with an existing config", testRulesOnlyMergeOnTheRealAdapter},
		{"Prometheus scrapes the exporter over verified TLS", testScrapedOverTLS},
		{"GPU series attributed by the kubelet", testSeriesAttribution},
		{"NetworkPolicies select the real pods", testNetworkPolicySelectors},
		{"Pod Security restricted namespace, exporter on a cloud-labelled GPU node", testPodSecurityAndCloudLabels},
		{"simulated load reaches the exporter through its ConfigMap", testLoadReachesExporter},
		{"closed loop scales up", testClosedLoopUp},
		{"container CPU and memory scraped from the kubelet's cAdvisor", testCadvisorSeries},
		{"kube-state-metrics reports every HPA's and Deployment's replicas", testKubeStateMetrics},
		{"every dashboard panel has data", testDashboardPanels},
		{"the dashboards map each service's pods by owner", testPodServiceMapping},
		{"every alert reads series that exist", testAlertSeries},
		{"the alerts the scenario triggers fire", testScenarioAlertsFire},
		{"adapter crash-looping keeps replicas, loop resumes", testAdapterFault},
		{"helm upgrade keeps replicas, rollback", testUpgradeRollback},
		{"upgrade to the next chart version from a chart repository keeps replicas, rollback", testUpgradeAcrossVersions},
		{"closed loop scales down", testClosedLoopDown},
		{"exporter container killed is restarted", testExporterFault},
		{"device plugin pod deleted keeps allocations", testDevicePluginRestart},
		{"RBAC matrix", testRBACMatrix},
		{"uninstall leaves nothing cluster-wide", testUninstall},
	}
	for _, st := range steps {
		if !t.Run(st.name, recovering(st.fn)) && (st.name == "closed loop scales up" || st.name == "rendered objects exist") {
			t.Fatalf("%q failed; later steps depend on it", st.name)
		}
	}
}

// manifestObjects returns the objects of a release's manifest.
func manifestObjects(t *testing.T, release string) []*unstructured.Unstructured {
	t.Helper()
	opts := env.plane.HelmOptions(nil)
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

// recovering turns a step's panic into its failure, so that TestMain still
// takes the cluster down (a panic would end the process with it running).
func recovering(fn func(*testing.T)) func(*testing.T) {
	return func(t *testing.T) {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("panic: %v\n%s", r, debug.Stack())
			}
		}()
		fn(t)
	}
}
