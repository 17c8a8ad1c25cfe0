package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"
)

func testUninstall(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	release := env.plane.Options().Release
	var clusterScoped []*unstructured.Unstructured
	for _, obj := range manifestObjects(t, release) {
		switch obj.GetKind() {
		case "APIService", "ClusterRole", "ClusterRoleBinding":
			clusterScoped = append(clusterScoped, obj)
		}
	}
	if len(clusterScoped) == 0 {
		t.Fatal("the release has no APIService, ClusterRole or ClusterRoleBinding to check")
	}
	if err := env.plane.Uninstall(ctx); err != nil {
		t.Fatal(err)
	}
	ac, err := aggregator.NewForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range clusterScoped {
		var err error
		switch obj.GetKind() {
		case "APIService":
			_, err = ac.ApiregistrationV1().APIServices().Get(ctx, obj.GetName(), metav1.GetOptions{})
		case "ClusterRole":
			_, err = cs.RbacV1().ClusterRoles().Get(ctx, obj.GetName(), metav1.GetOptions{})
		case "ClusterRoleBinding":
			_, err = cs.RbacV1().ClusterRoleBindings().Get(ctx, obj.GetName(), metav1.GetOptions{})
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("%s %s still present after uninstall (err %v)", obj.GetKind(), obj.GetName(), err)
		}
	}
	// Discovery must be whole again: no group fails because of a dead backend.
	dc, err := discovery.NewDiscoveryClientForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dc.ServerGroupsAndResources(); err != nil {
		var failed *discovery.ErrGroupDiscoveryFailed
		if errors.As(err, &failed) {
			t.Errorf("discovery after uninstall: %v", failed)
		} else {
			t.Errorf("discovery after uninstall: %v", err)
		}
	}
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "%d cluster-scoped objects removed", len(clusterScoped))
	t.Log(buf.String())
}
