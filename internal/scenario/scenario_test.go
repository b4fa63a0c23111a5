package scenario

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/fault"
)

const good = `name: t
levels: [1, 4]
targets:
  - name: a
    command: [harness, serve, --port, "{port}"]
`

func TestParseDefaults(t *testing.T) {
	t.Parallel()
	s, err := Parse("good.yaml", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Repeats != 1 || s.Duration != 10*time.Second || s.Grace != 5*time.Second || s.Client.Model != "closed" ||
		s.Request.Path != "/export" || s.Request.Validate != "none" || s.Memory.SampleInterval != 20*time.Millisecond ||
		s.Memory.HeapProfile != "peak" || s.Targets[0].Host != "127.0.0.1" || s.Targets[0].Health != "/healthz" {
		t.Errorf("defaults not filled: %+v", s)
	}
	if len(s.SHA256) != 64 || s.File != "good.yaml" {
		t.Errorf("File %q SHA256 %q", s.File, s.SHA256)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		yaml string
		want []string // each must appear in the error
	}{
		{"unknown key", good + "colour: red\n", []string{"bad.yaml:6: colour: unknown key (want one of"}},
		{"unknown nested key", good + "client:\n  modle: open\n", []string{"bad.yaml:7: client.modle: unknown key"}},
		{"wrong type", strings.Replace(good, "[1, 4]", "lots", 1), []string{"bad.yaml:2: levels: want a list of integers, got \"lots\""}},
		{"bad size", good + "memory:\n  limit: 12XB\n", []string{"bad.yaml:7: memory.limit: \"12XB\""}},
		{"bad duration", good + "duration: soon\n", []string{"bad.yaml:6: duration: \"soon\""}},
		{"negative duration", good + "warmup: -1s\n", []string{"bad.yaml:6: warmup: \"-1s\": negative"}},
		{"empty levels", strings.Replace(good, "[1, 4]", "[]", 1), []string{"bad.yaml:2: levels: want at least one"}},
		{"zero level", strings.Replace(good, "[1, 4]", "[1, 0]", 1), []string{"bad.yaml:2: levels[1]: concurrency 0"}},
		{"no port", strings.Replace(good, `"{port}"`, "8080", 1), []string{"bad.yaml:5: targets[0].command: no argument contains {port}"}},
		{"duplicate target", good + "  - name: a\n    command: [x, \"{port}\"]\n", []string{"bad.yaml:6: targets[1].name: target \"a\" defined twice"}},
		{"remote host", good + "    host: 10.1.2.3\n", []string{"bad.yaml:6: targets[0].host: \"10.1.2.3\" is not a loopback address"}},
		{"open without rate", good + "client:\n  model: open\n", []string{"client.rate: model open needs a rate"}},
		{"bad rate", good + "client:\n  model: open\n  rate: fast\n", []string{"bad.yaml:8: client.rate"}},
		{"duplicate key", good + "repeats: 2\nrepeats: 3\n", []string{"bad.yaml:7: repeats: given twice"}},
		{"syntax", "name: [unclosed\n", []string{"bad.yaml:"}},
		{"empty", "", []string{"bad.yaml: empty file"}},
		{"not a mapping", "- 1\n- 2\n", []string{"bad.yaml:1: want a mapping, got a list"}},
		{"unknown heap kind", good + "    heap: jemalloc\n", []string{"bad.yaml:6: targets[0].heap: want auto, off, pprof or tracemalloc, got \"jemalloc\""}},
		{"heap auto with an endpoint", good + "    heap: auto\n    pprof: /debug/pprof/heap\n", []string{"bad.yaml:6: targets[0].heap: heap: auto takes the evidence itself"}},
		{"heap contradicts", good + "    heap: tracemalloc\n    pprof: /debug/pprof/heap\n", []string{"bad.yaml:6: targets[0].heap: heap: tracemalloc contradicts"}},
		{"empty gate", good + "gate:\n  baseline: b.json\n", []string{"bad.yaml:6: gate.rules: a gate: block wants at least one rule"}},
		{"command and container", good + "    container: {image: app, port: 80}\n", []string{"bad.yaml:6: targets[0].container: give command or container, not both"}},
		{"container without port", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    container:\n      image: app\n", []string{"bad.yaml:5: targets[0].container.port: want the port"}},
		{"container engine", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    container: {engine: lxc, image: app, port: 80}\n", []string{"targets[0].container.engine: want podman or docker, got \"lxc\""}},
		{"container image flag", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    container: {image: --privileged, port: 80}\n", []string{"targets[0].container.image: want an image name"}},
		{"attach two ways", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    attach: {pid: 1, cgroup: /x, port: 80}\n", []string{"bad.yaml:5: targets[0].attach: want exactly one of pid, pid_file, cgroup or container"}},
		{"attach and command", good + "    attach: {pid: 1, port: 80}\n", []string{"targets[0].attach: attach names a running server"}},
		{"attach relative cgroup", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    attach: {cgroup: app.service, port: 80}\n", []string{"targets[0].attach.cgroup: want the cgroup's absolute path"}},
		{"attach without port", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    attach: {pid: 7}\n", []string{"targets[0].attach.port: want the port"}},
		{"attach under a cap", "name: t\nlevels: [1]\nmemory: {limit: 64MiB}\ntargets:\n  - name: a\n    attach: {pid: 7, port: 80}\n", []string{"bad.yaml:3: memory.limit: target \"a\" is attached: the harness cannot cap"}},
		{"attach with chaos", "name: t\nlevels: [1]\nduration: 10s\nchaos: {restart_after: 1s}\ntargets:\n  - name: a\n    attach: {pid: 7, port: 80}\n", []string{"chaos.restart_after: target \"a\" is attached"}},
		{"k6 host without launch", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6:\n  hosts:\n    - {address: 10.0.0.2}\n", []string{"k6.hosts[0].launch: want the command that runs a program on that host"}},
		{"k6 host bad address", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6:\n  hosts:\n    - {launch: [ssh, a], address: load-a}\n", []string{"k6.hosts[0].address: want the IP the instance's REST API listens on, got \"load-a\""}},
		{"k6 instances and hosts", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6:\n  instances: 3\n  hosts:\n    - {launch: [ssh, a], address: 10.0.0.2}\n", []string{"k6.instances: 3 instances but 1 hosts"}},
		{"k6 collector", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6: {collector: harness.local}\n", []string{"k6.collector: want the IP"}},
		{"attached with a port", "name: t\nlevels: [1]\ntargets:\n  - name: a\n    port: 8080\n    attach: {pid: 7, port: 80}\n", []string{"targets[0].port: want a port 1..65535 for a target the harness starts"}},
		{"port out of range", good + "    port: 70000\n", []string{"bad.yaml:6: targets[0].port: want a port 1..65535"}},
		{"k6 remote without a collector port", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6:\n  remote: [10.0.0.2:6565]\n  collector: 10.0.0.1\n", []string{"k6.collector: instances started elsewhere are told the collector in advance: want IP:PORT"}},
		{"k6 remote bad address", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6:\n  remote: [load-a]\n  collector: 10.0.0.1:7070\n", []string{"k6.remote[0]: want HOST:PORT of a k6 REST API"}},
		{"k6 remote and external", "name: t\nlevels: [1]\ndriver: k6\nscript: x.js\ntargets:\n  - name: a\n    command: [x, \"{port}\"]\nk6:\n  remote: [10.0.0.2:6565]\n  external: 2\n  collector: 10.0.0.1:7070\n", []string{"k6.remote: instances started elsewhere (remote or external) run alone"}},
		{"two problems at once", strings.Replace(good, "name: t", "name: \"\"\nrepeats: -1", 1), []string{"name: want a name", "repeats: want 1..100"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("bad.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatalf("Parse = nil error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Parse error:\n%v\nwant it to contain %q", err, w)
				}
			}
			var se *Error
			if !errors.As(err, &se) || fault.KindOf(se) != fault.BadInput {
				t.Errorf("error %v does not carry exit code 2", err)
			}
		})
	}
}

func TestHeapKindFillsThePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		extra              string
		pprof, tracemalloc string
	}{
		{"", "", ""},
		{"    heap: pprof\n", DefaultPprof, ""},
		{"    heap: tracemalloc\n", "", DefaultTracemalloc},
		{"    heap: tracemalloc\n    tracemalloc: /heap?top=5\n", "", "/heap?top=5"},
		{"    pprof: /p\n", "/p", ""},
	}
	for _, tt := range tests {
		s, err := Parse("heap.yaml", []byte(good+tt.extra))
		if err != nil {
			t.Errorf("%q: %v", tt.extra, err)
			continue
		}
		if tg := s.Targets[0]; tg.Pprof != tt.pprof || tg.Tracemalloc != tt.tracemalloc {
			t.Errorf("%q: pprof %q tracemalloc %q, want %q and %q", tt.extra, tg.Pprof, tg.Tracemalloc, tt.pprof, tt.tracemalloc)
		}
	}
}

func TestRemoteNeedsOptIn(t *testing.T) {
	t.Parallel()
	y := "allow_remote: true\n" + good + "    host: 10.1.2.3\n"
	if _, err := Parse("remote.yaml", []byte(y)); err != nil {
		t.Errorf("allow_remote: true still refused: %v", err)
	}
	for _, host := range []string{"127.0.0.1", "::1", "localhost", "127.8.9.10"} {
		if _, err := Parse("lo.yaml", []byte(good+"    host: \""+host+"\"\n")); err != nil {
			t.Errorf("loopback host %s refused: %v", host, err)
		}
	}
}

func TestRate(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]Rate{"50/s": 50, "120/m": 2, "7200/h": 2, "3": 3} {
		var r Rate
		if err := r.UnmarshalText([]byte(in)); err != nil || r != want {
			t.Errorf("Rate(%q) = %v, %v; want %v", in, r, err, want)
		}
	}
	for _, in := range []string{"", "x/s", "5/d", "-1/s", "NaN"} {
		var r Rate
		if err := r.UnmarshalText([]byte(in)); err == nil {
			t.Errorf("Rate(%q) = %v, want an error", in, r)
		}
	}
}

func TestShippedScenariosLoad(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	if len(files) < 3 {
		t.Fatalf("found %d scenario files, want flood, quick and admission at least", len(files))
	}
	for _, f := range files {
		if _, _, err := Load(f, Flags{}); err != nil {
			t.Errorf("Load(%s): %v", f, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	for _, p := range files {
		if data, err := os.ReadFile(p); err == nil {
			f.Add(data)
		}
	}
	f.Add([]byte(good))
	f.Add([]byte("levels: [1, &a 2, *a]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if len(s.Levels) == 0 || len(s.Targets) == 0 || s.Repeats < 1 || s.Duration <= 0 {
			t.Fatalf("Parse accepted an unusable scenario: %+v", s)
		}
		for _, tg := range s.Targets {
			ip := net.ParseIP(tg.Host)
			if tg.Host != "localhost" && (ip == nil || !ip.IsLoopback()) && !s.AllowRemote {
				t.Fatalf("Parse accepted remote host %q without allow_remote", tg.Host)
			}
		}
	})
}

// Gate rules come from scenario files and bare rules files: any input gives
// rules or an error naming the file, and accepted rules are usable.
func FuzzParseGate(f *testing.F) {
	f.Add([]byte("rules:\n  - {metric: peak_rss_bytes, max: 64MiB, target: s}\n"))
	f.Add([]byte(good + "gate:\n  baseline: b.json\n  rules:\n    - {metric: ok_ratio, min: 1}\n    - metric: oom\n      oom: never\n"))
	f.Add([]byte("rules: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := ParseGate("fuzz.yaml", data)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		if g == nil || len(g.Rules) == 0 || g.File != "fuzz.yaml" {
			t.Fatalf("ParseGate accepted unusable rules: %+v", g)
		}
	})
}

func TestParseReportsDecodeAndValidationTogether(t *testing.T) {
	t.Parallel()
	y := "name: x\nlevels: many\nduration: forever\ntargets:\n  - name: a\n    command: [serve]\n"
	_, err := Parse("both.yaml", []byte(y))
	if err == nil {
		t.Fatal("Parse = nil error")
	}
	msg := err.Error()
	for _, w := range []string{"both.yaml:2: levels: want a list", "both.yaml:3: duration:", "both.yaml:6: targets[0].command: no argument contains {port}"} {
		if !strings.Contains(msg, w) {
			t.Errorf("error:\n%s\nwant it to contain %q", msg, w)
		}
	}
	if strings.Contains(msg, "want at least one concurrency level") {
		t.Errorf("an undecodable key is reported twice:\n%s", msg)
	}
}

func TestLoadGate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	g, err := LoadGate(write("sc.yaml", good+"gate:\n  baseline: b.json\n  rules:\n    - {metric: ok_ratio, min: 1}\n    - metric: oom\n      oom: never\n"))
	if err != nil {
		t.Fatal(err)
	}
	if g.Baseline != "b.json" || len(g.Rules) != 2 || g.Rules[0].Line != 9 || g.Rules[1].Line != 10 || g.Rules[0].Min != "1" {
		t.Errorf("gate %+v", g)
	}
	g, err = LoadGate(write("rules.yaml", "rules:\n  - {metric: peak_rss_bytes, max: 64MiB, target: s}\n"))
	if err != nil || g.Rules[0].Max != "64MiB" || g.Rules[0].Line != 2 || g.File == "" {
		t.Errorf("bare rules file: %+v, %v", g, err)
	}
	for name, body := range map[string]string{
		"nogate.yaml":  good,
		"unknown.yaml": "rules:\n  - {metric: ok_ratio, maximum: 3}\n",
		"empty.yaml":   "baseline: x\n",
	} {
		if _, err := LoadGate(write(name, body)); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: LoadGate error %v, want one naming the file", name, err)
		}
	}
}

// duration: auto is a level of at least the default that goes on until
// every client has one whole answer; only closed-model harness clients
// can wait for that, and a problem names its line.
func TestDurationAuto(t *testing.T) {
	t.Parallel()
	s, err := Parse("auto.yaml", []byte(good+"duration: auto\n"))
	if err != nil || !s.DurationAuto || s.Duration != 10*time.Second {
		t.Fatalf("duration: auto = %+v, %v; want auto from 10s", s, err)
	}
	_, err = Parse("auto.yaml", []byte(good+"duration: auto\nclient: {model: open, rate: 5/s}\n"))
	if err == nil || !strings.Contains(err.Error(), "auto.yaml:6: duration: duration auto waits") {
		t.Errorf("auto with the open model: %v", err)
	}
	if s, _, err := build("auto.yaml", []byte(good+"duration: auto\n"), Flags{Duration: 3 * time.Second}); err != nil || s.DurationAuto || s.Duration != 3*time.Second {
		t.Errorf("--duration 3s over duration: auto = %+v, %v; want a fixed 3s", s, err)
	}
}

// rows: names the JSON array whose elements are the rows; it needs
// validate json, and a path of keys and indexes.
func TestRowsKey(t *testing.T) {
	t.Parallel()
	s, err := Parse("rows.yaml", []byte(good+"request: {validate: json, rows: data}\n"))
	if err != nil || s.RequestOf(s.Targets[0]).Rows != "data" {
		t.Fatalf("rows: data = %v, %v", s, err)
	}
	for yaml, want := range map[string]string{
		good + "request: {validate: csv, rows: data}\n":  "rows.yaml:6: request.rows: rows names the array of a JSON body: it needs validate: json (here csv)",
		good + "request: {validate: json, rows: a..b}\n": "request.rows: want a path of keys and indexes",
	} {
		if _, err := Parse("rows.yaml", []byte(yaml)); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want %q", yaml, err, want)
		}
	}
}
