package demo

import (
	"math"
	"strings"
	"testing"
	"time"
)

func TestDefaultScenarioIsValid(t *testing.T) {
	sc := DefaultScenario()
	if err := sc.Validate(); err != nil {
		t.Fatalf("default scenario: %v", err)
	}
	want := map[string]Driver{
		"embedding-service": GPUUtilization, "reranking-service": GPUUtilization,
		"docling-vlm-service": GPUMemory, "gpu-management-service": CPU,
	}
	for _, l := range sc.Services {
		if want[l.Service] != l.Driver {
			t.Errorf("%s is driven by %q, want %q", l.Service, l.Driver, want[l.Service])
		}
		delete(want, l.Service)
	}
	if len(want) != 0 {
		t.Errorf("services missing from the scenario: %v", want)
	}
	// The warm run must fit in 5 minutes with room for setup (~1 min) and
	// teardown: the fixed part of the timeline stays well under that.
	if d := sc.MinDuration(); d > 2*time.Minute {
		t.Errorf("fixed part of the timeline is %s; keep it under 2m so the warm demo stays within 5 minutes", d)
	}
	if sc.MaxDuration() <= sc.MinDuration() {
		t.Errorf("MaxDuration %s <= MinDuration %s: the settle phases have no room", sc.MaxDuration(), sc.MinDuration())
	}
}

