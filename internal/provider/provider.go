// Package provider gives the GPU plane and the e2e suite a cluster to run on
// without caring where it comes from: the embedded sandbox with its real
// node (the default), an existing cluster ($KUBECONFIG) or kind. Each says
// what it needs from the charts' values, how Prometheus is reached, and how
// a container is killed as a crash would kill it.
package provider

import (
	"context"
	"errors"
	"fmt"
	"os"

	"k8s.io/client-go/rest"
)

// ErrUnavailable is wrapped by errors that say why a provider cannot run
// here (no container engine, no KUBECONFIG, not root); `make test` turns it
// into a failure, a run by hand into a skip.
var ErrUnavailable = errors.New("cluster provider unavailable")

// EnvProvider picks the provider: sandbox (default), existing or kind.
const EnvProvider = "GPU_AUTOSCALING_E2E_PROVIDER"

// Cluster is a running cluster.
type Cluster interface {
	// Name is the provider: sandbox, existing or kind.
	Name() string
	// Kubeconfig is the path of an admin kubeconfig.
	Kubeconfig() string
	// RESTConfig is the admin client configuration.
	RESTConfig() *rest.Config
	// PrometheusURL is the Prometheus that scrapes the exporters, reachable
	// from this process.
	PrometheusURL() string
	// Values are what the provider needs in the charts' values.
	Values() Values
	// EnsureServiceMonitorCRD makes monitoring.coreos.com/v1 ServiceMonitor
	// a served kind (or says why it is not), before a chart renders one.
	EnsureServiceMonitorCRD(ctx context.Context) error
	// Reconcile applies what the cluster's monitoring stack does when
	// monitoring objects change (the sandbox translates ServiceMonitors into
	// its Prometheus configuration and loads the rules ConfigMaps labelled
	// sandbox.RulesConfigMapLabel; elsewhere prometheus-operator does).
	Reconcile(ctx context.Context) error
	// KillContainer ends a running container of a pod as a crash would.
	KillContainer(ctx context.Context, namespace, pod, container string) error
	// Close stops what the provider started (an existing cluster stays).
	Close(ctx context.Context) error
}

// Values are the provider's part of the charts' values: files (relative to
// the repository root, or absolute) and --set values, for the umbrella chart
// and for the stand-in GPU services.
type Values struct {
	Files          []string
	Set            map[string]string
	WorkloadsFiles []string
	WorkloadsSet   map[string]string
}

// Provider creates or connects to a cluster.
type Provider interface {
	Name() string
	// Available returns nil, or an error wrapping ErrUnavailable that says
	// what is missing.
	Available(ctx context.Context) error
	Start(ctx context.Context) (Cluster, error)
}

// FromEnv picks the provider named by $GPU_AUTOSCALING_E2E_PROVIDER.
func FromEnv(sandbox SandboxOptions) (Provider, error) {
	switch name := os.Getenv(EnvProvider); name {
	case "", "sandbox":
		return Sandbox{Options: sandbox}, nil
	case "existing":
		return Existing{Kubeconfig: os.Getenv("KUBECONFIG"), PrometheusURL: os.Getenv(EnvPrometheusURL)}, nil
	case "kind":
		return Kind{ClusterName: "gpu-autoscaling-e2e", Dir: sandbox.Dir}, nil
	default:
		return nil, fmt.Errorf("%s=%q: use sandbox, existing or kind", EnvProvider, name)
	}
}
