package deploy

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	apiregv1 "k8s.io/kube-aggregator/pkg/apis/apiregistration/v1"
	aggfake "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset/fake"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// testChart is the tiny chart under internal/deploy/testdata, found through the
// repository-root lookup of ResolveChart.
const testChart = "internal/deploy/testdata/chart"

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrepareRendersTheChart(t *testing.T) {
	plan, err := Prepare(Options{Chart: testChart, Set: []string{"replicas=3"}})
	if err != nil {
		t.Fatalf("Prepare: %v", err)
	}
	if plan.Release != contract.DefaultRelease || plan.Namespace != contract.DefaultNamespace || plan.Timeout != contract.DefaultTimeout {
		t.Errorf("defaults not applied: %q %q %s", plan.Release, plan.Namespace, plan.Timeout)
	}
	var got []string
	for _, o := range plan.Objects {
		got = append(got, o.String())
	}
	want := []string{
		"ClusterRole gpu-autoscaling-reader",
		"ClusterRoleBinding gpu-autoscaling-reader",
		"ConfigMap medical-kg/gpu-autoscaling-settings",
	}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("objects = %q, want %q", got, want)
	}
	if !strings.Contains(plan.Manifest, `replicas: "3"`) {
		t.Errorf("--set replicas=3 not rendered:\n%s", plan.Manifest)
	}
}

