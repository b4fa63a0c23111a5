package scenario

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/result"
)

// Quick is a scenario given on the command line (`harness run --cmd …`,
// `harness init`): servers to start and the flags people change first,
// over the defaults of the question people first bring ("does /export die
// at 32 concurrent downloads under 512 MiB?"), asked of slow clients. Its
// Scenario is a value like any file's; the file kept beside the run is
// marshalled from that value (Scenario.YAML), so the two never differ.
type Quick struct {
	// Name is the run's name; "": a single command's name= (`--cmd
	// 'httpbin=…'`), else my-server.
	Name string
	// Cmds are the servers, each [name=]COMMAND (ParseTarget); none: the
	// reference streamed server, to try a file on.
	Cmds []string
}

// Scenario is q as the scenario kept in file: its targets with the quick
// defaults, f laid over them, validated once as a file is.
func (q Quick) Scenario(file string, f Flags) (*Scenario, []string, error) {
	s := &Scenario{
		File: file, Levels: []int{1, 8, 32}, Duration: 10 * time.Second, DurationAuto: true,
		Request: Request{Path: "/export", Validate: result.CheckNone},
		Client:  Client{ReadRate: 2 << 20, RecvBuffer: 64 << 10},
		Memory:  Memory{Limit: 512 << 20},
		lines:   map[string]int{}, flags: map[string]string{},
	}
	health := "/health"
	for i, c := range q.Cmds {
		t, err := ParseTarget(c, i)
		if err != nil {
			return nil, nil, &Error{Flag: "--cmd", Key: fmt.Sprintf("targets[%d].command", i), Msg: fmt.Sprintf("%q: %v", c, err)}
		}
		s.Targets = append(s.Targets, Target{Name: t.Name, Command: t.Command})
	}
	if len(q.Cmds) == 0 {
		health = "/healthz"
		s.Targets = []Target{{Name: "streamed", Command: []string{"harness", "serve", "--impl", "streamed", "--port", "{port}"}}}
	}
	s.Name = q.RunName()
	for i := range s.Targets {
		s.Targets[i].Health = health
	}
	s.Gate = &Gate{File: file, Baseline: "reports/baseline/" + s.Name + "/results.json", Rules: []Rule{
		{Metric: "oom", OOM: "never"}, {Metric: "ok_ratio", Min: "1"}, {Metric: "peak_rss_bytes", Tolerance: "20%"},
	}}
	return s.finish(nil, map[string]bool{}, f)
}

// RunName is the name of q's run: Name, else a single command's name=,
// else my-server (reference for the reference server).
func (q Quick) RunName() string {
	switch {
	case q.Name != "":
		return q.Name
	case len(q.Cmds) == 0:
		return "reference"
	case len(q.Cmds) == 1:
		if t, err := ParseTarget(q.Cmds[0], 0); err == nil && strings.HasPrefix(q.Cmds[0], t.Name+"=") {
			return t.Name
		}
	}
	return "my-server"
}

// QuickTarget is one server to start: its name and argv, "{port}" in it.
type QuickTarget struct {
	Name    string
	Command []string
}

// ParseTarget reads `--cmd` as [name=]COMMAND, the command split as a shell
// would split words (quotes and backslashes, no expansion). A name is lower
// case, so `PORT={port} node server.js` is a command, not a name.
func ParseTarget(s string, i int) (QuickTarget, error) {
	name := fmt.Sprintf("target%d", i+1)
	if i == 0 {
		name = "app"
	}
	if n, rest, ok := strings.Cut(s, "="); ok && targetName.MatchString(n) {
		name, s = n, rest
	}
	argv, err := SplitCommand(s)
	if err != nil {
		return QuickTarget{}, err
	}
	if len(argv) == 0 {
		return QuickTarget{}, errors.New("empty command")
	}
	return QuickTarget{Name: name, Command: argv}, nil
}

var targetName = regexp.MustCompile(`^[a-z][a-z0-9._-]*$`)

