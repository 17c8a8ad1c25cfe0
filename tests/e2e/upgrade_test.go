package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/gruntwork-io/terratest/modules/helm"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

func testUpgradeRollback(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	opts := env.plane.HelmOptions(nil)
	chart := env.plane.Options()
	before := deploymentReplicas(t, cs)
	opts.SetValues["services.embedding-service.maxReplicas"] = "12"
	if err := helm.UpgradeContextE(t, ctx, opts, chart.ChartDir, chart.Release); err != nil {
		t.Fatalf("helm upgrade: %v", err)
	}
	h, err := getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.MaxReplicas != 12 {
		t.Errorf("after upgrade maxReplicas = %d, want 12", h.Spec.MaxReplicas)
	}
	// The workloads chart upgraded with its own values must not reset what
	// the HPAs decided either.
	wopts := env.plane.WorkloadsHelmOptions()
	if err := helm.UpgradeContextE(t, ctx, wopts, chart.WorkloadsChartDir, chart.WorkloadsRelease); err != nil {
		t.Fatalf("helm upgrade %s: %v", chart.WorkloadsRelease, err)
	}
	if after := deploymentReplicas(t, cs); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("replicas changed by the upgrades: before %v, after %v", before, after)
	}
	// The chart reuses its CA and certificate on upgrade: the running adapter
	// (started with the first revision's files) still serves both APIServices.
	for _, name := range apiServices {
		eventually(t, 30*time.Second, time.Second, name+" Available after upgrade", func(ctx context.Context) (bool, string) {
			ok, err := apiServiceAvailable(ctx, name)
			return ok, fmt.Sprint(err)
		})
	}
	if err := helm.RollbackContextE(t, ctx, opts, chart.Release, "1"); err != nil {
		t.Fatalf("helm rollback: %v", err)
	}
	h, err = getHPA(ctx, cs, svcEmbedding)
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.MaxReplicas != 10 {
		t.Errorf("after rollback maxReplicas = %d, want 10", h.Spec.MaxReplicas)
	}
	if after := deploymentReplicas(t, cs); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Errorf("replicas changed by the rollback: before %v, after %v", before, after)
	}
}

// deploymentReplicas is every service Deployment's spec.replicas.
func deploymentReplicas(t *testing.T, cs kubernetes.Interface) map[string]int32 {
	t.Helper()
	out := map[string]int32{}
	for _, svc := range services {
		dep, err := cs.AppsV1().Deployments(namespace).Get(t.Context(), svc, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[svc] = *dep.Spec.Replicas
	}
	return out
}
