package demo

import (
	"bytes"
	"encoding/csv"
	"math"
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// series builds a one-sample-per-second series from (expected, replicas,
// ready) triples.
func series(service string, points ...[3]int) Series {
	s := Series{Load: ServiceLoad{Service: service, Short: service, Driver: GPUUtilization, Base: 0.5, Peak: 4.75},
		Target: Target{Service: service, Driver: GPUUtilization, PerPod: 80, HPATarget: 80, Min: 2, Max: 10}}
	for i, p := range points {
		s.Samples = append(s.Samples, Sample{At: time.Duration(i) * time.Second, Load: float64(p[0]) - 0.25,
			Expected: p[0], Current: math.NaN(), Desired: p[1], Replicas: p[1], Ready: p[2]})
	}
	return s
}

func TestJudge(t *testing.T) {
	up := [][3]int{{2, 2, 2}, {3, 2, 2}, {5, 2, 2}, {5, 4, 3}, {5, 5, 4}, {5, 5, 5}, {2, 5, 5}, {2, 3, 3}}
	tests := []struct {
		name   string
		points [][3]int
		ok     bool
		reason string
		upAt   time.Duration
		downAt time.Duration
	}{
		{"up and back down", append(up, [3]int{2, 2, 2}, [3]int{2, 2, 2}), true, "", 5 * time.Second, 8 * time.Second},
		{"never reached the peak", [][3]int{{2, 2, 2}, {5, 4, 4}, {2, 2, 2}}, false, "did not scale up: reached 4 replicas, the load implied 5", -1, -1},
		{"peak set but pods never ran", [][3]int{{2, 2, 2}, {5, 5, 3}, {2, 2, 2}}, false, "did not scale up", -1, -1},
		{"overshoot", [][3]int{{2, 2, 2}, {5, 6, 6}, {2, 2, 2}}, false, "overshot: scaled to 6 replicas, the load implied at most 5", -1, -1},
		{"stuck high", append(up, [3]int{2, 3, 3}), false, "did not scale back down: 3 replicas (3 running) at the end, the load implied 2", 5 * time.Second, -1},
		{"pods still terminating at the end", append(up, [3]int{2, 2, 3}), false, "did not scale back down", 5 * time.Second, -1},
		{"went back up at the end", append(up, [3]int{2, 2, 2}, [3]int{2, 3, 3}), false, "did not scale back down", 5 * time.Second, -1},
		{"scenario without a rise", [][3]int{{2, 2, 2}, {2, 2, 2}}, false, "the load never implied more than 2 replicas", -1, -1},
		{"no samples", nil, false, "no samples", -1, -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := Judge(series("embedding-service", tc.points...), time.Second, 6*time.Second)
			if v.OK != tc.ok || !strings.Contains(v.Reason, tc.reason) {
				t.Fatalf("Judge = ok %v reason %q; want ok %v reason containing %q", v.OK, v.Reason, tc.ok, tc.reason)
			}
			if tc.ok && v.Reason != "" {
				t.Errorf("passing verdict carries a reason: %q", v.Reason)
			}
			if v.UpAt != tc.upAt || v.DownAt != tc.downAt {
				t.Errorf("up at %s, down at %s; want %s, %s", v.UpAt, v.DownAt, tc.upAt, tc.downAt)
			}
		})
	}
	v := Judge(series("e", append(up, [3]int{2, 2, 2})...), time.Second, 6*time.Second)
	if v.UpIn != 4*time.Second || v.DownIn != 2*time.Second || v.PeakExpected != 5 || v.EndExpected != 2 || v.PeakReplicas != 5 {
		t.Errorf("verdict %+v: want up in 4s, down in 2s, peak 5/5, end 2", v)
	}
	if v := Judge(series("e", append(up, [3]int{2, 2, 2})...), -1, -1); v.UpIn != -1 || v.DownIn != -1 || !v.OK {
		t.Errorf("without rise/fall marks: %+v; want durations -1 and still OK", v)
	}
}

func TestAllOKAndConverged(t *testing.T) {
	if AllOK(nil) {
		t.Error("AllOK(nil) = true; no verdicts is not a pass")
	}
	if !AllOK([]Verdict{{OK: true}, {OK: true}}) || AllOK([]Verdict{{OK: true}, {OK: false}}) {
		t.Error("AllOK disagrees with its verdicts")
	}
	if Converged(nil) {
		t.Error("Converged(nil) = true")
	}
	if !Converged([]Sample{{Expected: 3, Replicas: 3, Ready: 3}, {Expected: 2, Replicas: 2, Ready: 2}}) {
		t.Error("matching samples not converged")
	}
	for _, s := range []Sample{{Expected: 3, Replicas: 2, Ready: 2}, {Expected: 3, Replicas: 3, Ready: 2}, {Expected: 2, Replicas: 2, Ready: 3}} {
		if Converged([]Sample{s}) {
			t.Errorf("Converged(%+v) = true", s)
		}
	}
}

