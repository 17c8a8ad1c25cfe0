package sandbox

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/medical-kg/gpu-autoscaling/internal/images"
	"github.com/medical-kg/gpu-autoscaling/internal/prereq"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// TestRealNode starts the sandbox with its real node and runs a pod there
// under the restricted pod security the chart uses: it must start from the
// imported image with no registry, pass its probes, answer on its pod IP,
// serve its log through the API server (API server → kubelet with webhook
// authorization), be restarted by the kubelet when its container is killed,
// and sit in a cgroup below this process' memory cgroup. Down must leave
// nothing behind.
func TestRealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node; skipped with -short")
	}
	dir := filepath.Join(t.TempDir(), "sb")
	sb, err := New(Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Check(context.Background()); err != nil {
		prereq.SkipOrFail(t, err.Error())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	start := time.Now()
	if err := sb.Up(ctx); err != nil {
		t.Fatalf("Up: %v", err)
	}
	t.Logf("figure: sandbox cold start with the real node %s (binaries and images cached)", time.Since(start).Round(time.Millisecond))
	downed := false
	defer func() {
		if !downed {
			_ = sb.Down(context.Background())
		}
	}()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rt := node.Status.NodeInfo.ContainerRuntimeVersion; !strings.HasPrefix(rt, "containerd://2.") {
		t.Errorf("node runtime %q, want containerd://2.x", rt)
	}
	pod := restrictedPod(t)
	created := time.Now()
	if _, err := cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, ctx, sb, pod.Name, func(p *corev1.Pod) bool { return podReady(p) })
	t.Logf("figure: pod create → Ready on the real node %s", time.Since(created).Round(10*time.Millisecond))
	if id := p.Status.ContainerStatuses[0].ContainerID; !strings.HasPrefix(id, "containerd://") {
		t.Errorf("container ID %q, want containerd://", id)
	}
	resp, err := http.Get(fmt.Sprintf("http://%s:8080/healthz", p.Status.PodIP))
	if err != nil {
		t.Fatalf("pod IP %s does not answer from the host: %v", p.Status.PodIP, err)
	}
	resp.Body.Close()
	if _, err := cs.CoreV1().Pods("default").GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx); err != nil {
		t.Errorf("pod logs through the API server (kubelet webhook authn/authz): %v", err)
	}
	checkPodCgroup(t, sb, p)
	if err := sb.KillContainer(ctx, "default", pod.Name, "svc"); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	waitPod(t, ctx, sb, pod.Name, func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 && podReady(p)
	})
	t.Logf("figure: container killed → restarted and Ready %s", time.Since(killed).Round(10*time.Millisecond))
	measurePodStarts(t, ctx, sb, 10)
	if _, err := os.Stat(filepath.Join(sb.Node().PodResourcesDir(), "kubelet.sock")); err != nil {
		t.Errorf("the kubelet's pod-resources socket: %v", err)
	}
	n := *sb.Node()
	start = time.Now()
	loaded, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := loaded.Down(ctx); err != nil {
		t.Errorf("Down: %v", err)
	}
	downed = true
	t.Logf("figure: sandbox with the real node stopped in %s", time.Since(start).Round(time.Millisecond))
	checkNothingLeft(t, n)
}

// restrictedPod runs the stand-in GPU service image under the chart's
// restricted security contexts, with probes.
func restrictedPod(t *testing.T) *corev1.Pod {
	t.Helper()
	root, err := repo.Root()
	if err != nil {
		t.Fatal(err)
	}
	image, err := images.Reference(root, "gpu-service")
	if err != nil {
		t.Fatal(err)
	}
	probe := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/readyz", Port: intstr.FromInt32(8080)}},
		PeriodSeconds: 1}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "restricted", Namespace: "default"},
		Spec: corev1.PodSpec{
			AutomountServiceAccountToken: ptr.To(false),
			SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65532)),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
			Containers: []corev1.Container{{Name: "svc", Image: image, ImagePullPolicy: corev1.PullNever,
				Args: []string{"--service=restricted"}, ReadinessProbe: probe,
				SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
					Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}}},
		},
	}
}

