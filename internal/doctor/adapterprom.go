package doctor

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// checkAdapterPrometheus: the adapter reaches its Prometheus. A metric query
// the adapter answered proves it; its "unable to fetch metrics" error
// disproves it; otherwise the adapter's --prometheus-url is inspected.
func (r *runner) checkAdapterPrometheus(ctx context.Context) error {
	subject := "adapter → prometheus"
	fix := "the adapter cannot query Prometheus: set values adapter.prometheus.url to the in-cluster Prometheus (e.g. http://prometheus-server.monitoring.svc:80), " +
		"check Prometheus is up and NetworkPolicy allows adapter → Prometheus; the adapter logs 'unable to fetch metrics from prometheus'"
	if len(r.promFetchErrors) > 0 {
		r.fail(idAdapterPrometheus, subject, fmt.Sprintf("%d metric queries failed inside the adapter: %s", len(r.promFetchErrors), r.promFetchErrors[0]), fix)
		return nil
	}
	if r.metricSuccesses > 0 {
		r.pass(idAdapterPrometheus, subject, fmt.Sprintf("the adapter answered %d of %d metric queries from Prometheus", r.metricSuccesses, r.metricQueries))
		return nil
	}
	promURL, dep, err := r.adapterPrometheusURL(ctx)
	if err != nil {
		return err
	}
	if dep == nil {
		r.warn(idAdapterPrometheus, subject, fmt.Sprintf("no adapter Deployment of release %s in %s (rules-only mode?) and no metric query succeeded", r.cfg.Release, r.cfg.Namespace),
			"check your prometheus-adapter's --prometheus-url by hand")
		return nil
	}
	if promURL == "" {
		r.fail(idAdapterPrometheus, subject, fmt.Sprintf("Deployment %s has no --prometheus-url argument", dep.Name), "set values adapter.prometheus.url")
		return nil
	}
	u, err := url.Parse(promURL)
	if err != nil || u.Host == "" {
		r.fail(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %q is not a URL", promURL), "set values adapter.prometheus.url to http(s)://host:port")
		return nil
	}
	if svc, ns, ok := serviceOf(u.Hostname(), r.cfg.Namespace); ok {
		ready, err := r.serviceReady(ctx, ns, svc)
		switch {
		case err != nil:
			r.fail(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s: %v", promURL, err), fix)
		case !ready:
			r.fail(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s: Service %s/%s has no ready endpoints", promURL, ns, svc), fix)
		default:
			r.pass(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s: Service %s/%s has ready endpoints", promURL, ns, svc))
		}
		return nil
	}
	// A host address: probe it from here (the sandbox runs everything locally).
	if err := probeReady(ctx, promURL); err != nil {
		r.warn(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s does not answer from this machine: %v (no metric query proved it either)", promURL, err), fix)
		return nil
	}
	r.pass(idAdapterPrometheus, subject, fmt.Sprintf("adapter --prometheus-url %s answers /-/ready", promURL))
	return nil
}

func (r *runner) adapterPrometheusURL(ctx context.Context) (string, *appsv1.Deployment, error) {
	deps, err := r.cfg.Kube.AppsV1().Deployments(r.cfg.Namespace).List(ctx, metav1.ListOptions{
		LabelSelector: "app.kubernetes.io/component=adapter,app.kubernetes.io/instance=" + r.cfg.Release,
	})
	if err != nil {
		return "", nil, fmt.Errorf("list adapter Deployments: %w", err)
	}
	if len(deps.Items) == 0 {
		return "", nil, nil
	}
	d := &deps.Items[0]
	for _, c := range d.Spec.Template.Spec.Containers {
		args := append(append([]string(nil), c.Command...), c.Args...)
		for i, a := range args {
			if v, ok := strings.CutPrefix(a, "--prometheus-url="); ok {
				return v, d, nil
			}
			if a == "--prometheus-url" && i+1 < len(args) {
				return args[i+1], d, nil
			}
		}
	}
	return "", d, nil
}

// serviceOf recognises in-cluster Service host names: name, name.ns,
// name.ns.svc, name.ns.svc.cluster.local.
func serviceOf(host, defaultNS string) (svc, ns string, ok bool) {
	parts := strings.Split(host, ".")
	switch {
	case len(parts) == 1 && host != "localhost":
		return parts[0], defaultNS, true
	case len(parts) == 2 && !isNumeric(parts[1]):
		return parts[0], parts[1], true
	case len(parts) >= 3 && parts[2] == "svc":
		return parts[0], parts[1], true
	}
	return "", "", false
}

func isNumeric(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

func (r *runner) serviceReady(ctx context.Context, ns, name string) (bool, error) {
	svc, err := r.cfg.Kube.CoreV1().Services(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, fmt.Errorf("Service %s/%s does not exist", ns, name)
	}
	if err != nil {
		return false, fmt.Errorf("read Service %s/%s: %v", ns, name, err)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return true, nil
	}
	slices, err := r.cfg.Kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + name})
	if err != nil {
		return false, fmt.Errorf("list EndpointSlices of %s/%s: %v", ns, name, err)
	}
	for _, s := range slices.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready == nil || *e.Conditions.Ready {
				return true, nil
			}
		}
	}
	return false, nil
}

func probeReady(ctx context.Context, base string) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(base, "/")+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return nil
}
