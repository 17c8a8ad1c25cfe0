package sandbox

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
)

// AdapterProcess is the sandbox process name of prometheus-adapter.
const AdapterProcess = "prometheus-adapter"

// AdapterPort is the adapter's secure port on 127.0.0.1.
func (g *GPUPlane) AdapterPort() int { return g.adapterPort }

// adapterDeployment returns the chart's prometheus-adapter Deployment.
func (g *GPUPlane) adapterDeployment(ctx context.Context) (*appsv1.Deployment, error) {
	list, err := g.cs.AppsV1().Deployments(g.opts.Namespace).List(ctx, metav1.ListOptions{LabelSelector: g.componentSelector("adapter")})
	if err != nil {
		return nil, fmt.Errorf("list adapter Deployments: %w", err)
	}
	if len(list.Items) != 1 {
		return nil, fmt.Errorf("want exactly one Deployment labelled %s in %s, found %d (is adapter.enabled with mode full?)",
			g.componentSelector("adapter"), g.opts.Namespace, len(list.Items))
	}
	return &list.Items[0], nil
}

// StartAdapter runs prometheus-adapter as the chart's Deployment says: the
// same args, its rules ConfigMap and TLS Secret written to files, the
// Prometheus URL pointed at the sandbox, and the chart's ServiceAccount
// identity (a TokenRequest token) so the chart's RBAC is what is exercised.
func (g *GPUPlane) StartAdapter(ctx context.Context) error {
	bin, err := prereq.FindBinary(prereq.Adapter)
	if err != nil {
		return err
	}
	dep, err := g.adapterDeployment(ctx)
	if err != nil {
		return err
	}
	spec := dep.Spec.Template.Spec
	c, err := findContainer(spec, "")
	if err != nil {
		return fmt.Errorf("adapter Deployment %s: %w", dep.Name, err)
	}
	base := filepath.Join(g.dir, "adapter")
	mounts, err := g.volumeFiles(ctx, dep.Namespace, spec, c, base)
	if err != nil {
		return fmt.Errorf("adapter Deployment %s: %w", dep.Name, err)
	}
	args := rewriteArgs(containerArgs(c), mounts)
	if argValue(args, "secure-port") != strconv.Itoa(g.adapterPort) {
		return fmt.Errorf("adapter Deployment %s: --secure-port is %q, want %d (the sandbox sets adapter.securePort)",
			dep.Name, argValue(args, "secure-port"), g.adapterPort)
	}
	if argValue(args, "cert-dir") != "" && !strings.HasPrefix(argValue(args, "cert-dir"), base) {
		args = setArg(args, "cert-dir", filepath.Join(base, "cert-dir"))
	}
	args = setArg(args, "prometheus-url", g.sb.PrometheusURL())
	kubeconfig, err := g.serviceAccountKubeconfig(ctx, dep.Namespace, spec.ServiceAccountName, filepath.Join(base, "kubeconfig"))
	if err != nil {
		return err
	}
	args = setArg(args, "bind-address", "127.0.0.1")
	args = setArg(args, "lister-kubeconfig", kubeconfig)
	args = setArg(args, "authentication-kubeconfig", kubeconfig)
	args = setArg(args, "authorization-kubeconfig", kubeconfig)
	g.mu.Lock()
	g.adapterArgs = args
	g.mu.Unlock()
	if _, err := g.sb.StartProcess(AdapterProcess, bin, args, nil); err != nil {
		return err
	}
	return nil
}

// AdapterArgs are the arguments the adapter process runs with.
func (g *GPUPlane) AdapterArgs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]string(nil), g.adapterArgs...)
}

// KillAdapter kills the adapter process (a crash).
func (g *GPUPlane) KillAdapter() error { return g.sb.KillProcess(AdapterProcess) }

// serviceAccountKubeconfig writes a kubeconfig authenticating as the service
// account with a token from the TokenRequest API.
func (g *GPUPlane) serviceAccountKubeconfig(ctx context.Context, ns, sa, path string) (string, error) {
	if sa == "" {
		sa = "default"
	}
	exp := int64(24 * 3600)
	tr, err := g.cs.CoreV1().ServiceAccounts(ns).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &exp}}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("token for service account %s/%s: %w", ns, sa, err)
	}
	if err := writeKubeconfig(path, g.sb.state.Server, g.sb.pki, "", tr.Status.Token); err != nil {
		return "", err
	}
	return path, nil
}

// WaitAPIServices waits until every APIService the release created is Available.
func (g *GPUPlane) WaitAPIServices(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	for _, name := range contract.CustomMetricsAPIServices() {
		var watch []*process
		if p := g.sb.process(AdapterProcess); p != nil {
			watch = append(watch, p)
		}
		if err := waitFor(ctx, "APIService "+name+" Available", 250*time.Millisecond, watch,
			func(ctx context.Context) (bool, error) { return g.sb.apiServiceAvailable(ctx, name) }); err != nil {
			return err
		}
	}
	return nil
}
