package scenario

import (
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/units"
)

// Overrides change a loaded scenario from the command line. Zero values
// change nothing.
type Overrides struct {
	// Levels replace the scenario's levels.
	Levels []int
	// Targets keep only these targets, in the scenario's order.
	Targets []string
	// Repeats replaces the scenario's repeats.
	Repeats int
	// Path replaces request.path and every target's own path:, Health
	// every target's health path.
	Path, Health string
	// Duration replaces duration.
	Duration time.Duration
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
	// Soak, "CLIENTSxDURATION" (16x30m), makes the run one long level
	// per target with its memory trend judged.
	Soak string
}

// Override applies o to s and validates the result as a file is validated,
// in one pass: a problem a flag made names the flag ("--limit
// (memory.limit): …"), one the file holds names its line. On error s is
// unchanged. The notes say what a flag replaced that the file set (a
// target's own path: that --path replaced), for the run's first lines.
func (s *Scenario) Override(o Overrides) ([]string, error) {
	c := *s
	c.Targets = slices.Clone(s.Targets)
	c.lines, c.flags = maps.Clone(s.lines), maps.Clone(s.flags)
	if c.lines == nil {
		c.lines = map[string]int{}
	}
	if c.flags == nil {
		c.flags = map[string]string{}
	}
	var errs []error
	var notes []string
	set := func(key, flag string) { c.flags[key] = flag }
	if len(o.Targets) > 0 {
		if err := c.keepTargets(o.Targets); err != nil {
			errs = append(errs, err)
		}
	}
	if o.Soak != "" {
		n, d, ok := strings.Cut(o.Soak, "x")
		conc, err1 := strconv.Atoi(n)
		dur, err2 := time.ParseDuration(d)
		if !ok || err1 != nil || err2 != nil {
			errs = append(errs, &Error{Flag: "--soak", Key: "soak", Msg: fmt.Sprintf("%q: want CLIENTSxDURATION, e.g. 16x30m", o.Soak)})
		} else {
			c.Soak = &Soak{Concurrency: conc, Duration: dur}
			c.Levels, c.Duration = []int{conc}, dur
			set("soak", "--soak")
			set("levels", "--soak")
			set("duration", "--soak")
		}
	}
	if o.Levels != nil {
		c.Levels = o.Levels
		set("levels", "--levels")
	}
	if o.Repeats != 0 {
		c.Repeats = o.Repeats
		set("repeats", "--repeats")
	}
	if o.Duration != 0 {
		c.Duration = o.Duration
		set("duration", "--duration")
	}
	if o.Path != "" {
		c.Request.Path = o.Path
		set("request.path", "--path")
		var own []string
		for i := range c.Targets {
			t := &c.Targets[i]
			if t.Path != "" && t.Path != o.Path {
				own = append(own, fmt.Sprintf("%s %s (%s)", t.Name, t.Path, c.lineOf(fmt.Sprintf("targets[%d].path", i))))
			}
			if t.Path != "" {
				t.Path = o.Path
				set(fmt.Sprintf("targets[%d].path", i), "--path")
			}
		}
		if len(own) > 0 {
			notes = append(notes, fmt.Sprintf("--path %s: every target requests it, in place of the paths the file gave %s", o.Path, strings.Join(own, ", ")))
		}
	}
	if o.Health != "" {
		for i := range c.Targets {
			c.Targets[i].Health = o.Health
			set(fmt.Sprintf("targets[%d].health", i), "--health")
		}
	}
	for _, b := range []struct {
		v    *units.Bytes
		dst  *units.Bytes
		key  string
		flag string
	}{
		{o.Limit, &c.Memory.Limit, "memory.limit", "--limit"},
		{o.ReadRate, &c.Client.ReadRate, "client.read_rate", "--read-rate"},
		{o.RecvBuffer, &c.Client.RecvBuffer, "client.recv_buffer", "--recv-buffer"},
		{o.WriteRate, &c.Client.WriteRate, "client.write_rate", "--write-rate"},
		{o.SendBuffer, &c.Client.SendBuffer, "client.send_buffer", "--send-buffer"},
	} {
		if b.v != nil {
			*b.dst = *b.v
			set(b.key, b.flag)
		}
	}
	if o.HTTP != "" {
		c.Client.HTTP = o.HTTP
		set("client.http", "--http")
	}
	if o.K6Instances != 0 {
		c.K6.Instances = o.K6Instances
		set("k6.instances", "--k6-instances")
	}
	errs = append(errs, c.overrideRequest(o, set)...)
	if err := c.validate(&decoder{file: c.File, lines: c.lines, bad: map[string]bool{}}); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	*s = c
	return notes, nil
}

// keepTargets keeps only the named targets, in the scenario's order, and
// renumbers what is known of each target's keys (lines, flags) with it.
func (s *Scenario) keepTargets(names []string) error {
	var keep []Target
	var index []int // new position → old
	for _, name := range names {
		i := slices.IndexFunc(s.Targets, func(t Target) bool { return t.Name == name })
		if i < 0 {
			all := make([]string, 0, len(s.Targets))
			for _, t := range s.Targets {
				all = append(all, t.Name)
			}
			return &Error{Flag: "--targets", Key: "targets", Msg: fmt.Sprintf("%s has no target %q (it has %s)", s.File, name, strings.Join(all, ", "))}
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
	return nil
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

// Where says where the value at key came from, for a hint that tells the
// user what to change: the flag that set it ("--health"), or the file and
// line that did ("flood.yaml:23: targets[1].health"), or the file alone
// for a default.
func (s *Scenario) Where(key string) string {
	if f, ok := s.flagOf(key); ok {
		return f
	}
	return s.lineOf(key) + ": " + key
}

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
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := s.lines[k]; ok && l > 0 {
			return s.File + ":" + strconv.Itoa(l)
		}
	}
	return s.File
}

// overrideRequest applies the request flags (-X, -H, --body…).
func (c *Scenario) overrideRequest(o Overrides, set func(key, flag string)) []error {
	var errs []error
	r := &c.Request
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
	if n := btoi(o.Body != "") + btoi(o.BodyFile != "") + btoi(o.BodySize != nil); n > 1 {
		errs = append(errs, &Error{Flag: "--body", Key: "request.body", Msg: "give one of --body, --body-file and --body-size"})
	}
	if o.ContentType != "" {
		r.ContentType = o.ContentType
		set("request.content_type", "--content-type")
	}
	return errs
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
