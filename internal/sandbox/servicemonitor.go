package sandbox

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
)

var serviceMonitorGVR = schema.GroupVersionResource{Group: "monitoring.coreos.com", Version: "v1", Resource: "servicemonitors"}

// InstallServiceMonitorCRD registers a minimal monitoring.coreos.com/v1
// ServiceMonitor CRD (schema-less) so that a chart gated on
// .Capabilities.APIVersions renders its ServiceMonitor; SyncServiceMonitors
// then translates it into the sandbox Prometheus' scrape jobs. There is no
// prometheus-operator: the sandbox does its job for these objects.
func (s *Sandbox) InstallServiceMonitorCRD(ctx context.Context) error {
	c, err := apiextensions.NewForConfig(s.RESTConfig())
	if err != nil {
		return fmt.Errorf("apiextensions client: %w", err)
	}
	preserve := true
	crd := &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "servicemonitors.monitoring.coreos.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "monitoring.coreos.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "servicemonitors", Singular: "servicemonitor",
				Kind: "ServiceMonitor", ListKind: "ServiceMonitorList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object", XPreserveUnknownFields: &preserve}},
			}},
		},
	}
	if _, err := c.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil &&
		!apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ServiceMonitor CRD: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	return waitFor(ctx, "ServiceMonitor CRD established", 200*time.Millisecond, nil, func(ctx context.Context) (bool, error) {
		got, err := c.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		for _, cond := range got.Status.Conditions {
			if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
				return true, nil
			}
		}
		return false, nil
	})
}

// SyncServiceMonitors translates every ServiceMonitor into a Prometheus job
// of the sandbox and reloads Prometheus: the sandbox does what
// prometheus-operator would. Call it after installing or changing a chart
// that renders ServiceMonitors (the CRD must be registered first).
func (s *Sandbox) SyncServiceMonitors(ctx context.Context) error {
	dyn, err := dynamic.NewForConfig(s.RESTConfig())
	if err != nil {
		return fmt.Errorf("dynamic client: %w", err)
	}
	list, err := dyn.Resource(serviceMonitorGVR).Namespace("").List(ctx, metav1.ListOptions{})
	if err != nil && !apierrors.IsNotFound(err) && !meta.IsNoMatchError(err) {
		return fmt.Errorf("list ServiceMonitors: %w", err)
	}
	cs, err := s.Clientset()
	if err != nil {
		return err
	}
	files := &secretFiles{dir: filepath.Join(s.opts.Dir, "config", "scrape-secrets"), get: func(ctx context.Context, kind, ns, name, key string) ([]byte, error) {
		switch kind {
		case "configMap":
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			if v, ok := cm.Data[key]; ok {
				return []byte(v), nil
			}
			return nil, fmt.Errorf("ConfigMap %s/%s has no key %q", ns, name, key)
		default:
			sec, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return nil, err
			}
			if v, ok := sec.Data[key]; ok {
				return v, nil
			}
			return nil, fmt.Errorf("Secret %s/%s has no key %q", ns, name, key)
		}
	}}
	var jobs []ScrapeJob
	if list != nil {
		for i := range list.Items {
			js, err := scrapeJobsFromServiceMonitor(ctx, &list.Items[i], files.write)
			if err != nil {
				return err
			}
			jobs = append(jobs, js...)
		}
	}
	return s.setScrapeJobs(ctx, jobs)
}

