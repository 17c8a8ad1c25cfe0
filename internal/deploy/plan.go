// Package deploy installs, upgrades, inspects and removes the gpu-autoscaling
// Helm release through the Helm v3 SDK. Everything that can be checked without
// a cluster (the chart, the values files, --set expressions, rendering) is
// checked by Prepare, so a bad input never reaches the cluster.
package deploy

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/cli/values"
	"helm.sh/helm/v3/pkg/getter"
	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// ErrInvalidInput marks errors in what the user asked for (chart, values,
// names, flags): nothing was sent to the cluster.
var ErrInvalidInput = errors.New("invalid input")

// Options describe one release of the chart.
type Options struct {
	Release   string
	Namespace string
	// Chart is a chart directory or archive; a relative path is looked up
	// from the working directory and then from the repository root. An
	// oci:// or http(s):// reference, or a chart name with Source.RepoURL,
	// is fetched as helm does.
	Chart string
	// Source is where a remote Chart comes from (version, repository).
	Source     ChartSource
	ValueFiles []string
	// Set holds --set expressions (k=v, comma-separated lists allowed).
	Set []string
	// SetString holds --set-string expressions: every value stays a string.
	SetString []string
	// SetFile holds --set-file expressions: k=path, the value is the file's content.
	SetFile []string
	Timeout time.Duration
	// APIServiceWait bounds how long Deploy waits for the release's
	// APIServices to become Available after Helm's own wait: 0 means the
	// rest of Timeout, at most one minute; negative skips the wait (for
	// callers that start the adapter themselves afterwards).
	APIServiceWait time.Duration
	// Log receives Helm's debug output; nil discards it.
	Log func(format string, v ...any)
}

// Object names one rendered Kubernetes object.
type Object struct {
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
}

func (o Object) String() string {
	if o.Namespace != "" {
		return fmt.Sprintf("%s %s/%s", o.Kind, o.Namespace, o.Name)
	}
	return fmt.Sprintf("%s %s", o.Kind, o.Name)
}

// Plan is a validated release: the loaded chart, the merged values and the
// objects a client-side render produced.
type Plan struct {
	Options
	ChartPath string
	Chart     *chart.Chart
	Values    map[string]any
	Manifest  string
	Objects   []Object
}

// Prepare validates opts and renders the chart client-side. Every error wraps
// ErrInvalidInput and says what to fix.
func Prepare(opts Options) (*Plan, error) {
	if opts.Release == "" {
		opts.Release = contract.DefaultRelease
	}
	if opts.Namespace == "" {
		opts.Namespace = contract.DefaultNamespace
	}
	if opts.Chart == "" {
		opts.Chart = contract.DefaultChart
	}
	if opts.Timeout <= 0 {
		opts.Timeout = contract.DefaultTimeout
	}
	if err := chartutil.ValidateReleaseName(opts.Release); err != nil {
		return nil, invalid("--release %q: %v", opts.Release, err)
	}
	if err := ValidateNamespace(opts.Namespace); err != nil {
		return nil, err
	}
	chartPath, err := chartArchiveOrDir(opts.Chart, opts.Source)
	if err != nil {
		return nil, err
	}
	chrt, err := loader.Load(chartPath)
	if err != nil {
		return nil, invalid("load chart %s (pass --chart with a chart directory): %v", chartPath, err)
	}
	if err := checkDependencies(chrt); err != nil {
		return nil, err
	}
	vals, err := MergeValues(values.Options{ValueFiles: opts.ValueFiles, Values: opts.Set, StringValues: opts.SetString, FileValues: opts.SetFile})
	if err != nil {
		return nil, err
	}
	manifest, err := render(opts, chrt, vals)
	if err != nil {
		return nil, withStringHint(err, opts.Set)
	}
	objects, err := ManifestObjects(manifest, opts.Namespace)
	if err != nil {
		return nil, invalid("chart %s rendered an unreadable manifest: %v", chartPath, err)
	}
	return &Plan{Options: opts, ChartPath: chartPath, Chart: chrt, Values: vals, Manifest: manifest, Objects: objects}, nil
}

// ValidateNamespace checks a namespace name against the DNS-1123 label rules.
func ValidateNamespace(ns string) error {
	if errs := validationDNSLabel(ns); len(errs) > 0 {
		return invalid("--namespace %q: %s", ns, strings.Join(errs, "; "))
	}
	return nil
}

