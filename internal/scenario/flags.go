package scenario

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/request"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// Flags are the command line's layer of a scenario: laid over the file's
// values (defaults < file < flags) before the one validation, so what a
// file may not say a flag may not say either. Zero values say nothing.
type Flags struct {
	// Levels replace the scenario's levels.
	Levels []int
	// Targets keep only these targets, in the scenario's order.
	Targets []string
	// Repeats replaces the scenario's repeats.
	Repeats int
	// Path replaces request.path and every target's own path:, Health
	// every target's health path.
	Path, Health string
	// Duration replaces duration; DurationAuto makes it auto (a Duration
	// given too is its least).
	Duration     time.Duration
	DurationAuto bool
	// Limit, ReadRate, RecvBuffer, WriteRate and SendBuffer, when set,
	// replace memory.limit and the client's keys (0 is a value: no cap).
	Limit, ReadRate, RecvBuffer, WriteRate, SendBuffer *units.Bytes
	// K6Instances replaces k6.instances (driver k6 only).
	K6Instances int
	// Method, Body, BodyFile and ContentType replace request.method and
	// the others (BodySize when set); Headers ("Name: value", as curl's
	// -H) are added to request.headers. A body flag replaces any body the
	// file gave.
	Method, Body, BodyFile, ContentType string
	BodySize                            *units.Bytes
	Headers                             []string
	// HTTP replaces client.http: 1.1, 2 or h2c.
	HTTP string
	// Compressed sets client.compressed.
	Compressed bool
	// Validate and Rows replace request.validate and request.rows.
	Validate result.BodyCheck
	Rows     string
	// Soak, "CLIENTSxDURATION" (16x30m), makes the run one long level
	// per target with its memory trend judged.
	Soak string
}

// apply lays f over s, recording each key a flag set so that a problem
// with it names the flag. bad (keys that failed to decode) is renumbered
// with the targets --targets keeps. The notes say what a flag replaced
// that the file set.
func (s *Scenario) apply(f Flags, bad map[string]bool) ([]string, []error) {
	var errs []error
	if len(f.Targets) > 0 {
		if index, err := s.keepTargets(f.Targets); err != nil {
			errs = append(errs, err)
		} else {
			kept := renumbered(bad, index)
			clear(bad)
			maps.Copy(bad, kept)
		}
	}
	if f.Soak != "" {
		if err := s.applySoak(f.Soak); err != nil {
			errs = append(errs, err)
		}
	}
	set := func(key, flag string) { s.flags[key] = flag }
	if f.Levels != nil {
		s.Levels = f.Levels
		set("levels", "--levels")
	}
	if f.Repeats != 0 {
		s.Repeats = f.Repeats
		set("repeats", "--repeats")
	}
	if f.Duration != 0 || f.DurationAuto {
		s.Duration, s.DurationAuto = f.Duration, f.DurationAuto
		set("duration", "--duration")
	}
	var notes []string
	if f.Path != "" {
		notes = s.applyPath(f.Path)
	}
	if f.Health != "" {
		for i := range s.Targets {
			s.Targets[i].Health = f.Health
			set(fmt.Sprintf("targets[%d].health", i), "--health")
		}
	}
	for _, b := range []struct {
		v    *units.Bytes
		dst  *units.Bytes
		key  string
		flag string
	}{
		{f.Limit, &s.Memory.Limit, "memory.limit", "--limit"},
		{f.ReadRate, &s.Client.ReadRate, "client.read_rate", "--read-rate"},
		{f.RecvBuffer, &s.Client.RecvBuffer, "client.recv_buffer", "--recv-buffer"},
		{f.WriteRate, &s.Client.WriteRate, "client.write_rate", "--write-rate"},
		{f.SendBuffer, &s.Client.SendBuffer, "client.send_buffer", "--send-buffer"},
	} {
		if b.v != nil {
			*b.dst = *b.v
			set(b.key, b.flag)
		}
	}
	if f.HTTP != "" {
		s.Client.HTTP = f.HTTP
		set("client.http", "--http")
	}
	if f.Compressed {
		s.Client.Compressed = true
		set("client.compressed", "--compressed")
	}
	if f.Validate != "" {
		s.Request.Validate = f.Validate
		set("request.validate", "--validate")
	}
	if f.Rows != "" {
		s.Request.Rows = f.Rows
		set("request.rows", "--rows")
	}
	if f.K6Instances != 0 {
		s.K6.Instances = f.K6Instances
		set("k6.instances", "--k6-instances")
	}
	return notes, append(errs, s.applyRequest(f)...)
}

