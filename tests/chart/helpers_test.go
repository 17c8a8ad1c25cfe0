// Package chart_test renders charts/gpu-autoscaling (and the stand-in charts/gpu-services) with the pinned
// helm CLI through Terratest's helm module, decodes every object into typed Kubernetes structs and checks
// the HPAs, the adapter rules, the PromQL, the alerts and the security posture. No cluster is needed.
package chart_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/releaseutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	apiregistrationv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

const (
	releaseName = "gpu-autoscaling"
	namespace   = "medical-kg"
	// renderTimeout bounds one helm invocation.
	renderTimeout = 2 * time.Minute
)

// monitoringAPIs makes `helm template` behave as on a cluster with prometheus-operator's CRDs.
var monitoringAPIs = []string{
	"--api-versions", "monitoring.coreos.com/v1/ServiceMonitor",
	"--api-versions", "monitoring.coreos.com/v1/PrometheusRule",
}

// unstructuredGroups are API groups whose objects are decoded as unstructured (CRDs without Go types here).
var unstructuredGroups = map[string]bool{"monitoring.coreos.com": true, "cert-manager.io": true}

// repoRoot is the repository root (the test fails outside the checkout).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := repo.Root()
	require.NoError(t, err)
	return root
}

func chartPath(t *testing.T, name string) string {
	return filepath.Join(repoRoot(t), "charts", name)
}

// TestMain puts the project's bin/ first on PATH: Terratest runs `helm` from PATH, and only the pinned
// bin/helm may answer.
func TestMain(m *testing.M) {
	if err := prereq.PutBinFirstOnPath(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	os.Exit(m.Run())
}

// requireHelm skips the test when the pinned helm has not been built.
func requireHelm(t *testing.T) {
	t.Helper()
	bin := filepath.Join(repoRoot(t), "bin")
	if _, err := os.Stat(filepath.Join(bin, "helm")); err != nil {
		prereq.SkipOrFail(t, "bin/helm is missing: run `make tools` to build the pinned helm CLI")
	}
	got, err := exec.LookPath("helm")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(bin, "helm"), got, "tests must use the pinned bin/helm")
}

// renderRequest describes one `helm template` call.
type renderRequest struct {
	chart       string            // chart folder name under charts/ (default gpu-autoscaling)
	valuesFiles []string          // paths relative to the repository root
	values      string            // inline YAML written to a temporary values file (last, so it wins)
	set         map[string]string // --set
	extraArgs   []string          // e.g. monitoringAPIs, --skip-schema-validation
}

func helmOptions(t *testing.T, req renderRequest) *helm.Options {
	t.Helper()
	root := repoRoot(t)
	files := make([]string, 0, len(req.valuesFiles)+1)
	for _, f := range req.valuesFiles {
		files = append(files, filepath.Join(root, f))
	}
	if req.values != "" {
		// Not t.TempDir(): its path contains the test name, and helm splits -f arguments at commas.
		dir, err := os.MkdirTemp("", "chart-values-")
		require.NoError(t, err)
		t.Cleanup(func() { _ = os.RemoveAll(dir) })
		f := filepath.Join(dir, "values.yaml")
		require.NoError(t, os.WriteFile(f, []byte(req.values), 0o600))
		files = append(files, f)
	}
	return &helm.Options{
		ValuesFiles:    files,
		SetValues:      req.set,
		KubectlOptions: k8s.NewKubectlOptions("", "", namespace),
		Logger:         logger.Discard,
	}
}

// renderE runs `helm template` and returns the manifests, or the error carrying helm's stderr.
func renderE(t *testing.T, req renderRequest) (string, error) {
	t.Helper()
	requireHelm(t)
	chart := req.chart
	if chart == "" {
		chart = "gpu-autoscaling"
	}
	ctx, cancel := context.WithTimeout(context.Background(), renderTimeout)
	defer cancel()
	return helm.RenderTemplateContextE(t, ctx, helmOptions(t, req), chartPath(t, chart), releaseName, nil, req.extraArgs...)
}

func render(t *testing.T, req renderRequest) string {
	t.Helper()
	out, err := renderE(t, req)
	require.NoError(t, err, "helm template failed")
	return out
}