func waitPod(t *testing.T, ctx context.Context, sb *Sandbox, name string, ok func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(90 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if err == nil && ok(p) {
			return p
		}
		if err == nil {
			last = fmt.Sprintf("phase %s, conditions %v, containers %v", p.Status.Phase, p.Status.Conditions, p.Status.ContainerStatuses)
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("pod %s: not as wanted within 90s: %s (logs in %s)", name, last, filepath.Join(sb.Dir(), "logs"))
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// checkPodCgroup: the pod's cgroup lies below this process' memory cgroup.
func checkPodCgroup(t *testing.T, sb *Sandbox, p *corev1.Pod) {
	t.Helper()
	memcg, err := ownMemoryCgroup()
	if err != nil {
		t.Fatal(err)
	}
	want := filepath.Join(cgroupMount, "memory", memcg, nodeCgroupName, "kubepods")
	matches, _ := filepath.Glob(filepath.Join(want, "*", "pod"+string(p.UID)))
	if len(matches) == 0 {
		matches, _ = filepath.Glob(filepath.Join(want, "pod"+string(p.UID)))
	}
	if len(matches) == 0 {
		t.Errorf("no cgroup of pod %s below %s", p.UID, want)
	}
}

// checkNothingLeft: after Down no process, mount, cgroup, bridge, rule or
// socket of the node remains.
func checkNothingLeft(t *testing.T, n NodeState) {
	t.Helper()
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mounts), n.Dir) || strings.Contains(string(mounts), n.ShortDir) {
		t.Errorf("mounts below %s left after Down", n.Dir)
	}
	for _, d := range n.CgroupDirs {
		if _, err := os.Stat(d); err == nil {
			t.Errorf("cgroup %s left after Down", d)
		}
	}
	if _, err := os.Stat(filepath.Join(cgroupMount, "memory", n.CgroupRoot)); n.CgroupRoot != "" && err == nil {
		t.Errorf("cgroup root %s left after Down", n.CgroupRoot)
	}
	if out, err := exec.Command("ip", "link", "show", nodeBridge).CombinedOutput(); err == nil {
		t.Errorf("bridge %s left after Down: %s", nodeBridge, out)
	}
	if out, err := exec.Command("iptables-save").Output(); err == nil && strings.Contains(string(out), "KUBE-") {
		t.Errorf("KUBE-* iptables rules left after Down")
	}
	if _, err := os.Stat(filepath.Join(DevicePluginDir, "kubelet.sock")); err == nil {
		t.Errorf("%s/kubelet.sock left after Down", DevicePluginDir)
	}
}

// TestRealNodeFailureCleansUp takes the node's socket folder away (a file
// sits where it goes), so Up fails after the control plane and the bridge
// exist: the error must name the path, and nothing Up started may remain.
func TestRealNodeFailureCleansUp(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a control plane; skipped with -short")
	}
	dir := filepath.Join(t.TempDir(), "sb")
	sb, err := New(Options{Dir: dir, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := sb.Check(context.Background()); err != nil {
		prereq.SkipOrFail(t, err.Error())
	}
	blocker := shortDirFor(dir)
	if err := os.WriteFile(blocker, []byte("in the way"), 0o644); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(blocker)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	err = sb.Up(ctx)
	if err == nil {
		_ = sb.Down(ctx)
		t.Fatal("Up succeeded with its socket folder taken")
	}
	if !strings.Contains(err.Error(), blocker) {
		t.Errorf("error %q does not name %s", err, blocker)
	}
	time.Sleep(time.Second) // stopped processes are reaped
	if left := processesMentioning(dir); len(left) > 0 {
		t.Errorf("processes of the failed sandbox still running: %v", left)
	}
	if n := sb.Node(); n != nil {
		checkNothingLeft(t, *n)
	}
}

// processesMentioning lists live processes whose command line names dir.
func processesMentioning(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		stat, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil || !strings.Contains(string(cmdline), dir) || strings.Contains(string(stat), ") Z ") {
			continue
		}
		out = append(out, e.Name()+":"+strings.ReplaceAll(string(cmdline), "\x00", " ")[:min(80, len(cmdline))])
	}
	return out
}

// measurePodStarts creates n pods at once and logs create → Ready p50/p99.
func measurePodStarts(t *testing.T, ctx context.Context, sb *Sandbox, n int) {
	t.Helper()
	cs, err := sb.Clientset()
	if err != nil {
		t.Fatal(err)
	}
	created := map[string]time.Time{}
	for i := 0; i < n; i++ {
		p := restrictedPod(t)
		p.Name = fmt.Sprintf("start-%02d", i)
		p.Spec.Containers[0].Args = []string{"--service=" + p.Name}
		created[p.Name] = time.Now()
		if _, err := cs.CoreV1().Pods("default").Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	var took []time.Duration
	deadline := time.Now().Add(2 * time.Minute)
	for len(took) < n && time.Now().Before(deadline) {
		for name, at := range created {
			p, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			if err == nil && podReady(p) {
				took = append(took, time.Since(at))
				delete(created, name)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if len(took) < n {
		t.Fatalf("%d of %d pods not Ready within 2 minutes", n-len(took), n)
	}
	slices.Sort(took)
	t.Logf("figure: %d pods created at once → Ready on the real node: p50 %s, p99 %s (±100 ms polling)", n,
		took[n/2].Round(10*time.Millisecond), took[(n*99+99)/100-1].Round(10*time.Millisecond))
	for i := 0; i < n; i++ {
		_ = cs.CoreV1().Pods("default").Delete(ctx, fmt.Sprintf("start-%02d", i), metav1.DeleteOptions{})
	}
}
