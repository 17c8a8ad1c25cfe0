package sandbox

import (
	"context"
	"errors"
	"os/exec"
	"strings"
	"testing"
)

func TestProvidersSayWhyUnavailable(t *testing.T) {
	ctx := context.Background()
	err := ExistingProvider{}.Available(ctx)
	if !errors.Is(err, ErrProviderUnavailable) || !strings.Contains(err.Error(), "KUBECONFIG") {
		t.Errorf("existing provider without KUBECONFIG: got %v, want ErrProviderUnavailable naming KUBECONFIG", err)
	}
	err = ExistingProvider{Kubeconfig: "/nonexistent/kubeconfig"}.Available(ctx)
	if !errors.Is(err, ErrProviderUnavailable) {
		t.Errorf("existing provider with a missing file: got %v, want ErrProviderUnavailable", err)
	}
	if exec.Command("docker", "info").Run() == nil {
		t.Log("docker info answers here: the kind provider is available, its unavailability is not checked")
	} else {
		err = KindProvider{ClusterName: "x"}.Available(ctx)
		if !errors.Is(err, ErrProviderUnavailable) || !strings.Contains(err.Error(), "docker") {
			t.Errorf("kind provider without a container engine: got %v, want ErrProviderUnavailable naming docker", err)
		}
	}
}

func TestProviderFromEnv(t *testing.T) {
	for name, want := range map[string]string{"": "sandbox", "sandbox": "sandbox", "existing": "existing", "kind": "kind"} {
		t.Setenv("GPU_AUTOSCALING_E2E_PROVIDER", name)
		p, err := ProviderFromEnv(Options{})
		if err != nil || p.Name() != want {
			t.Errorf("GPU_AUTOSCALING_E2E_PROVIDER=%q: got %v, %v; want %s", name, p, err, want)
		}
	}
	t.Setenv("GPU_AUTOSCALING_E2E_PROVIDER", "minikube")
	if _, err := ProviderFromEnv(Options{}); err == nil || !strings.Contains(err.Error(), "sandbox, existing or kind") {
		t.Errorf("unknown provider: got %v, want an error listing the choices", err)
	}
}
