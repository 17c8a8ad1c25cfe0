package e2e

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/dynamic"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func testRenderedObjectsExist(t *testing.T) {
	ctx := context.Background()
	dyn, err := dynamic.NewForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	mapper := restMapper(t)
	opts := env.plane.Options()
	kinds := map[string]int{}
	for _, release := range []string{opts.Release, opts.WorkloadsRelease} {
		for _, obj := range manifestObjects(t, release) {
			gvk := obj.GroupVersionKind()
			kinds[gvk.Kind]++
			m, err := mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
			if err != nil {
				t.Errorf("%s %s: kind not served by the API server: %v", gvk, obj.GetName(), err)
				continue
			}
			ns := obj.GetNamespace()
			if m.Scope.Name() == "namespace" && ns == "" {
				ns = namespace
			}
			var ri dynamic.ResourceInterface = dyn.Resource(m.Resource)
			if m.Scope.Name() == "namespace" {
				ri = dyn.Resource(m.Resource).Namespace(ns)
			}
			live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
			if err != nil {
				t.Errorf("%s %s/%s rendered by %s: %v", gvk.Kind, ns, obj.GetName(), release, err)
				continue
			}
			if release == opts.Release && live.GetLabels()["app.kubernetes.io/instance"] != release {
				t.Errorf("%s %s: label app.kubernetes.io/instance=%q, want %q", gvk.Kind, obj.GetName(),
					live.GetLabels()["app.kubernetes.io/instance"], release)
			}
		}
	}
	t.Logf("rendered objects found live, by kind: %v", kinds)
	for _, k := range []string{"HorizontalPodAutoscaler", "APIService", "Deployment", "DaemonSet", "ClusterRole", "ServiceMonitor"} {
		if kinds[k] == 0 {
			t.Errorf("no %s rendered; the chart contract expects one", k)
		}
	}
}

// testChartPods checks that the chart's own pods run as containers under the
// security contexts the chart renders: the exporter on every GPU node (root
// only for the kubelet socket, read-only root filesystem, no privilege
// escalation, every capability dropped, RuntimeDefault seccomp, no service
// account token), the adapter non-root; all Ready, so their probes pass.
func testChartPods(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	release := env.plane.Options().Release
	all, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list nodes: %v", err)
	}
	var gpuNodes []corev1.Node
	for _, n := range all.Items {
		if contract.ReportsGPUs(&n) {
			gpuNodes = append(gpuNodes, n)
		}
	}
	if len(gpuNodes) == 0 {
		t.Fatalf("no node of %d reports %s capacity", len(all.Items), contract.GPUResource)
	}
	for _, component := range []string{"exporter", "adapter"} {
		pods, err := cs.CoreV1().Pods(metav1.NamespaceAll).List(ctx, metav1.ListOptions{
			LabelSelector: contract.ComponentLabel + "=" + component + "," + contract.InstanceLabel + "=" + release})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("%s pods: %d, %v", component, len(pods.Items), err)
		}
		if component == "exporter" && len(pods.Items) != len(gpuNodes) {
			t.Errorf("%d exporter pods for %d GPU nodes", len(pods.Items), len(gpuNodes))
		}
		for _, p := range pods.Items {
			checkHardened(t, &p, component == "adapter")
		}
	}
}

// checkHardened asserts a pod is Ready on a real runtime with the chart's
// hardening; nonRoot also requires runAsNonRoot.
func checkHardened(t *testing.T, p *corev1.Pod, nonRoot bool) {
	t.Helper()
	ready := false
	for _, c := range p.Status.Conditions {
		ready = ready || (c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue)
	}
	if !ready || p.Status.Phase != corev1.PodRunning {
		t.Errorf("pod %s on %s: phase %s, Ready %t", p.Name, p.Spec.NodeName, p.Status.Phase, ready)
	}
	for _, cst := range p.Status.ContainerStatuses {
		if env.cluster.Name() == "sandbox" && !strings.HasPrefix(cst.ContainerID, "containerd://") {
			t.Errorf("pod %s container %s: ID %q, want a containerd:// container", p.Name, cst.Name, cst.ContainerID)
		}
	}
	if p.Spec.AutomountServiceAccountToken != nil && *p.Spec.AutomountServiceAccountToken && !nonRoot {
		t.Errorf("pod %s mounts a service account token", p.Name)
	}
	psc := p.Spec.SecurityContext
	for _, c := range p.Spec.Containers {
		sc := c.SecurityContext
		where := p.Name + "/" + c.Name
		switch {
		case sc == nil:
			t.Errorf("%s: no securityContext", where)
			continue
		case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
			t.Errorf("%s: root filesystem not read-only", where)
		case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
			t.Errorf("%s: privilege escalation allowed", where)
		case sc.Capabilities == nil || len(sc.Capabilities.Drop) == 0 || sc.Capabilities.Drop[0] != "ALL" || len(sc.Capabilities.Add) > 0:
			t.Errorf("%s: capabilities %+v, want drop ALL and add none", where, sc.Capabilities)
		}
		seccomp := (sc.SeccompProfile != nil && sc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault) ||
			(psc != nil && psc.SeccompProfile != nil && psc.SeccompProfile.Type == corev1.SeccompProfileTypeRuntimeDefault)
		if !seccomp {
			t.Errorf("%s: no RuntimeDefault seccomp profile", where)
		}
		nr := (sc.RunAsNonRoot != nil && *sc.RunAsNonRoot) || (psc != nil && psc.RunAsNonRoot != nil && *psc.RunAsNonRoot)
		if nonRoot && !nr {
			t.Errorf("%s: not runAsNonRoot", where)
		}
		if c.ReadinessProbe == nil || c.LivenessProbe == nil {
			t.Errorf("%s: readiness and liveness probes expected", where)
		}
	}
}

func testAPIServices(t *testing.T) {
	ctx := context.Background()
	ac, err := aggregator.NewForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	cs := adminClient(t)
	for _, name := range apiServices {
		svc, err := ac.ApiregistrationV1().APIServices().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("APIService %s: %v", name, err)
		}
		if ok, err := apiServiceAvailable(ctx, name); !ok {
			t.Errorf("APIService %s not Available: %v", name, err)
		}
		if svc.Spec.InsecureSkipTLSVerify {
			t.Errorf("APIService %s skips TLS verification", name)
		}
		if len(svc.Spec.CABundle) == 0 || svc.Spec.Service == nil {
			t.Fatalf("APIService %s has no caBundle or service", name)
		}
		// The serving certificate the adapter presents must chain to the
		// caBundle for the name the aggregator checks: <service>.<namespace>.svc.
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(svc.Spec.CABundle) {
			t.Fatalf("APIService %s: caBundle holds no PEM certificate", name)
		}
		secrets, err := cs.CoreV1().Secrets(svc.Spec.Service.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "type=kubernetes.io/tls"})
		if err != nil {
			t.Fatal(err)
		}
		verified := false
		for _, sec := range secrets.Items {
			block, _ := pem.Decode(sec.Data["tls.crt"])
			if block == nil {
				continue
			}
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				continue
			}
			dns := fmt.Sprintf("%s.%s.svc", svc.Spec.Service.Name, svc.Spec.Service.Namespace)
			if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: dns}); err == nil {
				verified = true
				t.Logf("%s: caBundle verifies Secret %s for %s", name, sec.Name, dns)
			}
		}
		if !verified {
			t.Errorf("APIService %s: no kubernetes.io/tls Secret in %s verifies against its caBundle", name, svc.Spec.Service.Namespace)
		}
	}
}
