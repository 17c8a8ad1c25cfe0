// Package cluster connects the operator tooling to a Kubernetes cluster: one
// kubeconfig/context selection feeds the typed client-go clientset, the
// kube-aggregator clientset (APIServices), the custom metrics client and the
// RESTClientGetter that the Helm SDK needs, so every action talks to the same
// cluster as the same user.
package cluster

import (
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
	cmclient "k8s.io/metrics/pkg/client/custom_metrics"
)

// Options select the cluster and the user. Empty fields follow the usual
// kubeconfig rules ($KUBECONFIG, ~/.kube/config, the current context).
type Options struct {
	Kubeconfig string
	Context    string
	Namespace  string
	// ReachTimeout bounds the reachability probe made by Connect (default
	// DefaultReachTimeout).
	ReachTimeout time.Duration
	// RequestTimeout bounds every request of the clients (and of the Helm
	// SDK, through the Getter), as kubectl's --request-timeout does; 0: no
	// bound beyond the callers' contexts.
	RequestTimeout time.Duration
}

// DefaultReachTimeout bounds the reachability probe when Options.ReachTimeout
// is not set.
const DefaultReachTimeout = 10 * time.Second

// Clients is everything an action needs to talk to one cluster.
type Clients struct {
	// Getter is handed to helm's action.Configuration.Init.
	Getter        genericclioptions.RESTClientGetter
	REST          *rest.Config
	Kube          kubernetes.Interface
	Aggregator    aggregator.Interface
	CustomMetrics cmclient.CustomMetricsClient
	// ServerVersion is the git version the API server reported.
	ServerVersion string
}

// ErrUnreachable marks a cluster that could not be reached (or whose
// kubeconfig could not be loaded); callers treat it as a usage error.
var ErrUnreachable = errors.New("cluster unreachable")

// Connect loads the kubeconfig, builds the clients and proves the API server
// answers (a /version request) before anything else is attempted.
func Connect(ctx context.Context, opts Options) (*Clients, error) {
	flags := genericclioptions.NewConfigFlags(true)
	if opts.Kubeconfig != "" {
		flags.KubeConfig = &opts.Kubeconfig
	}
	if opts.Context != "" {
		flags.Context = &opts.Context
	}
	if opts.Namespace != "" {
		flags.Namespace = &opts.Namespace
	}
	if opts.RequestTimeout > 0 {
		t := opts.RequestTimeout.String()
		flags.Timeout = &t
	}
	cfg, err := flags.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("%w: load kubeconfig (set --kubeconfig/--context or $KUBECONFIG): %v", ErrUnreachable, err)
	}
	timeout := opts.ReachTimeout
	if timeout <= 0 {
		timeout = DefaultReachTimeout
	}
	probeCfg := rest.CopyConfig(cfg)
	probeCfg.Timeout = timeout
	probe, err := discovery.NewDiscoveryClientForConfig(probeCfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrUnreachable, err)
	}
	version, err := serverVersion(ctx, probe, timeout)
	if err != nil {
		return nil, fmt.Errorf("%w at %s (check --kubeconfig/--context and that the API server is running): %v", ErrUnreachable, cfg.Host, err)
	}
	return NewClients(flags, cfg, version)
}

// serverVersion asks /version, giving up when ctx ends or after timeout.
func serverVersion(ctx context.Context, d discovery.DiscoveryInterface, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type answer struct {
		version string
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		v, err := d.ServerVersion()
		if err != nil {
			done <- answer{err: err}
			return
		}
		done <- answer{version: v.GitVersion}
	}()
	noAnswer := fmt.Errorf("no answer to GET /version within %s (raise --timeout if the API server is slow)", timeout)
	select {
	case a := <-done:
		var netErr net.Error
		if a.err != nil && (errors.Is(a.err, context.DeadlineExceeded) || errors.As(a.err, &netErr) && netErr.Timeout()) {
			return "", fmt.Errorf("%w: %v", noAnswer, a.err)
		}
		return a.version, a.err
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return "", noAnswer
		}
		return "", ctx.Err()
	}
}

// CustomMetricsTimeout bounds each custom.metrics.k8s.io request (less when
// the rest.Config sets a shorter timeout of its own).
const CustomMetricsTimeout = 30 * time.Second

// NewClients builds the clients for an already loaded rest.Config.
func NewClients(getter genericclioptions.RESTClientGetter, cfg *rest.Config, version string) (*Clients, error) {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build kubernetes client: %w", err)
	}
	agg, err := aggregator.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build kube-aggregator client: %w", err)
	}
	disco, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("build discovery client: %w", err)
	}
	cached := memory.NewMemCacheClient(disco)
	mapper := restmapper.NewDeferredDiscoveryRESTMapper(cached)
	// The custom metrics client takes no context: bound each of its requests so
	// a hung aggregated API (the adapter gone) cannot hang a doctor run.
	cmCfg := rest.CopyConfig(cfg)
	if cmCfg.Timeout == 0 || cmCfg.Timeout > CustomMetricsTimeout {
		cmCfg.Timeout = CustomMetricsTimeout
	}
	custom := cmclient.NewForConfig(cmCfg, mapper, cmclient.NewAvailableAPIsGetter(disco))
	return &Clients{
		Getter:        getter,
		REST:          cfg,
		Kube:          kube,
		Aggregator:    agg,
		CustomMetrics: custom,
		ServerVersion: version,
	}, nil
}

// ContextNamespace is the namespace that the kubeconfig's context (context,
// or the current context when empty) names, or "" when it names none or the
// kubeconfig does not load — Connect then reports the load error. kubeconfig
// empty follows $KUBECONFIG and ~/.kube/config.
func ContextNamespace(kubeconfig, context string) string {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	raw, err := rules.Load()
	if err != nil {
		return ""
	}
	if context == "" {
		context = raw.CurrentContext
	}
	if c, ok := raw.Contexts[context]; ok && c != nil {
		return c.Namespace
	}
	return ""
}
