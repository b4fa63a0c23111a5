package report

import (
	"bytes"
	_ "embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"time"

	"github.com/floodharness/harness/internal/fault"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/result"
)

//go:embed report.html.tmpl
var pageTemplate string

// Write renders r into out: every plot as .png and .svg, report.html (one
// self-contained file) and summary.md. dir is where the files r names live.
// The output depends only on r and those files, so rendering the same
// results again gives the same bytes. It returns report.html's path.
func Write(r *result.Results, dir, out string) (string, error) {
	return WriteCompared(r, dir, out, nil)
}

// WriteCompared is Write with a section on what grew in each target's
// heap against a baseline (heapprof.RunDiffs).
func WriteCompared(r *result.Results, dir, out string, diffs []heapprof.RunDiff) (string, error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	figs, err := Figures(r, dir)
	if err != nil {
		return "", err
	}
	for _, f := range figs {
		for ext, b := range map[string][]byte{".png": f.PNG, ".svg": f.SVG} {
			if err := os.WriteFile(filepath.Join(out, f.Name+ext), b, 0o644); err != nil {
				return "", fmt.Errorf("write report: %w", err)
			}
		}
	}
	rel, err := filepath.Rel(out, dir)
	if err != nil {
		rel = dir
	}
	html, err := HTML(r, figs, rel, diffs)
	if err != nil {
		return "", err
	}
	page := filepath.Join(out, "report.html")
	if err := os.WriteFile(page, html, 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "summary.md"), Markdown(r), 0o644); err != nil {
		return "", fmt.Errorf("write report: %w", err)
	}
	return page, nil
}

type figView struct {
	Title, SVGFile, PNGFile string
	DataURI                 template.URL // our own SVG, base64: safe by construction
}

type rowView struct {
	Level, Repeat                                       int
	Error                                               string
	Requests, OK, Aborted, CutOff                       int64
	Failed, Resumes, MBps, P50, P99, Peak, Idle, Source string
	PerClient                                           string // KiB of the target's memory per client
	OOM                                                 bool
	Log, Profile, Series                                string
}

type tableView struct {
	Target string
	Rows   []rowView
}

type heapView struct {
	Target, At, Profile string
	Level               int
	Funcs               []struct{ Func, MiB string }
}

type pageView struct {
	Scenario          result.Scenario
	Host              result.Host
	HostMem           string
	Started, Finished string
	Partial           bool
	Verdicts          []Verdict
	PeakNote          string
	Figures           []figView
	Tables            []tableView
	ByRequest         []byRequestRow
	Heaps             []heapView
	Diffs             []diffView
}

// diffView is what grew in one target's heap against the baseline.
type diffView struct {
	Target, Err, Command string
	Level                int
	Funcs                []struct{ Func, Growth, Now string }
}

// HTML renders the report page; links are relative to the page, with rel
// the path from the page's directory to the results' directory.
func HTML(r *result.Results, figs []Figure, rel string, diffs []heapprof.RunDiff) ([]byte, error) {
	t, err := template.New("report").Parse(pageTemplate)
	if err != nil {
		return nil, fmt.Errorf("report template: %w", err)
	}
	link := func(p string) string {
		if p == "" {
			return ""
		}
		return filepath.ToSlash(filepath.Join(rel, p))
	}
	v := pageView{
		Scenario: r.Scenario, Host: r.Host, HostMem: fmt.Sprintf("%.1f GiB", float64(r.Host.MemBytes)/(1<<30)),
		Started: r.StartedAt.UTC().Format(time.RFC3339), Partial: r.Partial, Verdicts: Verdicts(r),
		PeakNote: sourcesNote(r),
	}
	for _, d := range diffs {
		dv := diffView{Target: d.Target, Level: d.Level, Err: d.Err,
			Command: fmt.Sprintf("go tool pprof -diff_base=%s %s", d.Baseline, d.Current)}
		for _, t := range d.Top {
			dv.Funcs = append(dv.Funcs, struct{ Func, Growth, Now string }{t.Func,
				fmt.Sprintf("%+.1f", float64(t.DeltaBytes)/mib), fmt.Sprintf("%.1f", float64(t.InuseBytes)/mib)})
		}
		v.Diffs = append(v.Diffs, dv)
	}
	if r.FinishedAt != nil {
		v.Finished = r.FinishedAt.UTC().Format(time.RFC3339)
	}
	for _, f := range figs {
		v.Figures = append(v.Figures, figView{
			Title: f.Title, SVGFile: f.Name + ".svg", PNGFile: f.Name + ".png",
			DataURI: template.URL("data:image/svg+xml;base64," + base64.StdEncoding.EncodeToString(f.SVG)),
		})
	}
	for _, tg := range r.Targets() {
		tv := tableView{Target: tg}
		for _, l := range r.Levels() {
			for _, run := range r.Select(tg, l) {
				tv.Rows = append(tv.Rows, row(run, r.Host.Somaxconn, link))
			}
		}
		v.Tables = append(v.Tables, tv)
		if h, ok := heapAtTop(r, tg, link); ok {
			v.Heaps = append(v.Heaps, h)
		}
	}
	v.ByRequest = byRequestRows(r)
	var b bytes.Buffer
	if err := t.Execute(&b, v); err != nil {
		return nil, fmt.Errorf("report template: %w", err)
	}
	return b.Bytes(), nil
}

