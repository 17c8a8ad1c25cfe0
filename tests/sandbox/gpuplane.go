package sandbox

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	"github.com/gruntwork-io/terratest/modules/k8s"
	"github.com/gruntwork-io/terratest/modules/logger"
	terratesting "github.com/gruntwork-io/terratest/modules/testing"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/medical-kg/gpu-autoscaling/exporter/podresources/podresourcestest"
)

// Contract names (see the project's DESIGN and the chart).
const (
	DefaultRelease          = "gpu-autoscaling"
	DefaultNamespace        = "medical-kg"
	DefaultWorkloadsRelease = "gpu-services"
	AdapterProcess          = "prometheus-adapter"
	componentLabel          = "app.kubernetes.io/component"
	instanceLabel           = "app.kubernetes.io/instance"
	exporterJob             = "gpu-metrics-exporter"
)

// ExporterProcess is the sandbox process name of a node's exporter.
func ExporterProcess(node string) string { return "exporter-" + node }

// GPUUUID is the device ID the fake kubelet hands out for a node's GPU; the
// simulation file sets the same UUID on the simulated device.
func GPUUUID(node string, index int) string { return fmt.Sprintf("GPU-sandbox-%s-%d", node, index) }

// ChartOptions configure the GPU plane: the chart under test, its values and
// the stand-in workloads.
type ChartOptions struct {
	// ChartDir is the umbrella chart (default <repo>/charts/gpu-autoscaling).
	ChartDir string
	// ValuesFiles for the chart (default <repo>/values/sandbox.yaml).
	ValuesFiles []string
	// SetValues are extra --set values. The sandbox always sets the adapter's
	// Prometheus URL and ports, which depend on the ports it picked.
	SetValues map[string]string
	// Release and Namespace (defaults gpu-autoscaling, medical-kg).
	Release, Namespace string
	// WorkloadsChartDir is the stand-in GPU services chart (default
	// <repo>/charts/gpu-services); SkipWorkloads leaves it out.
	WorkloadsChartDir string
	// WorkloadsValuesFiles (default <repo>/values/gpu-services/sandbox.yaml).
	WorkloadsValuesFiles []string
	WorkloadsRelease     string
	SkipWorkloads        bool
	// ExporterBinary is a built gpu-metrics-exporter; empty: `go build` it
	// into <dir>/bin (cgo on).
	ExporterBinary string
	// Timeout bounds each helm command and each wait (default 3 minutes).
	Timeout time.Duration
	// ServiceMonitorCRD registers the monitoring.coreos.com/v1 ServiceMonitor
	// kind before installing, so a chart with serviceMonitor.enabled renders
	// one and the exporter is scraped the way it says.
	ServiceMonitorCRD bool
}

