package report

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/result"
)

// Markdown is summary.md: the verdicts and the main table, for a CI step
// summary or a pull-request comment.
func Markdown(r *result.Results) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "## flood: %s\n\n", md(r.Scenario.Name))
	if r.Partial {
		b.WriteString("> **Partial:** the run was interrupted; these are the runs measured so far.\n\n")
	}
	for _, v := range Verdicts(r) {
		mark := "✅"
		switch {
		case v.Bad:
			mark = "❌"
		case v.Shed:
			mark = "⚠️"
		}
		fmt.Fprintf(&b, "- %s %s\n", mark, md(v.Text))
	}
	b.WriteString("\n| target | clients | requests | ok | failed | MB/s | p50 ms | p99 ms | peak RSS MiB | source | OOM |\n")
	b.WriteString("|---|--:|--:|--:|---|--:|--:|--:|--:|---|---|\n")
	for _, tg := range r.Targets() {
		for _, l := range r.Levels() {
			for _, run := range r.Select(tg, l) {
				if run.Error != "" {
					fmt.Fprintf(&b, "| %s | %d | could not measure: %s | | | | | | | | |\n", md(tg), l, md(strings.TrimSuffix(fault.FirstLine(run.Error)+"; "+why(run), "; ")))
					continue
				}
				rv := row(run, r.Host.Somaxconn, func(string) string { return "" })
				oom := ""
				if run.OOMKilled {
					oom = "**" + Killed(run) + "**"
				}
				fmt.Fprintf(&b, "| %s | %d | %d | %d | %s | %s | %s | %s | %s | %s | %s |\n",
					md(tg), l, run.Requests, run.OK, md(rv.Failed), rv.MBps, rv.P50, rv.P99, rv.Peak, rv.Source, oom)
			}
		}
	}
	if rows := byRequestRows(r); len(rows) > 0 {
		b.WriteString("\n**By request** (the weighted mix; each run's rows add up to its totals)\n\n| target | clients | repeat | request | requests | ok | failed | MB | p50 ms | p99 ms |\n|---|--:|--:|---|--:|--:|---|--:|--:|--:|\n")
		for _, x := range rows {
			fmt.Fprintf(&b, "| %s | %d | %d | %s | %d | %d | %s | %s | %s | %s |\n", md(x.Target), x.Level, x.Repeat, md(x.Name), x.Requests, x.OK, md(x.Failed), x.MB, x.P50, x.P99)
		}
	}
	fmt.Fprintf(&b, "\n%s\n", md(sourcesNote(r)))
	if n := SingleNote(r); n != "" {
		fmt.Fprintf(&b, "\n> %s\n", md(n))
	}
	fmt.Fprintf(&b, "\nscenario `%s` (sha256 `%.12s…`) on %d CPUs, Linux %s, %s, cgroup %s\n",
		md(r.Scenario.File), r.Scenario.SHA256, r.Host.CPUs, md(r.Host.Kernel), md(r.Host.Go), r.Host.Cgroup)
	return b.Bytes()
}

// md keeps text from breaking a Markdown table or starting markup.
func md(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "`", "'").Replace(s)
}
