package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"text/tabwriter"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg/draw"

	"github.com/floodharness/harness/internal/result"
)

// CapacityMarkdown is a capacity search's summary.md: each target's answer
// in a sentence, then the ladder of trials.
func CapacityMarkdown(c *result.Capacity) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## capacity: %s\n\n", md(c.Scenario.Name))
	if c.Partial {
		b.WriteString("> **Partial:** the search stopped early; each capacity is the highest level confirmed so far.\n\n")
	}
	for _, t := range c.Targets {
		fmt.Fprintf(&b, "- %s\n", md(CapacitySentence(t, c.Repeats, BoundsNote(c))))
	}
	b.WriteString("\n| target | clients | repeat | verdict | peak RSS MiB | source | ok / requests |\n|---|--:|--:|---|--:|---|--:|\n")
	for _, t := range c.Targets {
		for _, tr := range t.Trials {
			v := "✅ pass"
			if !tr.Passed {
				v = "❌ " + tr.Why
			}
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %.1f | %s | %d / %d |\n", md(t.Target), tr.Concurrency, tr.Repeat, md(v), float64(tr.PeakRSSBytes)/mib, tr.PeakRSSSource, tr.OK, tr.Requests)
		}
	}
	fmt.Fprintf(&b, "\nscenario `%s` on %d CPUs, Linux %s, cgroup %s\n", md(c.Scenario.File), c.Host.CPUs, md(c.Host.Kernel), c.Host.Cgroup)
	return b.Bytes()
}

// CapacitySentence says one target's answer in words.
func CapacitySentence(t result.CapacityTarget, repeats int, bounds string) string {
	under := fmt.Sprintf("under its %.0f MiB cap (%s)%s", float64(t.LimitBytes)/mib, orDash(string(t.LimitBy)), bounds)
	estimate := ""
	if t.EstimateFromCurve > 0 {
		estimate = fmt.Sprintf("; %.2f MiB per client, so a line through the passing peaks says ~%.0f", t.PerClientBytes/mib, t.EstimateFromCurve)
	}
	switch {
	case t.Error != "":
		return fmt.Sprintf("%s: no capacity measured — %s", t.Target, t.Error)
	case t.CeilingReached:
		return fmt.Sprintf("%s: serves at least %d concurrent clients completely %s — every level up to --max passed%s", t.Target, t.Capacity, under, estimate)
	case t.Capacity == 0:
		return fmt.Sprintf("%s: capacity 0 %s — even one client failed (%s)", t.Target, under, firstWhy(t))
	}
	return fmt.Sprintf("%s: capacity %d concurrent clients %s, confirmed by %d passing trials; %d failed (%s)%s",
		t.Target, t.Capacity, under, repeats, t.FirstFailing, firstWhy(t), estimate)
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// firstWhy is why the first failing level failed.
func firstWhy(t result.CapacityTarget) string {
	for _, tr := range t.Trials {
		if !tr.Passed && tr.Concurrency == t.FirstFailing {
			return tr.Why
		}
	}
	return "no failure"
}

// capacityPlot is the ladder: every trial's peak against its concurrency,
// passes and failures marked, the cap drawn.
func capacityPlot(c *result.Capacity) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "Capacity search: peak against concurrency, each trial"
	p.X.Label.Text, p.Y.Label.Text = "concurrent clients", "peak RSS (MiB)"
	p.Y.Tick.Marker = plainTicks{}
	p.Y.Min = 0
	p.Legend.Top, p.Legend.Left = true, true
	p.Add(plotter.NewGrid())
	lg := &legend{p: p}
	top := 0.0
	for i, t := range c.Targets {
		col, _, shape := style(i)
		var pass, fail plotter.XYs
		for _, tr := range t.Trials {
			y := tr.PeakRSSBytes
			if tr.CapChargedBytes > 0 { // what the cap drawn beside it counted
				y = tr.CapChargedBytes
				p.Y.Label.Text = "peak memory (MiB, as the cap counts it)"
			}
			pt := plotter.XY{X: float64(tr.Concurrency), Y: float64(y) / mib}
			top = max(top, pt.Y)
			if tr.Passed {
				pass = append(pass, pt)
			} else {
				fail = append(fail, pt)
			}
		}
		for _, set := range []struct {
			xys   plotter.XYs
			label string
			glyph draw.GlyphDrawer
		}{{pass, t.Target + " passed", shape}, {fail, t.Target + " failed", draw.CrossGlyph{}}} {
			if len(set.xys) == 0 {
				continue
			}
			s, err := plotter.NewScatter(set.xys)
			if err != nil {
				return nil, err
			}
			s.GlyphStyle.Color, s.GlyphStyle.Shape, s.GlyphStyle.Radius = col, set.glyph, 4
			p.Add(s)
			lg.add(set.label, s)
		}
	}
	if len(c.Targets) > 0 && c.Targets[0].LimitBytes > 0 {
		top = max(top, addCap(lg, c.Targets[0].LimitBytes))
	}
	lg.headroom(top)
	p.X.Min = 0
	return p, nil
}

