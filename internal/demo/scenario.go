// Package demo holds the pure parts of `make demo`: the load scenario and
// its timeline, the mapping from a service's load to the sandbox load model's
// demand through the HPA's own targets, the recording of what the cluster
// did, the up-and-down verdict, the live lines and summary table, and the
// plot. Nothing here talks to a cluster; scripts/cmd/demo does.
package demo

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Driver names the HPA metric a service's simulated load drives.
type Driver string

// The metrics the demo can drive (the chart's metric contract).
const (
	// GPUUtilization drives the Pods metric gpu_utilization_percent.
	GPUUtilization Driver = "gpu_utilization_percent"
	// GPUMemory drives the Pods metric gpu_memory_usage_mb.
	GPUMemory Driver = "gpu_memory_usage_mb"
	// CPU drives the Resource metric cpu (through metrics-server).
	CPU Driver = "cpu"
)

// ServiceLoad is one service's part in a scenario. Loads are in "pods'
// worth at the HPA target": a load of 3.5 is the work that keeps 3.5 pods
// exactly at the target, so the HPA should settle at ceil(3.5) = 4 replicas
// (clamped to its min/max). The demand itself is derived from the live HPA's
// target, never hard-coded.
type ServiceLoad struct {
	Service string
	// Short is the service's label in the live lines.
	Short  string
	Driver Driver
	// Base is the load before and after the scenario; Peak at its height.
	Base, Peak float64
}

// Phase is one stretch of the timeline. The load moves linearly from where
// the previous phase ended to To (0 = every service's Base, 1 = its Peak)
// over Duration; a Settle phase then holds To until every service runs the
// replicas its load implies, for at most MaxSettle in all.
type Phase struct {
	Name      string
	To        float64
	Duration  time.Duration
	Settle    bool
	MaxSettle time.Duration
}

// Scenario is the whole load scenario.
type Scenario struct {
	Services []ServiceLoad
	Phases   []Phase
}

// DefaultScenario is the demo's load: embedding and reranking GPU utilization
// ramp up, docling-vlm's GPU memory grows, the management service's CPU
// follows the traffic, then everything falls back. Each peak sits far enough
// above the replica count below it that the HPA's 10 % tolerance cannot stop
// it one pod short (see CheckTarget).
func DefaultScenario() Scenario {
	return Scenario{
		Services: []ServiceLoad{
			{Service: "embedding-service", Short: "embedding", Driver: GPUUtilization, Base: 0.5, Peak: 4.75},
			{Service: "reranking-service", Short: "reranking", Driver: GPUUtilization, Base: 0.5, Peak: 3.75},
			{Service: "docling-vlm-service", Short: "docling-vlm", Driver: GPUMemory, Base: 0.5, Peak: 3.75},
			{Service: "gpu-management-service", Short: "management", Driver: CPU, Base: 0.5, Peak: 2.5},
		},
		Phases: []Phase{
			{Name: "baseline", To: 0, Duration: 10 * time.Second},
			{Name: "ramp-up", To: 1, Duration: 40 * time.Second},
			{Name: "peak", To: 1, Duration: 15 * time.Second, Settle: true, MaxSettle: 150 * time.Second},
			{Name: "ramp-down", To: 0, Duration: 20 * time.Second},
			{Name: "cool-down", To: 0, Duration: 10 * time.Second, Settle: true, MaxSettle: 180 * time.Second},
			// The replicas must stay where the load put them.
			{Name: "settled", To: 0, Duration: 10 * time.Second},
		},
	}
}

// Scaled returns the scenario with every phase's Duration divided by speed
// (2 plays it twice as fast). Settle limits are timeouts and stay as they are.
func (s Scenario) Scaled(speed float64) (Scenario, error) {
	if speed <= 0 || math.IsNaN(speed) || math.IsInf(speed, 0) {
		return s, fmt.Errorf("scenario speed %v: want a positive number (1 = real time, 2 = twice as fast)", speed)
	}
	out := Scenario{Services: append([]ServiceLoad(nil), s.Services...)}
	for _, p := range s.Phases {
		p.Duration = time.Duration(float64(p.Duration) / speed)
		out.Phases = append(out.Phases, p)
	}
	return out, nil
}

