package sandbox

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// ExporterProcess is the sandbox process name of a node's exporter.
func ExporterProcess(node string) string { return "exporter-" + node }

// GPUUUID is the device ID the fake kubelet hands out for a node's GPU; the
// simulation file sets the same UUID on the simulated device.
func GPUUUID(node string, index int) string { return fmt.Sprintf("GPU-sandbox-%s-%d", node, index) }

// ExporterURL is the /metrics URL of a node's exporter.
func (g *GPUPlane) ExporterURL(node string) string {
	if n := g.nodes[node]; n != nil {
		return fmt.Sprintf("http://127.0.0.1:%d/metrics", n.port)
	}
	return ""
}

func (g *GPUPlane) buildExporter(ctx context.Context) (string, error) {
	if g.opts.ExporterBinary != "" {
		return g.opts.ExporterBinary, nil
	}
	root, err := repo.Root()
	if err != nil {
		return "", err
	}
	out := filepath.Join(g.sb.opts.Dir, "bin", "gpu-metrics-exporter")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./exporter/cmd/gpu-metrics-exporter")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./exporter/cmd/gpu-metrics-exporter: %w\n%s", err, b)
	}
	return out, nil
}

// exporterDaemonSet returns the chart's exporter DaemonSet.
func (g *GPUPlane) exporterDaemonSet(ctx context.Context) (*appsv1.DaemonSet, error) {
	list, err := g.cs.AppsV1().DaemonSets(g.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: g.componentSelector("exporter")})
	if err != nil {
		return nil, fmt.Errorf("list exporter DaemonSets: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, fmt.Errorf("want exactly one DaemonSet labelled %s in %s, found %d (is exporter.enabled?)",
			g.componentSelector("exporter"), g.opts.Namespace, len(list.Items))
	}
	return &list.Items[0], nil
}

// StartExporters starts one exporter per fake GPU node (with its fake
// pod-resources server) from the chart's DaemonSet and points Prometheus at
// them the way the chart asks to be scraped.
func (g *GPUPlane) StartExporters(ctx context.Context) error {
	ds, err := g.exporterDaemonSet(ctx)
	if err != nil {
		return err
	}
	spec := ds.Spec.Template.Spec
	c, err := findContainer(spec, "exporter")
	if err != nil {
		if c, err = findContainer(spec, ""); err != nil {
			return fmt.Errorf("exporter DaemonSet %s: %w", ds.Name, err)
		}
	}
	for _, node := range g.sb.state.Nodes {
		n := g.nodes[node]
		mounts, err := g.volumeFiles(ctx, ds.Namespace, spec, c, n.dir)
		if err != nil {
			return fmt.Errorf("exporter DaemonSet %s: %w", ds.Name, err)
		}
		args := rewriteArgs(containerArgs(c), mounts)
		if argValue(args, "backend") != "simulated" {
			return fmt.Errorf("exporter DaemonSet %s: --backend=%q; the sandbox has no GPUs: set exporter.backend=simulated in its values",
				ds.Name, argValue(args, "backend"))
		}
		args = setArg(args, "listen-address", fmt.Sprintf("127.0.0.1:%d", n.port))
		n.simFile = argValue(args, "simulation-file")
		if n.simFile == "" || !strings.HasPrefix(n.simFile, n.dir) {
			n.simFile = filepath.Join(n.dir, "simulation.yaml")
			args = setArg(args, "simulation-file", n.simFile)
		}
		n.socket = argValue(args, "pod-resources-socket")
		if n.socket == "" || !strings.HasPrefix(n.socket, n.dir) {
			return fmt.Errorf("exporter DaemonSet %s: --pod-resources-socket=%q is not under a mounted hostPath volume (exporter.podResources.enabled?)",
				ds.Name, argValue(args, "pod-resources-socket"))
		}
		g.model = argValue(args, "simulation-model")
		env := []string{"NODE_NAME=" + node}
		for _, e := range c.Env {
			if e.ValueFrom == nil && e.Name != "NODE_NAME" {
				env = append(env, e.Name+"="+e.Value)
			}
		}
		n.args, n.env = args, env
		if err := os.MkdirAll(filepath.Dir(n.socket), 0o755); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(n.socket), err)
		}
		if err := g.writeSimulation(n, true); err != nil {
			return err
		}
		if err := g.StartExporter(ctx, node); err != nil {
			return err
		}
	}
	g.memTotal = modelMemoryMB(g.model)
	return g.configureScrape(ctx, ds)
}

// modelMemoryMB is the per-GPU memory of the simulated models (go-nvml mocks).
func modelMemoryMB(model string) float64 {
	switch model {
	case "dgxh100":
		return 81920
	case "dgxh200":
		return 144384
	default:
		return 40960
	}
}

// StartExporter (re)starts a node's fake kubelet pod-resources server and
// exporter process.
func (g *GPUPlane) StartExporter(ctx context.Context, node string) error {
	n := g.nodes[node]
	if n == nil {
		return fmt.Errorf("no fake GPU node %q", node)
	}
	g.mu.Lock()
	if n.server == nil {
		srv, err := podresourcestest.NewServer(n.socket)
		if err != nil {
			g.mu.Unlock()
			return fmt.Errorf("fake pod-resources server for %s: %w", node, err)
		}
		n.server = srv
		n.server.SetAllocations(n.allocations())
	}
	g.mu.Unlock()
	if _, err := g.sb.StartProcess(ExporterProcess(node), g.exporterBin, n.args, n.env); err != nil {
		return err
	}
	return waitFor(ctx, "exporter on "+node, 100*time.Millisecond, []*process{g.sb.process(ExporterProcess(node))},
		httpOK(fmt.Sprintf("http://127.0.0.1:%d/healthz", n.port)))
}

// KillExporter kills a node's exporter process (a crash); its fake kubelet stays.
func (g *GPUPlane) KillExporter(node string) error { return g.sb.KillProcess(ExporterProcess(node)) }
