package report

import (
	"bytes"
	"encoding/xml"
	"flag"
	"image"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"html"

	"github.com/floodharness/harness/internal/harnesstest"
	"github.com/floodharness/harness/internal/heapprof"
	"github.com/floodharness/harness/internal/result"
)

var update = flag.Bool("update", false, "rewrite golden files")

// fixture is a real flood.yaml run: buffered grows and is OOM-killed at 64
// clients under a 1 GiB cap, streamed and batched stay flat.
const fixture = "testdata/flood"

func load(t *testing.T) *result.Results {
	t.Helper()
	r, err := result.Read(filepath.Join(fixture, "results.json"))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/report -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from %s (run with -update after checking the change)", name, path)
	}
}

// svgTexts is what a plot says — its title, labels, ticks and legend, in
// drawing order, one a line — after checking the SVG is well-formed XML
// that draws something. A golden of these survives a font or a plotting
// library that draws the same plot with other bytes; one of the SVG's
// bytes did not.
func svgTexts(t *testing.T, name string, svg []byte) []byte {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var texts []string
	paths, inText := 0, false
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s.svg is not well-formed: %v", name, err)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			paths += btoi(tok.Name.Local == "path")
			inText = tok.Name.Local == "text"
		case xml.EndElement:
			inText = false
		case xml.CharData:
			if s := strings.TrimSpace(string(tok)); inText && s != "" {
				texts = append(texts, s)
			}
		}
	}
	if paths < 10 {
		t.Errorf("%s.svg draws %d paths: no plot", name, paths)
	}
	return []byte(strings.Join(texts, "\n") + "\n")
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func TestPlotsGolden(t *testing.T) {
	t.Parallel()
	figs, err := Figures(load(t), fixture)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range figs {
		names = append(names, f.Name)
		if len(f.PNG) == 0 || !bytes.HasPrefix(f.PNG, []byte("\x89PNG")) {
			t.Errorf("%s: not a PNG", f.Name)
		}
		if f.Name == "peak_rss" || f.Name == "peak_rss_log" || f.Name == "rss_timeline" {
			golden(t, f.Name+".svg.texts", svgTexts(t, f.Name, f.SVG))
		}
	}
	if got := strings.Join(names, ","); got != "peak_rss,peak_rss_log,rss_timeline,latency,throughput,ok_ratio" {
		t.Errorf("figures %s", got)
	}
}

func TestVerdictsAndMarkdown(t *testing.T) {
	t.Parallel()
	r := load(t)
	v := Verdicts(r)
	want := []struct {
		prefix string
		bad    bool
	}{
		{"buffered: OOM-killed at 64 clients", true},
		{"streamed: peak flat within", false},
		{"batched: peak flat within", false},
	}
	if len(v) != len(want) {
		t.Fatalf("verdicts %+v", v)
	}
	for i, w := range want {
		if !strings.HasPrefix(v[i].Text, w.prefix) || v[i].Bad != w.bad {
			t.Errorf("verdict %d = %q (bad %v), want prefix %q (bad %v)", i, v[i].Text, v[i].Bad, w.prefix, w.bad)
		}
	}
	golden(t, "summary.md", Markdown(r))
}

func TestVerdictGrowsWithoutOOM(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema}
	for i, l := range []int{1, 4, 16} {
		r.Runs = append(r.Runs, result.Run{Target: "buffered", Concurrency: l, Client: result.Client{Requests: 5, OK: 5}, PeakRSSBytes: int64(20+i*100) << 20})
	}
	v := Verdicts(r)[0]
	if !strings.Contains(v.Text, "peak grows from 20.0 MiB at 1 client to 220.0 MiB at 16 clients") || v.Bad {
		t.Errorf("verdict %+v", v)
	}
}