var capacityPage = template.Must(template.New("capacity").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>capacity: {{.Name}}</title>
<style>body{font:15px/1.45 system-ui,sans-serif;max-width:1100px;margin:24px auto;padding:0 16px;color:#222}
table{border-collapse:collapse}td,th{border-bottom:1px solid #ddd;padding:3px 8px;text-align:right}td.l,th.l{text-align:left}
.fail{color:#a00}img{max-width:100%}</style></head><body>
<h1>capacity: {{.Name}}</h1>
{{if .Partial}}<p><strong>Partial:</strong> the search stopped early; each capacity is the highest level confirmed so far.</p>{{end}}
<ul>{{range .Sentences}}<li>{{.}}</li>{{end}}</ul>
<img src="{{.Plot}}" alt="capacity ladder">
<h2>Trials</h2>
<table><tr><th class="l">target</th><th>clients</th><th>repeat</th><th class="l">verdict</th><th>peak RSS MiB</th><th class="l">source</th><th>ok</th><th>requests</th></tr>
{{range .Rows}}<tr{{if not .Passed}} class="fail"{{end}}><td class="l">{{.Target}}</td><td>{{.C}}</td><td>{{.Repeat}}</td><td class="l">{{.Verdict}}</td><td>{{.Peak}}</td><td class="l">{{.Source}}</td><td>{{.OK}}</td><td>{{.Requests}}</td></tr>
{{end}}</table>
<p>The search grows the concurrency 1, 2, 4, … until a trial fails, bisects to the integer, and confirms the answer with {{.Repeats}} passing trials in a row (docs/capacity.md).</p>
</body></html>
`))

// WriteCapacity writes a capacity search's summary.md, capacity.svg and
// capacity.html into dir and returns the page's path.
func WriteCapacity(c *result.Capacity, dir string) (string, error) {
	p, err := capacityPlot(c)
	if err != nil {
		return "", err
	}
	svg, err := render(p, "svg")
	if err != nil {
		return "", err
	}
	type row struct {
		Target, Verdict, Peak, Source string
		C, Repeat                     int
		OK, Requests                  int64
		Passed                        bool
	}
	v := struct {
		Name, Plot string
		Partial    bool
		Repeats    int
		Sentences  []string
		Rows       []row
	}{Name: c.Scenario.Name, Plot: "capacity.svg", Partial: c.Partial, Repeats: c.Repeats}
	for _, t := range c.Targets {
		v.Sentences = append(v.Sentences, CapacitySentence(t, c.Repeats, BoundsNote(c)))
		for _, tr := range t.Trials {
			verdict := "pass"
			if !tr.Passed {
				verdict = "fail: " + tr.Why
			}
			v.Rows = append(v.Rows, row{Target: t.Target, Verdict: verdict, Peak: strconv.FormatFloat(float64(tr.PeakRSSBytes)/mib, 'f', 1, 64),
				Source: string(tr.PeakRSSSource), C: tr.Concurrency, Repeat: tr.Repeat, OK: tr.OK, Requests: tr.Requests, Passed: tr.Passed})
		}
	}
	var page bytes.Buffer
	if err := capacityPage.Execute(&page, v); err != nil {
		return "", err
	}
	for name, b := range map[string][]byte{"capacity.svg": svg, "summary.md": CapacityMarkdown(c), "capacity.html": page.Bytes()} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return "", fmt.Errorf("write %s: %w", name, err)
		}
	}
	return filepath.Join(dir, "capacity.html"), nil
}

// CapacityTable prints each target's answer: capacity under the cap, the
// first failing level, the cost of one more client, and what a straight
// line through the passing peaks would have said.
func CapacityTable(w io.Writer, f *result.Capacity) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "target\tcapacity\tfirst failing\tMiB per client\tcurve's estimate\ttrials\t")
	for _, t := range f.Targets {
		capacity := fmt.Sprint(t.Capacity)
		failing := fmt.Sprint(t.FirstFailing)
		if t.CeilingReached {
			capacity, failing = fmt.Sprintf("≥ %d", t.Capacity), "none ≤ --max"
		}
		if t.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t\t\t\t%d\t\n", t.Target, "did not start", len(t.Trials))
			continue
		}
		estimate := "-"
		if t.EstimateFromCurve > 0 {
			estimate = fmt.Sprintf("~%.0f", t.EstimateFromCurve)
		}
		perClient := fmt.Sprintf("%.2f", t.PerClientBytes/(1<<20))
		if t.PerClientBytes < 0.005*(1<<20) {
			perClient = "~0" // the peaks did not rise with the clients
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t\n", t.Target, capacity, failing, perClient, estimate, len(t.Trials))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, t := range f.Targets {
		if t.Error != "" {
			continue // no cap was read: the next target's footer
		}
		trials := "trials"
		if f.Repeats == 1 {
			trials = "trial"
		}
		_, err := fmt.Fprintf(w, "  capacity: the most concurrent clients served completely under the %.0f MiB cap (%s)%s, confirmed by %d passing %s in a row; the level above failed at least once (≥: every level up to --max passed)\n",
			float64(t.LimitBytes)/(1<<20), t.LimitBy, BoundsNote(f), f.Repeats, trials)
		return err
	}
	return nil
}
