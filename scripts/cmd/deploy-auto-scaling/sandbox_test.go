package main

import (
	"bytes"
	"context"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
	"github.com/medical-kg/gpu-autoscaling/internal/gpuplane"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
	"github.com/medical-kg/gpu-autoscaling/internal/sandbox"
)

// TestActionsOnSandbox runs every action of the command against the embedded
// sandbox cluster and its real node: the install path with a small chart in
// a namespace of its own, then the product chart (installed by the GPU
// plane, its pods running as containers) upgraded, inspected and diagnosed,
// doctor catching injected faults (adapter down, APIService missing,
// exporter series without pod labels or renamed to exported_pod, each made
// the way a user would make it: scaling the adapter away, deploying values
// that turn attribution or honorLabels off), and undeploy leaving no
// cluster-scoped object behind.
func TestActionsOnSandbox(t *testing.T) {
	if testing.Short() {
		t.Skip("needs the sandbox cluster; skipped with -short")
	}
	if _, err := prereq.FindBinary(prereq.Helm); err != nil {
		prereq.SkipOrFail(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Minute)
	defer cancel()
	sb, err := sandbox.New(sandbox.Options{
		Dir: filepath.Join(t.TempDir(), "sandbox"), HPASyncPeriod: sandbox.CompressedHPASyncPeriod,
		HPADownscaleStabilization: 15 * time.Second, ScrapeInterval: sandbox.CompressedScrapeInterval, Logf: t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Check(ctx); err != nil {
		prereq.SkipOrFail(t, err.Error())
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
	cluster := provider.SandboxCluster{SB: sb}
	plane, err := gpuplane.Install(ctx, gpuplane.NewReporter(t.Name(), t.Logf), cluster,
		gpuplane.Options{ServiceMonitor: true, ScrapeInterval: sandbox.CompressedScrapeInterval, Logf: t.Logf})
	if err != nil {
		t.Fatalf("install the GPU plane: %v", err)
	}
	t.Logf("figure: GPU plane installed in %s", time.Since(start).Round(100*time.Millisecond))
	defer plane.Close()

	// The deploy flags that reproduce the plane's release: its values files
	// and the --set values that carry the sandbox's Prometheus and kubelet.
	hopts := plane.HelmOptions(nil)
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
		adapter := adapterDeployment(t, ctx, sb)
		scaleAdapter(t, ctx, sb, adapter, 0)
		out := eventuallyRun(t, ctx, 2*time.Minute, exitFailed, "not Available: MissingEndpoints", doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "apiservice-available", `v1beta[12].custom.metrics.k8s.io +not Available: MissingEndpoints`)
		assertContains(t, out, "has no ready adapter endpoints")
		scaleAdapter(t, ctx, sb, adapter, 1)
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
		// The exporter loses the kubelet pod-resources socket, as when its
		// hostPath is not mounted: deployed with attribution off.
		mustRun(t, ctx, exitOK, append(slices.Clone(deployArgs), "--set", "exporter.podResources.enabled=false")...)
		out := eventuallyRun(t, ctx, 2*time.Minute, exitFailed, "running GPU pods appears in", doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "gpu-series-pod-labels", `gpu_utilization_percent +none of the \d+ running GPU pods`)
		assertContains(t, out, "fix: the exporter cannot attribute GPUs to pods: mount the kubelet pod-resources socket")
		mustRun(t, ctx, exitOK, deployArgs...)
		eventuallyRun(t, ctx, 3*time.Minute, exitOK, "", doctorArgs...)
	})

	t.Run("doctor: exported_pod when honor_labels is off", func(t *testing.T) {
		// honor_labels off alone is harmless with the chart's ServiceMonitor (it drops the exporter pod's
		// own pod/namespace labels); without that relabeling the workload's labels collide and are renamed.
		mustRun(t, ctx, exitOK, append(slices.Clone(deployArgs), "--set", "exporter.serviceMonitor.honorLabels=false",
			"--set", "exporter.serviceMonitor.relabelings=null")...)
		if err := cluster.Reconcile(ctx); err != nil {
			t.Fatal(err)
		}
		out := eventuallyRun(t, ctx, 2*time.Minute, exitFailed, "carry renamed pod labels", doctorArgs...)
		logFailures(t, out)
		assertCheck(t, out, "FAIL", "gpu-series-pod-labels", `gpu_utilization_percent +\d+ of \d+ series carry renamed pod labels \(exported_pod=`)
		assertContains(t, out, "fix: turn honor_labels on")
		mustRun(t, ctx, exitOK, deployArgs...)
		if err := cluster.Reconcile(ctx); err != nil {
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

// noEnv is an empty environment: no $HELM_NAMESPACE from the developer's shell.
func noEnv(string) string { return "" }

// mustRun runs the command and checks its exit code; it returns stdout+stderr.
func mustRun(t *testing.T, ctx context.Context, want int, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(ctx, args, noEnv, &stdout, &stderr)
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
		code := run(ctx, args, noEnv, &stdout, &stderr)
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

// adapterDeployment is the name of the release's adapter Deployment.
func adapterDeployment(t *testing.T, ctx context.Context, sb *sandbox.Sandbox) string {
	t.Helper()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	list, err := cs.AppsV1().Deployments("medical-kg").List(ctx, metav1.ListOptions{LabelSelector: contract.ComponentLabel + "=adapter"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("adapter Deployments: %v, %v", list, err)
	}
	return list.Items[0].Name
}

// scaleAdapter sets the adapter Deployment's replicas, as an operator would.
func scaleAdapter(t *testing.T, ctx context.Context, sb *sandbox.Sandbox, name string, replicas int32) {
	t.Helper()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	scale, err := cs.AppsV1().Deployments("medical-kg").GetScale(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	scale.Spec.Replicas = replicas
	if _, err := cs.AppsV1().Deployments("medical-kg").UpdateScale(ctx, name, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}