func TestVerdictShedIsNotBad(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		errors   map[string]int64
		oom      bool
		bad      bool
		shed     bool
		contains string
	}{
		{"only 503s: shed", map[string]int64{"status_503": 8}, false, false, true, "8 of 10 requests shed with 503"},
		{"503s and truncations: failed", map[string]int64{"status_503": 4, "truncated": 4}, false, true, false, "8 of 10 requests failed"},
		{"503s but OOM-killed: failed", map[string]int64{"status_503": 8}, true, true, false, "OOM-killed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var failed int64
			for _, n := range tt.errors {
				failed += n
			}
			r := &result.Results{Schema: result.Schema, Runs: []result.Run{{
				Target: "reject", Concurrency: 10,
				Client:    result.Client{Requests: 10, OK: 10 - failed, Failed: failed, Errors: tt.errors},
				OOMKilled: tt.oom, PeakRSSBytes: 90 << 20,
			}}}
			v := Verdicts(r)[0]
			if v.Bad != tt.bad || v.Shed != tt.shed || !strings.Contains(v.Text, tt.contains) {
				t.Errorf("verdict %+v, want bad %v shed %v containing %q", v, tt.bad, tt.shed, tt.contains)
			}
			wantMark := map[bool]string{true: "⚠️", false: "❌"}[tt.shed]
			if md := string(Markdown(r)); !strings.Contains(md, "- "+wantMark+" reject") {
				t.Errorf("summary.md marks it otherwise than %s:\n%s", wantMark, md)
			}
		})
	}
}

func TestPlainTicks(t *testing.T) {
	t.Parallel()
	tests := []struct {
		lo, hi float64
		want   []string // the labelled ticks, in order
	}{
		{0, 750, []string{"0", "250", "500", "750"}},
		{0, 1.5, []string{"0", "0.5", "1", "1.5"}},
	}
	for _, tt := range tests {
		var got []string
		for _, tk := range (plainTicks{}).Ticks(tt.lo, tt.hi) {
			if tk.Label != "" {
				got = append(got, tk.Label)
			}
		}
		if strings.Join(got, " ") != strings.Join(tt.want, " ") {
			t.Errorf("Ticks(%g, %g) labels %q, want %q", tt.lo, tt.hi, got, tt.want)
		}
	}
}

// A cgroup's peak includes page cache; the table says how much of it was
// anonymous memory, and says nothing extra for other sources.
func TestTableShowsCgroupAnon(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{
		{Target: "tree", Concurrency: 8, Client: result.Client{Requests: 1, OK: 1}, PeakRSSBytes: 512 << 20, PeakRSSSource: "cgroup", CgroupPeakBytes: 512 << 20, CgroupAnonPeakBytes: 300 << 20},
		{Target: "one", Concurrency: 8, Client: result.Client{Requests: 1, OK: 1}, PeakRSSBytes: 20 << 20, PeakRSSSource: "vmhwm", CgroupAnonPeakBytes: 19 << 20},
	}}
	md := string(Markdown(r))
	if !strings.Contains(md, "| 512.0 | cgroup (anon 300.0) |") || !strings.Contains(md, "| 20.0 | vmhwm |") {
		t.Errorf("summary.md table:\n%s", md)
	}
}

func TestWriteIsDeterministicAndSelfContained(t *testing.T) {
	t.Parallel()
	r := load(t)
	a, b := t.TempDir(), t.TempDir()
	pa, err := Write(r, fixture, a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Write(r, fixture, b); err != nil {
		t.Fatal(err)
	}
	files, _ := os.ReadDir(a)
	if len(files) != 14 { // 6 plots × 2 formats, report.html, summary.md
		t.Errorf("wrote %d files", len(files))
	}
	for _, f := range files {
		x, _ := os.ReadFile(filepath.Join(a, f.Name()))
		y, _ := os.ReadFile(filepath.Join(b, f.Name()))
		if !bytes.Equal(x, y) {
			t.Errorf("%s differs between two renders of the same results", f.Name())
		}
	}
	page, _ := os.ReadFile(pa)
	assertSelfContained(t, page)
	for _, want := range []string{"buffered: OOM-killed at 64 clients", "Heap top 10", "6e992d0b1f39eb8cdff7cd537af7a71e4b803ecb8c4ce773a74e1defd11ad614", "cgroup v1"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report.html lacks %q", want)
		}
	}
}

var external = regexp.MustCompile(`(?i)(<script|<link|@import|url\(|(src|href)\s*=\s*"(https?:)?//)`)

