package behavior

import (
	"strings"
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func ptr[T any](v T) *T { return &v }

// The seed's production behavior: up 300 s window, max(+100 %, +2 pods) per
// 60 s; down 600 s window, −50 % per 60 s.
func seed() *autoscalingv2.HorizontalPodAutoscalerBehavior {
	return &autoscalingv2.HorizontalPodAutoscalerBehavior{
		ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr[int32](300), Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60},
			{Type: autoscalingv2.PodsScalingPolicy, Value: 2, PeriodSeconds: 60}}},
		ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr[int32](600), Policies: []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PercentScalingPolicy, Value: 50, PeriodSeconds: 60}}},
	}
}

func timeline(t0 time.Time, steps ...any) []Point {
	var h []Point
	for i := 0; i < len(steps); i += 2 {
		h = append(h, Point{At: t0.Add(steps[i].(time.Duration)), Replicas: int32(steps[i+1].(int))})
	}
	return h
}

func TestPolicyViolations(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	tests := []struct {
		name string
		h    []Point
		want string // "" no violation
	}{
		{"doubling once a period", timeline(t0, 0*s, 2, 300*s, 4, 360*s, 8, 420*s, 10), ""},
		{"+2 pods beats +100 % from 1", timeline(t0, 0*s, 1, 60*s, 3), ""},
		{"two steps inside one period count together", timeline(t0, 0*s, 2, 300*s, 4, 330*s, 6), "2 → 6 within 1m0s"},
		{"tripling", timeline(t0, 0*s, 2, 300*s, 6), "allow at most 4"},
		{"halving once a period", timeline(t0, 0*s, 10, 600*s, 5, 660*s, 3, 720*s, 2), ""},
		{"more than half at once", timeline(t0, 0*s, 10, 600*s, 4), "allow at least 5"},
		{"halving twice inside a period", timeline(t0, 0*s, 8, 600*s, 4, 630*s, 2), "8 → 2"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := strings.Join(PolicyViolations(tc.h, seed(), 2*time.Second), "; ")
			if tc.want == "" && got != "" || tc.want != "" && !strings.Contains(got, tc.want) {
				t.Errorf("violations %q, want %q", got, tc.want)
			}
		})
	}
	disabled := seed()
	disabled.ScaleDown.SelectPolicy = ptr(autoscalingv2.DisabledPolicySelect)
	if got := PolicyViolations(timeline(t0, 0*s, 4, 60*s, 3), disabled, 0); len(got) != 1 {
		t.Errorf("scale-down while Disabled: %v, want one violation", got)
	}
	minUp := seed()
	minUp.ScaleUp.SelectPolicy = ptr(autoscalingv2.MinChangePolicySelect)
	// Min takes the smaller change: min(4 · 2, 4 + 2) = 6.
	if got := PolicyViolations(timeline(t0, 0*s, 4, 60*s, 8), minUp, 0); len(got) != 1 || !strings.Contains(got[0], "at most 6") {
		t.Errorf("selectPolicy Min: %v, want 4 → 8 refused (at most 6)", got)
	}
}

func TestEarlyMoves(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	rise, fall := t0.Add(30*s), t0.Add(900*s)
	good := timeline(t0, 0*s, 2, 331*s, 4, 391*s, 5, 1501*s, 3, 1561*s, 2)
	if got := EarlyMoves(good, seed(), rise, fall); len(got) != 0 {
		t.Errorf("on time: %v", got)
	}
	early := timeline(t0, 0*s, 2, 100*s, 4, 1000*s, 2)
	got := EarlyMoves(early, seed(), rise, fall)
	if len(got) != 2 || !strings.Contains(got[0], "inside the 5m0s") || !strings.Contains(got[1], "inside the 10m0s") {
		t.Errorf("early: %v, want both directions inside their windows", got)
	}
	if up, down := Windows(nil); up != 0 || down != 300*s {
		t.Errorf("default windows %s %s, want 0 and 5m", up, down)
	}
}