// applySoak makes the run one long level: --soak CLIENTSxDURATION.
func (s *Scenario) applySoak(v string) error {
	n, d, ok := strings.Cut(v, "x")
	conc, err1 := strconv.Atoi(n)
	dur, err2 := time.ParseDuration(d)
	if !ok || err1 != nil || err2 != nil {
		return &Error{Flag: "--soak", Key: "soak", Msg: fmt.Sprintf("%q: want CLIENTSxDURATION, e.g. 16x30m", v)}
	}
	s.Soak = &Soak{Concurrency: conc, Duration: dur}
	s.Levels, s.Duration, s.DurationAuto = []int{conc}, dur, false
	for _, k := range []string{"soak", "levels", "duration"} {
		s.flags[k] = "--soak"
	}
	return nil
}

// applyPath makes every target request path, and says which of the paths
// the file gave it replaced.
func (s *Scenario) applyPath(path string) []string {
	s.Request.Path = path
	s.flags["request.path"] = "--path"
	var own []string
	for i := range s.Targets {
		t := &s.Targets[i]
		if t.Path != "" && t.Path != path {
			own = append(own, fmt.Sprintf("%s %s (%s)", t.Name, t.Path, s.lineOf(fmt.Sprintf("targets[%d].path", i))))
		}
		if t.Path != "" {
			t.Path = path
			s.flags[fmt.Sprintf("targets[%d].path", i)] = "--path"
		}
	}
	if len(own) == 0 {
		return nil
	}
	return []string{fmt.Sprintf("--path %s: every target requests it, in place of the paths the file gave %s", path, strings.Join(own, ", "))}
}

// keepTargets keeps only the named targets, in the scenario's order, and
// renumbers what is known of each target's keys (lines, flags) with it;
// the index maps a kept target's old position to its new one.
func (s *Scenario) keepTargets(names []string) (map[int]int, error) {
	var keep []Target
	var index []int // new position → old
	for _, name := range names {
		i := slices.IndexFunc(s.Targets, func(t Target) bool { return t.Name == name })
		if i < 0 {
			all := make([]string, 0, len(s.Targets))
			for _, t := range s.Targets {
				all = append(all, t.Name)
			}
			return nil, &Error{Flag: "--targets", Key: "targets", Msg: fmt.Sprintf("%s has no target %q (it has %s)", s.File, name, strings.Join(all, ", "))}
		}
		if !slices.Contains(index, i) {
			index = append(index, i)
		}
	}
	slices.Sort(index)
	renumber := map[int]int{}
	for n, i := range index {
		keep = append(keep, s.Targets[i])
		renumber[i] = n
	}
	for _, t := range s.Targets {
		if !slices.ContainsFunc(keep, func(k Target) bool { return k.Name == t.Name }) {
			s.Omitted = append(s.Omitted, t.Name)
		}
	}
	s.Targets = keep
	s.TargetsFilter = "--targets " + strings.Join(names, ",")
	s.lines, s.flags = renumbered(s.lines, renumber), renumbered(s.flags, renumber)
	return renumber, nil
}

var targetKey = regexp.MustCompile(`^targets\[(\d+)\]`)