func assertSelfContained(t *testing.T, page []byte) {
	t.Helper()
	if m := external.Find(page); m != nil {
		t.Errorf("report.html references something external or runs script: %q", m)
	}
	for _, m := range regexp.MustCompile(`src="([^"]*)"`).FindAllSubmatch(page, -1) {
		if !bytes.HasPrefix(m[1], []byte("data:image/")) {
			t.Errorf("an image is not inlined: %.60q", m[1])
		}
	}
}

func TestHTMLEscapesData(t *testing.T) {
	t.Parallel()
	evil := `<script>alert("x")</script>`
	r := &result.Results{Schema: result.Schema, Scenario: result.Scenario{Name: evil, File: evil}}
	r.Runs = []result.Run{{Target: evil, Concurrency: 1, Client: result.Client{Requests: 1, OK: 1}, HeapTop: []result.HeapFunc{{Func: evil, InuseBytes: 1}}, Log: `"><img src=x onerror=alert(1)>`}}
	figs, err := Figures(r, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	page, err := HTML(r, figs, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, []byte("<script>")) || bytes.Contains(page, []byte("<img src=x")) {
		t.Error("data reached the page unescaped")
	}
	if md := Markdown(r); bytes.Contains(md, []byte("<script>")) {
		t.Error("data reached summary.md unescaped")
	}
}

// TestScreenshot renders report.html in headless Chromium, as a person
// would open it, and checks the picture is not blank. REPORT_HTML points it
// at another report (make report-check); REPORT_PNG keeps the screenshot.
func TestScreenshot(t *testing.T) {
	t.Parallel()
	page := os.Getenv("REPORT_HTML")
	if page == "" {
		var err error
		if page, err = Write(load(t), fixture, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	assertSelfContained(t, html)
	img := screenshot(t, page, os.Getenv("REPORT_PNG"))
	if ink, colors := inkAndColours(img); ink < 0.03 || colors < 50 {
		t.Errorf("screenshot looks blank: %.1f%% non-white pixels, %d colours", ink*100, colors)
	} else {
		t.Logf("screenshot: %.1f%% non-white pixels, %d colours", ink*100, colors)
	}
}

// The blank check must be able to fail.
func TestScreenshotOfBlankPageIsBlank(t *testing.T) {
	t.Parallel()
	page := filepath.Join(t.TempDir(), "blank.html")
	if err := os.WriteFile(page, []byte("<!DOCTYPE html><html><body></body></html>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if ink, colors := inkAndColours(screenshot(t, page, "")); ink >= 0.03 && colors >= 50 {
		t.Errorf("a blank page passed the blank check: %.1f%% ink, %d colours", ink*100, colors)
	}
}

// screenshot renders page in headless Chromium into shot (a temporary file
// when empty) and decodes it.
func screenshot(t *testing.T, page, shot string) image.Image {
	t.Helper()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "chromium")
	chromium, _ := exec.LookPath("chromium")
	abs, _ := filepath.Abs(page)
	if shot == "" {
		shot = filepath.Join(t.TempDir(), "report.png")
	}
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-quic",
		"--user-data-dir="+t.TempDir(), "--hide-scrollbars", "--window-size=1280,2400",
		"--screenshot="+shot, "file://"+abs)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func inkAndColours(img image.Image) (float64, int) {
	b := img.Bounds()
	seen := map[uint32]bool{}
	var ink, all int
	for y := b.Min.Y; y < b.Max.Y; y += 2 {
		for x := b.Min.X; x < b.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			all++
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				ink++
			}
			seen[r>>11<<10|g>>11<<5|bl>>11] = true
		}
	}
	return float64(ink) / float64(all), len(seen)
}

// `harness report` reads results.json files people may have edited: any
// results that parse give verdicts and a summary (and plots, when they
// have runs), never a panic.
func FuzzVerdictsAndMarkdown(f *testing.F) {
	real, err := os.ReadFile(filepath.Join(fixture, "results.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(real)
	f.Add([]byte(`{"schema":"flood-harness/results/v1","runs":[{"target":"a","concurrency":1,"requests":3,"ok":5,"failed":-2,"peak_rss_bytes":-1,"oom_killed":true}]}`))
	f.Add([]byte(`{"schema":"flood-harness/results/v1","runs":[{"target":"a","concurrency":0},{"target":"a","concurrency":0,"repeat":1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		r, err := result.Parse("fuzz.json", data)
		if err != nil {
			return
		}
		if v := Verdicts(r); len(v) != len(r.Targets()) {
			t.Fatalf("%d verdicts for %d targets", len(v), len(r.Targets()))
		}
		if md := Markdown(r); !bytes.HasPrefix(md, []byte("## flood:")) {
			t.Fatalf("summary.md starts %q", md[:min(len(md), 40)])
		}
		if len(r.Runs) > 0 && len(r.Runs) < 50 {
			if _, err := Figures(r, t.TempDir()); err != nil {
				t.Logf("figures: %v", err) // an error is fine; a panic is not
			}
		}
	})
}

// A target the watchdog killed (no cgroup could be made) never reads as a
// kernel OOM kill: not in the verdict, the summary or the peak table.
func TestWatchdogKillIsNamed(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{{
		Target: "buffered", Concurrency: 32, Client: result.Client{Requests: 3},
		PeakRSSBytes: 300 << 20, MemoryLimitBytes: 256 << 20, MemoryLimitBy: result.LimitWatchdog, OOMKilled: true,
	}}}
	v := Verdicts(r)[0]
	if !v.Bad || !strings.Contains(v.Text, "killed by the watchdog at 32 clients") || strings.Contains(v.Text, "OOM") {
		t.Errorf("verdict %q, want a bad one naming the watchdog", v.Text)
	}
	md := string(Markdown(r))
	if !strings.Contains(md, "**killed by the watchdog**") || strings.Contains(md, "OOM-killed") {
		t.Errorf("summary.md:\n%s", md)
	}
	var table strings.Builder
	if err := PeakTable(&table, r); err != nil || !strings.Contains(table.String(), "300.0 WATCHDOG") {
		t.Errorf("peak table (%v):\n%s", err, table.String())
	}
}

// The console's peak table says which measure its peaks are, and marks the
// cells of another measure where it mixes them.
func TestPeakTableNamesSources(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{
		{Target: "go", Concurrency: 8, PeakRSSBytes: 20 << 20, PeakRSSSource: result.PeakVmHWM},
		{Target: "gunicorn", Concurrency: 8, PeakRSSBytes: 399 << 20, PeakRSSSource: result.PeakCgroup},
	}}
	var b strings.Builder
	if err := PeakTable(&b, r); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"399.0 [cgroup]", "vmhwm: the kernel's high-water mark", "cgroup: the kernel's peak charge of the target's cgroup"} {
		if !strings.Contains(out, want) {
			t.Errorf("table does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "20.0 [") {
		t.Errorf("a VmHWM cell is marked:\n%s", out)
	}
	// summary.md and report.html say the same, never that a peak is not
	// the sampler's when it is.
	sampled := &result.Results{Schema: result.Schema, Runs: []result.Run{{Target: "tree", Concurrency: 8, PeakRSSBytes: 90 << 20, PeakRSSSource: result.PeakSampled}}}
	page, err := HTML(sampled, nil, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	for name, doc := range map[string]string{"summary.md": string(Markdown(sampled)), "report.html": string(page)} {
		if !strings.Contains(doc, "sampled is the highest sum of the processes") || strings.Contains(doc, "not the sampler") {
			t.Errorf("%s misnames a sampled peak", name)
		}
	}
	one := &result.Results{Schema: result.Schema, Runs: r.Runs[:1]}
	b.Reset()
	PeakTable(&b, one)
	if strings.Contains(b.String(), "[") || !strings.Contains(b.String(), "vmhwm: ") {
		t.Errorf("one source: cells marked or the source unsaid:\n%s", b.String())
	}
}

// At 1280 px, as people open it, no run table runs past its box: the
// failures-by-kind and file cells wrap. Measured in Chromium on a copy of
// the page with a script that counts overflowing tables (the report
// itself has no script).
func TestRunTablesFitA1280Window(t *testing.T) {
	t.Parallel()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs it", "chromium")
	chromium, _ := exec.LookPath("chromium")
	page, err := Write(load(t), fixture, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	probe := `<script>document.body.setAttribute("data-overflow",
[...document.querySelectorAll(".scroll")].filter(e => e.scrollWidth > e.clientWidth + 1).length + "/" + document.querySelectorAll(".scroll").length + " " + [...document.querySelectorAll(".scroll")].map(e => e.scrollWidth + ">" + e.clientWidth).join(","))</script></body>`
	measured := filepath.Join(t.TempDir(), "probe.html")
	if err := os.WriteFile(measured, []byte(strings.Replace(string(html), "</body>", probe, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
		"--user-data-dir="+t.TempDir(), "--window-size=1280,2400", "--dump-dom", "file://"+measured).Output()
	if err != nil {
		t.Fatalf("chromium: %v", err)
	}
	m := regexp.MustCompile(`data-overflow="(\d+)/(\d+) ([^"]*)"`).FindStringSubmatch(string(out))
	if m == nil || m[2] == "0" {
		t.Fatalf("no measurement in the page:\n%.2000s", out)
	}
	if m[1] != "0" {
		t.Errorf("%s of %s run tables run past their box at 1280 px (content width > box width: %s)", m[1], m[2], m[3])
	}
}

// With a baseline, report.html says what grew in each target's heap.
func TestHTMLShowsHeapGrowth(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{{Target: "streamed", Concurrency: 16, PeakRSSBytes: 100 << 20, PeakRSSSource: result.PeakVmHWM}}}
	diffs := []heapprof.RunDiff{
		{Target: "streamed", Level: 16, Current: "cur.pb.gz", Baseline: "base.pb.gz",
			Top: []heapprof.Delta{{Func: "targets.(*Server).export", DeltaBytes: 28 << 20, InuseBytes: 28 << 20}}},
		{Target: "buffered", Level: 16, Err: "open base.pb.gz: no such file"},
	}
	page, err := HTML(r, nil, ".", diffs)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Heap growth against the baseline", "<code>targets.(*Server).export</code></td><td>&#43;28.0</td><td>28.0</td>",
		"go tool pprof -diff_base=base.pb.gz cur.pb.gz", "no diff: open base.pb.gz: no such file"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("report.html does not hold %q", want)
		}
	}
	if page, _ := HTML(r, nil, ".", nil); strings.Contains(string(page), "Heap growth against") {
		t.Error("a report without a baseline has a heap growth section")
	}
}