func TestRenderSummary(t *testing.T) {
	rec := Record{
		Phases: []PhaseMark{{Name: "baseline"}, {Name: "ramp-up", Start: time.Second, From: 0, To: 1}, {Name: "ramp-down", Start: 3 * time.Second, From: 1, To: 0}},
		Series: []Series{
			series("embedding-service", [3]int{2, 2, 2}, [3]int{5, 3, 3}, [3]int{5, 5, 5}, [3]int{2, 5, 5}, [3]int{2, 2, 2}),
			series("reranking-service", [3]int{2, 2, 2}, [3]int{4, 3, 3}, [3]int{2, 3, 3}),
		},
		TimedOut: []string{"cool-down"},
	}
	rec.Series[1].Load.Peak = 3.75
	vs := JudgeAll(rec)
	var buf bytes.Buffer
	if err := RenderSummary(&buf, rec, vs); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"SERVICE", "RESULT",
		"embedding-service", "gpu_utilization_percent", "80%", "2-10", "380%", "2→5→2", "PASS",
		"reranking-service", "300%", "2→4→2", "2→3→3", "FAIL: did not scale up: reached 3 replicas, the load implied 4",
		"phases that timed out waiting for the replicas the load implied: cool-down",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	// Up: 5 pods at 2s, the load rose at 1s; down: 2 pods at 4s, it fell at 3s.
	if vs[0].UpIn != time.Second || vs[0].DownIn != time.Second {
		t.Errorf("embedding up in %s, down in %s; want 1s, 1s", vs[0].UpIn, vs[0].DownIn)
	}
	if !strings.Contains(out, "1s") {
		t.Errorf("summary lacks the durations:\n%s", out)
	}
}

func TestLiveLine(t *testing.T) {
	emb := series("embedding-service", [3]int{5, 4, 3})
	emb.Load.Short = "embedding"
	emb.Samples[0].Current = 95
	emb.Samples[0].Desired = 5
	mem := Series{Load: ServiceLoad{Service: "docling-vlm-service", Short: "docling-vlm", Driver: GPUMemory},
		Target: Target{Driver: GPUMemory, PerPod: 30720, HPATarget: 30720, Min: 2, Max: 10}}
	cpu := Series{Load: ServiceLoad{Service: "gpu-management-service", Short: "management", Driver: CPU},
		Target: Target{Driver: CPU, PerPod: 700, HPATarget: 70, Min: 2, Max: 10}}
	latest := []Sample{
		emb.Samples[0],
		{Load: 3.75, Current: math.NaN(), Expected: 4, Replicas: 2, Ready: 2, Desired: 3},
		{Load: 2.75, Current: 64, Expected: 3, Replicas: 3, Ready: 3, Desired: 3},
	}
	line := LiveLine(83*time.Second, "ramp-up", []Series{emb, mem, cpu}, latest)
	for _, want := range []string{
		" 1:23 ramp-up",
		"│ embedding 380% 95/80% 4*→5 (5)",
		"│ docling-vlm 112.5G ?/30.0G 2→3 (4)",
		"│ management 1.93c 64/70% 3→3 (3)",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("live line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "\n") {
		t.Errorf("live line spans lines: %q", line)
	}
}

func TestWriteCSV(t *testing.T) {
	rec := Record{Series: []Series{series("embedding-service", [3]int{2, 2, 2}, [3]int{5, 3, 2})}}
	rec.Series[0].Samples[1].Current = 97.5
	var buf bytes.Buffer
	if err := rec.WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	if len(rows) != 3 {
		t.Fatalf("got %d rows, want header + 2", len(rows))
	}
	header := strings.Join(rows[0], ",")
	if !strings.HasPrefix(header, "seconds,phase,service,metric,load_pods_worth,demand_total,hpa_current") {
		t.Errorf("header %q", header)
	}
	if rows[1][6] != "" {
		t.Errorf("unknown HPA value written as %q, want empty", rows[1][6])
	}
	want := []string{"1", "", "embedding-service", "gpu_utilization_percent", "4.75", "380", "97.5", "80", "5", "3", "3", "2"}
	if strings.Join(rows[2], ",") != strings.Join(want, ",") {
		t.Errorf("row %v, want %v", rows[2], want)
	}
}

// With the HPA's behavior on the target, the verdict also holds the
// timeline to its policies and windows.
func TestJudgeChecksTheBehavior(t *testing.T) {
	window := func(s int32) *int32 { return &s }
	b := &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: window(2), Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 15}}},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: window(1), Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}},
	}
	// Load rises at 1 s, falls at 6 s; 2 → 5 at once breaks "+2 pods per 15 s".
	jumpy := series("e", [3]int{2, 2, 2}, [3]int{5, 2, 2}, [3]int{5, 2, 2}, [3]int{5, 2, 2}, [3]int{5, 5, 5}, [3]int{5, 5, 5},
		[3]int{2, 5, 5}, [3]int{2, 5, 5}, [3]int{2, 2, 2}, [3]int{2, 2, 2})
	jumpy.Target.Behavior = b
	if v := Judge(jumpy, time.Second, 6*time.Second); v.OK || !strings.Contains(v.Reason, "broke its behavior: 2 → 5") {
		t.Errorf("2 → 5 under +2 pods per 15 s: %+v", v)
	}
	// 2 → 4 one second after the rise: inside the 2 s window.
	early := series("e", [3]int{2, 2, 2}, [3]int{4, 2, 2}, [3]int{4, 4, 4}, [3]int{4, 4, 4}, [3]int{4, 4, 4}, [3]int{4, 4, 4},
		[3]int{2, 4, 4}, [3]int{2, 4, 4}, [3]int{2, 2, 2})
	early.Target.Behavior = b
	if v := Judge(early, time.Second, 6*time.Second); v.OK || !strings.Contains(v.Reason, "inside the 2s stabilization window") {
		t.Errorf("scale-up 1 s after the rise with a 2 s window: %+v", v)
	}
	early.Target.Behavior = nil
	if v := Judge(early, time.Second, 6*time.Second); !v.OK {
		t.Errorf("without a behavior the timeline is not checked: %+v", v)
	}
}
