// Package behavior checks a replica timeline against an HPA's behavior, the
// way the HPA controller applies it: every change must stay within the
// scaling policies (per policy period, from the count the period started
// at), and no scale-up or scale-down may come before its stabilization
// window has passed since the load moved. The e2e suite and the demo's
// production profile check their timelines with it.
package behavior

import (
	"fmt"
	"math"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Point is the workload's replica count from At on.
type Point struct {
	At       time.Time
	Replicas int32
}

// Default rules of the HPA controller for a direction the behavior leaves
// without policies (the API server's defaults for autoscaling/v2).
var (
	defaultScaleUp = autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}
	defaultScaleDown = autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{
		{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}}
)

// rulesOr returns r, or the controller's default rules where r sets no
// policies.
func rulesOr(r *autoscalingv2.HPAScalingRules, def autoscalingv2.HPAScalingRules) autoscalingv2.HPAScalingRules {
	if r == nil {
		return def
	}
	out := *r
	if len(out.Policies) == 0 {
		out.Policies = def.Policies
	}
	return out
}

func selected(r autoscalingv2.HPAScalingRules) autoscalingv2.ScalingPolicySelect {
	if r.SelectPolicy == nil {
		return autoscalingv2.MaxChangePolicySelect
	}
	return *r.SelectPolicy
}

// limit is the furthest the rules let the count go by now, up or down, as
// the controller computes it: each policy from the count at the start of
// its own period (baseAt), combined by selectPolicy (Max: the biggest
// change). ok is false when the direction is Disabled.
func limit(r autoscalingv2.HPAScalingRules, up bool, baseAt func(period time.Duration) int32) (int32, bool) {
	sel := selected(r)
	if sel == autoscalingv2.DisabledPolicySelect {
		return 0, false
	}
	// Max for scale-up is the highest limit, for scale-down the lowest.
	wantHigh := up == (sel == autoscalingv2.MaxChangePolicySelect)
	var best int32
	for i, p := range r.Policies {
		base := baseAt(time.Duration(p.PeriodSeconds) * time.Second)
		var lim int32
		switch {
		case p.Type == autoscalingv2.PodsScalingPolicy && up:
			lim = base + p.Value
		case p.Type == autoscalingv2.PodsScalingPolicy:
			lim = base - p.Value
		case up:
			// Rounded up, as the controller does, so a small count can grow.
			lim = int32(math.Ceil(float64(base) * (1 + float64(p.Value)/100)))
		default:
			lim = int32(float64(base) * (1 - float64(p.Value)/100))
		}
		if i == 0 || (wantHigh && lim > best) || (!wantHigh && lim < best) {
			best = lim
		}
	}
	return best, true
}

// PolicyViolations checks every change of the timeline against b's scaling
// policies as the controller applies them: each policy limits the change
// from the count at the start of its own period, so two steps inside one
// period count together. slack shortens every period to allow for the
// timeline's polling delay.
func PolicyViolations(h []Point, b *autoscalingv2.HorizontalPodAutoscalerBehavior, slack time.Duration) []string {
	if len(h) < 2 {
		return nil
	}
	var upRules, downRules *autoscalingv2.HPAScalingRules
	if b != nil {
		upRules, downRules = b.ScaleUp, b.ScaleDown
	}
	up, down := rulesOr(upRules, defaultScaleUp), rulesOr(downRules, defaultScaleDown)
	at := func(ts time.Time) int32 {
		v := h[0].Replicas
		for _, s := range h {
			if s.At.After(ts) {
				break
			}
			v = s.Replicas
		}
		return v
	}
	var out []string
	for i, s := range h[1:] {
		prev := h[i].Replicas
		if s.Replicas == prev {
			continue
		}
		baseAt := func(period time.Duration) int32 { return at(s.At.Add(-max(period-slack, 0))) }
		when := s.At.Format(time.TimeOnly)
		if s.Replicas > prev {
			if lim, ok := limit(up, true, baseAt); !ok {
				out = append(out, fmt.Sprintf("%d → %d at %s: scale-up is Disabled", prev, s.Replicas, when))
			} else if s.Replicas > lim {
				out = append(out, fmt.Sprintf("%d → %d at %s: the scale-up policies allow at most %d", prev, s.Replicas, when, lim))
			}
			continue
		}
		if lim, ok := limit(down, false, baseAt); !ok {
			out = append(out, fmt.Sprintf("%d → %d at %s: scale-down is Disabled", prev, s.Replicas, when))
		} else if s.Replicas < lim {
			out = append(out, fmt.Sprintf("%d → %d at %s: the scale-down policies allow at least %d", prev, s.Replicas, when, lim))
		}
	}
	return out
}

// Windows returns the scale-up and scale-down stabilization windows of b
// (the controller's defaults, 0 and 300 s, where b sets none).
func Windows(b *autoscalingv2.HorizontalPodAutoscalerBehavior) (up, down time.Duration) {
	up, down = 0, 300*time.Second
	if b != nil && b.ScaleUp != nil && b.ScaleUp.StabilizationWindowSeconds != nil {
		up = time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
	}
	if b != nil && b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
		down = time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
	}
	return up, down
}

// EarlyMoves reports a first scale-up sooner than the scale-up window after
// rise, or a first scale-down after fall sooner than the scale-down window:
// the controller acts on the lowest (up) or highest (down) recommendation of
// the window, so the load's move cannot take effect earlier. Less one HPA
// sync period (sync): the last recommendation from before the move may be
// up to one sync old when the load moves, and the controller drops a
// recommendation exactly one window old. A zero rise or fall skips that
// direction.
func EarlyMoves(h []Point, b *autoscalingv2.HorizontalPodAutoscalerBehavior, rise, fall time.Time, sync time.Duration) []string {
	upW, downW := Windows(b)
	var out []string
	check := func(from time.Time, window time.Duration, what string, moved func(prev, cur int32) bool) {
		if from.IsZero() {
			return
		}
		for i, p := range h[1:] {
			if !p.At.After(from) || !moved(h[i].Replicas, p.Replicas) {
				continue
			}
			if d := p.At.Sub(from); d < window-sync {
				out = append(out, fmt.Sprintf("first %s %d → %d came %s after the load moved, inside the %s stabilization window", what, h[i].Replicas, p.Replicas, d.Round(time.Second), window))
			}
			return
		}
	}
	check(rise, upW, "scale-up", func(prev, cur int32) bool { return cur > prev })
	check(fall, downW, "scale-down", func(prev, cur int32) bool { return cur < prev })
	return out
}
