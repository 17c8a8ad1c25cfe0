package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// TestActionsOnSandbox runs every action of the command against the embedded
// sandbox cluster: the install path with a small chart in a namespace of its
// own, then the product chart (installed by the sandbox's GPU plane) upgraded,
// inspected and diagnosed, doctor catching injected faults (adapter down,
// APIService missing, exporter series without pod labels or renamed to
// exported_pod), and undeploy leaving no cluster-scoped object behind.
func TestActionsOnSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the sandbox cluster; skipped with -short")
	}
	for _, bin := range append(append([]string(nil), sandbox.ClusterBinaries...), prereq.Helm, prereq.Adapter) {
		if _, err := prereq.FindBinary(bin); err != nil {
			prereq.SkipOrFail(t, fmt.Sprintf("sandbox binaries missing (build them with `make cluster-tools`): %v", err))
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	sb, err := sandbox.New(sandbox.Options{
		Dir: filepath.Join(t.TempDir(), "sandbox"), GPUNodes: 2,
		HPASyncPeriod: 5 * time.Second, HPADownscaleStabilization: 15 * time.Second,
		ScrapeInterval: 5 * time.Second, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := sb.Up(ctx); err != nil {
		t.Fatalf("sandbox up: %v", err)
	}
	t.Logf("figure: sandbox up in %s", time.Since(start).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if err := sb.Down(context.Background()); err != nil {
			t.Logf("sandbox down: %v", err)
		}
	})
	kc := sb.Kubeconfig()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	agg, err := aggregator.NewForConfig(sb.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("small chart: install, status, undeploy", func(t *testing.T) {
		base := []string{"--kubeconfig", kc, "--namespace", "ops-test", "--release", "ops-test"}
		out := mustRun(t, ctx, exitOK, append([]string{"--action", "deploy", "--chart", "internal/deploy/testdata/chart", "--timeout", "1m"}, base...)...)
		for _, want := range []string{"release ops-test installed in namespace ops-test: revision 1", "created namespace ops-test",
			"ClusterRole ops-test-reader", "ClusterRoleBinding ops-test-reader", "ConfigMap ops-test/ops-test-settings", "next:", "--action status"} {
			assertContains(t, out, want)
		}
		if _, err := cs.RbacV1().ClusterRoles().Get(ctx, "ops-test-reader", metav1.GetOptions{}); err != nil {
			t.Errorf("ClusterRole not applied: %v", err)
		}
		out = mustRun(t, ctx, exitOK, append([]string{"--action", "status"}, base...)...)
		assertContains(t, out, "status deployed")
		assertContains(t, out, "no HorizontalPodAutoscalers found")
		out = mustRun(t, ctx, exitOK, append([]string{"--action", "undeploy", "--timeout", "1m"}, base...)...)
		assertContains(t, out, "release ops-test uninstalled")
		assertContains(t, out, "no APIServices, ClusterRoles or ClusterRoleBindings of the release are left")
		if _, err := cs.RbacV1().ClusterRoles().Get(ctx, "ops-test-reader", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("ClusterRole still there after undeploy: %v", err)
		}
		out = mustRun(t, ctx, exitOK, append([]string{"--action", "undeploy"}, base...)...)
		assertContains(t, out, "not found in namespace ops-test; nothing to uninstall")
		out = mustRun(t, ctx, exitFailed, append([]string{"--action", "status"}, base...)...)
		assertContains(t, out, "deploy it with: deploy-auto-scaling --action deploy")
	})

	t.Run("invalid input touches nothing", func(t *testing.T) {
		mustRun(t, ctx, exitUsage, "--action", "deploy", "--kubeconfig", kc, "--chart", "internal/deploy/testdata/chart",
			"--namespace", "ops-broken", "--release", "ops-broken", "--set", "broken=true")
		if _, err := cs.CoreV1().Namespaces().Get(ctx, "ops-broken", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("a rejected deploy created its namespace: %v", err)
		}
	})

	start = time.Now()
	plane, err := sb.InstallGPUPlane(ctx, sandbox.NewReporter(t.Name(), t.Logf), sandbox.ChartOptions{})
	if err != nil {
		t.Fatalf("install the GPU plane: %v", err)
	}
	t.Logf("figure: GPU plane installed in %s", time.Since(start).Round(100*time.Millisecond))
	defer plane.Close()

	// The deploy flags that reproduce the plane's release: its values files
	// and the --set values that carry the sandbox's ports.
	hopts := plane.HelmOptions()
	deployArgs := []string{"--action", "deploy", "--kubeconfig", kc, "--timeout", "3m"}
	for _, f := range hopts.ValuesFiles {
		deployArgs = append(deployArgs, "--values", f)
	}
	keys := make([]string, 0, len(hopts.SetValues))
	for k := range hopts.SetValues {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		deployArgs = append(deployArgs, "--set", k+"="+hopts.SetValues[k])
	}
	doctorArgs := []string{"--action", "doctor", "--kubeconfig", kc, "--prometheus-url", sb.PrometheusURL(), "--flap-threshold", "100"}

	t.Run("deploy upgrades the release", func(t *testing.T) {
		out := mustRun(t, ctx, exitOK, deployArgs...)
		for _, want := range []string{"release gpu-autoscaling upgraded in namespace medical-kg: revision 2",
			"APIService v1beta2.custom.metrics.k8s.io", "HorizontalPodAutoscaler medical-kg/embedding-service-hpa",
			"v1beta2.custom.metrics.k8s.io Available"} {
			assertContains(t, out, want)
		}
	})

	t.Run("doctor passes on the healthy loop", func(t *testing.T) {
		out := eventuallyRun(t, ctx, 3*time.Minute, exitOK, "", doctorArgs...)
		for _, id := range []string{"apiservice-available", "hpa-metric-served", "gpu-series-pod-labels", "exporter-targets-up",
			"exporter-on-gpu-nodes", "exporter-gpu-backend-up", "adapter-prometheus", "hpa-scaling-active", "hpa-flapping"} {
			assertCheck(t, out, "PASS", id, "")
		}
		assertCheck(t, out, "PASS", "hpa-metric-served", "embedding-service-hpa gpu_utilization_percent")
		assertCheck(t, out, "PASS", "hpa-metric-served", "docling-vlm-service-hpa gpu_memory_usage_mb")
	})

	t.Run("status once the HPAs have synced", func(t *testing.T) {
		out := mustRun(t, ctx, exitOK, "--action", "status", "--kubeconfig", kc)
		t.Logf("status output:\n%s", out)
		for _, want := range []string{"release gpu-autoscaling in medical-kg: revision 2", "v1beta1.custom.metrics.k8s.io Available",
			"HPA embedding-service-hpa -> Deployment/embedding-service", "replicas: current 2, desired 2, min 2, max 10"} {
			assertContains(t, out, want)
		}
		for _, re := range []string{`(?m)^  gpu_utilization_percent +Pods +\d+(\.\d+)? +80 \(avg\)$`, `(?m)^  gpu_memory_usage_mb +Pods +\d+(\.\d+)? +\d+ \(avg\)$`,
			`(?m)^  cpu +Resource +\d+% +70% \(avg utilization\)$`, `(?m)^  ScalingActive +True +ValidMetricFound`} {
			if !regexp.MustCompile(re).MatchString(out) {
				t.Errorf("status output does not match %s", re)
			}
		}
	})

	t.Run("doctor: adapter down", func(t *testing.T) {
		if err := plane.KillAdapter(); err != nil {
			t.Fatal(err)
		}
		out := eventuallyRun(t, ctx, 2*time.Minute, exitFailed, "not Available: FailedDiscoveryCheck", doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "apiservice-available", `v1beta[12].custom.metrics.k8s.io +not Available: FailedDiscoveryCheck`)
		assertContains(t, out, "fix: the aggregator cannot reach the adapter")
		if err := plane.StartAdapter(ctx); err != nil {
			t.Fatal(err)
		}
		if err := plane.WaitAPIServices(ctx); err != nil {
			t.Fatal(err)
		}
		eventuallyRun(t, ctx, 3*time.Minute, exitOK, "", doctorArgs...)
	})

	t.Run("doctor: APIService missing, deploy repairs it", func(t *testing.T) {
		name := "v1beta1.custom.metrics.k8s.io"
		if err := agg.ApiregistrationV1().APIServices().Delete(ctx, name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		out := mustRun(t, ctx, exitFailed, doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "apiservice-available", name+" +the APIService is not registered")
		assertContains(t, out, "fix: deploy the adapter")
		mustRun(t, ctx, exitOK, deployArgs...)
		if _, err := agg.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{}); err != nil {
			t.Errorf("deploy did not recreate %s: %v", name, err)
		}
		eventuallyRun(t, ctx, 3*time.Minute, exitOK, "", doctorArgs...)
	})

	t.Run("doctor: exporter series without pod labels", func(t *testing.T) {
		// The kubelet pod-resources socket disappears from the exporter's view
		// (as when its hostPath is not mounted); the exporters restart.
		var moved []string
		for _, n := range sb.Nodes() {
			s := findSocket(t, filepath.Join(sb.Dir(), "gpu", n))
			if err := os.Rename(s, s+".hidden"); err != nil {
				t.Fatal(err)
			}
			moved = append(moved, s)
			if err := plane.KillExporter(n); err != nil {
				t.Fatal(err)
			}
			if err := plane.StartExporter(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		out := eventuallyRun(t, ctx, 2*time.Minute, exitFailed, "running GPU pods appears in", doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "gpu-series-pod-labels", `gpu_utilization_percent +none of the \d+ running GPU pods`)
		assertContains(t, out, "fix: the exporter cannot attribute GPUs to pods: mount the kubelet pod-resources socket")
		for i, n := range sb.Nodes() {
			if err := os.Rename(moved[i]+".hidden", moved[i]); err != nil {
				t.Fatal(err)
			}
			if err := plane.KillExporter(n); err != nil {
				t.Fatal(err)
			}
			if err := plane.StartExporter(ctx, n); err != nil {
				t.Fatal(err)
			}
		}
		eventuallyRun(t, ctx, 3*time.Minute, exitOK, "", doctorArgs...)
	})

	t.Run("doctor: exported_pod when honor_labels is off", func(t *testing.T) {
		job := exporterScrapeJob(t, ctx, sb, plane, false)
		if err := sb.SetScrapeJob(ctx, job); err != nil {
			t.Fatal(err)
		}
		out := eventuallyRun(t, ctx, 2*time.Minute, exitFailed, "carry renamed pod labels", doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "gpu-series-pod-labels", `gpu_utilization_percent +\d+ of \d+ series carry renamed pod labels \(exported_pod=`)
		assertContains(t, out, "fix: turn honor_labels on")
		job.HonorLabels = true
		if err := sb.SetScrapeJob(ctx, job); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("undeploy leaves nothing cluster-scoped", func(t *testing.T) {
		plane.Close()
		out := mustRun(t, ctx, exitOK, "--action", "undeploy", "--kubeconfig", kc, "--timeout", "2m")
		assertContains(t, out, "release gpu-autoscaling uninstalled from namespace medical-kg")
		assertContains(t, out, "no APIServices, ClusterRoles or ClusterRoleBindings of the release are left")
		for _, name := range []string{"v1beta1.custom.metrics.k8s.io", "v1beta2.custom.metrics.k8s.io"} {
			if _, err := agg.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				t.Errorf("APIService %s still registered: %v", name, err)
			}
		}
		out = mustRun(t, ctx, exitFailed, "--action", "doctor", "--kubeconfig", kc)
		assertContains(t, out, "not registered")
	})
}

// mustRun runs the command and checks its exit code; it returns stdout+stderr.
func mustRun(t *testing.T, ctx context.Context, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, &stdout, &stderr)
	out := stdout.String() + stderr.String()
	if code != want {
		t.Fatalf("deploy-auto-scaling %s: exit %d, want %d\n%s", strings.Join(args, " "), code, want, out)
	}
	return out
}

// eventuallyRun reruns the command until it exits with want and its output
// contains text (any output when text is empty), or fails after timeout.
func eventuallyRun(t *testing.T, ctx context.Context, timeout time.Duration, want int, text string, args ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	start := time.Now()
	for {
		var stdout, stderr bytes.Buffer
		code := run(ctx, args, &stdout, &stderr)
		out := stdout.String() + stderr.String()
		if code == want && strings.Contains(out, text) {
			t.Logf("figure: %s → exit %d with %q after %s", args[1], want, text, time.Since(start).Round(100*time.Millisecond))
			return out
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			t.Fatalf("deploy-auto-scaling %s: no exit %d with %q within %s; last exit %d:\n%s", strings.Join(args, " "), want, text, timeout, code, out)
		}
		time.Sleep(2 * time.Second)
	}
}

// logFailures logs doctor's FAIL lines and their fixes.
func logFailures(t *testing.T, out string) {
	t.Helper()
	var keep []string
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "FAIL") {
			keep = append(keep, l)
			if i+1 < len(lines) && strings.Contains(lines[i+1], "fix:") {
				keep = append(keep, lines[i+1])
			}
		}
	}
	t.Logf("doctor failures:\n%s", strings.Join(keep, "\n"))
}

// assertCheck asserts a doctor output line with status, check id and a
// subject/detail (a regular expression; empty: any).
func assertCheck(t *testing.T, out, status, id, rest string) {
	t.Helper()
	re := regexp.MustCompile(`(?m)^` + status + ` +` + regexp.QuoteMeta(id) + ` +` + rest)
	if !re.MatchString(out) {
		t.Errorf("doctor output lacks %s %s %s:\n%s", status, id, rest, out)
	}
}

func assertContains(t *testing.T, out, want string) {
	t.Helper()
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// findSocket returns the unix socket under dir (the fake kubelet's pod-resources socket).
func findSocket(t *testing.T, dir string) string {
	t.Helper()
	var found string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSocket != 0 && found == "" {
			found = p
		}
		return nil
	})
	if found == "" {
		t.Fatalf("no pod-resources socket under %s", dir)
	}
	return found
}

// exporterScrapeJob rebuilds the plane's exporter job (targets labelled as
// Kubernetes service discovery would) with honor_labels set as asked.
func exporterScrapeJob(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, plane *sandbox.GPUPlane, honor bool) sandbox.ScrapeJob {
	t.Helper()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	pods, err := cs.CoreV1().Pods("medical-kg").List(ctx, metav1.ListOptions{LabelSelector: "app.kubernetes.io/component=exporter"})
	if err != nil {
		t.Fatal(err)
	}
	podOn := map[string]string{}
	for _, p := range pods.Items {
		podOn[p.Spec.NodeName] = p.Name
	}
	job := sandbox.ScrapeJob{Name: "gpu-metrics-exporter", HonorLabels: honor, MetricsPath: "/metrics", Scheme: "http"}
	for _, node := range sb.Nodes() {
		addr := strings.TrimSuffix(strings.TrimPrefix(plane.ExporterURL(node), "http://"), "/metrics")
		labels := map[string]string{"namespace": "medical-kg", "instance": node}
		if p := podOn[node]; p != "" {
			labels["pod"] = p
		}
		job.Targets = append(job.Targets, sandbox.ScrapeTarget{Address: addr, Labels: labels})
	}
	if len(job.Targets) == 0 {
		t.Fatal("no exporter targets")
	}
	return job
}
