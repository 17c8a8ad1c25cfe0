package demo

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/medical-kg/gpu-autoscaling/internal/behavior"
)

// Verdict says whether one service scaled up and back down as its load implied.
type Verdict struct {
	Service string
	// PeakExpected is the most replicas the load implied; EndExpected what
	// the final load implies (the HPA's minimum in a well-formed scenario).
	PeakExpected, EndExpected int
	// PeakReplicas is the most replicas the Deployment was set to.
	PeakReplicas int
	// UpAt is when the service first ran PeakExpected pods (spec and
	// Running); UpIn is that time measured from the load's rise. -1: never.
	UpAt, UpIn time.Duration
	// DownAt is when it last came back to EndExpected and stayed there;
	// DownIn is measured from the load's fall. -1: it did not.
	DownAt, DownIn time.Duration
	EndReplicas    int
	OK             bool
	// Reason explains a failure (empty when OK).
	Reason string
}

// Judge decides a service's verdict from its samples. rise and fall are
// when the load started rising and falling (see RiseAndFall); they only
// shape the reported durations.
//
// The rules: the Deployment must reach exactly the peak the load implied
// (fewer is a failed scale-up, more an overshoot), with that many pods
// Running, and the last sample must run exactly what the final load implies.
// Where the target carries the HPA's behavior, every replica change must
// also stay within its policies and no move may come inside its
// stabilization window after the load's rise or fall (internal/behavior).
func Judge(s Series, rise, fall time.Duration) Verdict {
	v := Verdict{Service: s.Load.Service, UpAt: -1, UpIn: -1, DownAt: -1, DownIn: -1}
	if len(s.Samples) == 0 {
		v.Reason = "no samples were recorded"
		return v
	}
	for _, x := range s.Samples {
		v.PeakExpected = max(v.PeakExpected, x.Expected)
		v.PeakReplicas = max(v.PeakReplicas, x.Replicas)
	}
	last := s.Samples[len(s.Samples)-1]
	v.EndExpected, v.EndReplicas = last.Expected, last.Replicas
	if v.PeakExpected <= v.EndExpected {
		v.Reason = fmt.Sprintf("the load never implied more than %d replicas: the scenario shows no scaling", v.EndExpected)
		return v
	}
	peakIdx := -1
	for i, x := range s.Samples {
		if x.Replicas == v.PeakExpected && x.Ready >= v.PeakExpected {
			peakIdx = i
			v.UpAt = x.At
			break
		}
	}
	if peakIdx >= 0 {
		// The last run of samples at the end count, after the peak.
		down := -1
		for i := len(s.Samples) - 1; i > peakIdx; i-- {
			x := s.Samples[i]
			if x.Replicas != v.EndExpected || x.Ready != v.EndExpected {
				break
			}
			down = i
		}
		if down >= 0 {
			v.DownAt = s.Samples[down].At
		}
	}
	if rise >= 0 && v.UpAt >= 0 {
		v.UpIn = v.UpAt - rise
	}
	if fall >= 0 && v.DownAt >= 0 {
		v.DownIn = v.DownAt - fall
	}
	switch {
	case v.PeakReplicas > v.PeakExpected:
		v.Reason = fmt.Sprintf("overshot: scaled to %d replicas, the load implied at most %d", v.PeakReplicas, v.PeakExpected)
	case peakIdx < 0:
		v.Reason = fmt.Sprintf("did not scale up: reached %d replicas, the load implied %d", v.PeakReplicas, v.PeakExpected)
	case v.DownAt < 0:
		v.Reason = fmt.Sprintf("did not scale back down: %d replicas (%d running) at the end, the load implied %d",
			last.Replicas, last.Ready, v.EndExpected)
	default:
		v.OK = true
	}
	if problems := behaviorProblems(s, rise, fall); v.OK && len(problems) > 0 {
		v.OK = false
		v.Reason = "broke its behavior: " + strings.Join(problems, "; ")
	}
	return v
}

