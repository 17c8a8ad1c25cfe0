package chart_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract/bounds"
)

// goodValue is a plausible override the chart must accept; want are strings the rendered manifests must
// contain (the value reached the object), when it is cheap to say.
type goodValue struct {
	name   string
	values string
	want   []string
	chart  string
}

// goodValueCases sit next to the bad ones: a schema or a check that refuses these is too strict.
func goodValueCases() []goodValue {
	return []goodValue{
		{name: "collection interval 15s", values: "exporter:\n  collectionInterval: 15s\n", want: []string{"--collection-interval=15s"}},
		{name: "collection interval 1m30s", values: "exporter:\n  collectionInterval: 1m30s\n", want: []string{"--collection-interval=1m30s"}},
		{name: "collection interval 1h (the maximum)", values: "exporter:\n  collectionInterval: 1h\n", want: []string{"--collection-interval=1h"}},
		{name: "collection interval 1s without attribution", values: "exporter:\n  collectionInterval: 1s\n  podResources:\n    enabled: false\n",
			want: []string{"--collection-interval=1s", "--pod-resources-socket=\n"}},
		{name: "collection interval 2s without attribution", values: "exporter:\n  collectionInterval: 2s\n  podResources:\n    enabled: false\n"},
		{name: "timeout 0s ignored without attribution", values: "exporter:\n  podResources:\n    enabled: false\n    timeout: 0s\n"},
		{name: "1s interval with a 500ms timeout", values: "exporter:\n  collectionInterval: 1s\n  podResources:\n    timeout: 500ms\n",
			want: []string{"--pod-resources-timeout=500ms"}},
		{name: "ServiceMonitor interval empty", values: "exporter:\n  serviceMonitor:\n    interval: \"\"\n    scrapeTimeout: \"\"\n"},
		{name: "toleration Exists without a value", values: "exporter:\n  tolerations:\n    - {key: nvidia.com/gpu, operator: Exists}\n"},
		{name: "toleration Equal with a value and NoExecute", values: "exporter:\n  tolerations:\n    - {key: dedicated, operator: Equal, value: gpu, effect: NoExecute, tolerationSeconds: 300}\n",
			want: []string{"tolerationSeconds: 300"}},
		{name: "toleration of every taint", values: "exporter:\n  tolerations:\n    - {operator: Exists}\n"},
		{name: "IPv4 CIDRs", values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"10.0.0.0/8\", \"192.168.1.10/32\", \"0.0.0.0/0\"]\n",
			want: []string{"cidr: 192.168.1.10/32"}},
		{name: "IPv6 CIDRs", values: "networkPolicy:\n  adapter:\n    apiServerCIDRs: [\"fd00:10:96::/112\", \"::/0\", \"2001:db8::1/128\"]\n",
			want: []string{"cidr: fd00:10:96::/112"}},
		{name: "update strategy OnDelete", values: "exporter:\n  updateStrategy:\n    type: OnDelete\n", want: []string{"type: OnDelete"}},
		{name: "update strategy maxUnavailable 25%", values: "exporter:\n  updateStrategy:\n    type: RollingUpdate\n    rollingUpdate: {maxUnavailable: 25%}\n"},
		{name: "priority and runtime classes", values: "exporter:\n  priorityClassName: system-node-critical\n  runtimeClassName: nvidia\n",
			want: []string{"priorityClassName: system-node-critical", "runtimeClassName: nvidia"}},
		{name: "ServiceAccount name with dots", values: "exporter:\n  serviceAccount:\n    name: gpu.exporter\n"},
		{name: "nodeSelector with a prefixed key", values: "exporter:\n  nodeSelector:\n    cloud.google.com/gke-nodepool: gpu-pool\n",
			want: []string{"cloud.google.com/gke-nodepool: gpu-pool"}},
		{name: "image tag with dots, dashes and underscores", values: "exporter:\n  image:\n    tag: v0.1.0-rc.1_amd64\n", want: []string{":v0.1.0-rc.1_amd64"}},
		{name: "exporter runtime metrics flag", values: "exporter:\n  extraArgs: [\"--runtime-metrics\"]\n", want: []string{`"--runtime-metrics"`}},
		{name: "exporter runtime metrics flag with a value", values: "exporter:\n  extraArgs: [\"--runtime-metrics=true\"]\n"},
		{name: "exporter Service NodePort", values: "exporter:\n  service:\n    type: NodePort\n", want: []string{"type: NodePort"}},
		{name: "quantities 0.5 CPU and 1Gi", values: "exporter:\n  resources:\n    requests: {cpu: \"0.5\", memory: 512M}\n    limits: {cpu: 1, memory: 1Gi}\n"},
		{name: "a Deployment and a StatefulSet of the same name", values: "services:\n  ocr-service:\n    scaleTargetRef: {kind: StatefulSet, name: embedding-service}\n    targets: {cpuUtilization: 60}\n",
			want: []string{"kind: StatefulSet"}},
		{name: "scaleTargetRef apps/v1 spelled out", values: "services:\n  embedding-service:\n    scaleTargetRef: {apiVersion: apps/v1, kind: Deployment}\n"},
		{name: "seed's name label as an explicit opt-in", values: "networkPolicy:\n  exporter:\n    namespaceLabelKeys: [kubernetes.io/metadata.name, name]\n",
			want: []string{"name: \"monitoring\""}},
		{name: "Prometheus URL with a path", values: "adapter:\n  prometheus:\n    url: https://prometheus.monitoring.svc:9090/prom\n"},
		{name: "alert for 90s", values: "prometheusRule:\n  alerts:\n    exporterDown:\n      for: 90s\n"},
		{chart: "gpu-services", name: "gpu-services: device plugin toleration Exists", values: "devicePlugin:\n  tolerations:\n    - {key: nvidia.com/gpu, operator: Exists, effect: NoSchedule}\n"},
	}
}