func TestPrepareRejectsBadInput(t *testing.T) {
	badYAML := writeFile(t, "bad.yaml", "replicas: [1,\n")
	unknownKey := writeFile(t, "unknown.yaml", "replicaz: 2\n")
	dir := t.TempDir()
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"missing chart", Options{Chart: "charts/does-not-exist"}, "pass --chart"},
		{"missing values file", Options{Chart: testChart, ValueFiles: []string{"/nonexistent/values.yaml"}}, "--values /nonexistent/values.yaml"},
		{"values file is a directory", Options{Chart: testChart, ValueFiles: []string{dir}}, "is a directory"},
		{"invalid YAML", Options{Chart: testChart, ValueFiles: []string{badYAML}}, "fix the YAML file"},
		{"set without =", Options{Chart: testChart, Set: []string{"replicas"}}, "expected key=value"},
		{"set with an empty key", Options{Chart: testChart, Set: []string{"=1"}}, `--set "=1": the key "" is empty`},
		{"set with an empty key after a comma", Options{Chart: testChart, Set: []string{"replicas=2,=1"}}, `the key "" is empty`},
		{"set with an empty segment", Options{Chart: testChart, Set: []string{".replicas=1"}}, "empty segment"},
		{"set-string without =", Options{Chart: testChart, SetString: []string{"label"}}, `--set-string "label": expected key=value`},
		{"set-file without a file", Options{Chart: testChart, SetFile: []string{"label=/nonexistent/label.txt"}}, "--set-file \"label=/nonexistent/label.txt\""},
		{"set a number where a string is due", Options{Chart: testChart, Set: []string{"label=1"}}, "--set-string KEY=VALUE"},
		{"schema: wrong type", Options{Chart: testChart, Set: []string{"replicas=abc"}}, "/replicas"},
		{"schema: unknown key", Options{Chart: testChart, ValueFiles: []string{unknownKey}}, "replicaz"},
		{"template fails", Options{Chart: testChart, Set: []string{"broken=true"}}, "refuses to render"},
		{"bad release name", Options{Chart: testChart, Release: "Bad_Name"}, "--release"},
		{"bad namespace", Options{Chart: testChart, Namespace: "Medical_KG"}, "--namespace"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Prepare(tc.opts)
			if err == nil {
				t.Fatal("Prepare accepted bad input")
			}
			if !errors.Is(err, ErrInvalidInput) {
				t.Errorf("error does not wrap ErrInvalidInput: %v", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

func TestMergeValuesLaterWins(t *testing.T) {
	a := writeFile(t, "a.yaml", "replicas: 1\nexporter:\n  enabled: true\n  backend: nvml\n")
	b := writeFile(t, "b.yaml", "exporter:\n  backend: simulated\n")
	vals, err := MergeValues(values.Options{ValueFiles: []string{a, b}, Values: []string{"replicas=5"}})
	if err != nil {
		t.Fatal(err)
	}
	exp := vals["exporter"].(map[string]any)
	if exp["backend"] != "simulated" || exp["enabled"] != true {
		t.Errorf("files not merged in order: %v", exp)
	}
	if vals["replicas"] != int64(5) {
		t.Errorf("--set did not win: replicas=%v (%T)", vals["replicas"], vals["replicas"])
	}
}

func TestSetStringAndSetFile(t *testing.T) {
	file := writeFile(t, "label.txt", "from a file")
	plan, err := Prepare(Options{Chart: testChart, SetString: []string{"label=1"}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Values["label"] != "1" {
		t.Errorf("--set-string label=1 gave %v (%T), want the string \"1\"", plan.Values["label"], plan.Values["label"])
	}
	plan, err = Prepare(Options{Chart: testChart, Set: []string{"label=x"}, SetFile: []string{"label=" + file}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Values["label"] != "from a file" {
		t.Errorf("--set-file did not win over --set: label=%v", plan.Values["label"])
	}
}

func TestSplitTopLevel(t *testing.T) {
	for in, want := range map[string]string{"a=1,b={x,y}": "a=1|b={x,y}", `a\,b=1,c=2`: `a\,b=1|c=2`, "a=": "a="} {
		if got := strings.Join(splitTopLevel(in), "|"); got != want {
			t.Errorf("splitTopLevel(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestResolveChart(t *testing.T) {
	abs, err := ResolveChart(testChart) // from the package folder: found via the repository root
	if err != nil {
		t.Fatal(err)
	}
	if !filepath.IsAbs(abs) || !strings.HasSuffix(abs, testChart) {
		t.Errorf("ResolveChart = %q", abs)
	}
	if _, err := ResolveChart(filepath.Join(t.TempDir(), "nothing")); !errors.Is(err, ErrInvalidInput) {
		t.Errorf("missing chart: %v", err)
	}
}

func TestManifestObjectsClusterScoped(t *testing.T) {
	manifest := `---
# Source: x/templates/a.yaml
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1beta2.custom.metrics.k8s.io
  namespace: ignored
---
# Source: x/templates/b.yaml
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: embedding-service-hpa
`
	objs, err := ManifestObjects(manifest, "medical-kg")
	if err != nil {
		t.Fatal(err)
	}
	if len(objs) != 2 || objs[0].String() != "APIService v1beta2.custom.metrics.k8s.io" || objs[1].String() != "HorizontalPodAutoscaler medical-kg/embedding-service-hpa" {
		t.Errorf("objects = %v", objs)
	}
}

// fakeEnv is a cluster of fake clients plus a Helm configuration that stores
// releases in memory and applies nothing.
type fakeEnv struct {
	clients *cluster.Clients
	kube    *k8sfake.Clientset
	helm    *action.Configuration
	kc      *kubefake.FailingKubeClient
}

func newFakeEnv(kubeObjs []runtime.Object, aggObjs ...runtime.Object) *fakeEnv {
	kube := k8sfake.NewClientset(kubeObjs...)
	kc := &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: io.Discard}}
	return &fakeEnv{
		clients: &cluster.Clients{Kube: kube, Aggregator: aggfake.NewClientset(aggObjs...)},
		kube:    kube,
		kc:      kc,
		helm: &action.Configuration{
			Releases:     storage.Init(driver.NewMemory()),
			KubeClient:   kc,
			Capabilities: chartutil.DefaultCapabilities,
			Log:          func(string, ...any) {},
		},
	}
}

func TestDeployInstallsThenUpgrades(t *testing.T) {
	plan, err := Prepare(Options{Chart: testChart, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := newFakeEnv(nil)
	res, err := DeployWith(t.Context(), env.clients, env.helm, plan)
	if err != nil {
		t.Fatalf("first deploy: %v", err)
	}
	if !res.Installed || !res.CreatedNamespace || res.Release.Version != 1 || res.Release.Info.Status != release.StatusDeployed {
		t.Errorf("first deploy: installed=%v createdNS=%v revision=%d status=%s", res.Installed, res.CreatedNamespace, res.Release.Version, res.Release.Info.Status)
	}
	if _, err := env.kube.CoreV1().Namespaces().Get(t.Context(), contract.DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("namespace not created: %v", err)
	}
	if len(res.Objects) != 3 {
		t.Errorf("objects = %v", res.Objects)
	}
	res, err = DeployWith(t.Context(), env.clients, env.helm, plan)
	if err != nil {
		t.Fatalf("second deploy: %v", err)
	}
	if res.Installed || res.CreatedNamespace || res.Release.Version != 2 {
		t.Errorf("second deploy: installed=%v createdNS=%v revision=%d", res.Installed, res.CreatedNamespace, res.Release.Version)
	}
}

func TestDeployFailureLeavesNothing(t *testing.T) {
	plan, err := Prepare(Options{Chart: testChart, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := newFakeEnv(nil)
	env.kc.WaitError = errors.New("timed out waiting for the condition")
	_, err = DeployWith(t.Context(), env.clients, env.helm, plan)
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("deploy error = %v, want a rolled-back install", err)
	}
	if _, err := env.kube.CoreV1().Namespaces().Get(t.Context(), contract.DefaultNamespace, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("the namespace deploy created is still there: %v", err)
	}
	rels, _ := env.helm.Releases.ListDeployed()
	if len(rels) != 0 {
		t.Errorf("a failed install left deployed releases: %v", rels)
	}
}

func TestDeployKeepsAnExistingNamespace(t *testing.T) {
	plan, err := Prepare(Options{Chart: testChart, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := newFakeEnv([]runtime.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: contract.DefaultNamespace}}})
	env.kc.WaitError = errors.New("timed out")
	if _, err := DeployWith(t.Context(), env.clients, env.helm, plan); err == nil {
		t.Fatal("deploy succeeded despite the wait error")
	}
	if _, err := env.kube.CoreV1().Namespaces().Get(t.Context(), contract.DefaultNamespace, metav1.GetOptions{}); err != nil {
		t.Errorf("a namespace deploy did not create was removed: %v", err)
	}
}

func labelled(release string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/instance": release}}
}

func TestUndeployReportsClusterScopedLeftovers(t *testing.T) {
	plan, err := Prepare(Options{Chart: testChart, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	api := &apiregv1.APIService{ObjectMeta: labelled(contract.DefaultRelease)}
	api.Name = "v1beta1.custom.metrics.k8s.io"
	other := &apiregv1.APIService{ObjectMeta: labelled("someone-else")}
	other.Name = "v1beta1.external.metrics.k8s.io"
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "gpu-autoscaling-adapter", Annotations: map[string]string{
		"meta.helm.sh/release-name": contract.DefaultRelease, "meta.helm.sh/release-namespace": contract.DefaultNamespace}}}
	env := newFakeEnv([]runtime.Object{role}, api, other)
	if _, err := DeployWith(t.Context(), env.clients, env.helm, plan); err != nil {
		t.Fatal(err)
	}
	res, err := UndeployWith(t.Context(), env.clients, env.helm, contract.DefaultRelease, contract.DefaultNamespace, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found {
		t.Error("the release was not found")
	}
	var got []string
	for _, o := range res.Leftovers {
		got = append(got, o.String())
	}
	want := "APIService v1beta1.custom.metrics.k8s.io|ClusterRole gpu-autoscaling-adapter"
	if strings.Join(got, "|") != want {
		t.Errorf("leftovers = %q, want %q", got, want)
	}
	if rels, _ := env.helm.Releases.ListDeployed(); len(rels) != 0 {
		t.Errorf("release still deployed after undeploy: %v", rels)
	}
}

func TestUndeployMissingReleaseIsClean(t *testing.T) {
	env := newFakeEnv(nil)
	res, err := UndeployWith(t.Context(), env.clients, env.helm, contract.DefaultRelease, contract.DefaultNamespace, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Found || len(res.Leftovers) != 0 {
		t.Errorf("found=%v leftovers=%v", res.Found, res.Leftovers)
	}
}

func TestBelongsTo(t *testing.T) {
	cases := []struct {
		meta metav1.ObjectMeta
		want bool
	}{
		{labelled("gpu-autoscaling"), true},
		{labelled("other"), false},
		{metav1.ObjectMeta{Annotations: map[string]string{"meta.helm.sh/release-name": "gpu-autoscaling", "meta.helm.sh/release-namespace": "medical-kg"}}, true},
		{metav1.ObjectMeta{Annotations: map[string]string{"meta.helm.sh/release-name": "gpu-autoscaling", "meta.helm.sh/release-namespace": "elsewhere"}}, false},
		// The same release name in another namespace, labelled like ours: Helm's annotations decide.
		{metav1.ObjectMeta{Labels: map[string]string{"app.kubernetes.io/instance": "gpu-autoscaling"},
			Annotations: map[string]string{"meta.helm.sh/release-name": "gpu-autoscaling", "meta.helm.sh/release-namespace": "elsewhere"}}, false},
		{metav1.ObjectMeta{}, false},
	}
	for i, tc := range cases {
		if got := BelongsTo(&tc.meta, "gpu-autoscaling", "medical-kg"); got != tc.want {
			t.Errorf("case %d: BelongsTo = %v, want %v", i, got, tc.want)
		}
	}
}

func TestAPIServiceStates(t *testing.T) {
	up := &apiregv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1beta2.custom.metrics.k8s.io"},
		Status: apiregv1.APIServiceStatus{Conditions: []apiregv1.APIServiceCondition{{Type: apiregv1.Available, Status: apiregv1.ConditionTrue, Reason: "Passed"}}}}
	down := &apiregv1.APIService{ObjectMeta: metav1.ObjectMeta{Name: "v1beta1.custom.metrics.k8s.io"},
		Status: apiregv1.APIServiceStatus{Conditions: []apiregv1.APIServiceCondition{{Type: apiregv1.Available, Status: apiregv1.ConditionFalse, Reason: "FailedDiscoveryCheck", Message: "connection refused"}}}}
	env := newFakeEnv(nil, up, down)
	states := APIServiceStates(t.Context(), env.clients, []string{up.Name, down.Name, "v1beta1.metrics.k8s.io"})
	if !states[0].Available || states[1].Available || states[1].Reason != "FailedDiscoveryCheck" || states[2].Reason != "NotFound" {
		t.Errorf("states = %+v", states)
	}
}

func TestDeployOverAFailedRelease(t *testing.T) {
	plan, err := Prepare(Options{Chart: testChart, Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	env := newFakeEnv(nil)
	failed := &release.Release{Name: contract.DefaultRelease, Namespace: contract.DefaultNamespace, Version: 1, Chart: plan.Chart,
		Info: &release.Info{Status: release.StatusFailed}}
	if err := env.helm.Releases.Create(failed); err != nil {
		t.Fatal(err)
	}
	res, err := DeployWith(t.Context(), env.clients, env.helm, plan)
	if err != nil {
		t.Fatalf("deploy over a failed release: %v", err)
	}
	if !res.Installed || res.Release.Info.Status != release.StatusDeployed {
		t.Errorf("installed=%v status=%s", res.Installed, res.Release.Info.Status)
	}
	// Now deployed: the next deploy upgrades.
	res, err = DeployWith(t.Context(), env.clients, env.helm, plan)
	if err != nil || res.Installed {
		t.Errorf("second deploy: installed=%v err=%v", res != nil && res.Installed, err)
	}
}