// scrapeJobsFromServiceMonitor translates a ServiceMonitor into one
// endpoints-role job per endpoint, as prometheus-operator generates them:
// keep the selected Services' endpoints on the named port, label targets
// with namespace, service, pod, container and endpoint, job = the Service
// name, then path, scheme, honorLabels, interval, timeout, tlsConfig,
// basicAuth and the endpoint's relabelings. Unsupported fields are reported,
// not ignored. file materializes a Secret or ConfigMap key (kind "secret" or
// "configMap", in the ServiceMonitor's namespace, as prometheus-operator
// reads them) and returns the path Prometheus reads it from.
func scrapeJobsFromServiceMonitor(ctx context.Context, sm *unstructured.Unstructured, file keyFile) ([]ScrapeJob, error) {
	where := "ServiceMonitor " + sm.GetNamespace() + "/" + sm.GetName()
	eps, found, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if err != nil || !found || len(eps) == 0 {
		return nil, fmt.Errorf("%s has no spec.endpoints", where)
	}
	selection, namespaces, err := serviceSelection(sm)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	var jobs []ScrapeJob
	for i, e := range eps {
		ep, ok := e.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: endpoint %d is not an object", where, i)
		}
		job, err := endpointJob(ctx, ep, sm.GetNamespace(), file)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		job.Name = fmt.Sprintf("serviceMonitor/%s/%s/%d", sm.GetNamespace(), sm.GetName(), i)
		job.Role, job.Namespaces = "endpoints", namespaces
		rel := append(slices.Clone(selection), portSelection(ep)...)
		rel = append(rel, operatorTargetLabels()...)
		job.Relabel = append(rel, job.Relabel...)
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// serviceSelection keeps the endpoints of Services matching the selector's
// matchLabels, in the namespaceSelector's namespaces (default: the
// ServiceMonitor's own).
func serviceSelection(sm *unstructured.Unstructured) ([]map[string]any, []string, error) {
	labels, _, err := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if err != nil {
		return nil, nil, fmt.Errorf("spec.selector.matchLabels: %w", err)
	}
	if exprs, ok, _ := unstructured.NestedSlice(sm.Object, "spec", "selector", "matchExpressions"); ok && len(exprs) > 0 {
		return nil, nil, fmt.Errorf("spec.selector.matchExpressions are not translated by the sandbox")
	}
	var rel []map[string]any
	for _, k := range slices.Sorted(maps.Keys(labels)) {
		rel = append(rel, map[string]any{"source_labels": []string{"__meta_kubernetes_service_label_" + sanitizeLabel(k)},
			"action": "keep", "regex": regexp.QuoteMeta(labels[k])})
	}
	namespaces := []string{sm.GetNamespace()}
	if any, _, _ := unstructured.NestedBool(sm.Object, "spec", "namespaceSelector", "any"); any {
		namespaces = nil
	} else if names, ok, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames"); ok && len(names) > 0 {
		namespaces = names
	}
	return rel, namespaces, nil
}

// portSelection keeps the endpoint port the ServiceMonitor names.
func portSelection(ep map[string]any) []map[string]any {
	if port, ok := ep["port"].(string); ok && port != "" {
		return []map[string]any{{"source_labels": []string{"__meta_kubernetes_endpoint_port_name"}, "action": "keep", "regex": regexp.QuoteMeta(port)}}
	}
	return nil
}

// operatorTargetLabels are the target labels prometheus-operator sets.
func operatorTargetLabels() []map[string]any {
	set := func(src, dst string) map[string]any {
		return map[string]any{"source_labels": []string{src}, "target_label": dst}
	}
	return []map[string]any{
		set("__meta_kubernetes_namespace", "namespace"),
		set("__meta_kubernetes_service_name", "service"),
		set("__meta_kubernetes_pod_name", "pod"),
		set("__meta_kubernetes_pod_container_name", "container"),
		set("__meta_kubernetes_service_name", "job"),
		set("__meta_kubernetes_endpoint_port_name", "endpoint"),
	}
}

// sanitizeLabel is Prometheus' label name sanitizing for meta labels.
func sanitizeLabel(k string) string {
	return regexp.MustCompile(`[^a-zA-Z0-9_]`).ReplaceAllString(k, "_")
}

// keyFile writes the key of a Secret or ConfigMap ("secret", "configMap")
// of namespace ns to a file and returns its path.
type keyFile func(ctx context.Context, kind, ns, name, key string) (string, error)

// secretFiles writes referenced keys below dir, one file per key, readable
// by the sandbox's user only.
type secretFiles struct {
	dir string
	get func(ctx context.Context, kind, ns, name, key string) ([]byte, error)
}

func (f *secretFiles) write(ctx context.Context, kind, ns, name, key string) (string, error) {
	data, err := f.get(ctx, kind, ns, name, key)
	if err != nil {
		return "", fmt.Errorf("read %s %s/%s key %s: %w", kind, ns, name, key, err)
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return "", fmt.Errorf("scrape secrets folder: %w", err)
	}
	path := filepath.Join(f.dir, sanitizeLabel(strings.Join([]string{kind, ns, name, key}, "_")))
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return "", fmt.Errorf("write %s %s/%s key %s: %w", kind, ns, name, key, err)
	}
	return path, nil
}

// selectorFile materializes a {name, key} selector found at field.
func selectorFile(ctx context.Context, file keyFile, kind, ns, field string, sel any) (string, error) {
	m, ok := sel.(map[string]any)
	name, _ := m["name"].(string)
	key, _ := m["key"].(string)
	if !ok || name == "" || key == "" {
		return "", fmt.Errorf("%s needs a name and a key", field)
	}
	return file(ctx, kind, ns, name, key)
}

