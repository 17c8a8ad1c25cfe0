package demo

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"time"
)

// Sample is one observation of a service during the scenario.
type Sample struct {
	// At is the time since the scenario started.
	At    time.Duration
	Phase string
	// Load is the service's load in pods' worth; Expected the replicas it implies.
	Load     float64
	Expected int
	// Current is the HPA's reported value of the driven metric (NaN: none yet).
	Current float64
	// Desired is the HPA's status.desiredReplicas, Replicas the Deployment's
	// spec.replicas, Ready its Running pods.
	Desired  int
	Replicas int
	Ready    int
}

// Series is one service's samples and what drives it.
type Series struct {
	Load    ServiceLoad
	Target  Target
	Samples []Sample
}

// Record is everything the scenario observed.
type Record struct {
	Started time.Time
	Phases  []PhaseMark
	Series  []Series
	// TimedOut lists settle phases that gave up waiting.
	TimedOut []string
}

// Converged reports whether the latest samples of every series run exactly
// the replicas their load implies (spec and Running pods alike).
func Converged(latest []Sample) bool {
	if len(latest) == 0 {
		return false
	}
	for _, s := range latest {
		if s.Replicas != s.Expected || s.Ready != s.Expected {
			return false
		}
	}
	return true
}

// WriteCSV writes the record as one row per sample, for spreadsheets.
func (r Record) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	header := []string{"seconds", "phase", "service", "metric", "load_pods_worth", "demand_total", "hpa_current", "hpa_target",
		"expected_replicas", "hpa_desired_replicas", "replicas", "running_pods"}
	if err := cw.Write(header); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	f := func(v float64) string {
		if math.IsNaN(v) {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, s := range r.Series {
		for _, x := range s.Samples {
			row := []string{f(math.Round(x.At.Seconds()*10) / 10), x.Phase, s.Load.Service, string(s.Target.Driver), f(x.Load),
				f(math.Round(s.Target.Total(x.Load)*100) / 100), f(x.Current), f(s.Target.HPATarget),
				strconv.Itoa(x.Expected), strconv.Itoa(x.Desired), strconv.Itoa(x.Replicas), strconv.Itoa(x.Ready)}
			if err := cw.Write(row); err != nil {
				return fmt.Errorf("write csv: %w", err)
			}
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}