// MergeValues reads the values files in order and applies the --set,
// --set-string and --set-file expressions on top, with the precedence of
// `helm upgrade -f … --set … --set-string … --set-file …` (helm's
// values.Options). Expressions Helm would silently drop (an empty key, as in
// `--set =1`) or reject obscurely (no `=`) are refused naming the flag.
func MergeValues(opts values.Options) (map[string]any, error) {
	for _, f := range opts.ValueFiles {
		st, err := os.Stat(f)
		if err != nil {
			return nil, invalid("--values %s: %v", f, err)
		}
		if st.IsDir() {
			return nil, invalid("--values %s is a directory; pass a YAML file", f)
		}
	}
	for _, g := range []struct {
		flag  string
		exprs []string
	}{{"--set", opts.Values}, {"--set-string", opts.StringValues}, {"--set-file", opts.FileValues}} {
		for _, e := range g.exprs {
			if err := CheckSetExpression(g.flag, e); err != nil {
				return nil, err
			}
		}
	}
	for _, e := range opts.FileValues {
		for _, kv := range splitTopLevel(e) {
			_, path, _ := strings.Cut(kv, "=")
			if _, err := os.Stat(path); err != nil {
				return nil, invalid("--set-file %q: %v (the value after = is the path of a file to read)", e, err)
			}
		}
	}
	vals, err := opts.MergeValues(getter.Providers{})
	if err != nil {
		return nil, invalid("values: %v (fix the YAML file or the --set expression)", err)
	}
	return vals, nil
}

// CheckSetExpression refuses a --set style expression with a part that has
// no key (`=1`, `a=1,=2`, `.a=1`) or no `=` (`foo`); flag names the flag in
// the error.
func CheckSetExpression(flag, expr string) error {
	if expr == "" {
		return invalid("%s \"\": expected key=value, e.g. %s replicas=2", flag, flag)
	}
	for _, part := range splitTopLevel(expr) {
		key, _, hasEq := strings.Cut(part, "=")
		switch {
		case !hasEq:
			return invalid("%s %q: expected key=value, e.g. %s %s=VALUE", flag, expr, flag, part)
		case key == "" || strings.HasPrefix(key, ".") || strings.HasSuffix(key, ".") || strings.Contains(key, ".."):
			return invalid("%s %q: the key %q is empty or has an empty segment; write it as path.to.key=VALUE", flag, expr, key)
		}
	}
	return nil
}