// behaviorProblems checks the series' replica timeline against the HPA's
// behavior; the samples are one a second, so a change is seen at most a
// second late (2 s of slack).
func behaviorProblems(s Series, rise, fall time.Duration) []string {
	b := s.Target.Behavior
	if b == nil {
		return nil
	}
	epoch := time.Unix(0, 0)
	var points []behavior.Point
	for _, x := range s.Samples {
		if n := len(points); n == 0 || points[n-1].Replicas != int32(x.Replicas) {
			points = append(points, behavior.Point{At: epoch.Add(x.At), Replicas: int32(x.Replicas)})
		}
	}
	var riseAt, fallAt time.Time
	if rise >= 0 {
		riseAt = epoch.Add(rise)
	}
	if fall >= 0 {
		fallAt = epoch.Add(fall)
	}
	return append(behavior.PolicyViolations(points, b, 2*time.Second), behavior.EarlyMoves(points, b, riseAt, fallAt, s.Target.HPASyncPeriod)...)
}

// JudgeAll judges every series of a record.
func JudgeAll(r Record) []Verdict {
	rise, fall := RiseAndFall(r.Phases)
	out := make([]Verdict, 0, len(r.Series))
	for _, s := range r.Series {
		out = append(out, Judge(s, rise, fall))
	}
	return out
}

// AllOK reports whether every verdict passed (and there is at least one).
func AllOK(vs []Verdict) bool {
	if len(vs) == 0 {
		return false
	}
	for _, v := range vs {
		if !v.OK {
			return false
		}
	}
	return true
}

// RenderSummary writes the summary table: per service the metric and target
// it scaled on, its bounds, the peak load, the replicas it implied and
// reached, how long the way up and down took, and the verdict.
func RenderSummary(w io.Writer, r Record, vs []Verdict) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSCALES ON\tTARGET/POD\tMIN-MAX\tPEAK LOAD\tEXPECTED\tREACHED\tUP IN\tDOWN IN\tRESULT")
	for i, v := range vs {
		s := r.Series[i]
		result := "PASS"
		if !v.OK {
			result = "FAIL: " + v.Reason
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%d-%d\t%s\t%d→%d→%d\t%d→%d→%d\t%s\t%s\t%s\n",
			v.Service, s.Target.Driver, formatTarget(s.Target), s.Target.Min, s.Target.Max,
			formatDemand(s.Target, s.Target.Total(s.Load.Peak)),
			s.Target.Expected(s.Load.Base), v.PeakExpected, v.EndExpected,
			firstReplicas(s), v.PeakReplicas, v.EndReplicas,
			formatDur(v.UpIn), formatDur(v.DownIn), result)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("render summary: %w", err)
	}
	if len(r.TimedOut) > 0 {
		fmt.Fprintf(w, "phases that timed out waiting for the replicas the load implied: %s\n", strings.Join(r.TimedOut, ", "))
	}
	return nil
}

func firstReplicas(s Series) int {
	if len(s.Samples) == 0 {
		return 0
	}
	return s.Samples[0].Replicas
}

func formatDur(d time.Duration) string {
	if d < 0 {
		return "-"
	}
	return d.Round(time.Second).String()
}

// formatTarget shows the per-pod target as the HPA states it.
func formatTarget(t Target) string {
	switch t.Driver {
	case GPUMemory:
		return fmt.Sprintf("%.0f MB", t.HPATarget)
	case CPU:
		return fmt.Sprintf("%.0f%% cpu (%.0fm)", t.HPATarget, t.PerPod)
	default:
		return fmt.Sprintf("%.0f%%", t.HPATarget)
	}
}

// formatDemand shows a total demand compactly: GPU percent (400% = four
// busy GPUs), GB of GPU memory, or cpu cores.
func formatDemand(t Target, total float64) string {
	switch t.Driver {
	case GPUMemory:
		return fmt.Sprintf("%.1fG", total/1024)
	case CPU:
		return fmt.Sprintf("%.2fc", total/1000)
	default:
		return fmt.Sprintf("%.0f%%", total)
	}
}
