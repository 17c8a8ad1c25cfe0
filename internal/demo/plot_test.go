package demo

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// simulatedRecord plays the default scenario against a crude HPA: every
// service moves one replica towards what its load implies every 8 s.
func simulatedRecord(t *testing.T, services int) Record {
	t.Helper()
	sc := DefaultScenario()
	sc.Services = sc.Services[:services]
	p := NewPlayer(sc)
	rec := Record{}
	replicas := make([]int, services)
	for i, l := range sc.Services {
		tg := Target{Service: l.Service, Driver: l.Driver, PerPod: 80, HPATarget: 80, Min: 2, Max: 10}
		rec.Series = append(rec.Series, Series{Load: l, Target: tg})
		replicas[i] = tg.Min
	}
	converged := false
	for at := time.Duration(0); at < 20*time.Minute; at += time.Second {
		pos := p.Step(at, converged)
		if pos.Done {
			break
		}
		var latest []Sample
		for i, s := range rec.Series {
			load := s.Load.Load(pos.Level)
			want := s.Target.Expected(load)
			if at%(8*time.Second) == 0 && replicas[i] != want {
				replicas[i] += int(math.Copysign(1, float64(want-replicas[i])))
			}
			x := Sample{At: at, Phase: pos.Phase, Load: load, Expected: want, Current: 80 * load / float64(replicas[i]),
				Desired: want, Replicas: replicas[i], Ready: replicas[i]}
			rec.Series[i].Samples = append(rec.Series[i].Samples, x)
			latest = append(latest, x)
		}
		converged = Converged(latest)
	}
	rec.Phases, rec.TimedOut = p.Marks(), p.TimedOut()
	if len(rec.TimedOut) > 0 {
		t.Fatalf("simulated scenario timed out in %v", rec.TimedOut)
	}
	return rec
}

func TestSimulatedRecordPasses(t *testing.T) {
	// The crude HPA follows the load exactly: every verdict passes.
	rec := simulatedRecord(t, 4)
	for _, v := range JudgeAll(rec) {
		if !v.OK {
			t.Errorf("%s: %s", v.Service, v.Reason)
		}
	}
}

func TestWritePlotPNG(t *testing.T) {
	for _, tc := range []struct {
		services      int
		width, height int
	}{
		{4, 1200, 800},
		{3, 1200, 800},
		{1, 600, 400},
	} {
		rec := simulatedRecord(t, tc.services)
		if w, h := PlotSize(tc.services); w != tc.width || h != tc.height {
			t.Errorf("PlotSize(%d) = %d×%d, want %d×%d", tc.services, w, h, tc.width, tc.height)
		}
		var buf bytes.Buffer
		if err := WritePlot(&buf, rec); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(buf.Bytes(), []byte("\x89PNG\r\n\x1a\n")) {
			t.Fatalf("%d services: output does not start with the PNG signature", tc.services)
		}
		img, err := png.Decode(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("%d services: not a valid PNG: %v", tc.services, err)
		}
		if b := img.Bounds(); b.Dx() != tc.width || b.Dy() != tc.height {
			t.Errorf("%d services: image is %d×%d, want %d×%d", tc.services, b.Dx(), b.Dy(), tc.width, tc.height)
		}
		// Each panel draws its replicas line in its own colour.
		for i := 0; i < tc.services; i++ {
			if n := countColor(img, replicaColors[i]); n < 200 {
				t.Errorf("%d services: replicas colour of panel %d appears in %d pixels; the line is missing", tc.services, i, n)
			}
		}
		if n := countColor(img, replicaColors[tc.services%len(replicaColors)]); tc.services < len(replicaColors) && n > 0 {
			t.Errorf("%d services: colour of a panel that does not exist appears in %d pixels", tc.services, n)
		}
	}
}

func countColor(img image.Image, c color.Color) int {
	r0, g0, b0, _ := c.RGBA()
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bb, _ := img.At(x, y).RGBA()
			if r == r0 && g == g0 && bb == b0 {
				n++
			}
		}
	}
	return n
}

func TestWritePlotFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "scaling.png")
	if err := WritePlotFile(path, simulatedRecord(t, 2)); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil {
		t.Fatalf("%s is not a PNG: %v", path, err)
	}
	if cfg.Width != 1200 || cfg.Height != 400 {
		t.Errorf("two panels side by side: %d×%d, want 1200×400", cfg.Width, cfg.Height)
	}
}

func TestWritePlotWithoutSeries(t *testing.T) {
	if err := WritePlot(&bytes.Buffer{}, Record{}); err == nil {
		t.Error("an empty record was plotted; want an error")
	}
}

func TestIntegerTicks(t *testing.T) {
	ticks := integerTicks{}.Ticks(0, 6.6)
	if len(ticks) != 7 || ticks[0].Value != 0 || ticks[6].Value != 6 || ticks[3].Label != "3" {
		t.Errorf("Ticks(0, 6.6) = %+v, want 0..6 labelled", ticks)
	}
	if ticks := (integerTicks{}).Ticks(0, 40); len(ticks) > 11 {
		t.Errorf("Ticks(0, 40) gives %d ticks; want at most 11", len(ticks))
	}
}
