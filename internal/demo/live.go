package demo

import (
	"fmt"
	"math"
	"strings"
	"time"
)

// LiveLegend explains the cells of the live lines.
const LiveLegend = "each service: total demand · HPA metric per pod/target · replicas→HPA desired (replicas the load implies); * = pods not all running yet"

// LiveLine formats one line of the live view: the time since the scenario
// started, the phase, and a cell per service. latest holds one sample per
// series, in the same order.
func LiveLine(at time.Duration, phase string, series []Series, latest []Sample) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %-9s", clock(at), phase)
	for i, s := range series {
		if i >= len(latest) {
			break
		}
		x := latest[i]
		pending := ""
		if x.Ready < x.Replicas {
			pending = "*"
		}
		fmt.Fprintf(&b, " │ %s %s %s %d%s→%d (%d)", s.Load.Short, formatDemand(s.Target, s.Target.Total(x.Load)),
			formatCurrent(s.Target, x.Current), x.Replicas, pending, x.Desired, x.Expected)
	}
	return b.String()
}

// clock formats a duration as m:ss.
func clock(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int(d.Round(time.Second).Seconds())
	return fmt.Sprintf("%2d:%02d", s/60, s%60)
}

// formatCurrent shows the HPA's current value against its target.
func formatCurrent(t Target, current float64) string {
	cur := "?"
	switch t.Driver {
	case GPUMemory:
		if !math.IsNaN(current) {
			cur = fmt.Sprintf("%.1f", current/1024)
		}
		return fmt.Sprintf("%s/%.1fG", cur, t.HPATarget/1024)
	default:
		if !math.IsNaN(current) {
			cur = fmt.Sprintf("%.0f", current)
		}
		return fmt.Sprintf("%s/%.0f%%", cur, t.HPATarget)
	}
}
