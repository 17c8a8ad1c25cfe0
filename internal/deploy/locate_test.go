package deploy

import (
	"errors"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/registry"

	"github.com/medical-kg/gpu-autoscaling/internal/chartrepotest"
)

// isolatedHelm points helm's cache, config and data at the test's own
// folders, as a fresh machine has them.
func isolatedHelm(t *testing.T) {
	t.Helper()
	for _, env := range []string{"HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"} {
		t.Setenv(env, t.TempDir())
	}
}

// umbrellaAt loads the repository's umbrella chart as version v.
func umbrellaAt(t *testing.T, v string) *chart.Chart {
	t.Helper()
	dir, err := ResolveChart("charts/gpu-autoscaling")
	if err != nil {
		t.Fatal(err)
	}
	c, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.Metadata.Version = v
	return c
}

// TestPrepareFromAChartRepository serves two packaged versions of the
// umbrella chart with an index.yaml over HTTP on loopback, as `make package`
// output is served, and prepares a release from it by name and version, by
// the newest version, and by an archive URL.
func TestPrepareFromAChartRepository(t *testing.T) {
	isolatedHelm(t)
	url := chartrepotest.Serve(t, umbrellaAt(t, "0.1.0"), umbrellaAt(t, "0.2.0"))

	for _, tc := range []struct {
		name string
		opts Options
		want string
	}{
		{"name and version", Options{Chart: "gpu-autoscaling", Source: ChartSource{RepoURL: url, Version: "0.1.0"}}, "0.1.0"},
		{"newest", Options{Chart: "gpu-autoscaling", Source: ChartSource{RepoURL: url}}, "0.2.0"},
		{"constraint", Options{Chart: "gpu-autoscaling", Source: ChartSource{RepoURL: url, Version: "~0.1"}}, "0.1.0"},
		{"archive URL", Options{Chart: url + "/gpu-autoscaling-0.2.0.tgz"}, "0.2.0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := Prepare(tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := plan.Chart.Metadata.Version; got != tc.want {
				t.Fatalf("prepared chart version %s, want %s", got, tc.want)
			}
			if !strings.Contains(plan.Manifest, "kind: HorizontalPodAutoscaler") || len(plan.Objects) == 0 {
				t.Fatalf("the fetched chart rendered no HPAs (%d objects)", len(plan.Objects))
			}
		})
	}

	_, err := Prepare(Options{Chart: "gpu-autoscaling", Source: ChartSource{RepoURL: url, Version: "9.9.9"}})
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "version 9.9.9") || !strings.Contains(err.Error(), url) {
		t.Fatalf("a version the repository lacks: %v; want an invalid-input error naming the version and the repository", err)
	}
}

// TestPrepareFromAnOCIRegistry pushes the packaged chart to an OCI registry
// on loopback (go-containerregistry's in-memory registry) with helm's
// registry client, as `helm push` does, and prepares a release from the
// oci:// reference and version.
func TestPrepareFromAnOCIRegistry(t *testing.T) {
	isolatedHelm(t)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")

	archive, err := chartutil.Save(umbrellaAt(t, "0.3.0"), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(archive)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := registry.NewClient(registry.ClientOptPlainHTTP())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rc.Push(data, host+"/charts/gpu-autoscaling:0.3.0"); err != nil {
		t.Fatalf("push the chart: %v", err)
	}

	ref := "oci://" + host + "/charts/gpu-autoscaling"
	plan, err := Prepare(Options{Chart: ref, Source: ChartSource{Version: "0.3.0", PlainHTTP: true}})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Chart.Metadata.Version != "0.3.0" || len(plan.Objects) == 0 {
		t.Fatalf("prepared %s %s with %d objects", plan.Chart.Name(), plan.Chart.Metadata.Version, len(plan.Objects))
	}
	_, err = Prepare(Options{Chart: ref, Source: ChartSource{Version: "0.4.0", PlainHTTP: true}})
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "0.4.0") {
		t.Fatalf("a tag the registry lacks: %v; want an invalid-input error naming it", err)
	}
}

func TestChartVersionForALocalChartIsRefused(t *testing.T) {
	_, err := Prepare(Options{Chart: testChart, Source: ChartSource{Version: "0.1.0"}})
	if !errors.Is(err, ErrInvalidInput) || !strings.Contains(err.Error(), "--chart-version 0.1.0") {
		t.Fatalf("--chart-version with a local chart: %v; want it refused", err)
	}
}
