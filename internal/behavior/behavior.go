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

// upLimit is the most replicas the scale-up rules allow by the end of a
// period that started at low replicas; ok is false when scale-up is
// Disabled.
func upLimit(r *autoscalingv2.HPAScalingRules, low int32) (int32, bool) {
	if r == nil {
		// The controller's default scale-up: max(+4 pods, +100 %) per 15 s.
		return max(low+4, 2*low), true
	}
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return low, false
	}
	var best int32 = -1
	for _, p := range r.Policies {
		var lim int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			lim = low + p.Value
		case autoscalingv2.PercentScalingPolicy:
			lim = int32(math.Ceil(float64(low) * (1 + float64(p.Value)/100)))
		}
		if best < 0 || pickUp(r, lim, best) {
			best = lim
		}
	}
	return best, true
}

// downLimit is the fewest replicas the scale-down rules allow by the end of
// a period that started at high replicas; ok is false when scale-down is
// Disabled.
func downLimit(r *autoscalingv2.HPAScalingRules, high int32) (int32, bool) {
	if r == nil {
		return 0, true // the controller's default: −100 % per 15 s
	}
	if r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.DisabledPolicySelect {
		return high, false
	}
	var best int32 = -1
	for _, p := range r.Policies {
		var lim int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			lim = high - p.Value
		case autoscalingv2.PercentScalingPolicy:
			lim = high - int32(math.Ceil(float64(high)*float64(p.Value)/100))
		}
		lim = max(lim, 0)
		// Max (the default) picks the policy that allows the biggest change.
		if best < 0 || (minPolicy(r) && lim > best) || (!minPolicy(r) && lim < best) {
			best = lim
		}
	}
	return best, true
}

func minPolicy(r *autoscalingv2.HPAScalingRules) bool {
	return r.SelectPolicy != nil && *r.SelectPolicy == autoscalingv2.MinChangePolicySelect
}

func pickUp(r *autoscalingv2.HPAScalingRules, lim, best int32) bool {
	if minPolicy(r) {
		return lim < best
	}
	return lim > best
}

// period is the longest policy period of r (the controller's default 15 s
// without policies): the window whose start count bounds a change.
func period(r *autoscalingv2.HPAScalingRules) time.Duration {
	p := 15 * time.Second
	if r == nil {
		return p
	}
	longest := time.Duration(0)
	for _, pol := range r.Policies {
		longest = max(longest, time.Duration(pol.PeriodSeconds)*time.Second)
	}
	if longest > 0 {
		return longest
	}
	return p
}

// PolicyViolations checks every change of the timeline against b's scaling
// policies. The base of a change is the lowest (scale-up) or highest
// (scale-down) count seen in the policy period before it, so two steps
// inside one period count together, as the controller counts them. slack
// shortens the period to allow for the timeline's polling delay; it only
// ever makes the check more lenient than the controller.
func PolicyViolations(h []Point, b *autoscalingv2.HorizontalPodAutoscalerBehavior, slack time.Duration) []string {
	if len(h) < 2 {
		return nil
	}
	var up, down *autoscalingv2.HPAScalingRules
	if b != nil {
		up, down = b.ScaleUp, b.ScaleDown
	}
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
		switch {
		case s.Replicas > prev:
			per := period(up)
			low := extreme(h, at, s.At.Add(-per+slack), s.At, func(a, b int32) int32 { return min(a, b) })
			if lim, ok := upLimit(up, low); !ok || s.Replicas > lim {
				out = append(out, fmt.Sprintf("%d → %d within %s of %s: the scale-up policies allow at most %d", low, s.Replicas, per, s.At.Format(time.TimeOnly), lim))
			}
		case s.Replicas < prev:
			per := period(down)
			high := extreme(h, at, s.At.Add(-per+slack), s.At, func(a, b int32) int32 { return max(a, b) })
			if lim, ok := downLimit(down, high); !ok || s.Replicas < lim {
				out = append(out, fmt.Sprintf("%d → %d within %s of %s: the scale-down policies allow at least %d", high, s.Replicas, per, s.At.Format(time.TimeOnly), lim))
			}
		}
	}
	return out
}

// extreme is the count at from, or the most extreme (by better) seen after
// it and before to.
func extreme(h []Point, at func(time.Time) int32, from, to time.Time, better func(a, b int32) int32) int32 {
	v := at(from)
	for _, p := range h {
		if p.At.After(from) && p.At.Before(to) {
			v = better(v, p.Replicas)
		}
	}
	return v
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
// the controller recommends the lowest (up) or highest (down) count of the
// window, so the load's move cannot take effect earlier. A zero rise or fall
// skips that direction.
func EarlyMoves(h []Point, b *autoscalingv2.HorizontalPodAutoscalerBehavior, rise, fall time.Time) []string {
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
			if d := p.At.Sub(from); d < window {
				out = append(out, fmt.Sprintf("first %s %d → %d came %s after the load moved, inside the %s stabilization window", what, h[i].Replicas, p.Replicas, d.Round(time.Second), window))
			}
			return
		}
	}
	check(rise, upW, "scale-up", func(prev, cur int32) bool { return cur > prev })
	check(fall, downW, "scale-down", func(prev, cur int32) bool { return cur < prev })
	return out
}
