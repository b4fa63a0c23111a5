package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
	"text/tabwriter"

	"github.com/floodharness/harness/internal/compare"
)

// compareCells are one comparison row's cells, as every format shows them.
func compareCells(r compare.Row) []string {
	f := func(v float64, has bool, n int) string {
		if !has {
			return "—"
		}
		s := fmt.Sprintf("%.1f", v)
		if r.Metric.Unit == "" {
			s = fmt.Sprintf("%.3f", v)
		}
		if n > 1 {
			s += fmt.Sprintf(" (%d)", n)
		}
		return s
	}
	name := r.Metric.Name
	if r.Metric.Unit != "" {
		name += " (" + r.Metric.Unit + ")"
	}
	change := "—"
	if d, pct := r.Change(); !math.IsNaN(d) {
		change = fmt.Sprintf("%+.1f", d)
		if r.Metric.Unit == "" {
			change = fmt.Sprintf("%+.3f", d)
		}
		if !math.IsNaN(pct) {
			change += fmt.Sprintf(" (%+.0f%%)", 100*pct)
		}
		if r.Worse() {
			change += " worse"
		}
	}
	sig := "—"
	switch {
	case !math.IsNaN(r.P) && r.P <= 0.05:
		sig = fmt.Sprintf("p=%.3f, significant", r.P)
	case !math.IsNaN(r.P):
		sig = fmt.Sprintf("p=%.3f", r.P)
	case r.HasA && r.HasB:
		sig = fmt.Sprintf("needs %d repeats a side", compare.MinRepeats)
	}
	return []string{r.Target, fmt.Sprint(r.Level), name, f(r.A, r.HasA, r.NA), f(r.B, r.HasB, r.NB), change, sig}
}

var compareHead = []string{"target", "clients", "metric", "A", "B", "change", "significance"}

// CompareText writes a comparison for a console: what may make it unfair
// first, then one line per target × level × metric.
func CompareText(w io.Writer, c *compare.Comparison) error {
	fmt.Fprintf(w, "A: %s (%s)\nB: %s (%s)\n", c.A.Scenario.File, c.A.StartedAt.Format("2006-01-02 15:04"), c.B.Scenario.File, c.B.StartedAt.Format("2006-01-02 15:04"))
	for _, n := range c.Notes {
		fmt.Fprintf(w, "NOTE: %s\n", n)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(compareHead, "\t"))
	for _, r := range c.Rows {
		fmt.Fprintln(tw, strings.Join(compareCells(r), "\t"))
	}
	fmt.Fprintln(tw, "\nmedians of each run's repeats (their count in brackets where more than one); significance: one-sided Mann–Whitney U of B worse than A")
	return tw.Flush()
}

// CompareMarkdown writes a comparison as Markdown (a CI step summary).
func CompareMarkdown(w io.Writer, c *compare.Comparison) error {
	fmt.Fprintf(w, "## %s against %s\n\n", md(c.B.Scenario.Name), md(c.A.Scenario.Name))
	for _, n := range c.Notes {
		fmt.Fprintf(w, "> **Note:** %s\n\n", md(n))
	}
	fmt.Fprintf(w, "| %s |\n|%s\n", strings.Join(compareHead, " | "), strings.Repeat("---|", len(compareHead)))
	for _, r := range c.Rows {
		cells := compareCells(r)
		for i := range cells {
			cells[i] = md(cells[i])
		}
		fmt.Fprintf(w, "| %s |\n", strings.Join(cells, " | "))
	}
	_, err := fmt.Fprintln(w, "\nMedians of each run's repeats (their count in brackets where more than one); significance: one-sided Mann–Whitney U of B worse than A.")
	return err
}

var compareHTML = template.Must(template.New("compare").Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>compare: {{.B}} against {{.A}}</title>
<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{padding:.2em .6em;border-bottom:1px solid #ddd;text-align:right}td:first-child,th:first-child,td:nth-child(3){text-align:left}.worse{color:#b00}.note{background:#fff4e0;padding:.5em}</style>
</head><body><h1>{{.B}} against {{.A}}</h1>
{{range .Notes}}<p class="note">{{.}}</p>{{end}}
<table><tr>{{range .Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Rows}}<tr{{if .Worse}} class="worse"{{end}}>{{range .Cells}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
<p>Medians of each run's repeats (their count in brackets where more than one); significance: one-sided Mann–Whitney U of B worse than A.</p>
</body></html>
`))

// CompareHTML writes a comparison as a page of its own.
func CompareHTML(w io.Writer, c *compare.Comparison) error {
	type row struct {
		Cells []string
		Worse bool
	}
	v := struct {
		A, B  string
		Notes []string
		Head  []string
		Rows  []row
	}{A: c.A.Scenario.Name, B: c.B.Scenario.Name, Notes: c.Notes, Head: compareHead}
	for _, r := range c.Rows {
		v.Rows = append(v.Rows, row{compareCells(r), r.Worse()})
	}
	return compareHTML.Execute(w, v)
}
