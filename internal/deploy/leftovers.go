package deploy

import (
	"context"
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/cluster"
)

// Helm's ownership annotations, set on every object a release applies.
const (
	annotationReleaseName      = "meta.helm.sh/release-name"
	annotationReleaseNamespace = "meta.helm.sh/release-namespace"
	labelInstance              = "app.kubernetes.io/instance"
)

// BelongsTo reports whether an object's metadata attributes it to the release:
// Helm's ownership annotations when present (name and namespace both match, so
// a same-named release in another namespace is not mistaken for this one),
// otherwise the app.kubernetes.io/instance label.
func BelongsTo(meta metav1.Object, releaseName, namespace string) bool {
	a := meta.GetAnnotations()
	if name, ok := a[annotationReleaseName]; ok {
		ns := a[annotationReleaseNamespace]
		return name == releaseName && (ns == namespace || ns == "")
	}
	return meta.GetLabels()[labelInstance] == releaseName
}

// ClusterScopedLeftovers lists the APIServices, ClusterRoles and
// ClusterRoleBindings still attributed to the release.
func ClusterScopedLeftovers(ctx context.Context, c *cluster.Clients, releaseName, namespace string) ([]Object, error) {
	var out []Object
	apis, err := c.Aggregator.ApiregistrationV1().APIServices().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list APIServices: %w", err)
	}
	for i := range apis.Items {
		if BelongsTo(&apis.Items[i], releaseName, namespace) {
			out = append(out, Object{APIVersion: "apiregistration.k8s.io/v1", Kind: "APIService", Name: apis.Items[i].Name})
		}
	}
	roles, err := c.Kube.RbacV1().ClusterRoles().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ClusterRoles: %w", err)
	}
	for i := range roles.Items {
		if BelongsTo(&roles.Items[i], releaseName, namespace) {
			out = append(out, Object{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole", Name: roles.Items[i].Name})
		}
	}
	bindings, err := c.Kube.RbacV1().ClusterRoleBindings().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list ClusterRoleBindings: %w", err)
	}
	for i := range bindings.Items {
		if BelongsTo(&bindings.Items[i], releaseName, namespace) {
			out = append(out, Object{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding", Name: bindings.Items[i].Name})
		}
	}
	return out, nil
}
