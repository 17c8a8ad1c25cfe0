package demo

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"math"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// Plot geometry: one panel per service, PlotColumns across, each panel
// PanelWidth × PanelHeight at PlotDPI.
const (
	PlotColumns = 2
	PanelWidth  = 6 * vg.Inch
	PanelHeight = 4 * vg.Inch
	PlotDPI     = 100
)

// PlotSize is the PNG's size in pixels for n series.
func PlotSize(n int) (width, height int) {
	cols, rows := plotGrid(n)
	return int(math.Round(float64(cols) * float64(PanelWidth/vg.Inch) * PlotDPI)),
		int(math.Round(float64(rows) * float64(PanelHeight/vg.Inch) * PlotDPI))
}

func plotGrid(n int) (cols, rows int) {
	cols = min(PlotColumns, max(1, n))
	rows = max(1, (n+cols-1)/cols)
	return cols, rows
}

var (
	loadColor     = color.RGBA{R: 0x99, G: 0x99, B: 0x99, A: 0xff}
	expectedColor = color.RGBA{R: 0x22, G: 0x22, B: 0x22, A: 0xff}
	phaseColor    = color.RGBA{R: 0xcc, G: 0xcc, B: 0xcc, A: 0xff}
	// replicaColors: one per panel (Okabe–Ito, readable for colour-blind eyes).
	replicaColors = []color.Color{
		color.RGBA{R: 0x00, G: 0x72, B: 0xb2, A: 0xff},
		color.RGBA{R: 0xd5, G: 0x5e, B: 0x00, A: 0xff},
		color.RGBA{R: 0x00, G: 0x9e, B: 0x73, A: 0xff},
		color.RGBA{R: 0xcc, G: 0x79, B: 0xa7, A: 0xff},
	}
)

// WritePlot renders the record as a PNG: per service, the load (in pods'
// worth at the HPA target, so it reads on the replicas axis), the replicas
// that load implies, and the replicas the HPA actually ran, over time, with
// the scenario's phases marked.
func WritePlot(w io.Writer, r Record) error {
	if len(r.Series) == 0 {
		return errors.New("plot: no series recorded")
	}
	cols, rows := plotGrid(len(r.Series))
	plots := make([][]*plot.Plot, rows)
	for i := range plots {
		plots[i] = make([]*plot.Plot, cols)
	}
	for i, s := range r.Series {
		p, err := servicePlot(s, r.Phases, replicaColors[i%len(replicaColors)])
		if err != nil {
			return fmt.Errorf("plot %s: %w", s.Load.Service, err)
		}
		plots[i/cols][i%cols] = p
	}
	img := vgimg.NewWith(vgimg.UseWH(vg.Length(cols)*PanelWidth, vg.Length(rows)*PanelHeight),
		vgimg.UseDPI(PlotDPI), vgimg.UseBackgroundColor(color.White))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 4,
		PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 3}
	canvases := plot.Align(plots, tiles, dc)
	for j := range plots {
		for i, p := range plots[j] {
			if p != nil {
				p.Draw(canvases[j][i])
			}
		}
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(w); err != nil {
		return fmt.Errorf("encode png: %w", err)
	}
	return nil
}

// WritePlotFile writes the PNG to path (its folder is created).
func WritePlotFile(path string, r Record) (err error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("close plot: %w", cerr)
		}
	}()
	return WritePlot(f, r)
}

// sampleXYs turns samples into the load, expected and replica lines, with
// the largest time and value seen.
func sampleXYs(samples []Sample) (load, expected, replicas plotter.XYs, xmax, ymax float64) {
	load = make(plotter.XYs, 0, len(samples))
	expected = make(plotter.XYs, 0, len(samples))
	replicas = make(plotter.XYs, 0, len(samples))
	for _, x := range samples {
		t := x.At.Seconds()
		load = append(load, plotter.XY{X: t, Y: x.Load})
		expected = append(expected, plotter.XY{X: t, Y: float64(x.Expected)})
		replicas = append(replicas, plotter.XY{X: t, Y: float64(x.Replicas)})
		ymax = math.Max(ymax, math.Max(x.Load, float64(max(x.Expected, x.Replicas))))
		xmax = math.Max(xmax, t)
	}
	return load, expected, replicas, xmax, ymax
}