// renumbered moves the targets[i]… keys of m to their new index, dropping
// those of targets left out.
func renumbered[V any](m map[string]V, index map[int]int) map[string]V {
	out := make(map[string]V, len(m))
	for k, v := range m {
		sub := targetKey.FindStringSubmatch(k)
		if sub == nil {
			out[k] = v
			continue
		}
		old, _ := strconv.Atoi(sub[1])
		if n, ok := index[old]; ok {
			out[fmt.Sprintf("targets[%d]", n)+k[len(sub[0]):]] = v
		}
	}
	return out
}

// Origin is where a value came from, for a hint that tells the user what
// to change: the flag that set it, else the file (and the line, when the
// file wrote the key; a default has none).
type Origin struct {
	Flag string // "--health"
	File string
	Line int
	Key  string // "targets[1].health"
}

// String is "--health", "flood.yaml:23: targets[1].health", or
// "flood.yaml: targets[1].health" for a default.
func (o Origin) String() string {
	if o.Flag != "" {
		return o.Flag
	}
	if o.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", o.File, o.Line, o.Key)
	}
	return o.File + ": " + o.Key
}

// Origin says where the value at key came from.
func (s *Scenario) Origin(key string) Origin {
	if f, ok := s.flagOf(key); ok {
		return Origin{Flag: f, Key: key}
	}
	o := Origin{File: s.File, Key: key}
	for k := key; k != "" && o.Line == 0; k = parentKey(k) {
		o.Line = s.lines[k]
	}
	return o
}

// Where is Origin(key) as text.
func (s *Scenario) Where(key string) string { return s.Origin(key).String() }

// flagOf is the flag that set key or a key above it.
func (s *Scenario) flagOf(key string) (string, bool) {
	for k := key; k != ""; k = parentKey(k) {
		if f, ok := s.flags[k]; ok {
			return f, true
		}
	}
	return "", false
}

// lineOf is "file:line" of key or the nearest key above it that the file
// wrote, or the file alone.
func (s *Scenario) lineOf(key string) string {
	if o := s.Origin(key); o.Line > 0 {
		return fmt.Sprintf("%s:%d", o.File, o.Line)
	}
	return s.File
}

// applyRequest lays the request flags (-X, -H, --body…) over request:.
func (s *Scenario) applyRequest(o Flags) []error {
	var errs []error
	set := func(key, flag string) { s.flags[key] = flag }
	r := &s.Request
	if o.Method != "" {
		r.Method = strings.ToUpper(o.Method)
		set("request.method", "--method")
	}
	for _, h := range o.Headers {
		name, value, err := header.Parse(h)
		if err != nil {
			errs = append(errs, &Error{Flag: "--header", Key: "request.headers", Msg: err.Error()})
			continue
		}
		r.Headers = maps.Clone(r.Headers)
		if r.Headers == nil {
			r.Headers = map[string]string{}
		}
		r.Headers[name] = value
		set("request.headers."+name, "--header")
	}
	body := func(flag string) {
		r.Body, r.BodyFile, r.BodySize = "", "", 0
		set("request.body", flag)
	}
	switch {
	case o.Body != "":
		body("--body")
		r.Body = o.Body
	case o.BodyFile != "":
		body("--body-file")
		r.BodyFile = o.BodyFile
		if abs, err := filepath.Abs(o.BodyFile); err == nil {
			r.BodyFile = abs // a flag's path is the shell's, not the scenario's
		}
		set("request.body_file", "--body-file")
	case o.BodySize != nil:
		body("--body-size")
		r.BodySize = *o.BodySize
		set("request.body_size", "--body-size")
	}
	if _, err := request.Bodies(o.Body != "", o.BodyFile != "", o.BodySize != nil); err != nil {
		errs = append(errs, &Error{Flag: "--body", Key: "request.body", Msg: "give one of --body, --body-file and --body-size"})
	}
	if o.ContentType != "" {
		r.ContentType = o.ContentType
		set("request.content_type", "--content-type")
	}
	return errs
}