// SplitCommand splits s into words as a POSIX shell does, without
// expanding anything: single quotes keep everything, double quotes keep
// all but \" and \\, a backslash outside quotes escapes the next byte.
func SplitCommand(s string) ([]string, error) {
	var out []string
	var w strings.Builder
	inWord, quote := false, byte(0)
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case quote == '\'':
			if c == '\'' {
				quote = 0
			} else {
				w.WriteByte(c)
			}
		case quote == '"':
			switch {
			case c == '"':
				quote = 0
			case c == '\\' && i+1 < len(s) && (s[i+1] == '"' || s[i+1] == '\\'):
				i++
				w.WriteByte(s[i])
			default:
				w.WriteByte(c)
			}
		case c == '\'' || c == '"':
			quote, inWord = c, true
		case c == '\\':
			if i+1 == len(s) {
				return nil, errors.New("command ends with a backslash")
			}
			i++
			w.WriteByte(s[i])
			inWord = true
		case c == ' ' || c == '\t' || c == '\n':
			if inWord {
				out, inWord = append(out, w.String()), false
				w.Reset()
			}
		default:
			w.WriteByte(c)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unclosed %c quote", quote)
	}
	if inWord {
		out = append(out, w.String())
	}
	return out, nil
}

// YAML is the file of a scenario made on the command line (Quick),
// marshalled from its value and commented for whoever edits it next. It
// holds the keys a command line can set; Parse reads it back as the same
// scenario.
func (s *Scenario) YAML() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `# A flood scenario for %s (written by harness; edit freely). Run it with
#   harness run THIS_FILE
# Every key is described in docs/scenario.md of the harness.
name: %s
`, s.Name, s.Name)
	if k := s.Soak; k != nil {
		fmt.Fprintf(&b, "# One long level with its memory trend judged.\nsoak: {concurrency: %d, duration: %v}\n", k.Concurrency, k.Duration)
	} else {
		fmt.Fprintf(&b, "# Concurrent downloads; every level gets a freshly started server.\nlevels: %s\n", intList(s.Levels))
		if s.DurationAuto && s.Duration == 10*time.Second {
			b.WriteString("duration: auto   # 10s, then until every client has one whole answer (at most 5m more)\n")
		} else {
			fmt.Fprintf(&b, "duration: %v\n", s.Duration)
		}
	}
	fmt.Fprintf(&b, `request:
  path: %s          # what each client downloads
  validate: %s    # none, json, ndjson, csv: check bodies while they stream
%sclient:
  # Slow clients, as real ones over a real network: each reads %v/s through a
  # %v receive buffer, so responses stay in flight and in the server's memory.
  read_rate: %v
  recv_buffer: %v
%smemory:
  limit: %v      # the server's memory cap, as a container limit (0: none)
targets:
`, yamlString(s.Request.Path), s.Request.Validate, requestYAML(s.Request), s.Client.ReadRate, s.Client.RecvBuffer, s.Client.ReadRate, s.Client.RecvBuffer, clientYAML(s.Client), s.Memory.Limit)
	for _, t := range s.Targets {
		words := make([]string, len(t.Command))
		for i, w := range t.Command {
			words[i] = yamlString(w)
		}
		fmt.Fprintf(&b, "  - name: %s\n    command: [%s]   # {port} is a free port\n    health: %s   # answers a 2xx once the server is up\n",
			t.Name, strings.Join(words, ", "), yamlString(t.Health))
		b.WriteString("    # heap: pprof         # a Go server with net/http/pprof: heap profiles near the peak\n")
	}
	if g := s.Gate; g != nil {
		fmt.Fprintf(&b, `# harness gate judges a run by these rules (docs/gate.md); make the baseline
# with: harness gate --current RUN/results.json --rules THIS_FILE --update-baseline
gate:
  baseline: %s   # this scenario's own
  rules:
`, yamlString(g.Baseline))
		for _, r := range g.Rules {
			b.WriteString(ruleYAML(r))
		}
	}
	return []byte(b.String())
}

