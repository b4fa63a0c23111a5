package report

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

const mib = 1 << 20

// Figure is one rendered plot, in both formats.
type Figure struct {
	Name  string // file stem: peak_rss, peak_rss_log, rss_timeline, latency, throughput, ok_ratio
	Title string
	SVG   []byte
	PNG   []byte
}

// Figures renders every plot for r; dir is where the files r names live.
// The output depends only on r and those files.
func Figures(r *result.Results, dir string) ([]Figure, error) {
	builders := []struct {
		name, title string
		build       func(*result.Results, string) (*plot.Plot, error)
	}{
		{"peak_rss", "Peak memory against concurrency", peakPlot},
		{"peak_rss_log", "Peak memory against concurrency, log scale: flat targets off the zero line", peakLogPlot},
		{"rss_timeline", "Memory over time at every level, the highest drawn full", timelinePlot},
		{"latency", "Latency against concurrency", latencyPlot},
		{"throughput", "Throughput against concurrency", throughputPlot},
		{"ok_ratio", "Share of requests served", okRatioPlot},
	}
	var figs []Figure
	for _, b := range builders {
		p, err := b.build(r, dir)
		if err != nil {
			return nil, fmt.Errorf("plot %s: %w", b.name, err)
		}
		f := Figure{Name: b.name, Title: b.title}
		if f.SVG, err = render(p, "svg"); err != nil {
			return nil, fmt.Errorf("plot %s: %w", b.name, err)
		}
		if f.PNG, err = render(p, "png"); err != nil {
			return nil, fmt.Errorf("plot %s: %w", b.name, err)
		}
		figs = append(figs, f)
	}
	return figs, nil
}

