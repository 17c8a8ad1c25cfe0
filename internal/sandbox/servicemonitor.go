package sandbox

import (
	"context"
	"fmt"
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
// .Capabilities.APIVersions renders its ServiceMonitor; the GPU plane then
// translates it into the sandbox Prometheus' scrape job. There is no
// prometheus-operator: the sandbox does its job for this one object.
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

// serviceMonitor returns the release's exporter ServiceMonitor, or nil when
// the CRD is absent or the chart rendered none.
func (g *GPUPlane) serviceMonitor(ctx context.Context) (*unstructured.Unstructured, error) {
	dyn, err := dynamic.NewForConfig(g.sb.RESTConfig())
	if err != nil {
		return nil, fmt.Errorf("dynamic client: %w", err)
	}
	list, err := dyn.Resource(serviceMonitorGVR).Namespace("").List(ctx, metav1.ListOptions{LabelSelector: g.componentSelector("exporter")})
	if err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list ServiceMonitors: %w", err)
	}
	switch len(list.Items) {
	case 0:
		return nil, nil
	case 1:
		return &list.Items[0], nil
	default:
		return nil, fmt.Errorf("want at most one exporter ServiceMonitor labelled %s, found %d", g.componentSelector("exporter"), len(list.Items))
	}
}

// scrapeJobFromServiceMonitor translates the first endpoint of a
// ServiceMonitor into a scrape job: path, scheme, honorLabels, interval,
// timeout and a `job` set by a replace relabeling, as prometheus-operator
// would generate them. Unsupported fields are reported, not ignored.
func scrapeJobFromServiceMonitor(sm *unstructured.Unstructured) (ScrapeJob, error) {
	eps, found, err := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if err != nil || !found || len(eps) == 0 {
		return ScrapeJob{}, fmt.Errorf("ServiceMonitor %s has no spec.endpoints", sm.GetName())
	}
	if len(eps) > 1 {
		return ScrapeJob{}, fmt.Errorf("ServiceMonitor %s has %d endpoints; the sandbox translates exactly one", sm.GetName(), len(eps))
	}
	ep, ok := eps[0].(map[string]any)
	if !ok {
		return ScrapeJob{}, fmt.Errorf("ServiceMonitor %s: endpoint is not an object", sm.GetName())
	}
	// prometheus-operator's defaults: job = the Service name, path /metrics, http.
	job := ScrapeJob{Name: sm.GetName(), MetricsPath: "/metrics", Scheme: "http"}
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
				return ScrapeJob{}, fmt.Errorf("ServiceMonitor %s: %s %q: %w", sm.GetName(), key, v, err)
			}
			*dst = d
		}
	}
	if rls, ok := ep["relabelings"].([]any); ok {
		for _, r := range rls {
			rl, _ := r.(map[string]any)
			cfg, err := relabelConfig(rl)
			if err != nil {
				return ScrapeJob{}, fmt.Errorf("ServiceMonitor %s: %w", sm.GetName(), err)
			}
			job.Relabel = append(job.Relabel, cfg)
			action, _ := rl["action"].(string)
			target, _ := rl["targetLabel"].(string)
			repl, _ := rl["replacement"].(string)
			if (action == "" || strings.EqualFold(action, "replace")) && target == "job" && repl != "" {
				job.Name = repl
			}
		}
	}
	if _, ok := ep["metricRelabelings"]; ok {
		return ScrapeJob{}, fmt.Errorf("ServiceMonitor %s: metricRelabelings are not translated by the sandbox", sm.GetName())
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
