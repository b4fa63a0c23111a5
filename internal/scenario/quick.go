package scenario

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/units"
)

// Quick is a scenario given on the command line (`harness run --cmd …`,
// `harness init`): one or more commands and the few keys people change
// first. Its YAML is a whole, commented scenario file; a quick run is that
// file, parsed, so the two never differ.
type Quick struct {
	Name    string
	Targets []QuickTarget
	// Path is what clients download, Health what answers 200 when the
	// server is up.
	Path, Health string
	Levels       []int
	Duration     time.Duration
	// Limit caps each server (0: no cap).
	Limit units.Bytes
	// ReadRate and RecvBuffer shape the clients as a slow network;
	// WriteRate and SendBuffer their uploads (0: not written).
	ReadRate, RecvBuffer, WriteRate, SendBuffer units.Bytes
	// Method, Headers ("Name: value"), a body (at most one of Body,
	// BodyFile, BodySize) and ContentType: what each request sends.
	Method, Body, BodyFile, ContentType string
	BodySize                            units.Bytes
	Headers                             []string
}

// QuickTarget is one server to start: its name and argv, "{port}" in it.
type QuickTarget struct {
	Name    string
	Command []string
}

// QuickDefaults are what a quick scenario uses for what it is not told:
// the question people first bring ("does /export die at 32 concurrent
// downloads under 512 MiB?"), asked of slow clients.
func QuickDefaults() Quick {
	return Quick{
		Name: "my-server", Path: "/export", Health: "/health",
		Levels: []int{1, 8, 32}, Duration: 10 * time.Second,
		Limit: 512 << 20, ReadRate: 2 << 20, RecvBuffer: 64 << 10,
	}
}

// AddTargets parses each --cmd (see ParseTarget) into q. A single
// command given a name (`--cmd 'httpbin=…'`) names the run too, unless
// named is set (the run's name came from --name).
func (q *Quick) AddTargets(cmds []string, named bool) error {
	for i, c := range cmds {
		t, err := ParseTarget(c, i)
		if err != nil {
			return fmt.Errorf("--cmd %q: %w", c, err)
		}
		q.Targets = append(q.Targets, t)
	}
	if len(cmds) == 1 && !named {
		if n, _, ok := strings.Cut(cmds[0], "="); ok && n == q.Targets[0].Name {
			q.Name = n
		}
	}
	return nil
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

// YAML is the scenario file for q, commented for whoever edits it next.
func (q Quick) YAML() []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `# A flood scenario for %s (written by harness; edit freely). Run it with
#   harness run THIS_FILE
# Every key is described in docs/scenario.md of the harness.
name: %s
# Concurrent downloads; every level gets a freshly started server.
levels: %s
duration: %v
request:
  path: %s          # what each client downloads
  validate: none    # or json, ndjson, csv: check bodies while they stream
%sclient:
  # Slow clients, as real ones over a real network: each reads %v/s through a
  # %v receive buffer, so responses stay in flight and in the server's memory.
  read_rate: %v
  recv_buffer: %v
%smemory:
  limit: %v      # the server's memory cap, as a container limit (0: none)
targets:
`, q.Name, q.Name, intList(q.Levels), q.Duration, yamlString(q.Path), q.requestYAML(), q.ReadRate, q.RecvBuffer, q.ReadRate, q.RecvBuffer, q.uploadYAML(), q.Limit)
	for _, t := range q.Targets {
		words := make([]string, len(t.Command))
		for i, w := range t.Command {
			words[i] = yamlString(w)
		}
		fmt.Fprintf(&b, "  - name: %s\n    command: [%s]   # {port} is a free port\n    health: %s   # answers 200 once the server is up\n",
			t.Name, strings.Join(words, ", "), yamlString(q.Health))
		fmt.Fprintf(&b, "    # heap: pprof         # a Go server with net/http/pprof: heap profiles near the peak\n")
	}
	fmt.Fprintf(&b, `# harness gate judges a run by these rules (docs/gate.md); make the baseline
# with: harness gate --current RUN/results.json --rules THIS_FILE --update-baseline
gate:
  baseline: reports/baseline/%s/results.json   # this scenario's own
  rules:
    - {metric: oom, oom: never}                   # no level may be killed at the cap
    - {metric: ok_ratio, min: 1}                  # every request served
    - {metric: peak_rss_bytes, tolerance: 20%%}    # peaks within 20%% of the baseline's
`, q.Name)
	return []byte(b.String())
}

// uploadYAML is the client's upload keys that q sets, indented.
func (q Quick) uploadYAML() string {
	var b strings.Builder
	if q.WriteRate != 0 {
		fmt.Fprintf(&b, "  write_rate: %v     # each client sends its body this fast (slow uploaders)\n", q.WriteRate)
	}
	if q.SendBuffer != 0 {
		fmt.Fprintf(&b, "  send_buffer: %v\n", q.SendBuffer)
	}
	return b.String()
}

// requestYAML is the request: keys beyond the path that q sets, indented.
func (q Quick) requestYAML() string {
	var b strings.Builder
	if q.Method != "" {
		fmt.Fprintf(&b, "  method: %s\n", yamlString(strings.ToUpper(q.Method)))
	}
	if len(q.Headers) > 0 {
		b.WriteString("  headers:          # ${NAME} is read from the environment at the start, never written\n")
		for _, h := range q.Headers {
			name, value, _ := header.Parse(h)
			fmt.Fprintf(&b, "    %s: %s\n", yamlString(name), yamlString(value))
		}
	}
	switch {
	case q.Body != "":
		fmt.Fprintf(&b, "  body: %s\n", yamlString(q.Body))
	case q.BodyFile != "":
		fmt.Fprintf(&b, "  body_file: %s\n", yamlString(q.BodyFile))
	case q.BodySize != 0:
		fmt.Fprintf(&b, "  body_size: %v   # generated bytes, made as they are sent\n", q.BodySize)
	}
	if q.ContentType != "" {
		fmt.Fprintf(&b, "  content_type: %s\n", yamlString(q.ContentType))
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
