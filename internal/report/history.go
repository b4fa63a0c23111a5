package report

import (
	"bytes"
	"fmt"
	"html/template"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"

	"github.com/floodharness/harness/internal/history"
)

// historySeries is one target × level × metric over a host's runs.
type historySeries struct {
	Target, Metric, Unit string
	Level                int
	Figures              []history.Figure
	Commits              []string
	Changes              []int // indexes of the runs after a change point
	File                 string
}

// seriesOf gathers every series of entries (the newest run's host only).
func seriesOf(entries []history.Entry) []*historySeries {
	if len(entries) == 0 {
		return nil
	}
	newest := entries[len(entries)-1]
	var order []*historySeries
	by := map[string]*historySeries{}
	for _, e := range entries {
		if e.Host != newest.Host {
			continue
		}
		for _, f := range e.Figures {
			k := fmt.Sprintf("%s\x00%d\x00%s", f.Target, f.Level, f.Metric)
			s := by[k]
			if s == nil {
				s = &historySeries{Target: f.Target, Level: f.Level, Metric: f.Metric}
				by[k] = s
				order = append(order, s)
			}
			s.Figures = append(s.Figures, f)
			s.Commits = append(s.Commits, e.Commit)
		}
	}
	return order
}

// historyPlot draws a series over its runs: each run's median with its
// min–max, a dashed line where a change point begins, commits on the axis.
func historyPlot(s *historySeries) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s at %d clients: %s over runs (median of repeats; bars: min–max; dashed: a change point)", s.Target, s.Level, s.Metric)
	p.X.Label.Text, p.Y.Label.Text = "run (commit)", s.Metric
	if s.Unit != "" {
		p.Y.Label.Text += " (" + s.Unit + ")"
	}
	p.Y.Tick.Marker = plainTicks{}
	var eb errorBars
	var ticks []plot.Tick
	top := 0.0
	for i, f := range s.Figures {
		eb.XYs = append(eb.XYs, plotter.XY{X: float64(i), Y: f.Median})
		eb.YErrors = append(eb.YErrors, struct{ Low, High float64 }{f.Median - f.Min, f.Max - f.Median})
		top = max(top, f.Max)
		label := ""
		if every := max(1, len(s.Figures)/10); i%every == 0 || i == len(s.Figures)-1 {
			label = fmt.Sprintf("%.7s", s.Commits[i])
		}
		ticks = append(ticks, plot.Tick{Value: float64(i), Label: label})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	line, pts, err := plotter.NewLinePoints(eb.XYs)
	if err != nil {
		return nil, err
	}
	bars, err := plotter.NewYErrorBars(eb)
	if err != nil {
		return nil, err
	}
	p.Add(plotter.NewGrid(), line, pts, bars)
	for _, c := range s.Changes {
		l, err := plotter.NewLine(plotter.XYs{{X: float64(c) - 0.5, Y: 0}, {X: float64(c) - 0.5, Y: top * 1.05}})
		if err != nil {
			return nil, err
		}
		l.Color, l.Dashes, l.Width = color.RGBA{R: 200, A: 255}, []vg.Length{vg.Points(4), vg.Points(3)}, vg.Points(1.5)
		p.Add(l)
	}
	p.Y.Min, p.X.Min, p.X.Max = 0, -0.5, float64(len(s.Figures))-0.5
	return p, nil
}

var historyPage = template.Must(template.New("history").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>history: {{.Name}}</title>
<style>body{font-family:sans-serif;margin:2em}img{max-width:100%}.fail{color:#b00}.note{background:#fff4e0;padding:.5em}</style>
</head><body><h1>{{.Name}}: {{.Runs}} runs</h1>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
{{if .Changes}}<h2>Change points for the worse</h2><ul>{{range .Changes}}<li class="fail">{{.}}</li>{{end}}</ul>{{else}}<p>No series' newest runs sit after a change for the worse.</p>{{end}}
{{range .Plots}}<p><img src="{{.}}" alt="{{.}}"></p>{{end}}
</body></html>
`))

// WriteHistory renders a history file into dir: a plot of every series
// (SVG and PNG) with its change points, history.html (self-contained but
// for the plots beside it) and history.md; it returns the page's path.
func WriteHistory(entries []history.Entry, name, dir string) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	changes, notes := history.Regressions(entries, history.Defaults)
	series := seriesOf(entries)
	var plots []string
	for _, s := range series {
		var xs []float64
		for _, f := range s.Figures {
			xs = append(xs, f.Median)
		}
		s.Changes = historyChanges(s.Metric, xs)
		if m, ok := history.MetricNamed(s.Metric); ok {
			s.Unit = m.Unit
		}
		p, err := historyPlot(s)
		if err != nil {
			return "", err
		}
		stem := strings.NewReplacer(" ", "_", "/", "_").Replace(fmt.Sprintf("history-%s-c%d-%s", s.Target, s.Level, s.Metric))
		for _, format := range []string{"svg", "png"} {
			b, err := render(p, format)
			if err != nil {
				return "", err
			}
			if err := os.WriteFile(filepath.Join(dir, stem+"."+format), b, 0o644); err != nil {
				return "", err
			}
		}
		plots = append(plots, stem+".svg")
	}
	var words []string
	for _, c := range changes {
		words = append(words, c.String())
	}
	var page bytes.Buffer
	if err := historyPage.Execute(&page, struct {
		Name           string
		Runs           int
		Notes, Changes []string
		Plots          []string
	}{name, len(entries), notes, words, plots}); err != nil {
		return "", err
	}
	path := filepath.Join(dir, "history.html")
	if err := os.WriteFile(path, page.Bytes(), 0o644); err != nil {
		return "", err
	}
	var md bytes.Buffer
	historyMarkdown(&md, name, len(entries), notes, words)
	return path, os.WriteFile(filepath.Join(dir, "history.md"), md.Bytes(), 0o644)
}

// historyChanges are the indexes where change points begin in a series
// of metric, found as the gate finds them.
func historyChanges(metric string, xs []float64) []int {
	var out []int
	for _, cp := range history.ChangePoints(metric, xs) {
		out = append(out, cp.Index)
	}
	return out
}

// historyMarkdown is a history's summary for a CI step summary.
func historyMarkdown(w io.Writer, name string, runs int, notes, changes []string) {
	fmt.Fprintf(w, "## %s: %d runs in the history\n\n", md(name), runs)
	for _, n := range notes {
		fmt.Fprintf(w, "> %s\n\n", md(n))
	}
	if len(changes) == 0 {
		fmt.Fprintln(w, "No series' newest runs sit after a change for the worse.")
		return
	}
	fmt.Fprintln(w, "Change points for the worse (the newest runs sit after them):")
	fmt.Fprintln(w)
	for _, c := range changes {
		fmt.Fprintf(w, "- ❌ %s\n", md(c))
	}
}
