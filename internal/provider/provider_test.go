package provider

import (
	"context"
	"errors"
	"os/exec"
	"reflect"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/strvals"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func TestProvidersSayWhyUnavailable(t *testing.T) {
	ctx := context.Background()
	err := Existing{}.Available(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "KUBECONFIG") {
		t.Errorf("existing provider without KUBECONFIG: got %v, want ErrUnavailable naming KUBECONFIG", err)
	}
	err = Existing{Kubeconfig: "/nonexistent/kubeconfig"}.Available(ctx)
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), EnvPrometheusURL) {
		t.Errorf("existing provider without a Prometheus: got %v, want ErrUnavailable naming %s", err, EnvPrometheusURL)
	}
	err = Existing{Kubeconfig: "/nonexistent/kubeconfig", PrometheusURL: "http://p:9090"}.Available(ctx)
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("existing provider with a missing file: got %v, want ErrUnavailable", err)
	}
	if exec.Command("docker", "info").Run() == nil {
		t.Log("docker info answers here: the kind provider is available, its unavailability is not checked")
	} else {
		err = Kind{ClusterName: "x"}.Available(ctx)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "docker") {
			t.Errorf("kind provider without a container engine: got %v, want ErrUnavailable naming docker", err)
		}
	}
}

func TestFromEnv(t *testing.T) {
	for name, want := range map[string]string{"": "sandbox", "sandbox": "sandbox", "existing": "existing", "kind": "kind"} {
		t.Setenv(EnvProvider, name)
		p, err := FromEnv(SandboxOptions{})
		if err != nil || p.Name() != want {
			t.Errorf("%s=%q: got %v, %v; want %s", EnvProvider, name, p, err, want)
		}
	}
	t.Setenv(EnvProvider, "minikube")
	if _, err := FromEnv(SandboxOptions{}); err == nil || !strings.Contains(err.Error(), "sandbox, existing or kind") {
		t.Errorf("unknown provider: got %v, want an error listing the choices", err)
	}
}

func TestValuesFromEnv(t *testing.T) {
	t.Setenv(EnvValues, "")
	t.Setenv(EnvWorkloadsValues, "")
	v := valuesFromEnv([]string{"values/dev.yaml"}, nil)
	if len(v.Files) != 1 || v.Files[0] != "values/dev.yaml" || len(v.WorkloadsFiles) != 0 {
		t.Errorf("defaults: %+v", v)
	}
	t.Setenv(EnvValues, " a.yaml, ,b.yaml ")
	t.Setenv(EnvWorkloadsValues, "w.yaml")
	v = valuesFromEnv([]string{"values/dev.yaml"}, nil)
	if strings.Join(v.Files, "|") != "a.yaml|b.yaml" || strings.Join(v.WorkloadsFiles, "|") != "w.yaml" {
		t.Errorf("from env: %+v", v)
	}
}

// A real node with only a cloud GPU label: the stand-ins' and the device plugin's nodeSelectors, as helm
// parses the --set values, select that label instead of the GPU Operator's.
func TestWorkloadsNodeSelectorFollowsTheNodeLabels(t *testing.T) {
	if got := workloadsNodeSelector(map[string]string{contract.GPUPresentLabel: "true"}); got != nil {
		t.Errorf("default labels: %v, want no override", got)
	}
	set := workloadsNodeSelector(map[string]string{contract.GKEAcceleratorLabel: "nvidia-tesla-a100"})
	values := map[string]any{}
	for k, v := range set {
		if err := strvals.ParseInto(k+"="+v, values); err != nil {
			t.Fatalf("--set %s=%s: %v", k, v, err)
		}
	}
	want := map[string]any{contract.GKEAcceleratorLabel: "nvidia-tesla-a100", contract.GPUPresentLabel: nil}
	if got := values["nodeSelector"]; !reflect.DeepEqual(got, want) {
		t.Errorf("nodeSelector = %#v, want %#v", got, want)
	}
	if got := values["devicePlugin"].(map[string]any)["nodeSelector"]; !reflect.DeepEqual(got, want) {
		t.Errorf("devicePlugin.nodeSelector = %#v, want %#v", got, want)
	}
}