func (o ChartOptions) withDefaults() (ChartOptions, error) {
	root, rootErr := RepoRoot()
	need := func(p *string, rel string) error {
		if *p != "" {
			return nil
		}
		if rootErr != nil {
			return rootErr
		}
		*p = filepath.Join(root, rel)
		return nil
	}
	if err := need(&o.ChartDir, "charts/gpu-autoscaling"); err != nil {
		return o, err
	}
	if o.ValuesFiles == nil {
		var f string
		if err := need(&f, "values/sandbox.yaml"); err != nil {
			return o, err
		}
		o.ValuesFiles = []string{f}
	}
	if !o.SkipWorkloads {
		if err := need(&o.WorkloadsChartDir, "charts/gpu-services"); err != nil {
			return o, err
		}
		if o.WorkloadsValuesFiles == nil {
			var f string
			if err := need(&f, "values/gpu-services/sandbox.yaml"); err != nil {
				return o, err
			}
			o.WorkloadsValuesFiles = []string{f}
		}
	}
	if o.Release == "" {
		o.Release = DefaultRelease
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.WorkloadsRelease == "" {
		o.WorkloadsRelease = DefaultWorkloadsRelease
	}
	if o.Timeout == 0 {
		o.Timeout = 3 * time.Minute
	}
	for _, p := range append([]string{o.ChartDir}, o.ValuesFiles...) {
		if _, err := os.Stat(p); err != nil {
			return o, fmt.Errorf("chart input %s: %w", p, err)
		}
	}
	if !o.SkipWorkloads {
		for _, p := range append([]string{o.WorkloadsChartDir}, o.WorkloadsValuesFiles...) {
			if _, err := os.Stat(p); err != nil {
				return o, fmt.Errorf("workloads chart input %s: %w", p, err)
			}
		}
	}
	return o, nil
}

// GPUPlane is the chart installed on the sandbox plus the processes that
// stand in for the pods kwok cannot run: prometheus-adapter with the
// chart's args, rules, TLS and service account, and one exporter per fake
// GPU node behind a fake kubelet pod-resources server.
type GPUPlane struct {
	sb          *Sandbox
	t           terratesting.TestingT
	opts        ChartOptions
	helm        *helm.Options
	cs          *kubernetes.Clientset
	dir         string
	exporterBin string
	adapterPort int

	mu        sync.Mutex
	nodes     map[string]*fakeNode
	demand    map[string]Demand
	annotated map[types.UID][2]string // pod UID → cpu/memory annotations last written
	// resourceDemand marks services whose cpu/memory usage the plane drives.
	resourceDemand map[string]bool
	model          string
	memTotal       float64 // MB per GPU of the simulated model

	adapterArgs  []string
	scrapeSource string // where the exporter's scrape job came from
	scrapeJob    string // its job label
	cancel       context.CancelFunc
	loopDone     chan struct{}
}

// fakeNode is one GPU node's kubelet stand-in and exporter.
type fakeNode struct {
	name    string
	port    int
	dir     string
	simFile string
	socket  string
	server  *podresourcestest.Server
	args    []string
	env     []string
	// alloc maps pod UID/container to device indexes; free lists indexes.
	alloc   map[string][]int
	owner   map[int]podRef
	lastSim string
}

type podRef struct {
	uid       types.UID
	namespace string
	name      string
	container string
	service   string
	gpus      int
}

// NewReporter adapts a log function to Terratest's TestingT for callers that
// are not tests (the sandbox command and the demo). Only the E variants of
// Terratest are used, so the Fail methods are never reached in practice;
// they panic with the message so a misuse is loud.
func NewReporter(name string, logf func(format string, args ...any)) terratesting.TestingT {
	return reporter{name: name, logf: logf}
}

type reporter struct {
	name string
	logf func(format string, args ...any)
}

func (r reporter) Fail()                             { panic(r.name + ": failed") }
func (r reporter) FailNow()                          { panic(r.name + ": failed") }
func (r reporter) Fatal(args ...any)                 { panic(fmt.Sprint(args...)) }
func (r reporter) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (r reporter) Error(args ...any)                 { panic(fmt.Sprint(args...)) }
func (r reporter) Errorf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }
func (r reporter) Name() string                      { return r.name }
func (r reporter) Helper()                           {}
func (r reporter) Logf(format string, args ...any)   { r.logf(format, args...) }

// reporterLogger sends Terratest's command logs to t.Logf (a test's log, or
// the reporter's log function), instead of Terratest's default stdout.
type reporterLogger struct{}

func (reporterLogger) Logf(t terratesting.TestingT, format string, args ...any) {
	if l, ok := t.(interface{ Logf(string, ...any) }); ok {
		l.Logf(format, args...)
		return
	}
	logger.Terratest.Logf(t, format, args...)
}