// tlsConfig translates an endpoint's tlsConfig (SafeTLSConfig: ca and cert
// from a Secret or ConfigMap, keySecret, serverName, insecureSkipVerify).
func tlsConfig(ctx context.Context, tc map[string]any, ns string, file keyFile) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range tc {
		switch k {
		case "serverName":
			out["server_name"] = v
		case "insecureSkipVerify":
			out["insecure_skip_verify"] = v
		case "ca", "cert":
			src, _ := v.(map[string]any)
			if len(src) != 1 {
				return nil, fmt.Errorf("tlsConfig.%s needs exactly one of secret or configMap", k)
			}
			for kind, sel := range src {
				if kind != "secret" && kind != "configMap" {
					return nil, fmt.Errorf("tlsConfig.%s.%s is not translated by the sandbox", k, kind)
				}
				path, err := selectorFile(ctx, file, kind, ns, "tlsConfig."+k+"."+kind, sel)
				if err != nil {
					return nil, err
				}
				out[k+"_file"] = path
			}
		case "keySecret":
			path, err := selectorFile(ctx, file, "secret", ns, "tlsConfig.keySecret", v)
			if err != nil {
				return nil, err
			}
			out["key_file"] = path
		default:
			return nil, fmt.Errorf("tlsConfig field %s is not translated by the sandbox", k)
		}
	}
	return out, nil
}

// basicAuth translates an endpoint's basicAuth (username and password
// Secret key selectors) into username_file and password_file.
func basicAuth(ctx context.Context, ba map[string]any, ns string, file keyFile) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range ba {
		if k != "username" && k != "password" {
			return nil, fmt.Errorf("basicAuth field %s is not translated by the sandbox", k)
		}
		path, err := selectorFile(ctx, file, "secret", ns, "basicAuth."+k, v)
		if err != nil {
			return nil, err
		}
		out[k+"_file"] = path
	}
	if len(out) != 2 {
		return nil, fmt.Errorf("basicAuth needs username and password")
	}
	return out, nil
}

// endpointJob translates one endpoint's path, scheme, honorLabels,
// interval, timeout, tlsConfig, basicAuth and relabelings; ns is the
// ServiceMonitor's namespace, where its Secrets are.
func endpointJob(ctx context.Context, ep map[string]any, ns string, file keyFile) (ScrapeJob, error) {
	job := ScrapeJob{MetricsPath: "/metrics", Scheme: "http"}
	if v, ok := ep["path"].(string); ok && v != "" {
		job.MetricsPath = v
	}
	if v, ok := ep["scheme"].(string); ok && v != "" {
		job.Scheme = v
	}
	if v, ok := ep["honorLabels"].(bool); ok {
		job.HonorLabels = v
	}
	for key, dst := range map[string]*time.Duration{"interval": &job.ScrapeInterval, "scrapeTimeout": &job.ScrapeTimeout} {
		if v, ok := ep[key].(string); ok && v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return ScrapeJob{}, fmt.Errorf("%s %q: %w", key, v, err)
			}
			*dst = d
		}
	}
	if rls, ok := ep["relabelings"].([]any); ok {
		for _, r := range rls {
			rl, _ := r.(map[string]any)
			cfg, err := relabelConfig(rl)
			if err != nil {
				return ScrapeJob{}, err
			}
			job.Relabel = append(job.Relabel, cfg)
		}
	}
	if v, ok := ep["tlsConfig"]; ok {
		tc, _ := v.(map[string]any)
		cfg, err := tlsConfig(ctx, tc, ns, file)
		if err != nil {
			return ScrapeJob{}, err
		}
		job.TLSConfig = cfg
	}
	if v, ok := ep["basicAuth"]; ok {
		ba, _ := v.(map[string]any)
		cfg, err := basicAuth(ctx, ba, ns, file)
		if err != nil {
			return ScrapeJob{}, err
		}
		job.BasicAuth = cfg
	}
	for _, unsupported := range []string{"metricRelabelings", "bearerTokenFile", "authorization", "params"} {
		if _, ok := ep[unsupported]; ok {
			return ScrapeJob{}, fmt.Errorf("endpoint field %s is not translated by the sandbox", unsupported)
		}
	}
	return job, nil
}

// relabelFields maps prometheus-operator RelabelConfig fields to Prometheus'.
var relabelFields = map[string]string{
	"sourceLabels": "source_labels", "separator": "separator", "targetLabel": "target_label",
	"regex": "regex", "modulus": "modulus", "replacement": "replacement", "action": "action",
}

// relabelConfig translates one ServiceMonitor relabeling to a Prometheus
// relabel_config; unknown fields are an error rather than silently dropped.
func relabelConfig(rl map[string]any) (map[string]any, error) {
	out := map[string]any{}
	for k, v := range rl {
		name, ok := relabelFields[k]
		if !ok {
			return nil, fmt.Errorf("relabeling field %q is not translated by the sandbox", k)
		}
		if k == "action" {
			if s, ok := v.(string); ok {
				v = strings.ToLower(s)
			}
		}
		out[name] = v
	}
	return out, nil
}
