package sandbox

import (
	"context"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/medical-kg/gpu-autoscaling/internal/images"
	"github.com/medical-kg/gpu-autoscaling/internal/repo"
)

// KubeStateMetrics names the sandbox's kube-state-metrics: its Deployment,
// ServiceAccount, ClusterRole and ClusterRoleBinding in kube-system.
const KubeStateMetrics = "kube-state-metrics"

// kubeStateMetricsResources are the object kinds it exposes: what the
// dashboards, the HPAAtMaxReplicas alert and doctor's flapping check read
// (Deployments' and HPAs' replicas) and what maps pods to their workloads
// (kube_pod_owner through ReplicaSets, StatefulSets). Fewer kinds, less
// memory; kube-prometheus-stack exposes more.
var kubeStateMetricsResources = []struct {
	group, resource string
}{
	{"apps", "deployments"}, {"apps", "replicasets"}, {"apps", "statefulsets"},
	{"autoscaling", "horizontalpodautoscalers"}, {"", "pods"}, {"", "nodes"},
}

// startKubeStateMetrics runs kube-state-metrics on the real node as a user
// of kube-prometheus-stack has it: its own ServiceAccount with list and
// watch on what it exposes, the image `make images` built from its pinned
// module, and the prometheus.io/scrape annotations, so the sandbox
// Prometheus' pod job scrapes it (honor_labels keeps the namespace and pod
// labels of the objects it describes). Up does not wait for it (it takes
// 5–15 s to be Ready on 2 cores, and nothing in Up needs it); its series
// follow within a scrape of that.
func (s *Sandbox) startKubeStateMetrics(ctx context.Context, cs kubernetes.Interface) error {
	root, err := repo.Root()
	if err != nil {
		return err
	}
	image, err := images.Reference(root, KubeStateMetrics)
	if err != nil {
		return fmt.Errorf("kube-state-metrics image: %w", err)
	}
	o := kubeStateMetricsObjects(image, s.state.Node.Name)
	_, err = cs.CoreV1().ServiceAccounts(o.serviceAccount.Namespace).Create(ctx, o.serviceAccount, metav1.CreateOptions{})
	if err := keepExisting(err, "ServiceAccount", o.serviceAccount.Name); err != nil {
		return err
	}
	_, err = cs.RbacV1().ClusterRoles().Create(ctx, o.role, metav1.CreateOptions{})
	if err := keepExisting(err, "ClusterRole", o.role.Name); err != nil {
		return err
	}
	_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o.binding, metav1.CreateOptions{})
	if err := keepExisting(err, "ClusterRoleBinding", o.binding.Name); err != nil {
		return err
	}
	_, err = cs.AppsV1().Deployments(o.deployment.Namespace).Create(ctx, o.deployment, metav1.CreateOptions{})
	return keepExisting(err, "Deployment", o.deployment.Name)
}

// keepExisting is a create's error, nil when the object exists already (a
// sandbox restarted on its state folder keeps what it made).
func keepExisting(err error, kind, name string) error {
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create %s %s: %w", kind, name, err)
	}
	return nil
}

// ksmObjects are the objects startKubeStateMetrics creates.
type ksmObjects struct {
	serviceAccount *corev1.ServiceAccount
	role           *rbacv1.ClusterRole
	binding        *rbacv1.ClusterRoleBinding
	deployment     *appsv1.Deployment
}

// kubeStateMetricsObjects renders them for image, pinned to node.
func kubeStateMetricsObjects(image, node string) ksmObjects {
	const ns = metav1.NamespaceSystem
	labels := map[string]string{"app.kubernetes.io/name": KubeStateMetrics}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: KubeStateMetrics, Labels: labels}}
	var kinds []string
	for _, r := range kubeStateMetricsResources {
		role.Rules = append(role.Rules, rbacv1.PolicyRule{APIGroups: []string{r.group}, Resources: []string{r.resource}, Verbs: []string{"list", "watch"}})
		kinds = append(kinds, r.resource)
	}
	args := []string{"--port=8080", "--telemetry-port=8081", "--resources=" + strings.Join(kinds, ",")}
	probe := func(path string, port int) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt(port)}},
			PeriodSeconds: 2, TimeoutSeconds: 2}
	}
	return ksmObjects{
		serviceAccount: &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: KubeStateMetrics, Namespace: ns, Labels: labels}},
		role:           role,
		binding: &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: KubeStateMetrics, Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: KubeStateMetrics},
			Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: KubeStateMetrics, Namespace: ns}},
		},
		deployment: &appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: KubeStateMetrics, Namespace: ns, Labels: labels},
			Spec: appsv1.DeploymentSpec{
				Replicas: ptr.To(int32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: labels},
				Template: corev1.PodTemplateSpec{
					ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
						"prometheus.io/scrape": "true", "prometheus.io/port": "8080", "prometheus.io/path": "/metrics"}},
					Spec: corev1.PodSpec{
						ServiceAccountName: KubeStateMetrics,
						NodeSelector:       map[string]string{corev1.LabelHostname: node},
						SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true), RunAsUser: ptr.To(int64(65534)),
							SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
						Containers: []corev1.Container{{
							Name: KubeStateMetrics, Image: image, ImagePullPolicy: corev1.PullNever, Args: args,
							Ports:          []corev1.ContainerPort{{Name: "http-metrics", ContainerPort: 8080}, {Name: "telemetry", ContainerPort: 8081}},
							ReadinessProbe: probe("/readyz", 8081), LivenessProbe: probe("/livez", 8080),
							Resources: corev1.ResourceRequirements{
								Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("10m"), corev1.ResourceMemory: resource.MustParse("32Mi")},
								Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("128Mi")},
							},
							SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true),
								Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
						}},
					},
				},
			},
		},
	}
}