func row(run result.Run, somaxconn int, link func(string) string) rowView {
	f1 := func(v float64) string { return fmt.Sprintf("%.1f", v) }
	rv := rowView{
		Level: run.Concurrency, Repeat: run.Repeat, Error: fault.FirstLine(run.Error),
		Requests: run.Requests, OK: run.OK, Aborted: run.Aborted, CutOff: run.CutOff, Resumes: fmt.Sprint(run.Resumes),
		Failed: fmt.Sprint(run.Failed), MBps: f1(run.MBps()),
		P50: f1(run.LatencyMs.P50), P99: f1(run.LatencyMs.P99),
		Peak: f1(float64(run.PeakRSSBytes) / mib), Idle: f1(float64(run.IdleRSSBytes) / mib),
		Source: string(run.PeakRSSSource), OOM: run.OOMKilled, PerClient: "-",
		Log: link(run.Log), Profile: link(run.HeapProfile), Series: link(run.RSSSeries),
	}
	if b := run.ServerBytesPerClient(); b > 0 && !run.OOMKilled {
		rv.PerClient = f1(b / 1024)
	}
	if run.PeakRSSSource == result.PeakCgroup && run.CgroupAnonPeakBytes > 0 {
		// The cgroup's peak includes page cache: say how much was anonymous.
		rv.Source += fmt.Sprintf(" (anon %.1f)", float64(run.CgroupAnonPeakBytes)/mib)
	}
	if k := result.KindCounts(run.Errors); k != "" {
		rv.Failed += " (" + k + ")"
	}
	if w := why(run); w != "" {
		rv.Failed += "; " + w
		if rv.Error != "" {
			rv.Error += "; " + w
		}
	}
	for _, n := range []string{AcceptQueueNote(run, somaxconn), TCPMemoryNote(run)} {
		if n != "" {
			rv.Failed += "; " + n
		}
	}
	if k := result.KindCounts(run.ResumedBy); k != "" {
		rv.Resumes += " (" + k + ")"
	}
	if run.OK == 0 {
		rv.P50, rv.P99 = "–", "–"
	}
	return rv
}

// heapAtTop is the target's heap top from its highest level with a profile.
func heapAtTop(r *result.Results, tg string, link func(string) string) (heapView, bool) {
	levels := r.Levels()
	for i := len(levels) - 1; i >= 0; i-- {
		for _, run := range r.Select(tg, levels[i]) {
			if len(run.HeapTop) == 0 {
				continue
			}
			h := heapView{Target: tg, Level: run.Concurrency, At: string(run.HeapProfileAt), Profile: link(run.HeapProfile)}
			for _, f := range run.HeapTop {
				h.Funcs = append(h.Funcs, struct{ Func, MiB string }{f.Func, fmt.Sprintf("%.2f", float64(f.InuseBytes)/mib)})
			}
			return h, true
		}
	}
	return heapView{}, false
}

// why is the first reason a run's requests failed, "why invalid_body:
// byte 26: want ',' or ']'…", or "".
func why(run result.Run) string {
	if w := run.FailureReasons; len(w) > 0 {
		return fmt.Sprintf("why %s: %s", w[0].Kind, w[0].Reason)
	}
	return ""
}