func render(p *plot.Plot, format string) ([]byte, error) {
	wt, err := p.WriterTo(7*vg.Inch, 4.2*vg.Inch, format)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// plainTicks are gonum's default tick positions labelled without trailing
// zeros: "250", not "250.00".
type plainTicks struct{}

func (plainTicks) Ticks(lo, hi float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(lo, hi)
	for i := range ticks {
		if l := ticks[i].Label; strings.Contains(l, ".") && !strings.ContainsAny(l, "eE") {
			ticks[i].Label = strings.TrimSuffix(strings.TrimRight(l, "0"), ".")
		}
	}
	return ticks
}

// newPlot sets up the common look: concurrency on a log2 axis with a tick
// at every measured level, the legend top-left above headroom in the data.
func newPlot(r *result.Results, title, ylabel string) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = "concurrent clients"
	p.Y.Tick.Marker = plainTicks{}
	levels := r.Levels()
	if len(levels) > 1 && levels[len(levels)-1] >= 4*levels[0] {
		p.X.Scale = plot.LogScale{}
	}
	var ticks []plot.Tick
	for _, l := range levels {
		ticks = append(ticks, plot.Tick{Value: float64(l), Label: strconv.Itoa(l)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if len(levels) > 0 {
		lo, hi := float64(levels[0]), float64(levels[len(levels)-1])
		if p.X.Scale == (plot.LogScale{}) {
			p.X.Min, p.X.Max = lo/1.3, hi*1.3
		} else {
			pad := math.Max((hi-lo)*0.08, 0.5)
			p.X.Min, p.X.Max = lo-pad, hi+pad
		}
	}
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	return p
}

// legend adds an entry and counts it, so headroom knows its height.
type legend struct {
	p *plot.Plot
	n int
}

func (l *legend) add(label string, thumbs ...plot.Thumbnailer) {
	l.p.Legend.Add(label, thumbs...)
	l.n++
}

// headroom raises the y axis so the data stay below the legend's entries
// (top-left): each takes about 5.5% of the plot's height. The legend
// starts a little below the top, clear of the title.
func (l *legend) headroom(top float64) {
	if top <= 0 {
		top = 1
	}
	l.p.Legend.YOffs = -vg.Points(4)
	l.p.Y.Max = top / max(0.3, 1-0.055*float64(l.n)-0.06)
}

// stat is one target's figure at one level across repeats.
type stat struct {
	level          float64
	med, min, max  float64
	oom, anyResult bool
	killed         string // what killed it (result.Run.Killed), when oom
}

func stats(r *result.Results, tg string, f func(result.Run) float64) []stat {
	var out []stat
	for _, l := range r.Levels() {
		var runs []result.Run
		for _, run := range r.Select(tg, l) {
			if !math.IsNaN(f(run)) { // undefined here, e.g. latency with nothing served
				runs = append(runs, run)
			}
		}
		med, ok := result.Median(runs, f)
		if !ok {
			continue
		}
		s := stat{level: float64(l), med: med, min: math.Inf(1), max: math.Inf(-1), anyResult: true}
		for _, run := range runs {
			if run.Error != "" {
				continue
			}
			v := f(run)
			s.min, s.max = math.Min(s.min, v), math.Max(s.max, v)
			if run.OOMKilled {
				s.oom, s.killed = true, Killed(run)
			}
		}
		out = append(out, s)
	}
	return out
}

// errorBars carries min–max spread around medians for plotter.YErrorBars.
type errorBars struct {
	plotter.XYs
	plotter.YErrors
}

func style(i int) (color.Color, []vg.Length, draw.GlyphDrawer) {
	return plotutil.Color(i), plotutil.Dashes(0), plotutil.Shape(i)
}

func peakFigure(r *result.Results, logScale bool) (*plot.Plot, error) {
	// Against a cap, each point is what the cap counts (the cgroup's
	// charge where the peak is a VmHWM beside it): a VmHWM holding file
	// pages the cap never charged was drawn above a cap that did not kill.
	charged := slices.ContainsFunc(r.Runs, result.Run.CapCountsOtherwise)
	what, ylabel := "kernel peak", "peak RSS (MiB)"
	if charged {
		what, ylabel = "under the cap: its cgroup charge", "peak memory (MiB, as the cap counts it)"
	}
	title := "Peak memory (" + what + ", median of repeats; bars: min–max)"
	if logScale {
		title = "Peak memory, log scale (" + what + ", median of repeats)"
	}
	p := newPlot(r, title, ylabel)
	lg := &legend{p: p}
	top, bottom := 0.0, math.Inf(1)
	var ooms plotter.XYs
	for i, tg := range r.Targets() {
		st := stats(r, tg, func(run result.Run) float64 { v, _ := run.CapPeak(); return float64(v) / mib })
		if len(st) == 0 {
			continue
		}
		var eb errorBars
		for _, s := range st {
			eb.XYs = append(eb.XYs, plotter.XY{X: s.level, Y: s.med})
			eb.YErrors = append(eb.YErrors, struct{ Low, High float64 }{s.med - s.min, s.max - s.med})
			top = math.Max(top, s.max)
			if s.min > 0 {
				bottom = math.Min(bottom, s.min)
			}
			if s.oom {
				ooms = append(ooms, plotter.XY{X: s.level, Y: s.med})
			}
		}
		line, pts, err := plotter.NewLinePoints(eb.XYs)
		if err != nil {
			return nil, err
		}
		c, dashes, shape := style(i)
		line.Color, line.Dashes, line.Width = c, dashes, vg.Points(1.5)
		pts.Color, pts.Shape, pts.Radius = c, shape, glyphRadius(r)
		bars, err := plotter.NewYErrorBars(eb)
		if err != nil {
			return nil, err
		}
		bars.Color = c
		p.Add(line, pts, bars)
		lg.add(tg, line, pts)
	}
	if limit := memoryLimit(r); limit > 0 {
		top = math.Max(top, addCap(lg, limit))
	}
	if len(ooms) > 0 {
		sc, err := plotter.NewScatter(ooms)
		if err != nil {
			return nil, err
		}
		sc.Shape, sc.Color, sc.Radius = draw.CrossGlyph{}, color.RGBA{R: 220, A: 255}, vg.Points(7)
		p.Add(sc)
		lg.add("OOM-killed", sc)
	}
	if logScale && !math.IsInf(bottom, 1) {
		// The legend's rows take the top: each gets about a third of a decade.
		p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.Y.Min, p.Y.Max = bottom/2, math.Max(top, 1)*math.Pow(10, 0.3*float64(lg.n))
		return p, nil
	}
	lg.headroom(top)
	return p, nil
}

// peakLogPlot is peakPlot on a logarithmic y axis, where a target that
// stays flat at 12 MiB is not drawn on the zero line under one that grows
// to 1 GiB.
func peakLogPlot(r *result.Results, _ string) (*plot.Plot, error) { return peakFigure(r, true) }

func peakPlot(r *result.Results, _ string) (*plot.Plot, error) { return peakFigure(r, false) }

// glyphRadius is larger when there is one level: the points are then the
// whole picture, with no line between them.
func glyphRadius(r *result.Results) vg.Length {
	if len(r.Levels()) == 1 {
		return vg.Points(5)
	}
	return vg.Points(2.5)
}

func memoryLimit(r *result.Results) int64 {
	var limit int64
	for _, run := range r.Runs {
		limit = max(limit, run.MemoryLimitBytes)
	}
	return limit
}

func timelinePlot(r *result.Results, dir string) (*plot.Plot, error) {
	levels := r.Levels()
	p := plot.New()
	p.X.Label.Text = "time since the target was healthy (s)"
	p.Y.Label.Text = "memory (MiB, sampled)" // the run's one measure; the longer words were cut
	p.Title.Text = "Memory over time, every level (first repeat; thicker: more clients)"
	p.Y.Tick.Marker = plainTicks{}
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	p.Y.Min, p.X.Min = 0, 0
	tl := &timeline{lg: &legend{p: p}}
	for i, tg := range r.Targets() {
		c, _, _ := style(i)
		for li, level := range levels {
			runs := r.Select(tg, level)
			if len(runs) == 0 || runs[0].RSSSeries == "" {
				continue
			}
			// The highest level drawn full; lower ones thinner and lighter.
			frac := float64(li+1) / float64(len(levels))
			top := li == len(levels)-1
			label := ""
			if top {
				label = fmt.Sprintf("%s (c=%d", tg, level)
				if len(levels) > 1 {
					label += fmt.Sprintf("; c=%d… lighter", levels[0])
				}
				label += ")"
			}
			if err := tl.add(runs[0], filepath.Join(dir, runs[0].RSSSeries), fade(c, frac), vg.Points(0.5+1.5*frac), label); err != nil {
				return nil, err
			}
		}
	}
	if err := tl.finish(p); err != nil {
		return nil, err
	}
	if limit := memoryLimit(r); limit > 0 {
		tl.peak = math.Max(tl.peak, addCap(tl.lg, limit))
	}
	tl.lg.headroom(tl.peak)
	// Room on the right for the last "kept" marker, drawn at the settle's
	// end (it was cut in half at the edge).
	p.X.Max = tl.right * 1.04
	return p, nil
}

// timeline is what the memory-over-time plot gathers from its runs before
// drawing them: settles are shaded under the lines, what was kept after
// them marked over.
type timeline struct {
	lg      *legend
	peak    float64
	right   float64 // the latest time drawn
	afters  plotter.XYs
	settles [][2]float64 // each run's settle
	drawn   []plot.Plotter
}

// add draws run's series from file, with its trend; a label puts the line
// and the trend in the legend.
func (tl *timeline) add(run result.Run, file string, c color.Color, width vg.Length, label string) error {
	xys, err := readSeries(file)
	if err != nil || len(xys) == 0 {
		return err
	}
	line, err := plotter.NewLine(xys)
	if err != nil {
		return err
	}
	line.Color, line.Width = c, width
	tl.drawn = append(tl.drawn, line)
	if label != "" {
		if run.OOMKilled {
			label += " " + Killed(run)
		}
		tl.lg.add(label, line)
	}
	for _, xy := range xys {
		tl.peak = math.Max(tl.peak, xy.Y)
	}
	last := xys[len(xys)-1].X
	tl.right = math.Max(tl.right, last+run.SettleS)
	if run.AfterRSSBytes > 0 {
		// What it kept memory.settle after the flood: drawn at the
		// settle's end, the settle itself shaded (the series stops with
		// the flood).
		tl.afters = append(tl.afters, plotter.XY{X: last + run.SettleS, Y: float64(run.AfterRSSBytes) / mib})
		if run.SettleS > 0 {
			tl.settles = append(tl.settles, [2]float64{last, last + run.SettleS})
		}
	}
	if t := run.MemoryTrend; t != nil && t.ToS > t.FromS {
		y0 := t.AtFromBytes / mib
		y1 := y0 + t.BytesPerMin/60*(t.ToS-t.FromS)/mib
		trend, err := plotter.NewLine(plotter.XYs{{X: t.FromS, Y: y0}, {X: t.ToS, Y: y1}})
		if err != nil {
			return err
		}
		trend.Color, trend.Width, trend.Dashes = color.Black, vg.Points(1.5), []vg.Length{vg.Points(4), vg.Points(2)}
		tl.drawn = append(tl.drawn, trend)
		if label != "" {
			tl.lg.add(fmt.Sprintf("%s c=%d trend (dashed): %s, %+.2f MiB/min", run.Target, run.Concurrency, t.Verdict, t.BytesPerMin/mib), trend)
		}
	}
	return nil
}

// finish adds what tl gathered to p: the settles shaded first, the lines
// over them, what was kept marked on top.
func (tl *timeline) finish(p *plot.Plot) error {
	for i, band := range tl.settles {
		poly, err := plotter.NewPolygon(plotter.XYs{{X: band[0], Y: 0}, {X: band[1], Y: 0}, {X: band[1], Y: tl.peak * 1.02}, {X: band[0], Y: tl.peak * 1.02}})
		if err != nil {
			return err
		}
		poly.Color, poly.LineStyle.Width = color.Gray{Y: 0xe8}, 0
		p.Add(poly)
		if i == 0 {
			tl.lg.add("settle (memory.settle): the flood over, the target still running", poly)
		}
	}
	p.Add(tl.drawn...)
	if len(tl.afters) > 0 {
		sc, err := plotter.NewScatter(tl.afters)
		if err != nil {
			return err
		}
		sc.GlyphStyle.Shape, sc.GlyphStyle.Color, sc.GlyphStyle.Radius = draw.CrossGlyph{}, color.Black, vg.Points(4)
		p.Add(sc)
		tl.lg.add("kept memory.settle after the flood (at its end)", sc)
	}
	return nil
}

// fade is c mixed with white: frac 1 keeps c, lower is lighter.
func fade(c color.Color, frac float64) color.Color {
	r, g, b, _ := c.RGBA()
	mix := func(v uint32) uint8 { return uint8(255 - (255-float64(v>>8))*(0.3+0.7*frac)) }
	return color.RGBA{R: mix(r), G: mix(g), B: mix(b), A: 255}
}

// addCap draws the memory cap as a dashed line across the plot, with a
// legend entry, and returns it in MiB.
func addCap(lg *legend, limit int64) float64 {
	y := float64(limit) / mib
	f := plotter.NewFunction(func(float64) float64 { return y })
	f.Color, f.Dashes, f.Width = color.Gray{Y: 90}, []vg.Length{vg.Points(6), vg.Points(3)}, vg.Points(1.2)
	lg.p.Add(f)
	lg.add(fmt.Sprintf("memory cap %.0f MiB", y), f)
	return y
}

// readSeries reads a series CSV as (seconds, MiB) points, in the one
// measure where the file has it (sample.ReadSeries).
func readSeries(path string) (plotter.XYs, error) {
	ts, ys, err := sample.ReadSeries(path)
	if err != nil {
		return nil, err
	}
	xys := make(plotter.XYs, len(ts))
	for i := range ts {
		xys[i] = plotter.XY{X: ts[i], Y: ys[i] / mib}
	}
	return xys, nil
}

// linesPlot draws one line per target of f's median against concurrency.
func linesPlot(r *result.Results, title, ylabel string, series []namedMetric) (*plot.Plot, error) {
	p := newPlot(r, title, ylabel)
	lg := &legend{p: p}
	top := 0.0
	for i, tg := range r.Targets() {
		c, _, shape := style(i)
		for j, m := range series {
			st := stats(r, tg, m.f)
			if len(st) == 0 {
				continue
			}
			var xys plotter.XYs
			for _, s := range st {
				xys = append(xys, plotter.XY{X: s.level, Y: s.med})
				top = math.Max(top, s.med)
			}
			line, pts, err := plotter.NewLinePoints(xys)
			if err != nil {
				return nil, err
			}
			line.Color, line.Width, line.Dashes = c, vg.Points(1.5), plotutil.Dashes(j)
			pts.Color, pts.Shape, pts.Radius = c, shape, glyphRadius(r)
			p.Add(line, pts)
			label := tg
			if m.name != "" {
				label += " " + m.name
			}
			lg.add(label, line, pts)
		}
	}
	lg.headroom(top)
	return p, nil
}

type namedMetric struct {
	name string
	f    func(result.Run) float64
}

func latencyPlot(r *result.Results, _ string) (*plot.Plot, error) {
	return linesPlot(r, "Latency to the last byte (median of repeats)", "latency (ms)", []namedMetric{
		{"p50", func(run result.Run) float64 { return ifServed(run, run.LatencyMs.P50) }},
		{"p99", func(run result.Run) float64 { return ifServed(run, run.LatencyMs.P99) }},
	})
}

// ifServed is v, or NaN when the run served nothing to measure it on.
func ifServed(run result.Run, v float64) float64 {
	if run.OK == 0 {
		return math.NaN()
	}
	return v
}

func throughputPlot(r *result.Results, _ string) (*plot.Plot, error) {
	return linesPlot(r, "Throughput (median of repeats)", "body throughput (MB/s)", []namedMetric{
		{"", result.Run.MBps},
	})
}

func okRatioPlot(r *result.Results, _ string) (*plot.Plot, error) {
	p, err := linesPlot(r, "Requests served (ok / requests meant to complete)", "ok ratio", []namedMetric{
		{"", result.Run.OKRatio},
	})
	if err == nil {
		p.Y.Max = math.Max(p.Y.Max, 1.2) // a ratio of 1 is never drawn on the frame
	}
	return p, err
}