// A report with no heap top says how to get one, for Go and for Python,
// instead of leaving the section out.
func TestNoHeapTopShowsHowToAddOne(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{{Target: "app", Concurrency: 4, PeakRSSBytes: 100 << 20, PeakRSSSource: result.PeakVmHWM}}}
	page, err := HTML(r, nil, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"No target served a heap profile", `net/http/pprof`, "heap: pprof", "/debug/tracemalloc?top=10", "heap: tracemalloc", "heap: auto"} {
		if !strings.Contains(html.UnescapeString(string(page)), want) {
			t.Errorf("report.html does not say %q", want)
		}
	}
}

// A peak read above the cap without a kill (VmHWM counts file pages the
// cgroup reclaimed) is explained by the cap's own figure.
func TestVerdictSaysWhatTheCapCounted(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema}
	for i, l := range []int{1, 32} {
		r.Runs = append(r.Runs, result.Run{Target: "bytes", Concurrency: l, Client: result.Client{Requests: 10, OK: 10},
			PeakRSSSource: result.PeakVmHWM, PeakRSSBytes: int64([]int{37, 518}[i]) << 20, CgroupPeakBytes: int64([]int{40, 510}[i]) << 20,
			MemoryLimitBytes: 512 << 20, MemoryLimitBy: result.LimitCgroup})
	}
	if v := Verdicts(r)[0].Text; !strings.Contains(v, "highest cgroup charge 510.0 MiB: 100% of the 512 MiB cap (at the cap: the kernel reclaimed page cache; not killed)") {
		t.Errorf("verdict %q does not say what the cap counted", v)
	}
}