// InstallGPUPlane installs the chart (and the stand-in workloads) with
// Terratest's helm module and starts the adapter and the exporters from what
// the chart rendered. Close undoes the processes; Uninstall the releases.
func (s *Sandbox) InstallGPUPlane(ctx context.Context, t terratesting.TestingT, opts ChartOptions) (*GPUPlane, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	helmBin, err := FindBinary(BinHelm)
	if err != nil {
		return nil, err
	}
	if err := ensureFirstOnPath(helmBin); err != nil {
		return nil, err
	}
	cs, err := s.Clientset()
	if err != nil {
		return nil, err
	}
	ports, err := freePorts(1 + len(s.state.Nodes))
	if err != nil {
		return nil, err
	}
	g := &GPUPlane{sb: s, t: t, opts: o, cs: cs, dir: filepath.Join(s.opts.Dir, "gpu"), adapterPort: ports[0],
		nodes: map[string]*fakeNode{}, demand: map[string]Demand{}, annotated: map[types.UID][2]string{},
		resourceDemand: map[string]bool{}}
	set := map[string]string{
		"adapter.prometheus.url":       s.PrometheusURL(),
		"adapter.securePort":           strconv.Itoa(g.adapterPort),
		"adapter.service.port":         strconv.Itoa(g.adapterPort),
		"adapter.service.externalName": "localhost",
	}
	maps.Copy(set, o.SetValues)
	g.helm = &helm.Options{
		KubectlOptions: k8s.NewKubectlOptions("", s.Kubeconfig(), o.Namespace),
		ValuesFiles:    o.ValuesFiles,
		SetValues:      set,
		EnvVars:        map[string]string{"HELM_CACHE_HOME": filepath.Join(g.dir, "helm", "cache"), "HELM_CONFIG_HOME": filepath.Join(g.dir, "helm", "config"), "HELM_DATA_HOME": filepath.Join(g.dir, "helm", "data")},
		ExtraArgs:      map[string][]string{"install": {"--create-namespace", "--wait=false", "--timeout", o.Timeout.String()}},
		Logger:         logger.New(reporterLogger{}),
	}
	if err := os.MkdirAll(g.dir, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", g.dir, err)
	}
	if g.exporterBin, err = g.buildExporter(ctx); err != nil {
		return nil, err
	}
	hctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if o.ServiceMonitorCRD {
		if err := s.InstallServiceMonitorCRD(hctx); err != nil {
			return nil, err
		}
	}
	if err := helm.InstallContextE(t, hctx, g.helm, o.ChartDir, o.Release); err != nil {
		return nil, fmt.Errorf("helm install %s: %w", o.Release, err)
	}
	if !o.SkipWorkloads {
		wopts := *g.helm
		wopts.ValuesFiles = o.WorkloadsValuesFiles
		wopts.SetValues = nil
		if err := helm.InstallContextE(t, hctx, &wopts, o.WorkloadsChartDir, o.WorkloadsRelease); err != nil {
			return nil, fmt.Errorf("helm install %s: %w", o.WorkloadsRelease, err)
		}
	}
	for i, node := range s.state.Nodes {
		g.nodes[node] = &fakeNode{name: node, port: ports[1+i], dir: filepath.Join(g.dir, node),
			alloc: map[string][]int{}, owner: map[int]podRef{}}
	}
	if err := g.StartExporters(ctx); err != nil {
		g.Close()
		return nil, err
	}
	if err := g.StartAdapter(ctx); err != nil {
		g.Close()
		return nil, err
	}
	loopCtx, loopCancel := context.WithCancel(context.Background())
	g.cancel, g.loopDone = loopCancel, make(chan struct{})
	go g.loop(loopCtx)
	if err := g.WaitAPIServices(ctx); err != nil {
		g.Close()
		return nil, err
	}
	return g, nil
}

// HelmOptions returns a copy of the Terratest helm options the plane uses
// (kubeconfig, namespace, values files, sandbox --set values).
func (g *GPUPlane) HelmOptions() *helm.Options {
	c := *g.helm
	c.SetValues = maps.Clone(g.helm.SetValues)
	c.ValuesFiles = append([]string(nil), g.helm.ValuesFiles...)
	return &c
}

// ScrapeSource says where the exporter scrape job came from (the chart's
// ServiceMonitor or its prometheus.io annotations); ScrapeJobName is its job label.
func (g *GPUPlane) ScrapeSource() string  { return g.scrapeSource }
func (g *GPUPlane) ScrapeJobName() string { return g.scrapeJob }

// Options are the chart options in effect.
func (g *GPUPlane) Options() ChartOptions { return g.opts }

// AdapterPort is the adapter's secure port on 127.0.0.1.
func (g *GPUPlane) AdapterPort() int { return g.adapterPort }

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
	root, err := RepoRoot()
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

// componentSelector selects the release's objects of one component.
func (g *GPUPlane) componentSelector(component string) string {
	return fmt.Sprintf("%s=%s,%s=%s", componentLabel, component, instanceLabel, g.opts.Release)
}

