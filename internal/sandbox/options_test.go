package sandbox

import (
	"strings"
	"testing"

	"github.com/medical-kg/gpu-autoscaling/internal/contract"
)

func TestNodeLabels(t *testing.T) {
	sb, err := New(Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got := sb.Options().NodeLabels; len(got) != 1 || got[contract.GPUPresentLabel] != "true" {
		t.Errorf("default node labels %v, want only %s=true", got, contract.GPUPresentLabel)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"gpu node": "x"}, `NodeLabels: key "gpu node"`},
		{map[string]string{contract.GKEAcceleratorLabel: "nvidia tesla"}, `NodeLabels: value "nvidia tesla" of cloud.google.com/gke-accelerator`},
	} {
		if _, err := New(Options{Dir: t.TempDir(), NodeLabels: tc.labels}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NodeLabels %v: %v, want an error containing %q", tc.labels, err, tc.want)
		}
	}
}