// A server whose VmHWM counts mapped files the cgroup was never charged
// for (Prometheus 2.42: its binary and TSDB blocks, VmHWM ~37 MiB above the
// charge at every level) is judged by the charge: the kill's figure is
// the cap's, and the estimate of what the cap holds is drawn through the
// charges (through VmHWM it said ~10 here, ~37 MiB too soon), named an
// estimate, with harness capacity to confirm it.
func TestTheCapIsComparedWithWhatItCharges(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema}
	for i, l := range []int{1, 4, 8, 16} {
		charge := []int64{93, 213, 373, 512}[i] << 20
		r.Runs = append(r.Runs, result.Run{Target: "prom", Concurrency: l, Client: result.Client{Requests: 4, OK: 4},
			PeakRSSSource: result.PeakVmHWM, PeakRSSBytes: charge + 37<<20, CgroupPeakBytes: charge, OOMKilled: l == 16,
			MemoryLimitBytes: 512 << 20, MemoryLimitBy: result.LimitCgroup})
	}
	v := Verdicts(r)[0].Text
	for _, want := range []string{
		"OOM-killed at 16 clients (cgroup charge 512.0 MiB under a 512 MiB cap; the peak, 549.0 MiB, counts file pages the cap never charged)",
		"40.00 MiB per extra client", // through the charges: 93, 213, 373
		"holds ~11 concurrent downloads (an estimate from single peaks: `harness capacity` finds and confirms the number)",
	} {
		if !strings.Contains(v, want) {
			t.Errorf("verdict %q\ndoes not say %q", v, want)
		}
	}
}