// object is one rendered manifest, decoded strictly into its Go type (or unstructured for CRDs).
type object struct {
	source string
	kind   string
	name   string
	ns     string
	labels map[string]string
	obj    runtime.Object
	raw    []byte // JSON
}

func newDecoder() runtime.Decoder {
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := apiregistrationv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

// decodeAll splits helm output into manifests (helm's own splitter) and decodes each one. Unknown or
// duplicate fields fail the test: the strict decoder rejects what the API server would drop.
func decodeAll(t *testing.T, manifests string) []object {
	t.Helper()
	decoder := newDecoder()
	split := releaseutil.SplitManifests(manifests)
	keys := make([]string, 0, len(split))
	for k := range split {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var objects []object
	for _, k := range keys {
		doc := split[k]
		source := ""
		for _, line := range strings.Split(doc, "\n") {
			if strings.HasPrefix(line, "# Source: ") {
				source = strings.TrimPrefix(line, "# Source: ")
				break
			}
		}
		raw, err := yaml.YAMLToJSON([]byte(doc))
		require.NoError(t, err, "manifest %s is not valid YAML", source)
		if string(raw) == "null" {
			continue
		}
		u := &unstructured.Unstructured{}
		require.NoError(t, u.UnmarshalJSON(raw), "manifest %s is not a Kubernetes object", source)
		gvk := u.GroupVersionKind()
		o := object{source: source, kind: gvk.Kind, name: u.GetName(), ns: u.GetNamespace(), labels: u.GetLabels(), raw: raw}
		if unstructuredGroups[gvk.Group] {
			o.obj = u
		} else {
			typed, _, err := decoder.Decode(raw, nil, nil)
			require.NoError(t, err, "manifest %s (%s) does not decode strictly into its Go type", source, gvk)
			o.obj = typed
		}
		objects = append(objects, o)
	}
	return objects
}

// byKind returns the objects of one kind.
func byKind(objects []object, kind string) []object {
	var out []object
	for _, o := range objects {
		if o.kind == kind {
			out = append(out, o)
		}
	}
	return out
}

// typedOf returns the typed objects of one Go type.
func typedOf[T runtime.Object](objects []object) []T {
	var out []T
	for _, o := range objects {
		if v, ok := o.obj.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

// valuesFiles lists values/*.yaml (the umbrella chart's ready overrides), relative to the repository root.
func valuesFiles(t *testing.T) []string {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(repoRoot(t), "values", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, matches, "no values files under values/")
	var out []string
	for _, m := range matches {
		out = append(out, filepath.Join("values", filepath.Base(m)))
	}
	return out
}

// scenario is one way the chart is rendered in the suite: the defaults, or a values file, with or
// without prometheus-operator's APIs.
type scenario struct {
	name string
	req  renderRequest
}

func scenarios(t *testing.T) []scenario {
	t.Helper()
	out := []scenario{
		{name: "defaults", req: renderRequest{}},
		{name: "defaults+monitoring-apis", req: renderRequest{extraArgs: monitoringAPIs}},
		{name: "exporter-host-proc-cert-manager", req: renderRequest{values: "exporter:\n  hostProc:\n    enabled: true\nadapter:\n  tls:\n    source: certManager\n"}},
		{name: "exporter-unattributed-non-root", req: renderRequest{values: "exporter:\n  podResources:\n    enabled: false\n  podSecurityContext:\n    runAsNonRoot: true\n    runAsUser: 65532\n    seccompProfile:\n      type: RuntimeDefault\n"}},
	}
	for _, f := range valuesFiles(t) {
		base := strings.TrimSuffix(filepath.Base(f), ".yaml")
		out = append(out,
			scenario{name: base, req: renderRequest{valuesFiles: []string{f}}},
			scenario{name: base + "+monitoring-apis", req: renderRequest{valuesFiles: []string{f}, extraArgs: monitoringAPIs}},
		)
	}
	return out
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := yaml.Marshal(v)
	require.NoError(t, err)
	return fmt.Sprintf("%s", b)
}