// ruleComments say what the rules a quick scenario starts with ask.
var ruleComments = map[string]string{
	"oom":      "no level may be killed at the cap",
	"ok_ratio": "every request served",
}

// ruleYAML is one gate rule as a flow mapping, its keys in the order
// people read them.
func ruleYAML(r Rule) string {
	level := ""
	if r.Level != 0 {
		level = strconv.Itoa(r.Level)
	}
	var kv []string
	for _, f := range []struct{ k, v string }{
		{"metric", r.Metric}, {"target", r.Target}, {"level", level}, {"max", r.Max},
		{"min", r.Min}, {"tolerance", r.Tolerance}, {"oom", r.OOM},
	} {
		if f.v != "" {
			kv = append(kv, f.k+": "+yamlString(f.v))
		}
	}
	line := "    - {" + strings.Join(kv, ", ") + "}"
	switch {
	case r.Metric == "peak_rss_bytes" && r.Tolerance != "":
		line = fmt.Sprintf("%-50s # peaks within %s of the baseline's", line, r.Tolerance)
	case ruleComments[r.Metric] != "":
		line = fmt.Sprintf("%-50s # %s", line, ruleComments[r.Metric])
	}
	return line + "\n"
}

// clientYAML is the client's keys beyond the slow reader that s sets,
// indented.
func clientYAML(c Client) string {
	var b strings.Builder
	if c.WriteRate != 0 {
		fmt.Fprintf(&b, "  write_rate: %v     # each client sends its body this fast (slow uploaders)\n", c.WriteRate)
	}
	if c.SendBuffer != 0 {
		fmt.Fprintf(&b, "  send_buffer: %v\n", c.SendBuffer)
	}
	if c.HTTP != "" {
		fmt.Fprintf(&b, "  http: %s\n", yamlString(c.HTTP))
	}
	if c.Compressed {
		b.WriteString("  compressed: true     # ask for gzip, br, zstd or deflate; bodies are decoded as they stream\n")
	}
	return b.String()
}

// requestYAML is the request: keys beyond the path that r sets, indented.
func requestYAML(r Request) string {
	var b strings.Builder
	if r.Method != "" {
		fmt.Fprintf(&b, "  method: %s\n", yamlString(r.Method))
	}
	if len(r.Headers) > 0 {
		b.WriteString("  headers:          # ${NAME} is read from the environment at the start, never written\n")
		for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
			fmt.Fprintf(&b, "    %s: %s\n", yamlString(name), yamlString(r.Headers[name]))
		}
	}
	switch {
	case r.Body != "":
		fmt.Fprintf(&b, "  body: %s\n", yamlString(r.Body))
	case r.BodyFile != "":
		fmt.Fprintf(&b, "  body_file: %s\n", yamlString(r.BodyFile))
	case r.BodySize != 0:
		fmt.Fprintf(&b, "  body_size: %v   # generated bytes, made as they are sent\n", r.BodySize)
	}
	if r.ContentType != "" {
		fmt.Fprintf(&b, "  content_type: %s\n", yamlString(r.ContentType))
	}
	if r.Rows != "" {
		fmt.Fprintf(&b, "  rows: %s   # the array whose elements are the rows\n", yamlString(r.Rows))
	}
	return b.String()
}

func intList(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return "[" + strings.Join(s, ", ") + "]"
}

// yamlString quotes s for YAML when a plain scalar would not read back as
// the same string.
func yamlString(s string) string {
	if s != "" && !strings.ContainsAny(s, ":#{}[],&*!|>'\"%@`\\ \t") && !strings.HasPrefix(s, "-") && !strings.HasPrefix(s, "?") {
		if _, err := strconv.ParseFloat(s, 64); err != nil && s != "true" && s != "false" && s != "null" && s != "~" {
			return s
		}
	}
	return strconv.Quote(s)
}