// volumeFiles writes the ConfigMap/Secret volumes a pod template mounts into
// base/<volume> and returns mountPath → local folder for every mount, so the
// container's args can be rewritten to point at the same files on the host.
// hostPath volumes map to base/<volume> (a per-node stand-in for the host
// folder) except /proc and /sys, which are the host's own.
func (g *GPUPlane) volumeFiles(ctx context.Context, ns string, spec corev1.PodSpec, container corev1.Container, base string) (map[string]string, error) {
	vols := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		vols[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range container.VolumeMounts {
		v, ok := vols[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume mount %s has no volume", m.Name)
		}
		local := filepath.Join(base, m.Name)
		if err := os.MkdirAll(local, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", local, err)
		}
		files := map[string][]byte{}
		switch {
		case v.ConfigMap != nil:
			cm, err := g.cs.CoreV1().ConfigMaps(ns).Get(ctx, v.ConfigMap.Name, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("read ConfigMap %s/%s mounted at %s: %w", ns, v.ConfigMap.Name, m.MountPath, err)
			}
			for k, val := range cm.Data {
				files[k] = []byte(val)
			}
		case v.Secret != nil:
			sec, err := g.cs.CoreV1().Secrets(ns).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
			if err != nil {
				return nil, fmt.Errorf("read Secret %s/%s mounted at %s: %w", ns, v.Secret.SecretName, m.MountPath, err)
			}
			maps.Copy(files, sec.Data)
		case v.HostPath != nil:
			if v.HostPath.Path == "/proc" || v.HostPath.Path == "/sys" {
				local = v.HostPath.Path
			}
		}
		for k, data := range files {
			if err := os.WriteFile(filepath.Join(local, k), data, 0o600); err != nil {
				return nil, fmt.Errorf("write %s: %w", k, err)
			}
		}
		mounts[m.MountPath] = local
	}
	return mounts, nil
}

// rewriteArgs replaces container paths under a mount with the local folder.
func rewriteArgs(args []string, mounts map[string]string) []string {
	out := make([]string, 0, len(args))
	for _, a := range args {
		name, val, ok := strings.Cut(a, "=")
		if ok {
			for mp, local := range mounts {
				if val == mp || strings.HasPrefix(val, strings.TrimSuffix(mp, "/")+"/") {
					val = local + strings.TrimPrefix(val, strings.TrimSuffix(mp, "/"))
					break
				}
			}
			a = name + "=" + val
		}
		out = append(out, a)
	}
	return out
}

// setArg replaces --name=... in args (or appends it).
func setArg(args []string, name, value string) []string {
	for i, a := range args {
		if a == "--"+name || strings.HasPrefix(a, "--"+name+"=") {
			args[i] = "--" + name + "=" + value
			return args
		}
	}
	return append(args, "--"+name+"="+value)
}

// argValue returns the value of --name=value in args.
func argValue(args []string, name string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

// containerArgs is the container's command line without the executable:
// command[1:] followed by args (the local binary replaces command[0]).
func containerArgs(c corev1.Container) []string {
	var out []string
	if len(c.Command) > 1 {
		out = append(out, c.Command[1:]...)
	}
	return append(out, c.Args...)
}

func findContainer(spec corev1.PodSpec, name string) (corev1.Container, error) {
	for _, c := range spec.Containers {
		if name == "" || c.Name == name {
			return c, nil
		}
	}
	return corev1.Container{}, fmt.Errorf("container %q not found", name)
}

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
	bin, err := FindBinary(BinAdapter)
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
	for _, name := range []string{"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"} {
		var watch []*process
		if p := g.sb.process(AdapterProcess); p != nil {
			watch = append(watch, p)
		}
		if err := waitFor(ctx, "APIService "+name+" Available", 250*time.Millisecond, watch,
			func(ctx context.Context) (bool, error) { return APIServiceAvailable(ctx, g.sb.RESTConfig(), name) }); err != nil {
			return err
		}
	}
	return nil
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

// configureScrape adds the exporter job to Prometheus as the chart asks: from
// its ServiceMonitor when one was rendered, otherwise from the prometheus.io
// annotations on the DaemonSet's pods (honor_labels on, as the usual
// annotation-driven kubernetes-pods job has it).
func (g *GPUPlane) configureScrape(ctx context.Context, ds *appsv1.DaemonSet) error {
	sm, err := g.serviceMonitor(ctx)
	if err != nil {
		return err
	}
	var job ScrapeJob
	if sm != nil {
		if job, err = scrapeJobFromServiceMonitor(sm); err != nil {
			return err
		}
		g.scrapeSource = "ServiceMonitor " + sm.GetNamespace() + "/" + sm.GetName()
	} else {
		ann := ds.Spec.Template.Annotations
		job = ScrapeJob{Name: exporterJob, HonorLabels: true, MetricsPath: "/metrics", Scheme: "http"}
		if ann["prometheus.io/scrape"] != "true" {
			return fmt.Errorf("exporter DaemonSet %s: pods are not annotated prometheus.io/scrape=true and no ServiceMonitor was rendered; Prometheus would not scrape them", ds.Name)
		}
		if p := ann["prometheus.io/path"]; p != "" {
			job.MetricsPath = p
		}
		if s := ann["prometheus.io/scheme"]; s != "" {
			job.Scheme = s
		}
		g.scrapeSource = "prometheus.io annotations of DaemonSet " + ds.Name
	}
	g.scrapeJob = job.Name
	pods, err := g.cs.CoreV1().Pods(ds.Namespace).List(ctx, metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(ds.Spec.Selector)})
	if err != nil {
		return fmt.Errorf("list exporter pods: %w", err)
	}
	podOn := map[string]string{}
	for _, p := range pods.Items {
		podOn[p.Spec.NodeName] = p.Name
	}
	for _, node := range g.sb.state.Nodes {
		// Target labels as Kubernetes service discovery would attach them: the
		// exporter pod's own namespace and pod. honor_labels keeps the
		// workload's namespace/pod on attributed GPU series.
		labels := map[string]string{"namespace": ds.Namespace, "instance": node}
		if p := podOn[node]; p != "" {
			labels["pod"] = p
		}
		job.Targets = append(job.Targets, ScrapeTarget{Address: fmt.Sprintf("127.0.0.1:%d", g.nodes[node].port), Labels: labels})
	}
	return g.sb.SetScrapeJob(ctx, job)
}

// SetDemand sets a service's load; the next load step (within a second)
// writes it to the simulation files and pod annotations.
func (g *GPUPlane) SetDemand(service string, d Demand) {
	g.mu.Lock()
	g.demand[service] = d
	g.mu.Unlock()
}

// Demand returns a service's current demand.
func (g *GPUPlane) Demand(service string) Demand {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.demand[service]
}

// loop keeps the fake kubelets' GPU allocations in step with the pods bound
// to each node and writes the load model's per-GPU values, once a second.
func (g *GPUPlane) loop(ctx context.Context) {
	defer close(g.loopDone)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		if err := g.step(ctx); err != nil && ctx.Err() == nil {
			g.sb.opts.Logf("gpu plane: %v", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// Step runs one allocation and load step now (the loop runs it every second).
func (g *GPUPlane) Step(ctx context.Context) error { return g.step(ctx) }

func (g *GPUPlane) step(ctx context.Context) error {
	pods, err := g.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list pods: %w", err)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	// 1. Allocations: every live container asking for nvidia.com/gpu on a
	// fake node gets that many devices, stable for the pod's life.
	live := map[string]map[string]podRef{} // node → key → ref
	byService := map[string][]corev1.Pod{}
	for _, p := range pods.Items {
		n := g.nodes[p.Spec.NodeName]
		if n == nil || p.DeletionTimestamp != nil || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		svc := p.Labels["app"]
		if p.Namespace == g.opts.Namespace && svc != "" && p.Status.Phase == corev1.PodRunning {
			byService[svc] = append(byService[svc], p)
		}
		for _, c := range p.Spec.Containers {
			q, ok := c.Resources.Limits[GPUResource]
			if !ok || q.Value() <= 0 {
				continue
			}
			if live[n.name] == nil {
				live[n.name] = map[string]podRef{}
			}
			live[n.name][string(p.UID)+"/"+c.Name] = podRef{uid: p.UID, namespace: p.Namespace, name: p.Name,
				container: c.Name, service: svc, gpus: int(q.Value())}
		}
	}
	for _, n := range g.nodes {
		changed := false
		for key := range n.alloc {
			if _, ok := live[n.name][key]; !ok {
				for _, idx := range n.alloc[key] {
					delete(n.owner, idx)
				}
				delete(n.alloc, key)
				changed = true
			}
		}
		for _, key := range sortedKeys(live[n.name]) {
			if _, ok := n.alloc[key]; ok {
				continue
			}
			ref := live[n.name][key]
			var idxs []int
			for i := 0; i < g.sb.opts.GPUsPerNode && len(idxs) < ref.gpus; i++ {
				if _, used := n.owner[i]; !used {
					idxs = append(idxs, i)
				}
			}
			if len(idxs) < ref.gpus {
				return fmt.Errorf("node %s: no free GPU for %s/%s (the scheduler should have prevented this)", n.name, ref.namespace, ref.name)
			}
			for _, i := range idxs {
				n.owner[i] = ref
			}
			n.alloc[key] = idxs
			changed = true
		}
		if changed && n.server != nil {
			n.server.SetAllocations(n.allocations())
		}
	}
	// 2. Load: split each service's demand over its running pods.
	loads := map[types.UID]PodLoad{}
	for svc, d := range g.demand {
		var names []string
		uids := map[string]types.UID{}
		for _, p := range byService[svc] {
			names = append(names, p.Name)
			uids[p.Name] = p.UID
		}
		for name, l := range d.Split(names, 0) {
			loads[uids[name]] = l
		}
	}
	var errs []error
	for _, n := range g.nodes {
		if err := g.writeSimulationLocked(n, loads); err != nil {
			errs = append(errs, err)
		}
	}
	// 3. cpu/memory usage for metrics-server, through kwok's annotations.
	// A service that never had cpu/memory demand keeps kwok's defaults. The
	// floor of 1m / 1Mi matters: metrics-server drops containers reporting
	// zero cpu, and the HPA treats pods without metrics as fully busy when
	// scaling down.
	for svc, d := range g.demand {
		for _, p := range byService[svc] {
			l := loads[p.UID]
			_, had := g.annotated[p.UID]
			if d.CPUMillicores == 0 && d.MemoryMiB == 0 && !had && !g.resourceDemand[svc] {
				continue
			}
			g.resourceDemand[svc] = true
			want := [2]string{fmt.Sprintf("%dm", max(1, int64(l.CPUMillicores+0.5))), fmt.Sprintf("%dMi", max(1, int64(l.MemoryMiB+0.5)))}
			if g.annotated[p.UID] == want && p.Annotations[UsageCPUAnnotation] == want[0] {
				continue
			}
			patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:%q,%q:%q}}}`, UsageCPUAnnotation, want[0], UsageMemoryAnnotation, want[1])
			if _, err := g.cs.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
				if !apierrors.IsNotFound(err) {
					errs = append(errs, fmt.Errorf("annotate pod %s: %w", p.Name, err))
				}
				continue
			}
			g.annotated[p.UID] = want
		}
	}
	return errors.Join(errs...)
}

// allocations lists the node's device assignments for the fake kubelet.
func (n *fakeNode) allocations() []podresourcestest.Allocation {
	var out []podresourcestest.Allocation
	for _, key := range sortedKeys(n.alloc) {
		idxs := n.alloc[key]
		if len(idxs) == 0 {
			continue
		}
		ref := n.owner[idxs[0]]
		a := podresourcestest.Allocation{Namespace: ref.namespace, Pod: ref.name, Container: ref.container, ResourceName: string(GPUResource)}
		for _, i := range idxs {
			a.DeviceIDs = append(a.DeviceIDs, GPUUUID(n.name, i))
		}
		out = append(out, a)
	}
	return out
}

type simGPU struct {
	Index              int     `json:"index"`
	UUID               string  `json:"uuid"`
	UtilizationPercent float64 `json:"utilizationPercent"`
	MemoryUsedMB       uint64  `json:"memoryUsedMB"`
	TemperatureCelsius float64 `json:"temperatureCelsius"`
}

func (g *GPUPlane) writeSimulation(n *fakeNode, force bool) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if force {
		n.lastSim = ""
	}
	return g.writeSimulationLocked(n, nil)
}

// writeSimulationLocked writes the node's simulation file: every GPU with
// its UUID; allocated GPUs carry their pod's share of the load.
func (g *GPUPlane) writeSimulationLocked(n *fakeNode, loads map[types.UID]PodLoad) error {
	memTotal := g.memTotal
	if memTotal == 0 {
		memTotal = modelMemoryMB(g.model)
	}
	var gpus []simGPU
	for i := 0; i < g.sb.opts.GPUsPerNode; i++ {
		gpu := simGPU{Index: i, UUID: GPUUUID(n.name, i), TemperatureCelsius: 32}
		if ref, ok := n.owner[i]; ok {
			if l, ok := loads[ref.uid]; ok {
				gpu.UtilizationPercent = l.GPUUtilization
				mem := l.GPUMemoryMB / float64(max(1, ref.gpus))
				gpu.MemoryUsedMB = uint64(min(mem, memTotal))
				gpu.TemperatureCelsius = 35 + 0.45*l.GPUUtilization
			}
		}
		gpus = append(gpus, gpu)
	}
	data, err := yaml.Marshal(map[string]any{"gpus": gpus})
	if err != nil {
		return fmt.Errorf("encode simulation file: %w", err)
	}
	if string(data) == n.lastSim {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(n.simFile), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(n.simFile), err)
	}
	tmp := n.simFile + ".tmp"
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return fmt.Errorf("write simulation file: %w", err)
	}
	if err := os.Rename(tmp, n.simFile); err != nil {
		return fmt.Errorf("write simulation file: %w", err)
	}
	n.lastSim = string(data)
	return nil
}

// Close stops the load loop, the fake kubelets, the exporters and the adapter.
// The releases stay installed (Uninstall removes them).
func (g *GPUPlane) Close() {
	if g.cancel != nil {
		g.cancel()
		<-g.loopDone
		g.cancel = nil
	}
	var procs []string
	for _, node := range g.sb.state.Nodes {
		procs = append(procs, ExporterProcess(node))
	}
	procs = append(procs, AdapterProcess)
	var wg sync.WaitGroup
	for _, name := range procs {
		if g.sb.process(name) == nil {
			continue
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = g.sb.StopProcess(name) }()
	}
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, n := range g.nodes {
		if n.server != nil {
			n.server.Close()
			n.server = nil
		}
	}
}

// Uninstall removes both releases with helm and stops the plane's processes.
func (g *GPUPlane) Uninstall(ctx context.Context) error {
	g.Close()
	ctx, cancel := context.WithTimeout(ctx, g.opts.Timeout)
	defer cancel()
	var errs []error
	if !g.opts.SkipWorkloads {
		if err := helm.DeleteContextE(g.t, ctx, g.helm, g.opts.WorkloadsRelease, true); err != nil {
			errs = append(errs, fmt.Errorf("helm uninstall %s: %w", g.opts.WorkloadsRelease, err))
		}
	}
	if err := helm.DeleteContextE(g.t, ctx, g.helm, g.opts.Release, true); err != nil {
		errs = append(errs, fmt.Errorf("helm uninstall %s: %w", g.opts.Release, err))
	}
	return errors.Join(errs...)
}

// ensureFirstOnPath makes `helm` on PATH resolve to the project's pinned
// binary: Terratest runs "helm" by name, resolved with this process's PATH
// (the Makefile already puts bin/ first; plain `go test` does not).
func ensureFirstOnPath(bin string) error {
	want, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return fmt.Errorf("resolve %s: %w", bin, err)
	}
	if got, err := exec.LookPath(filepath.Base(bin)); err == nil {
		if resolved, err := filepath.EvalSymlinks(got); err == nil && resolved == want {
			return nil
		}
	}
	return os.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+os.Getenv("PATH"))
}
