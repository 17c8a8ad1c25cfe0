package sandbox

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// grantComponents gives the sandbox's own components the least they need,
// as a kubeadm cluster would: the API server's kubelet client may use the
// kubelet API (logs, exec, port-forward), and Prometheus may discover pods,
// services and endpoints and read nodes' metrics.
func (s *Sandbox) grantComponents(ctx context.Context, cs kubernetes.Interface) error {
	prom := &rbacv1.ClusterRole{
		ObjectMeta: metav1.ObjectMeta{Name: PrometheusUser},
		Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"nodes", "nodes/metrics", "services", "endpoints", "pods"},
				Verbs: []string{"get", "list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"get", "list", "watch"}},
			{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}},
		},
	}
	if _, err := cs.RbacV1().ClusterRoles().Create(ctx, prom, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create ClusterRole %s: %w", prom.Name, err)
	}
	for _, b := range []struct{ name, role, user string }{
		{"sandbox-apiserver-kubelet-client", "system:kubelet-api-admin", "kube-apiserver-kubelet-client"},
		{PrometheusUser, PrometheusUser, PrometheusUser},
	} {
		crb := &rbacv1.ClusterRoleBinding{
			ObjectMeta: metav1.ObjectMeta{Name: b.name},
			RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: b.role},
			Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: b.user}},
		}
		if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create ClusterRoleBinding %s: %w", b.name, err)
		}
	}
	return nil
}
