package e2e

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/medical-kg/gpu-autoscaling/internal/loadmodel"
	"github.com/medical-kg/gpu-autoscaling/internal/provider"
)

// testLoadReachesExporter sets a GPU load on one service and reads the
// exporter's own /metrics (through the API server's pod proxy, so on any
// cluster) until the service's pods report it: the load model's ConfigMap
// write, the kubelet's sync of the mounted file and one collection.
func testLoadReachesExporter(t *testing.T) {
	cs := adminClient(t)
	ctx := context.Background()
	pods, err := runningPods(ctx, cs, svcReranking)
	if err != nil || len(pods) == 0 {
		t.Fatalf("%s pods: %d, %v", svcReranking, len(pods), err)
	}
	exporters, err := componentPods(ctx, cs, env.plane.Options().Release, "exporter")
	if err != nil || len(exporters) == 0 {
		t.Fatalf("exporter pods: %d, %v", len(exporters), err)
	}
	want := 37.0 // percent per pod
	env.plane.SetDemand(svcReranking, loadmodel.Demand{GPUUtilization: want * float64(len(pods))})
	defer env.plane.SetDemand(svcReranking, loadmodel.Demand{})
	start := time.Now()
	eventually(t, 60*time.Second, 200*time.Millisecond, "the exporter reports the new load", func(ctx context.Context) (bool, string) {
		got := map[string]float64{}
		for _, e := range exporters {
			raw, err := cs.CoreV1().Pods(e.Namespace).ProxyGet("https", e.Name, "9400", "/metrics", nil).DoRaw(ctx)
			if err != nil {
				return false, err.Error()
			}
			parser := expfmt.NewTextParser(model.UTF8Validation)
			families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
			if err != nil {
				return false, err.Error()
			}
			for _, m := range families["gpu_utilization_percent"].GetMetric() {
				labels := model.LabelSet{}
				for _, l := range m.GetLabel() {
					labels[model.LabelName(l.GetName())] = model.LabelValue(l.GetValue())
				}
				got[string(labels["pod"])] = m.GetGauge().GetValue()
			}
		}
		for _, p := range pods {
			if math.Abs(got[p.Name]-want) > 0.5 {
				return false, fmt.Sprintf("pod %s at %.1f %%, want %.0f %%", p.Name, got[p.Name], want)
			}
		}
		return true, ""
	})
	t.Logf("figure: load set → the exporter serves it %s (load loop ≤ 1 s + kubelet ConfigMap sync, syncFrequency 1 s + one %s collection)",
		time.Since(start).Round(100*time.Millisecond), exporterInterval)
}

// logMemory logs the sandbox's resident memory (processes and pods).
func logMemory(t *testing.T, when string) {
	c, ok := env.cluster.(provider.SandboxCluster)
	if !ok {
		return
	}
	st := c.SB.Status(context.Background())
	per := ""
	for _, p := range st.Processes {
		per += fmt.Sprintf(" %s %.0f,", p.Name, p.RSSMiB)
	}
	t.Logf("figure: sandbox memory %s: %.0f MiB RSS in all (MiB:%s pods on the node %.0f)", when, st.TotalRSSMiB(), per, st.PodsMemoryMiB)
}
