package sandbox

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

// Well-known names of the sandbox's fake GPU nodes.
const (
	// KwokNodeAnnotation marks nodes kwok manages (and the taint key workloads tolerate).
	KwokNodeAnnotation = "kwok.x-k8s.io/node"
	// UsageCPUAnnotation and UsageMemoryAnnotation set a kwok pod's reported usage.
	UsageCPUAnnotation    = "kwok.x-k8s.io/usage-cpu"
	UsageMemoryAnnotation = "kwok.x-k8s.io/usage-memory"
)

func (s *Sandbox) kwokArgs(kwokDir string) ([]string, error) {
	k := filepath.Join(kwokDir, "kustomize")
	files := []string{
		// Stages: nodes become Ready and renew leases; pods get IPs and
		// Running/Ready; terminating pods go away.
		filepath.Join(k, "stage", "node", "fast", "node-initialize.yaml"),
		filepath.Join(k, "stage", "node", "heartbeat-with-lease", "node-heartbeat-with-lease.yaml"),
		filepath.Join(k, "stage", "pod", "fast", "pod-ready.yaml"),
		filepath.Join(k, "stage", "pod", "fast", "pod-complete.yaml"),
		filepath.Join(k, "stage", "pod", "fast", "pod-delete.yaml"),
		// Resource metrics for metrics-server, usage from pod annotations.
		filepath.Join(k, "metrics", "resource", "metrics-resource.yaml"),
		filepath.Join(k, "metrics", "usage", "usage-from-annotation.yaml"),
	}
	args := []string{
		"--kubeconfig=" + s.kubeconfigFor("kwok"),
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
		"--node-ip=127.0.0.1",
		fmt.Sprintf("--node-port=%d", s.state.Ports.Kwok),
		fmt.Sprintf("--server-address=127.0.0.1:%d", s.state.Ports.Kwok),
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.0/16",
	}
	for _, f := range files {
		if _, err := os.Stat(f); err != nil {
			return nil, fmt.Errorf("kwok config %s: %w (is tools/cluster/kwok's module downloaded?)", f, err)
		}
		args = append(args, "--config="+f)
	}
	return args, nil
}

// createNodes registers the fake GPU nodes kwok will manage.
func (s *Sandbox) createNodes(ctx context.Context, cs *kubernetes.Clientset) error {
	for _, name := range s.state.Nodes {
		capacity := corev1.ResourceList{
			corev1.ResourceCPU:    resource.MustParse("128"),
			corev1.ResourceMemory: resource.MustParse("1Ti"),
			corev1.ResourcePods:   resource.MustParse("110"),
			contract.GPUResource:  *resource.NewQuantity(int64(s.opts.GPUsPerNode), resource.DecimalSI),
		}
		node := &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{
				Name: name,
				Labels: map[string]string{
					"kubernetes.io/hostname": name,
					"kubernetes.io/os":       "linux",
					"kubernetes.io/arch":     "amd64",
					"type":                   "kwok",
					contract.GPUPresentLabel: "true",
				},
				Annotations: map[string]string{
					KwokNodeAnnotation:                     "fake",
					"node.alpha.kubernetes.io/ttl":         "0",
					"metrics.k8s.io/resource-metrics-path": "/metrics/nodes/" + name + "/metrics/resource",
				},
			},
			Spec: corev1.NodeSpec{Taints: []corev1.Taint{{
				Key: KwokNodeAnnotation, Value: "fake", Effect: corev1.TaintEffectNoSchedule,
			}}},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
		}
		if _, err := cs.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create node %s: %w", name, err)
		}
	}
	return nil
}