// splitTopLevel splits a --set expression at its unescaped commas outside
// {…} lists, the way strvals reads `a=1,b={x,y}`.
func splitTopLevel(expr string) []string {
	var parts []string
	var cur strings.Builder
	depth := 0
	for i := 0; i < len(expr); i++ {
		c := expr[i]
		switch {
		case c == '\\' && i+1 < len(expr):
			cur.WriteByte(c)
			i++
			cur.WriteByte(expr[i])
			continue
		case c == '{':
			depth++
		case c == '}' && depth > 0:
			depth--
		case c == ',' && depth == 0:
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(c)
	}
	return append(parts, cur.String())
}

// withStringHint adds a --set-string hint to a schema error about a value
// that must be a string when --set was used: --set turns 1, true or null
// into numbers, booleans and nulls.
func withStringHint(err error, sets []string) error {
	if len(sets) == 0 {
		return err
	}
	msg := err.Error()
	if !strings.Contains(msg, "want string") && !strings.Contains(msg, "Expected: string") {
		return err
	}
	return fmt.Errorf("%w; --set reads 1, true and null as a number, a boolean and null: pass a value that must be a string with --set-string KEY=VALUE", err)
}

// chartArchiveOrDir returns the local path of the chart ref: fetched when it
// is remote, else found by ResolveChart. A version or repository for a local
// chart is refused: it would be silently ignored.
func chartArchiveOrDir(ref string, src ChartSource) (string, error) {
	if isRemoteChart(ref, src) {
		return locateRemoteChart(ref, src)
	}
	if src.Version != "" {
		return "", invalid("--chart-version %s: chart %q is a local path; a version applies to an oci:// reference or a chart of a --repo repository", src.Version, ref)
	}
	return ResolveChart(ref)
}

// ResolveChart finds a chart path: absolute as given, else relative to the
// working directory, else relative to the repository root (the nearest parent
// holding go.mod).
func ResolveChart(path string) (string, error) {
	candidates := []string{path}
	if !filepath.IsAbs(path) {
		if root, err := repo.Root(); err == nil {
			candidates = append(candidates, filepath.Join(root, path))
		}
	}
	for _, c := range candidates {
		if _, err := os.Stat(filepath.Join(c, "Chart.yaml")); err == nil {
			return filepath.Abs(c)
		}
		if st, err := os.Stat(c); err == nil && !st.IsDir() && strings.HasSuffix(c, ".tgz") {
			return filepath.Abs(c)
		}
	}
	return "", invalid("chart %q not found (looked in %s); pass --chart with the path of charts/gpu-autoscaling", path, strings.Join(candidates, ", "))
}

// checkDependencies refuses a chart whose declared subcharts are missing (the
// umbrella chart ships them unpacked under charts/).
func checkDependencies(chrt *chart.Chart) error {
	if chrt.Metadata == nil || len(chrt.Metadata.Dependencies) == 0 {
		return nil
	}
	if err := action.CheckDependencies(chrt, chrt.Metadata.Dependencies); err != nil {
		return invalid("chart %s: %v (its subcharts belong unpacked under its charts/ folder)", chrt.Name(), err)
	}
	return nil
}

// render runs a client-only dry-run install, the equivalent of `helm template`.
func render(opts Options, chrt *chart.Chart, vals map[string]any) (string, error) {
	kv := OfflineKubeVersion()
	inst := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	inst.DryRun = true
	inst.ClientOnly = true
	inst.KubeVersion = &kv
	inst.Replace = true
	inst.ReleaseName = opts.Release
	inst.Namespace = opts.Namespace
	inst.Timeout = opts.Timeout
	rel, err := inst.Run(chrt, copyValues(vals))
	if err != nil {
		return "", invalid("render chart %s with the given values: %v", chrt.Name(), err)
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "\n---\n%s", h.Manifest)
	}
	return b.String(), nil
}

// copyValues deep-copies vals so a render cannot change the plan's values.
func copyValues(vals map[string]any) map[string]any {
	out := make(map[string]any, len(vals))
	for k, v := range vals {
		if m, ok := v.(map[string]any); ok {
			out[k] = copyValues(m)
			continue
		}
		out[k] = v
	}
	return out
}

// ManifestObjects lists the objects of a rendered manifest, sorted by kind and
// name; namespaced objects without a namespace get defaultNS. Cluster-scoped
// kinds keep an empty namespace.
func ManifestObjects(manifest, defaultNS string) ([]Object, error) {
	var out []Object
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	for _, k := range keys {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name      string `json:"name"`
				Namespace string `json:"namespace"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal([]byte(docs[k]), &head); err != nil {
			return nil, fmt.Errorf("parse %s: %w", k, err)
		}
		if head.Kind == "" {
			continue
		}
		ns := head.Metadata.Namespace
		if ns == "" && !ClusterScoped(head.Kind) {
			ns = defaultNS
		}
		if ClusterScoped(head.Kind) {
			ns = ""
		}
		out = append(out, Object{APIVersion: head.APIVersion, Kind: head.Kind, Namespace: ns, Name: head.Metadata.Name})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Kind != out[j].Kind {
			return out[i].Kind < out[j].Kind
		}
		return out[i].Namespace+"/"+out[i].Name < out[j].Namespace+"/"+out[j].Name
	})
	return out, nil
}

// ClusterScoped reports whether kind is one of the cluster-scoped kinds the
// chart can create.
func ClusterScoped(kind string) bool {
	switch kind {
	case "APIService", "ClusterRole", "ClusterRoleBinding", "Namespace",
		"CustomResourceDefinition", "PriorityClass", "StorageClass",
		"ValidatingWebhookConfiguration", "MutatingWebhookConfiguration",
		"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding", "IngressClass", "RuntimeClass":
		return true
	}
	return false
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalidInput, fmt.Sprintf(format, a...))
}

// discard is the Helm logger used when Options.Log is nil.
func discard(string, ...any) {}

func logger(opts Options) func(string, ...any) {
	if opts.Log != nil {
		return opts.Log
	}
	return discard
}