// Words: one request is "the 1 request", and the heap note is there only
// when some target served a heap profile.
func TestWordsFitTheRun(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{{Target: "a", Concurrency: 1, Client: result.Client{Requests: 1, OK: 1}, PeakRSSBytes: 1 << 20, PeakRSSSource: result.PeakVmHWM}}}
	if v := Verdicts(r)[0].Text; !strings.Contains(v, "the 1 request served") {
		t.Errorf("verdict %q", v)
	}
	page, err := HTML(r, nil, ".", nil)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(page, []byte("Heap profiles show the Go heap")) {
		t.Error("the heap note is on a page without heap profiles")
	}
	r.Runs[0].HeapTop = []result.HeapFunc{{Func: "main.f", InuseBytes: 1 << 20}}
	r.Runs[0].HeapProfile = "profiles/a.pb.gz"
	if page, _ = HTML(r, nil, ".", nil); !bytes.Contains(page, []byte("Heap profiles show the Go heap")) {
		t.Error("the heap note is missing beside a heap top")
	}
}

// RSS over time shades each run's settle (memory.settle after the flood)
// and draws what it kept at the settle's end; without a settle, no band.
func TestTimelineShadesTheSettle(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "series"), 0o755)
	os.WriteFile(filepath.Join(dir, "series", "s.csv"), []byte("elapsed_ms,rss_bytes,hwm_bytes,procs,cgroup_bytes\n0,10485760,10485760,1,0\n5000,20971520,20971520,1,0\n"), 0o644)
	run := result.Run{Target: "streamed", Concurrency: 4, Client: result.Client{Requests: 4, OK: 4}, PeakRSSBytes: 20 << 20,
		IdleRSSBytes: 10 << 20, AfterRSSBytes: 15 << 20, SettleS: 2, RSSSeries: "series/s.csv"}
	for _, tt := range []struct {
		settle float64
		band   bool
	}{{2, true}, {0, false}} {
		run.SettleS = tt.settle
		figs, err := Figures(&result.Results{Schema: result.Schema, Runs: []result.Run{run}}, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range figs {
			if f.Name == "rss_timeline" && strings.Contains(string(f.SVG), "settle (memory.settle)") != tt.band {
				t.Errorf("settle %v s: band drawn %v, want %v", tt.settle, !tt.band, tt.band)
			}
		}
	}
}

