package e2e

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/gruntwork-io/terratest/modules/helm"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	aggregator "k8s.io/kube-aggregator/pkg/client/clientset_generated/clientset"

	"github.com/medical-kg/gpu-autoscaling/internal/chartrepotest"
)

// nextVersionAnnotation is the change chart version N+1 carries: a default
// pod annotation of the adapter, so the upgrade rolls the adapter's pod (a
// surge of one, none unavailable) as most releases' changes do.
const nextVersionAnnotation = "gpu-autoscaling.medical-kg.io/upgrade-test"

// testUpgradeAcrossVersions serves chart version N (the installed chart,
// packaged) and N+1 (the same with one real change) from a classic chart
// repository on loopback, as `make package` publishes them, upgrades the
// release to N+1 from that repository with the installed values while the
// load holds the services above their minimum, and rolls back to N. The
// HPAs' replicas must be kept, the caBundle must not change, and both
// APIServices are polled throughout: the longest window either was not
// Available is the figure.
func testUpgradeAcrossVersions(t *testing.T) {
	cs := adminClient(t)
	ctx := t.Context()
	installed := env.plane.Options()
	current, err := loader.Load(installed.ChartDir)
	if err != nil {
		t.Fatalf("load the installed chart: %v", err)
	}
	n := current.Metadata.Version
	next, err := loader.Load(installed.ChartDir)
	if err != nil {
		t.Fatal(err)
	}
	v, err := semver.NewVersion(n)
	if err != nil {
		t.Fatalf("chart version %q: %v", n, err)
	}
	next.Metadata.Version = v.IncPatch().String()
	adapter := dependency(next, "custom-metrics-adapter")
	if adapter == nil {
		t.Fatal("the umbrella chart has no custom-metrics-adapter subchart")
	}
	// The package carries the chart's values.yaml as written (chartutil.Save
	// keeps its comments), so the change goes into that file.
	if err := replaceInValuesFile(adapter, "\npodAnnotations: {}\n",
		fmt.Sprintf("\npodAnnotations: {%q: %q}\n", nextVersionAnnotation, next.Metadata.Version)); err != nil {
		t.Fatal(err)
	}
	url := chartrepotest.Serve(t, current, next)
	opts := env.plane.HelmOptions(nil)
	const repoName = "gpu-autoscaling-e2e"
	if err := helm.AddRepoContextE(t, ctx, opts, repoName, url); err != nil {
		t.Fatalf("helm repo add %s: %v", url, err)
	}
	defer func() { _ = helm.RemoveRepoE(t, opts, repoName) }()

	replicasBefore := deploymentReplicas(t, cs)
	caBefore := caBundles(t)
	watch := watchAPIServices(ctx, t)
	opts.Version = next.Metadata.Version
	upgradeAt := time.Now()
	if err := helm.UpgradeContextE(t, ctx, opts, repoName+"/"+current.Name(), installed.Release); err != nil {
		t.Fatalf("helm upgrade to %s %s from the repository: %v", current.Name(), next.Metadata.Version, err)
	}
	wctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	err = env.plane.WaitReady(wctx)
	cancel()
	if err != nil {
		t.Fatalf("after the upgrade to %s: %v", next.Metadata.Version, err)
	}
	upgraded := time.Since(upgradeAt)
	pods, err := componentPods(ctx, cs, installed.Release, "adapter")
	if err != nil || len(pods) == 0 {
		t.Fatalf("adapter pods after the upgrade: %d, %v", len(pods), err)
	}
	for _, p := range pods {
		if p.Annotations[nextVersionAnnotation] != next.Metadata.Version {
			t.Errorf("adapter pod %s runs without version %s's change (annotations %v)", p.Name, next.Metadata.Version, p.Annotations)
		}
	}
	if after := deploymentReplicas(t, cs); fmt.Sprint(after) != fmt.Sprint(replicasBefore) {
		t.Errorf("replicas changed by the upgrade to %s: before %v, after %v", next.Metadata.Version, replicasBefore, after)
	}
	if err := helm.RollbackContextE(t, ctx, opts, installed.Release, ""); err != nil {
		t.Fatalf("helm rollback to %s: %v", n, err)
	}
	wctx, cancel = context.WithTimeout(ctx, 3*time.Minute)
	err = env.plane.WaitReady(wctx)
	cancel()
	if err != nil {
		t.Fatalf("after the rollback to %s: %v", n, err)
	}
	longest := watch()
	if after := deploymentReplicas(t, cs); fmt.Sprint(after) != fmt.Sprint(replicasBefore) {
		t.Errorf("replicas changed by the rollback to %s: before %v, after %v", n, replicasBefore, after)
	}
	if caAfter := caBundles(t); fmt.Sprint(caAfter) != fmt.Sprint(caBefore) {
		t.Error("an APIService's caBundle changed across the upgrade and rollback: the chart must keep its CA")
	}
	out, err := helm.RunHelmCommandAndGetStdOutContextE(t, ctx, opts, "history", installed.Release, "--max", "3", "-o", "yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains([]byte(out), []byte("chart: "+current.Name()+"-"+next.Metadata.Version)) {
		t.Errorf("helm history does not show the upgrade to %s:\n%s", next.Metadata.Version, out)
	}
	t.Logf("figure: chart %s → %s from a chart repository on loopback: upgraded and every pod Ready in %s (the adapter rolled), rolled back to %s; longest APIService unavailable window %s (polled every 250 ms); replicas kept %v",
		n, next.Metadata.Version, upgraded.Round(100*time.Millisecond), n, longest.Round(time.Millisecond), replicasBefore)
}