func TestGoodValuesAreAccepted(t *testing.T) {
	t.Parallel()
	cases := goodValueCases()
	require.GreaterOrEqual(t, len(cases), 20)
	t.Logf("%d good values, each must be accepted (against %d refused in the bad-values table)", len(cases), len(badValueCases()))
	for _, gv := range cases {
		t.Run(gv.name, func(t *testing.T) {
			t.Parallel()
			out, err := renderE(t, renderRequest{chart: gv.chart, values: gv.values})
			require.NoError(t, err, "plausible values refused:\n%s", gv.values)
			for _, w := range gv.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

// The chart's collection-interval bounds are the exporter's (internal/contract/bounds): each edge is
// rendered from the constants, so a bound changed in one place only fails here.
func TestExporterBoundsAreTheContractsBounds(t *testing.T) {
	t.Parallel()
	off := "  podResources:\n    enabled: false\n"
	edges := []struct {
		interval time.Duration
		ok       bool
	}{
		{bounds.MinCollectionInterval, true},
		{bounds.MinCollectionInterval - time.Millisecond, false},
		{bounds.MaxCollectionInterval, true},
		{bounds.MaxCollectionInterval + time.Second, false},
	}
	for _, e := range edges {
		_, err := renderE(t, renderRequest{values: "exporter:\n  collectionInterval: " + e.interval.String() + "\n" + off})
		if e.ok {
			assert.NoError(t, err, "collectionInterval %s is within the exporter's bounds", e.interval)
		} else {
			assert.Error(t, err, "collectionInterval %s is outside the exporter's bounds", e.interval)
		}
	}

	raw, err := os.ReadFile(filepath.Join(chartPath(t, "gpu-autoscaling"), "charts", "gpu-metrics-exporter", "values.yaml"))
	require.NoError(t, err)
	var vals struct {
		PodResources struct{ Timeout string } `json:"podResources"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &vals))
	d, err := time.ParseDuration(vals.PodResources.Timeout)
	require.NoError(t, err)
	assert.Equal(t, bounds.DefaultPodResourcesTimeout, d, "exporter.podResources.timeout default is the binary's --pod-resources-timeout default")
}

// The chart's list of the exporter's flags (the gpu-metrics-exporter.flags helper, printed when extraArgs
// names an unknown flag) must be the binary's own flag set, read from `gpu-metrics-exporter -h`.
func TestExporterFlagListIsTheBinarys(t *testing.T) {
	t.Parallel()
	// Not skipped with -short: make test runs this package only with -short, and building the exporter
	// (cached after tier 1) needs no cluster.
	cmd := exec.Command("go", "run", "./exporter/cmd/gpu-metrics-exporter", "-h")
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), "CGO_CFLAGS=-O2 -g -Wno-deprecated-declarations")
	usage, _ := cmd.CombinedOutput() // -h exits non-zero
	var binary []string
	for _, m := range regexp.MustCompile(`(?m)^  --([a-z0-9.-]+) \[`).FindAllStringSubmatch(string(usage), -1) {
		binary = append(binary, m[1])
	}
	require.NotEmpty(t, binary, "no flags in the exporter's -h output:\n%s", usage)
	sort.Strings(binary)

	_, err := renderE(t, renderRequest{values: "exporter:\n  extraArgs: [\"--not-a-flag-of-the-exporter\"]\n"})
	require.Error(t, err)
	m := regexp.MustCompile(`its flags: ([a-z0-9., -]+)`).FindStringSubmatch(err.Error())
	require.NotNil(t, m, "the refusal lists the flags: %v", err)
	chart := strings.Split(strings.TrimSpace(m[1]), ", ")
	assert.Equal(t, binary, chart, "add the exporter's new flags to gpu-metrics-exporter.flags in the subchart's _helpers.tpl "+
		"(with the value that sets each, or \"\" when extraArgs may set it), and remove the ones it dropped")
}