// A run whose server's accept queue overflowed says so beside its
// failures, in the report and in summary.md, with the host's bound.
func TestAcceptQueueOverflowIsSaid(t *testing.T) {
	t.Parallel()
	r := &result.Results{Schema: result.Schema, Host: result.Host{Somaxconn: 4096}, Runs: []result.Run{{
		Target: "py", Concurrency: 32, Client: result.Client{Requests: 40, OK: 30, Failed: 10, Errors: map[string]int64{"connect": 10}},
		PeakRSSBytes: 30 << 20, IdleRSSBytes: 20 << 20, ListenOverflows: 60,
	}}}
	const want = "the server's accept queue overflowed 60 times (somaxconn 4096)"
	if md := string(Markdown(r)); !strings.Contains(md, want) {
		t.Errorf("summary.md does not say %q:\n%s", want, md)
	}
	page, err := HTML(r, nil, "", nil)
	if err != nil || !strings.Contains(string(page), html.EscapeString(want)) {
		t.Errorf("report.html (%v) does not say %q", err, want)
	}
}

// The console's line for a run says how it ended in the cap's own words:
// a watchdog's kill is not the kernel's OOM kill.
func TestOutcomeSaysWhoKilled(t *testing.T) {
	t.Parallel()
	run := result.Run{Target: "buffered", Concurrency: 8, Client: result.Client{Requests: 9, OK: 3}, PeakRSSBytes: 70 << 20, PeakRSSSource: result.PeakVmHWM,
		MemoryLimitBytes: 64 << 20, MemoryLimitBy: result.LimitWatchdog, OOMKilled: true}
	got := strings.Join(Outcome(run, 4096), "\n")
	if !strings.Contains(got, "3 ok / 9 requests, peak RSS 70.0 MiB (vmhwm)  KILLED by the watchdog at 64.0 MiB") || strings.Contains(got, "OOM-KILLED") {
		t.Errorf("watchdog kill: %q", got)
	}
	run.MemoryLimitBy = result.LimitCgroup
	if got := strings.Join(Outcome(run, 4096), "\n"); !strings.Contains(got, "OOM-KILLED") {
		t.Errorf("kernel kill: %q", got)
	}
	failed := result.Run{Target: "a", Client: result.Client{Requests: 4, Failed: 4, Errors: map[string]int64{"status_500": 4}}}
	failed.Error = failed.NoOKResponse()
	if got := strings.Join(Outcome(failed, 4096), "\n"); !strings.Contains(got, "0 ok / 4 requests: FAILED, no ok response: status_500 ×4") {
		t.Errorf("no ok response: %q", got)
	}
}

// Under a kernel cap a VmHWM peak can read above the cap (file pages
// count in VmHWM, the kernel reclaims them from the cgroup): the cap's
// own figure is said beside it, and reaching the cap without a kill too.
func TestCapNote(t *testing.T) {
	t.Parallel()
	run := result.Run{MemoryLimitBytes: 512 << 20, MemoryLimitBy: result.LimitCgroup, PeakRSSSource: result.PeakVmHWM, PeakRSSBytes: 518 << 20, CgroupPeakBytes: 510 << 20}
	if n := CapNote(run); n != "cgroup charge 510.0 MiB of the 512 MiB cap; at the cap: the kernel reclaimed page cache; not killed" {
		t.Errorf("CapNote = %q", n)
	}
	run.CgroupPeakBytes = 100 << 20
	if n := CapNote(run); n != "cgroup charge 100.0 MiB of the 512 MiB cap" {
		t.Errorf("CapNote far below the cap = %q", n)
	}
	run.PeakRSSSource = result.PeakCgroup
	if n := CapNote(run); n != "" {
		t.Errorf("a peak that is the cgroup's charge needs no note, got %q", n)
	}
	if n := CapNote(result.Run{MemoryLimitBy: result.LimitWatchdog, MemoryLimitBytes: 1, CgroupPeakBytes: 1}); n != "" {
		t.Errorf("the watchdog counts no cgroup: %q", n)
	}
}

