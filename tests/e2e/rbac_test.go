package e2e

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func testRBACMatrix(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	sas, err := cs.CoreV1().ServiceAccounts(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: contract.InstanceLabel + "=" + env.plane.Options().Release})
	if err != nil {
		t.Fatal(err)
	}
	byComponent := map[string]string{}
	for _, sa := range sas.Items {
		byComponent[sa.Labels["app.kubernetes.io/component"]] = "system:serviceaccount:" + sa.Namespace + ":" + sa.Name
	}
	adapter, exporter := byComponent["adapter"], byComponent["exporter"]
	if adapter == "" || exporter == "" {
		t.Fatalf("service accounts by component: %v; want adapter and exporter", byComponent)
	}
	type check struct {
		user  string
		attrs authorizationv1.ResourceAttributes
		allow bool
	}
	ra := func(verb, group, resource, ns, name string) authorizationv1.ResourceAttributes {
		return authorizationv1.ResourceAttributes{Verb: verb, Group: group, Resource: resource, Namespace: ns, Name: name}
	}
	checks := []check{
		// The adapter: delegated authn/authz, the authentication ConfigMap, read-only object mapping.
		{adapter, ra("create", "authentication.k8s.io", "tokenreviews", "", ""), true},
		{adapter, ra("create", "authorization.k8s.io", "subjectaccessreviews", "", ""), true},
		{adapter, ra("get", "", "configmaps", "kube-system", "extension-apiserver-authentication"), true},
		{adapter, ra("list", "", "pods", namespace, ""), true},
		{adapter, ra("list", "", "namespaces", "", ""), true},
		{adapter, ra("get", "", "nodes", "", "any-node"), true},
		{adapter, ra("get", "", "secrets", namespace, ""), false},
		{adapter, ra("list", "", "secrets", "kube-system", ""), false},
		{adapter, ra("*", "*", "*", "", ""), false},
		{adapter, ra("create", "", "pods", namespace, ""), false},
		{adapter, ra("delete", "apps", "deployments", "default", ""), false},
		{adapter, ra("update", "autoscaling", "horizontalpodautoscalers", namespace, ""), false},
		{adapter, ra("create", "apiregistration.k8s.io", "apiservices", "", ""), false},
		{adapter, ra("update", "", "configmaps", "kube-system", "extension-apiserver-authentication"), false},
		{adapter, ra("create", "", "configmaps", namespace, ""), false},
		{adapter, ra("list", "", "configmaps", "default", ""), false},
		{adapter, ra("create", "authentication.k8s.io", "serviceaccounts/token", namespace, ""), false},
		{adapter, ra("impersonate", "", "users", "", ""), false},
		// The exporter never calls the API.
		{exporter, ra("list", "", "pods", namespace, ""), false},
		{exporter, ra("get", "", "secrets", namespace, ""), false},
		{exporter, ra("*", "*", "*", "", ""), false},
		{exporter, ra("get", "", "nodes", "", ""), false},
		// The HPA controller reads the metrics it scales on.
		{hpaUser, ra("list", "custom.metrics.k8s.io", "pods", namespace, ""), true},
		{hpaUser, ra("list", "metrics.k8s.io", "pods", namespace, ""), true},
		{hpaUser, ra("get", "", "secrets", namespace, ""), false},
	}
	for _, c := range checks {
		groups := []string{"system:serviceaccounts", "system:authenticated"}
		if parts := strings.Split(c.user, ":"); len(parts) == 4 {
			groups = append(groups, "system:serviceaccounts:"+parts[2])
		}
		attrs := c.attrs
		sar := &authorizationv1.SubjectAccessReview{Spec: authorizationv1.SubjectAccessReviewSpec{
			User: c.user, Groups: groups, ResourceAttributes: &attrs}}
		got, err := cs.AuthorizationV1().SubjectAccessReviews().Create(ctx, sar, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.Allowed != c.allow {
			t.Errorf("%s %s %s/%s in %q (name %q): allowed=%t, want %t (%s)", c.user, attrs.Verb, attrs.Group,
				attrs.Resource, attrs.Namespace, attrs.Name, got.Status.Allowed, c.allow, got.Status.Reason)
		}
	}
}