func TestValidateRejects(t *testing.T) {
	base := DefaultScenario
	tests := []struct {
		name   string
		mutate func(*Scenario)
		want   string
	}{
		{"no services", func(s *Scenario) { s.Services = nil }, "no services"},
		{"duplicate service", func(s *Scenario) { s.Services = append(s.Services, s.Services[0]) }, "appears twice"},
		{"peak below base", func(s *Scenario) { s.Services[0].Peak = 0.2 }, "want 0 <= base < peak"},
		{"unknown driver", func(s *Scenario) { s.Services[1].Driver = "requests" }, `driver "requests"`},
		{"no phases", func(s *Scenario) { s.Phases = nil }, "no phases"},
		{"level out of range", func(s *Scenario) { s.Phases[1].To = 1.5 }, "want 0 (base) .. 1 (peak)"},
		{"settle limit below its duration", func(s *Scenario) { s.Phases[2].MaxSettle = time.Second }, "max settle"},
		{"never falls back", func(s *Scenario) { s.Phases = s.Phases[:3] }, "rise to the peak, fall back"},
		{"never rises", func(s *Scenario) { s.Phases = s.Phases[:1] }, "rise to the peak, fall back"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sc := base()
			tc.mutate(&sc)
			err := sc.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}

func TestScaled(t *testing.T) {
	sc := DefaultScenario()
	fast, err := sc.Scaled(2)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range fast.Phases {
		if p.Duration != sc.Phases[i].Duration/2 {
			t.Errorf("phase %s: duration %s, want %s", p.Name, p.Duration, sc.Phases[i].Duration/2)
		}
		if p.MaxSettle != sc.Phases[i].MaxSettle {
			t.Errorf("phase %s: max settle %s changed; it is a timeout and must not scale", p.Name, p.MaxSettle)
		}
	}
	if sc.Phases[1].Duration != 40*time.Second {
		t.Errorf("Scaled changed the original scenario")
	}
	for _, bad := range []float64{0, -1, math.NaN(), math.Inf(1)} {
		if _, err := sc.Scaled(bad); err == nil {
			t.Errorf("Scaled(%v) accepted", bad)
		}
	}
}

func fixedScenario() Scenario {
	return Scenario{
		Services: []ServiceLoad{{Service: "a", Short: "a", Driver: GPUUtilization, Base: 0.5, Peak: 4.5}},
		Phases: []Phase{
			{Name: "baseline", To: 0, Duration: 10 * time.Second},
			{Name: "ramp-up", To: 1, Duration: 40 * time.Second},
			{Name: "hold", To: 1, Duration: 10 * time.Second},
			{Name: "ramp-down", To: 0, Duration: 20 * time.Second},
		},
	}
}

func TestPlayerFixedPhases(t *testing.T) {
	p := NewPlayer(fixedScenario())
	steps := []struct {
		at    time.Duration
		phase string
		level float64
		done  bool
	}{
		{0, "baseline", 0, false},
		{9 * time.Second, "baseline", 0, false},
		{10 * time.Second, "ramp-up", 0, false},
		{30 * time.Second, "ramp-up", 0.5, false},
		{50 * time.Second, "hold", 1, false},
		{65 * time.Second, "ramp-down", 0.75, false},
		{80 * time.Second, "ramp-down", 0, true},
		{90 * time.Second, "ramp-down", 0, true},
	}
	for _, st := range steps {
		pos := p.Step(st.at, false)
		if pos.Phase != st.phase || math.Abs(pos.Level-st.level) > 1e-9 || pos.Done != st.done {
			t.Errorf("Step(%s) = %+v, want phase %s level %v done %v", st.at, pos, st.phase, st.level, st.done)
		}
	}
	var starts []string
	for _, m := range p.Marks() {
		starts = append(starts, m.Name+"@"+m.Start.String())
	}
	if got, want := strings.Join(starts, " "), "baseline@0s ramp-up@10s hold@50s ramp-down@1m0s"; got != want {
		t.Errorf("marks %s, want %s", got, want)
	}
	rise, fall := RiseAndFall(p.Marks())
	if rise != 10*time.Second || fall != time.Minute {
		t.Errorf("RiseAndFall = %s, %s; want 10s, 1m0s", rise, fall)
	}
	if len(p.TimedOut()) != 0 {
		t.Errorf("fixed phases cannot time out: %v", p.TimedOut())
	}
}

func TestPlayerSkipsWholePhasesInOneStep(t *testing.T) {
	// A caller that stalls (a slow API call) must not leave a phase behind.
	p := NewPlayer(fixedScenario())
	pos := p.Step(65*time.Second, false)
	if pos.Phase != "ramp-down" || math.Abs(pos.Level-0.75) > 1e-9 {
		t.Fatalf("Step(65s) = %+v, want ramp-down at 0.75", pos)
	}
	if n := len(p.Marks()); n != 4 {
		t.Errorf("got %d marks, want 4 (every phase passed)", n)
	}
}

func settleScenario() Scenario {
	return Scenario{
		Services: []ServiceLoad{{Service: "a", Driver: GPUUtilization, Base: 0.5, Peak: 4.5}},
		Phases: []Phase{
			{Name: "ramp-up", To: 1, Duration: 10 * time.Second},
			{Name: "peak", To: 1, Duration: 10 * time.Second, Settle: true, MaxSettle: 60 * time.Second},
			{Name: "ramp-down", To: 0, Duration: 10 * time.Second},
		},
	}
}

func TestPlayerSettleWaitsForConvergence(t *testing.T) {
	p := NewPlayer(settleScenario())
	for _, st := range []struct {
		at        time.Duration
		converged bool
		phase     string
	}{
		{10 * time.Second, true, "peak"},  // converged, but the minimum hold is not over
		{15 * time.Second, true, "peak"},  // still inside the minimum hold
		{25 * time.Second, false, "peak"}, // hold over, not converged: keep waiting
		{40 * time.Second, false, "peak"}, // …
		{45 * time.Second, true, "ramp-down"},
	} {
		if pos := p.Step(st.at, st.converged); pos.Phase != st.phase {
			t.Fatalf("Step(%s, converged=%v) in phase %s, want %s", st.at, st.converged, pos.Phase, st.phase)
		}
	}
	marks := p.Marks()
	if last := marks[len(marks)-1]; last.Name != "ramp-down" || last.Start != 45*time.Second {
		t.Errorf("ramp-down began at %s, want 45s (when the peak converged)", last.Start)
	}
	// The ramp-down starts from the moment the settle phase ended.
	if pos := p.Step(50*time.Second, true); math.Abs(pos.Level-0.5) > 1e-9 {
		t.Errorf("5s into a 10s ramp-down the level is %v, want 0.5", pos.Level)
	}
	if len(p.TimedOut()) != 0 {
		t.Errorf("TimedOut = %v, want none", p.TimedOut())
	}
}

func TestPlayerSettleGivesUp(t *testing.T) {
	p := NewPlayer(settleScenario())
	p.Step(10*time.Second, false)
	if pos := p.Step(69*time.Second, false); pos.Phase != "peak" {
		t.Fatalf("gave up before MaxSettle: %+v", pos)
	}
	if pos := p.Step(70*time.Second, false); pos.Phase != "ramp-down" {
		t.Fatalf("at 10s+MaxSettle still in %s, want ramp-down", pos.Phase)
	}
	if got := p.TimedOut(); len(got) != 1 || got[0] != "peak" {
		t.Errorf("TimedOut = %v, want [peak]", got)
	}
}

func TestPlayerDefaultScenarioDuration(t *testing.T) {
	// Drive the default timeline with a cluster that converges 25 s after
	// the load stops moving: it must finish in MinDuration plus the waits.
	sc := DefaultScenario()
	p := NewPlayer(sc)
	var settledSince time.Duration = -1
	lastLevel := -1.0
	at := time.Duration(0)
	for ; at < sc.MaxDuration()+time.Minute; at += time.Second {
		converged := settledSince >= 0 && at-settledSince >= 25*time.Second
		pos := p.Step(at, converged)
		if pos.Done {
			break
		}
		if pos.Level != lastLevel {
			settledSince, lastLevel = at, pos.Level
		}
	}
	// Both settle phases wait until 25 s after the level stopped moving:
	// the peak (15 s minimum) 10 s longer, the cool-down (10 s) 15 s longer.
	want := sc.MinDuration() + 10*time.Second + 15*time.Second
	if at < want || at > want+2*time.Second {
		t.Errorf("default timeline took %s with a 25s-lagging cluster, want about %s", at, want)
	}
	if len(p.TimedOut()) != 0 {
		t.Errorf("TimedOut = %v", p.TimedOut())
	}
}

func TestRiseAndFallWithoutPhases(t *testing.T) {
	if r, f := RiseAndFall(nil); r != -1 || f != -1 {
		t.Errorf("RiseAndFall(nil) = %s, %s; want -1, -1", r, f)
	}
}