// A level whose answers were still streaming when it ended measured the
// server with them in flight: the line says so, with what was received,
// not "no ok response"; answers that completed slowly say how long one
// took, and the cut-off ones are counted in the line.
func TestOutcomeOfSlowAnswers(t *testing.T) {
	t.Parallel()
	streaming := result.Run{Target: "s", Concurrency: 8, Client: result.Client{Requests: 8, CutOff: 8, BytesReceived: 40e6, DurationS: 10}, PeakRSSBytes: 300 << 20, PeakRSSSource: result.PeakVmHWM}
	if streaming.NoOKResponse() != "" || !streaming.Streaming() {
		t.Errorf("answers cut off mid-stream read as no ok response: %q", streaming.NoOKResponse())
	}
	got := strings.Join(Outcome(streaming, 0), "\n")
	if !strings.Contains(got, "0 ok / 8 requests, 8 cut off when the level ended (still streaming: no answer completed in 10 s, 40.0 MB received") || !strings.Contains(got, "peak RSS 300.0 MiB") {
		t.Errorf("streaming: %q", got)
	}
	silent := result.Run{Client: result.Client{Requests: 8, CutOff: 8}}
	if silent.Streaming() || silent.NoOKResponse() != "no ok response: cut_off ×8" {
		t.Errorf("a server that sent nothing: streaming %v, %q", silent.Streaming(), silent.NoOKResponse())
	}
	slow := result.Run{Client: result.Client{Requests: 16, OK: 10, CutOff: 6, LatencyMs: result.Latency{P50: 4200}}}
	if got := strings.Join(Outcome(slow, 0), "\n"); !strings.Contains(got, "10 ok / 16 requests, 6 cut off when the level ended (an answer took 4.2 s, median)") {
		t.Errorf("slow answers: %q", got)
	}
}

// A failure's reason reaches summary.md and the console beside its kind.
func TestReasonsAreShown(t *testing.T) {
	t.Parallel()
	run := result.Run{Target: "api", Concurrency: 2, Client: result.Client{Requests: 3, Failed: 3, Errors: map[string]int64{"invalid_body": 3},
		FailureReasons: []result.FailureReason{{Kind: "invalid_body", Reason: `byte 26: want ',' or ']', got '\x01'`, Count: 3}}}}
	run.Error = run.NoOKResponse()
	r := &result.Results{Schema: result.Schema, Runs: []result.Run{run}}
	if md := string(Markdown(r)); !strings.Contains(md, "why invalid_body: byte 26: want ',' or ']'") {
		t.Errorf("summary.md has no reason:\n%s", md)
	}
	if got := strings.Join(Outcome(run, 0), "\n"); !strings.Contains(got, "why invalid_body failed (3 of them): byte 26") {
		t.Errorf("console: %q", got)
	}
}

// A heap top of crumbs is not said to hold the most: an after-flood top
// under 1 MiB beside 30 MiB kept says the memory is not in live objects;
// an evidence repeat's says so of its snapshots. A real one is named.
func TestOutcomeNamesOnlyAHeapTopThatHolds(t *testing.T) {
	t.Parallel()
	run := result.Run{Target: "t", Concurrency: 8, Client: result.Client{Requests: 8, OK: 8}, PeakRSSBytes: 200 << 20, PeakRSSSource: result.PeakVmHWM,
		AfterRSSBytes: 70 << 20, IdleRSSBytes: 40 << 20, RetainedBytes: 30 << 20,
		AfterHeapTop:          []result.HeapFunc{{Func: "Condition.__init__ (threading.py:258)", InuseBytes: 2048}},
		HeapTop:               []result.HeapFunc{{Func: "<module> (gunicorn:33)", InuseBytes: 4096}},
		HeapMechanism:         "tracemalloc (injected: sitecustomize on PYTHONPATH)",
		HeapEvidencePeakBytes: 300 << 20}
	got := strings.Join(Outcome(run, 4096), "\n")
	for _, want := range []string{"none of it in live objects the heap top traces", "held under 1 MiB in any one place at its snapshots"} {
		if !strings.Contains(got, want) {
			t.Errorf("outcome %q; want %q", got, want)
		}
	}
	if strings.Contains(got, "held most") {
		t.Errorf("outcome %q names crumbs as holding the most", got)
	}
	run.HeapTop[0].InuseBytes, run.AfterHeapTop[0].InuseBytes = 60<<20, 25<<20
	got = strings.Join(Outcome(run, 4096), "\n")
	if !strings.Contains(got, "held most by Condition.__init__ (threading.py:258) (25.0 MiB)") || !strings.Contains(got, "at the peak <module> (gunicorn:33) held most (60.0 MiB)") {
		t.Errorf("outcome %q; want both tops named", got)
	}
}
