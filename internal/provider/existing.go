package provider

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Environment of the existing and kind providers.
const (
	// EnvPrometheusURL is the Prometheus that scrapes the exporters, as this
	// process reaches it (a port-forward, an ingress).
	EnvPrometheusURL = "GPU_AUTOSCALING_E2E_PROMETHEUS_URL"
	// EnvValues and EnvWorkloadsValues are comma-separated values files for
	// the umbrella chart and the stand-in services (default values/dev.yaml
	// and the chart's defaults).
	EnvValues          = "GPU_AUTOSCALING_E2E_VALUES"
	EnvWorkloadsValues = "GPU_AUTOSCALING_E2E_WORKLOADS_VALUES"
)

// Existing uses a cluster that is already running: a user's CI cluster.
type Existing struct {
	Kubeconfig    string
	PrometheusURL string
}

func (Existing) Name() string { return "existing" }

func (p Existing) Available(ctx context.Context) error {
	if p.Kubeconfig == "" {
		return fmt.Errorf("%w: KUBECONFIG is not set", ErrUnavailable)
	}
	if p.PrometheusURL == "" {
		return fmt.Errorf("%w: %s is not set (the suite reads the exporters' series from Prometheus)", ErrUnavailable, EnvPrometheusURL)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return fmt.Errorf("%w: KUBECONFIG %s: %w", ErrUnavailable, p.Kubeconfig, err)
	}
	cfg.Timeout = 5 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{}); err != nil {
		return fmt.Errorf("%w: cluster in %s does not answer: %w", ErrUnavailable, p.Kubeconfig, err)
	}
	return nil
}

func (p Existing) Start(ctx context.Context) (Cluster, error) {
	if err := p.Available(ctx); err != nil {
		return nil, err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p.Kubeconfig, err)
	}
	return kubeconfigCluster{name: "existing", path: p.Kubeconfig, cfg: cfg, prometheus: p.PrometheusURL,
		values: valuesFromEnv([]string{"values/dev.yaml"}, nil)}, nil
}

// valuesFromEnv reads the values files the user named, or the defaults.
func valuesFromEnv(files, workloads []string) Values {
	split := func(v string) []string {
		var out []string
		for _, f := range strings.Split(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
		return out
	}
	if v := os.Getenv(EnvValues); v != "" {
		files = split(v)
	}
	if v := os.Getenv(EnvWorkloadsValues); v != "" {
		workloads = split(v)
	}
	return Values{Files: files, WorkloadsFiles: workloads}
}

// kubeconfigCluster is a cluster reached through a kubeconfig; its
// monitoring stack is the cluster's own.
type kubeconfigCluster struct {
	name, path, prometheus string
	cfg                    *rest.Config
	values                 Values
	close                  func() error
}

func (c kubeconfigCluster) Name() string             { return c.name }
func (c kubeconfigCluster) Kubeconfig() string       { return c.path }
func (c kubeconfigCluster) RESTConfig() *rest.Config { return rest.CopyConfig(c.cfg) }
func (c kubeconfigCluster) PrometheusURL() string    { return c.prometheus }
func (c kubeconfigCluster) Values() Values           { return c.values }
func (c kubeconfigCluster) Reconcile(context.Context) error {
	return nil // prometheus-operator reconciles ServiceMonitors itself
}

// EnsureServiceMonitorCRD checks that prometheus-operator's CRD is served.
func (c kubeconfigCluster) EnsureServiceMonitorCRD(context.Context) error {
	dc, err := discovery.NewDiscoveryClientForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	list, err := dc.ServerResourcesForGroupVersion("monitoring.coreos.com/v1")
	if err == nil {
		for _, r := range list.APIResources {
			if r.Kind == "ServiceMonitor" {
				return nil
			}
		}
	}
	return fmt.Errorf("%w: the cluster serves no monitoring.coreos.com/v1 ServiceMonitor: install prometheus-operator (kube-prometheus-stack) first", ErrUnavailable)
}

// KillContainer deletes the pod at once (grace period 0): without access to
// the node's runtime that is the closest to a crash; its controller
// replaces it.
func (c kubeconfigCluster) KillContainer(ctx context.Context, namespace, pod, _ string) error {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return err
	}
	zero := int64(0)
	if err := cs.CoreV1().Pods(namespace).Delete(ctx, pod, metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		return fmt.Errorf("delete pod %s/%s: %w", namespace, pod, err)
	}
	return nil
}

func (c kubeconfigCluster) Close(context.Context) error {
	if c.close == nil {
		return nil
	}
	return c.close()
}
