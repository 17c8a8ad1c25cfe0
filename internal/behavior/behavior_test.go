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
		{"two steps inside one period count together", timeline(t0, 0*s, 2, 300*s, 4, 330*s, 6), "4 → 6 at 00:05:30: the scale-up policies allow at most 4"},
		{"tripling", timeline(t0, 0*s, 2, 300*s, 6), "allow at most 4"},
		{"halving once a period", timeline(t0, 0*s, 10, 600*s, 5, 660*s, 3, 720*s, 2), ""},
		{"more than half at once", timeline(t0, 0*s, 10, 600*s, 4), "allow at least 5"},
		{"halving twice inside a period", timeline(t0, 0*s, 8, 600*s, 4, 630*s, 2), "4 → 2 at 00:10:30: the scale-down policies allow at least 4"},
		// The base is the count at the period's start, not the lowest seen in it.
		{"down then up inside a period", timeline(t0, 0*s, 10, 600*s, 5, 630*s, 11), ""},
		{"up then down inside a period", timeline(t0, 0*s, 5, 300*s, 10, 330*s, 3), ""},
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
	if got := EarlyMoves(good, seed(), rise, fall, 15*s); len(got) != 0 {
		t.Errorf("on time: %v", got)
	}
	early := timeline(t0, 0*s, 2, 100*s, 4, 1000*s, 2)
	got := EarlyMoves(early, seed(), rise, fall, 15*s)
	if len(got) != 2 || !strings.Contains(got[0], "inside the 5m0s") || !strings.Contains(got[1], "inside the 10m0s") {
		t.Errorf("early: %v, want both directions inside their windows", got)
	}
	// One sync early is possible: the last low recommendation may be a sync old.
	if got := EarlyMoves(timeline(t0, 0*s, 2, 320*s, 4), seed(), rise, time.Time{}, 15*s); len(got) != 0 {
		t.Errorf("scale-up 290 s after the rise, window 300 s, sync 15 s: %v, want none", got)
	}
	if up, down := Windows(nil); up != 0 || down != 300*s {
		t.Errorf("default windows %s %s, want 0 and 5m", up, down)
	}
}

// Each policy counts from the start of its own period, and the rounding is
// the controller's.
func TestPolicyPeriodsAndRounding(t *testing.T) {
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := time.Second
	mixed := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 60}}}}
	if got := PolicyViolations(timeline(t0, 0*s, 2, 15*s, 6, 30*s, 10), mixed, 0); len(got) != 0 {
		t.Errorf("+4 pods per 15 s twice: %v, want allowed", got)
	}
	steep := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PercentScalingPolicy, Value: 80, PeriodSeconds: 60}}}}
	// The controller truncates 5 · (1 − 0.8) = 0.999… to 0.
	if got := PolicyViolations(timeline(t0, 0*s, 5, 60*s, 0), steep, 0); len(got) != 0 {
		t.Errorf("5 → 0 under −80 %%: %v, want allowed (the controller's rounding)", got)
	}
	// Rules without policies take the controller's defaults (up: max(+4, +100 %) per 15 s).
	windowOnly := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: ptr[int32](0)}}
	if got := PolicyViolations(timeline(t0, 0*s, 1, 15*s, 5), windowOnly, 0); len(got) != 0 {
		t.Errorf("1 → 5 with default policies: %v, want allowed", got)
	}
	if got := PolicyViolations(timeline(t0, 0*s, 1, 15*s, 6), windowOnly, 0); len(got) != 1 {
		t.Errorf("1 → 6 with default policies: %v, want one violation", got)
	}
}