// Validate checks the scenario's own consistency (not the cluster's targets).
func (s Scenario) Validate() error {
	var errs []error
	if len(s.Services) == 0 {
		errs = append(errs, errors.New("scenario has no services"))
	}
	seen := map[string]bool{}
	for _, l := range s.Services {
		switch {
		case l.Service == "":
			errs = append(errs, errors.New("scenario service without a name"))
		case seen[l.Service]:
			errs = append(errs, fmt.Errorf("service %s appears twice in the scenario", l.Service))
		}
		seen[l.Service] = true
		switch l.Driver {
		case GPUUtilization, GPUMemory, CPU:
		default:
			errs = append(errs, fmt.Errorf("service %s: driver %q: want %s, %s or %s", l.Service, l.Driver, GPUUtilization, GPUMemory, CPU))
		}
		if l.Base < 0 || l.Peak <= l.Base {
			errs = append(errs, fmt.Errorf("service %s: load base %v, peak %v: want 0 <= base < peak", l.Service, l.Base, l.Peak))
		}
	}
	if len(s.Phases) == 0 {
		errs = append(errs, errors.New("scenario has no phases"))
	}
	rose, fell := false, false
	level := 0.0
	for i, p := range s.Phases {
		if p.Name == "" {
			errs = append(errs, fmt.Errorf("phase %d has no name", i))
		}
		if p.To < 0 || p.To > 1 {
			errs = append(errs, fmt.Errorf("phase %s: To %v: want 0 (base) .. 1 (peak)", p.Name, p.To))
		}
		if p.Duration < 0 || (p.Settle && p.MaxSettle < p.Duration) {
			errs = append(errs, fmt.Errorf("phase %s: duration %s, max settle %s: want 0 <= duration <= max settle", p.Name, p.Duration, p.MaxSettle))
		}
		if p.To > level {
			rose = true
		}
		if p.To < level && rose {
			fell = true
		}
		level = p.To
	}
	if len(s.Phases) > 0 && (!rose || !fell || level != 0) {
		errs = append(errs, errors.New("scenario phases must rise to the peak, fall back, and end at the base load"))
	}
	return errors.Join(errs...)
}

// Load is a service's load at a level of the timeline (0 = base, 1 = peak).
func (l ServiceLoad) Load(level float64) float64 { return l.Base + level*(l.Peak-l.Base) }

// PhaseMark records when a phase began, relative to the scenario's start.
type PhaseMark struct {
	Name  string
	Start time.Duration
	// To is the phase's target level; Rising/Falling say how it moved.
	From, To float64
}

// Position is where the timeline stands.
type Position struct {
	Phase string
	// Level is 0 (base) .. 1 (peak).
	Level float64
	// Done is true once the last phase has ended.
	Done bool
}

// Player walks a scenario's timeline. It is driven by the caller's clock:
// Step is given the time since the scenario started and whether the cluster
// currently runs the replicas the load implies (Settle phases wait for it).
type Player struct {
	sc       Scenario
	idx      int
	start    time.Duration
	from     float64
	marks    []PhaseMark
	timedOut []string
}

// NewPlayer starts a timeline at its first phase; the level before it is 0.
func NewPlayer(sc Scenario) *Player {
	p := &Player{sc: sc}
	if len(sc.Phases) > 0 {
		p.marks = []PhaseMark{{Name: sc.Phases[0].Name, From: 0, To: sc.Phases[0].To}}
	}
	return p
}

// Step advances the timeline to elapsed and returns the position there.
// Elapsed must not go backwards.
func (p *Player) Step(elapsed time.Duration, converged bool) Position {
	for p.idx < len(p.sc.Phases) {
		ph := p.sc.Phases[p.idx]
		in := elapsed - p.start
		if in < ph.Duration || (ph.Settle && !converged && in < ph.MaxSettle) {
			level := ph.To
			if ph.Duration > 0 && in < ph.Duration {
				level = p.from + (ph.To-p.from)*float64(in)/float64(ph.Duration)
			}
			return Position{Phase: ph.Name, Level: level}
		}
		// The phase is over: a fixed phase at exactly its end, a settle phase
		// when it was seen converged (or gave up).
		end := p.start + ph.Duration
		if ph.Settle {
			end = max(end, elapsed)
			if !converged {
				p.timedOut = append(p.timedOut, ph.Name)
			}
		}
		p.idx++
		p.start, p.from = end, ph.To
		if p.idx < len(p.sc.Phases) {
			next := p.sc.Phases[p.idx]
			p.marks = append(p.marks, PhaseMark{Name: next.Name, Start: end, From: ph.To, To: next.To})
		}
	}
	last := 0.0
	name := ""
	if n := len(p.sc.Phases); n > 0 {
		last, name = p.sc.Phases[n-1].To, p.sc.Phases[n-1].Name
	}
	return Position{Phase: name, Level: last, Done: true}
}

// Marks are the phases begun so far with their start times.
func (p *Player) Marks() []PhaseMark { return append([]PhaseMark(nil), p.marks...) }

// TimedOut lists the settle phases that ended without the cluster converging.
func (p *Player) TimedOut() []string { return append([]string(nil), p.timedOut...) }

// RiseAndFall returns when the load began to rise and to fall (the starts
// of the first rising phase and of the first falling phase after it); -1
// when the marks hold no such phase yet.
func RiseAndFall(marks []PhaseMark) (rise, fall time.Duration) {
	rise, fall = -1, -1
	for _, m := range marks {
		if rise < 0 && m.To > m.From {
			rise = m.Start
		}
		if rise >= 0 && fall < 0 && m.To < m.From {
			fall = m.Start
		}
	}
	return rise, fall
}

// MinDuration is how long the timeline takes when every settle phase
// converges at once.
func (s Scenario) MinDuration() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		d += p.Duration
	}
	return d
}

// MaxDuration is how long it takes when every settle phase times out.
func (s Scenario) MaxDuration() time.Duration {
	var d time.Duration
	for _, p := range s.Phases {
		if p.Settle {
			d += p.MaxSettle
		} else {
			d += p.Duration
		}
	}
	return d
}
