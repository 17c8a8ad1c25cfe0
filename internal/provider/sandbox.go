package provider

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"k8s.io/client-go/rest"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// SandboxOptions configure the embedded cluster.
type SandboxOptions = sandbox.Options

// Sandbox starts the embedded cluster with its real node.
type Sandbox struct{ Options SandboxOptions }

func (Sandbox) Name() string { return "sandbox" }

// Available checks what the sandbox needs: the cluster binaries and, for
// the real node, root, the memory cgroup, the Debian node packages and the
// built images (Up checks the same and names what is missing).
func (p Sandbox) Available(ctx context.Context) error {
	sb, err := sandbox.New(p.Options)
	if err != nil {
		return err
	}
	if err := sb.Check(ctx); err != nil {
		if errors.Is(err, prereq.ErrMissing) || errors.Is(err, sandbox.ErrEnvironment) {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
		return err
	}
	return nil
}

func (p Sandbox) Start(ctx context.Context) (Cluster, error) {
	sb, err := sandbox.New(p.Options)
	if err != nil {
		return nil, err
	}
	if err := sb.Up(ctx); err != nil {
		return nil, err
	}
	return SandboxCluster{sb}, nil
}

// SandboxCluster is a running sandbox as a Cluster.
type SandboxCluster struct{ SB *sandbox.Sandbox }

func (c SandboxCluster) Name() string             { return "sandbox" }
func (c SandboxCluster) Kubeconfig() string       { return c.SB.Kubeconfig() }
func (c SandboxCluster) RESTConfig() *rest.Config { return c.SB.RESTConfig() }
func (c SandboxCluster) PrometheusURL() string    { return c.SB.PrometheusURL() }
func (c SandboxCluster) Close(ctx context.Context) error {
	return c.SB.Down(ctx)
}

// Values: values/sandbox.yaml and values/gpu-services/sandbox.yaml, the
// adapter pointed at the sandbox's Prometheus (on the node IP) and the
// exporter's pod-resources hostPath at the real kubelet's root dir.
func (c SandboxCluster) Values() Values {
	v := Values{Files: []string{"values/sandbox.yaml"}, WorkloadsFiles: []string{"values/gpu-services/sandbox.yaml"},
		Set: map[string]string{"adapter.prometheus.url": c.SB.PrometheusURL()}}
	if n := c.SB.Node(); n != nil {
		v.Set["exporter.podResources.hostPath"] = n.PodResourcesDir()
		v.WorkloadsSet = workloadsNodeSelector(c.SB.Options().NodeLabels)
	}
	return v
}

// workloadsNodeSelector points the stand-in services and the fake device
// plugin (whose charts select the GPU Operator's label) at a real node that
// carries other labels: nil when the node has the default label.
func workloadsNodeSelector(nodeLabels map[string]string) map[string]string {
	if nodeLabels[contract.GPUPresentLabel] == "true" {
		return nil
	}
	set := map[string]string{}
	escape := strings.NewReplacer(".", `\.`, ",", `\,`).Replace
	for _, prefix := range []string{"nodeSelector", "devicePlugin.nodeSelector"} {
		set[prefix+"."+escape(contract.GPUPresentLabel)] = "null"
		for k, val := range nodeLabels {
			set[prefix+"."+escape(k)] = val
		}
	}
	return set
}

func (c SandboxCluster) EnsureServiceMonitorCRD(ctx context.Context) error {
	return c.SB.InstallServiceMonitorCRD(ctx)
}

// Reconcile does what the monitoring stack would: ServiceMonitors become
// scrape jobs, the labelled rules ConfigMaps become rule files.
func (c SandboxCluster) Reconcile(ctx context.Context) error {
	if err := c.SB.SyncServiceMonitors(ctx); err != nil {
		return err
	}
	return c.SB.SyncRuleFiles(ctx)
}

func (c SandboxCluster) KillContainer(ctx context.Context, namespace, pod, container string) error {
	return c.SB.KillContainer(ctx, namespace, pod, container)
}