// dependency is the subchart of c named name.
func dependency(c *chart.Chart, name string) *chart.Chart {
	for _, d := range c.Dependencies() {
		if d.Name() == name {
			return d
		}
	}
	return nil
}

// replaceInValuesFile replaces old, which must occur once, in c's
// values.yaml.
func replaceInValuesFile(c *chart.Chart, old, new string) error {
	for _, f := range c.Raw {
		if f.Name != chartutil.ValuesfileName {
			continue
		}
		if n := bytes.Count(f.Data, []byte(old)); n != 1 {
			return fmt.Errorf("%s/values.yaml holds %q %d times, want once", c.Name(), old, n)
		}
		f.Data = bytes.Replace(f.Data, []byte(old), []byte(new), 1)
		return nil
	}
	return fmt.Errorf("%s has no values.yaml", c.Name())
}

// caBundles is each custom metrics APIService's caBundle.
func caBundles(t *testing.T) map[string]string {
	t.Helper()
	agg, err := aggregator.NewForConfig(env.cluster.RESTConfig())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, name := range apiServices {
		a, err := agg.ApiregistrationV1().APIServices().Get(t.Context(), name, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(a.Spec.CABundle)
	}
	return out
}

// watchAPIServices polls both APIServices every 250 ms until the returned
// function is called; that returns the longest time either was not
// Available (an error reading it counts as not Available).
func watchAPIServices(ctx context.Context, t *testing.T) func() time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var longest time.Duration
	for _, name := range apiServices {
		wg.Go(func() {
			var downSince time.Time
			for {
				ok, err := apiServiceAvailable(ctx, name)
				now := time.Now()
				if ctx.Err() != nil { // stopped mid-poll: an outage still open counts until now
					if !downSince.IsZero() {
						mu.Lock()
						longest = max(longest, now.Sub(downSince))
						mu.Unlock()
					}
					return
				}
				switch {
				case (!ok || err != nil) && downSince.IsZero():
					downSince = now
				case ok && err == nil && !downSince.IsZero():
					mu.Lock()
					longest = max(longest, now.Sub(downSince))
					mu.Unlock()
					downSince = time.Time{}
				}
				select {
				case <-ctx.Done():
					if !downSince.IsZero() {
						mu.Lock()
						longest = max(longest, now.Sub(downSince))
						mu.Unlock()
					}
					return
				case <-time.After(250 * time.Millisecond):
				}
			}
		})
	}
	return func() time.Duration {
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		return longest
	}
}