func servicePlot(s Series, phases []PhaseMark, replicaColor color.Color) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s — %s, target %s per pod", s.Load.Service, s.Target.Driver, formatTarget(s.Target))
	p.Title.TextStyle.Font.Size = vg.Points(11)
	p.X.Label.Text = "seconds since the scenario started"
	p.Y.Label.Text = "replicas · load in pods' worth"
	grid := plotter.NewGrid()
	grid.Vertical.Color = nil // vertical lines mark the phases
	p.Add(grid)

	load, expected, replicas, xmax, ymax := sampleXYs(s.Samples)
	// Headroom above the data for the legend.
	ymax = math.Ceil(ymax) + 1.6
	p.Y.Min, p.Y.Max = 0, ymax
	p.Y.Tick.Marker = integerTicks{}
	p.X.Min, p.X.Max = 0, math.Max(xmax, 1)

	// Phase boundaries, labelled along the top.
	var labelXYs plotter.XYs
	var labels []string
	for _, m := range phases {
		x := m.Start.Seconds()
		if x > xmax && len(s.Samples) > 0 {
			continue
		}
		if m.Start > 0 {
			l, err := plotter.NewLine(plotter.XYs{{X: x, Y: 0}, {X: x, Y: ymax}})
			if err != nil {
				return nil, err
			}
			l.Color, l.Width, l.Dashes = phaseColor, vg.Points(1), []vg.Length{vg.Points(3), vg.Points(3)}
			p.Add(l)
		}
		labelXYs = append(labelXYs, plotter.XY{X: x, Y: 0.02 * ymax})
		labels = append(labels, " "+m.Name)
	}
	if len(s.Samples) > 0 {
		ll, err := plotter.NewLine(load)
		if err != nil {
			return nil, err
		}
		ll.Color, ll.Width = loadColor, vg.Points(1.5)
		ll.FillColor = color.RGBA{R: 0xee, G: 0xee, B: 0xee, A: 0xff}
		el, err := plotter.NewLine(expected)
		if err != nil {
			return nil, err
		}
		el.StepStyle = plotter.PostStep
		el.Color, el.Width, el.Dashes = expectedColor, vg.Points(1.2), []vg.Length{vg.Points(5), vg.Points(3)}
		rl, err := plotter.NewLine(replicas)
		if err != nil {
			return nil, err
		}
		rl.StepStyle = plotter.PostStep
		rl.Color, rl.Width = replicaColor, vg.Points(2.5)
		p.Add(ll, el, rl)
		p.Legend.Add(fmt.Sprintf("load (%s ÷ target)", s.Target.Driver), ll)
		p.Legend.Add("replicas the load implies", el)
		p.Legend.Add("replicas (HPA → Deployment)", rl)
	}
	if len(labels) > 0 {
		lb, err := plotter.NewLabels(plotter.XYLabels{XYs: labelXYs, Labels: labels})
		if err != nil {
			return nil, err
		}
		for i := range lb.TextStyle {
			lb.TextStyle[i].Font.Size = vg.Points(8)
			lb.TextStyle[i].Color = color.RGBA{R: 0x66, G: 0x66, B: 0x66, A: 0xff}
		}
		p.Add(lb)
	}

	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = vg.Points(4)
	p.Legend.YOffs = -vg.Points(14)
	p.Legend.TextStyle.Font.Size = vg.Points(8)
	p.Legend.ThumbnailWidth = vg.Points(18)
	p.Legend.Padding = vg.Points(2)
	return p, nil
}

// integerTicks marks whole numbers: replicas are counted in pods.
type integerTicks struct{}

// Ticks implements plot.Ticker.
func (integerTicks) Ticks(lo, hi float64) []plot.Tick {
	step := math.Max(1, math.Ceil((hi-lo)/10))
	var ticks []plot.Tick
	for v := math.Ceil(lo); v <= hi; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: fmt.Sprintf("%.0f", v)})
	}
	return ticks
}
