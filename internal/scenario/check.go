package scenario

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/floodharness/harness/internal/header"
	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// problems collects what is wrong with a scenario, each at the flag or the
// line that set its key, skipping keys that already failed to decode.
type problems struct {
	s    *Scenario
	errs []error
	bad  map[string]bool // key paths that failed to decode: reported already
}

// add reports a problem at key.
func (p *problems) add(key, format string, args ...any) {
	for k := key; k != ""; k = parentKey(k) {
		if p.bad[k] {
			return
		}
	}
	p.errs = append(p.errs, p.s.keyError(key, fmt.Sprintf(format, args...)))
}

// validate checks meaning once types are right and every layer is laid,
// section by section, reporting every problem; it changes nothing.
func (s *Scenario) validate(bad map[string]bool) []error {
	p := &problems{s: s, bad: bad}
	for _, check := range []func(*problems){
		s.checkRun, s.checkSoak, s.checkClient, s.checkRequests, s.checkMemory, s.checkDriver, s.checkTargets,
	} {
		check(p)
	}
	return p.errs
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// checkRun checks the run's shape: its name, levels, repeats and times.
func (s *Scenario) checkRun(p *problems) {
	if !safeName.MatchString(s.Name) {
		p.add("name", "want a name of letters, digits, '.', '_' or '-', got %q", s.Name)
	}
	if len(s.Levels) == 0 {
		p.add("levels", "want at least one concurrency level")
	}
	for i, l := range s.Levels {
		if l < 1 || l > MaxConcurrency {
			p.add(fmt.Sprintf("levels[%d]", i), "concurrency %d: want 1..%d", l, MaxConcurrency)
		} else if slices.Contains(s.Levels[:i], l) {
			p.add(fmt.Sprintf("levels[%d]", i), "concurrency %d given twice", l)
		}
	}
	if s.Repeats < 1 || s.Repeats > 100 {
		p.add("repeats", "want 1..100, got %d", s.Repeats)
	}
	if s.Requests.Count < 0 {
		p.add("requests", "want a positive count per client, got %d", s.Requests.Count)
	}
	switch {
	case s.Duration <= 0:
		p.add("duration", "want a positive duration, got %v", s.Duration)
	case s.Warmup >= s.Duration:
		p.add(s.flagged("duration", "warmup"), "warmup %v must be shorter than duration %v", s.Warmup, s.Duration)
	}
	if r := s.Chaos.RestartAfter; r > 0 && r >= s.Warmup+s.Duration {
		p.add(s.flagged("duration", "chaos.restart_after"), "%v is not inside the flood (warmup + duration = %v)", r, s.Warmup+s.Duration)
	}
	if s.DurationAuto && (s.Client.Model == "open" || s.Driver != result.DriverBuiltin || s.Soak != nil) {
		p.add("duration", "duration auto waits for the harness driver's closed-model clients to have one whole answer each: give a duration (e.g. 30s)")
	}
	if s.Chaos.RestartAfter > 0 && s.Driver != result.DriverBuiltin {
		p.add("chaos.restart_after", "chaos needs the harness driver")
	}
	if s.Gate != nil && len(s.Gate.Rules) == 0 {
		p.add("gate.rules", "a gate: block wants at least one rule")
	}
}

// flagged is key when a flag set it, else other: a conflict between two
// keys is the flag's when a flag made it.
func (s *Scenario) flagged(key, other string) string {
	if _, ok := s.flagOf(key); ok {
		return key
	}
	return other
}

// checkSoak checks that a soak is one long level.
func (s *Scenario) checkSoak(p *problems) {
	k := s.Soak
	if k == nil {
		return
	}
	switch {
	case k.Concurrency < 1 || k.Concurrency > MaxConcurrency:
		p.add("soak.concurrency", "want 1..%d clients, got %d", MaxConcurrency, k.Concurrency)
	case k.Duration <= s.Warmup:
		p.add("soak.duration", "a soak of %v is not longer than its warmup (%v)", k.Duration, s.Warmup)
	case len(s.Levels) != 1 || s.Levels[0] != k.Concurrency || s.Duration != k.Duration:
		p.add("soak", "a soak is one long level: give soak: or levels: and duration:, not both")
	}
}

// checkClient checks how the clients behave.
func (s *Scenario) checkClient(p *problems) {
	c := s.Client
	switch c.HTTP {
	case "", "1.1", "2", "h2c":
	default:
		p.add("client.http", "want 1.1, 2 or h2c, got %q", c.HTTP)
	}
	for _, b := range []struct {
		key string
		v   units.Bytes
	}{{"client.read_rate", c.ReadRate}, {"client.recv_buffer", c.RecvBuffer}, {"client.write_rate", c.WriteRate}, {"client.send_buffer", c.SendBuffer}} {
		if b.v < 0 {
			p.add(b.key, "want a size ≥ 0, got %v", b.v)
		}
	}
	switch c.Model {
	case "closed":
		if c.Rate != 0 {
			p.add("client.rate", "a rate needs model: open")
		}
	case "open":
		if c.Rate <= 0 {
			p.add("client.rate", "model open needs a rate such as 50/s")
		}
	default:
		p.add("client.model", "want closed or open, got %q", c.Model)
	}
	if c.Resume && s.Request.Validate == result.CheckNone {
		p.add("client.resume", "resume needs request.validate (json, ndjson or csv): the row ids say where to continue")
	}
	if f := c.AbortFraction; f < 0 || f > 1 {
		p.add("client.abort_fraction", "want 0..1, got %v", f)
	}
}

// checkRequests checks request: and a requests: mix.
func (s *Scenario) checkRequests(p *problems) {
	r := s.Request
	if r.Validate == result.CheckUpload && r.Body == "" && r.BodyFile == "" && r.BodySize == 0 {
		p.add("request.validate", "validate upload checks what a body sent arrived: give body, body_file or body_size")
	}
	if !strings.HasPrefix(r.Path, "/") {
		p.add("request.path", "want a path starting with /, got %q", r.Path)
	}
	s.checkRequest(r, "request", p.add)
	rowsNeedJSON := func(key string, rows string, v result.BodyCheck) {
		if rows != "" && v != result.CheckJSON {
			p.add(key, "rows names the array of a JSON body: it needs validate: json (here %s)", v)
		}
	}
	rowsNeedJSON("request.rows", r.Rows, r.Validate)
	for i, m := range s.Requests.Mix {
		v := m.Validate
		if v == "" {
			v = r.Validate
		}
		rowsNeedJSON(fmt.Sprintf("requests[%d].rows", i), m.Rows, v)
	}
	for i, t := range s.Targets {
		if t.Request != nil {
			rowsNeedJSON(fmt.Sprintf("targets[%d].request.rows", i), t.Request.Rows, r.Validate)
		}
	}
	if !slices.Contains(result.BodyChecks(), r.Validate) {
		p.add("request.validate", "want none, json, ndjson, csv or upload, got %q", r.Validate)
	}
	s.checkMix(p.add)
	s.checkLogin(p)
}

// checkLogin checks the login request, and that every ${login.NAME} a
// header uses has one to answer it.
func (s *Scenario) checkLogin(p *problems) {
	if lg := s.Login; lg != nil {
		if !strings.HasPrefix(lg.Path, "/") {
			p.add("login.path", "want a path starting with /, got %q", lg.Path)
		}
		if lg.Validate != "" || lg.Rows != "" {
			p.add("login", "a login's answer is read for its token, not checked: no validate or rows")
		}
		s.checkRequest(*lg, "login", p.add)
		for name, v := range lg.Headers {
			if len(header.LoginRefs(v)) > 0 {
				p.add("login.headers."+name, "the login cannot use what it answers (${login.…})")
			}
		}
		return
	}
	uses := func(key string, headers map[string]string) {
		for _, name := range slices.Sorted(maps.Keys(headers)) {
			if refs := header.LoginRefs(headers[name]); len(refs) > 0 {
				p.add(key+".headers."+name, "${login.%s}: no login: request to answer it", refs[0])
			}
		}
	}
	uses("request", s.Request.Headers)
	for i, m := range s.Requests.Mix {
		uses(fmt.Sprintf("requests[%d]", i), m.Headers)
	}
	for i, t := range s.Targets {
		if t.Request != nil {
			uses(fmt.Sprintf("targets[%d].request", i), t.Request.Headers)
		}
	}
}

// checkMemory checks how targets are measured.
func (s *Scenario) checkMemory(p *problems) {
	m := s.Memory
	if m.SampleInterval < time.Millisecond {
		p.add("memory.sample_interval", "want at least 1ms, got %v", m.SampleInterval)
	}
	if l := m.Limit; l != 0 && l < 8<<20 {
		p.add("memory.limit", "%v is too small to start a server; want 0 (no cap) or at least 8MiB", l)
	}
	if !slices.Contains(result.HeapModes(), m.HeapProfile) {
		p.add("memory.heap_profile", "want peak, end or off, got %q", m.HeapProfile)
	}
}

// checkDriver checks the driver and what it alone may be given.
func (s *Scenario) checkDriver(p *problems) {
	switch s.Driver {
	case result.DriverBuiltin:
		if s.Script != "" || s.Segment != "" {
			p.add("script", "script and segments are for driver: k6")
		}
		if _, flagged := s.flagOf("k6.instances"); s.K6.Instances > 1 || flagged {
			p.add("k6.instances", "k6 instances are for driver: k6 (the scenario's driver is %s)", s.Driver)
		}
	case result.DriverK6:
		if len(s.Requests.Mix) > 0 {
			p.add("requests", "a weighted mix is the harness driver's: a k6 script says its own mix")
		}
		if s.Login != nil {
			p.add("login", "login: is the harness driver's: a k6 script logs in itself (its setup or each VU's first iteration)")
		}
		for i, t := range s.Targets {
			if t.Request != nil {
				p.add(fmt.Sprintf("targets[%d].request", i), "driver k6 gets the scenario's request: (TARGET_METHOD, TARGET_HEADERS, TARGET_BODY…), not a target's own")
			}
		}
		if s.Script == "" {
			p.add("script", "driver k6 needs the k6 script to run")
		}
		s.checkK6(p)
	default:
		p.add("driver", "want harness or k6, got %q", s.Driver)
	}
}

// checkK6 checks where driver k6's instances run and how they report.
func (s *Scenario) checkK6(p *problems) {
	k := s.K6
	if k.Instances < 1 || k.Instances > 64 {
		p.add("k6.instances", "want 1..64 local k6 processes, got %d", k.Instances)
	}
	if n := len(k.Hosts); n > 0 && k.Instances != n {
		p.add("k6.instances", "%d instances but %d hosts: one instance per host", k.Instances, n)
	}
	for i, h := range k.Hosts {
		if len(h.Launch) == 0 {
			p.add(fmt.Sprintf("k6.hosts[%d].launch", i), "want the command that runs a program on that host, e.g. [ssh, host-a] or [ip, netns, exec, ns-a]")
		}
		if net.ParseIP(h.Address) == nil {
			p.add(fmt.Sprintf("k6.hosts[%d].address", i), "want the IP the instance's REST API listens on, got %q", h.Address)
		}
	}
	collectorPort := false
	if c := k.Collector; c != "" {
		host, port, err := net.SplitHostPort(c)
		if err != nil {
			host = c
		}
		collectorPort = err == nil && port != "0"
		if net.ParseIP(host) == nil {
			p.add("k6.collector", "want the IP (or IP:PORT) the harness receives the instances' data on, got %q", c)
		}
	}
	for i, r := range k.Remote {
		if _, _, err := net.SplitHostPort(r); err != nil {
			p.add(fmt.Sprintf("k6.remote[%d]", i), "want HOST:PORT of a k6 REST API (k6 run --paused --address HOST:PORT), got %q", r)
		}
	}
	if k.External < 0 || k.External > 256 {
		p.add("k6.external", "want 0..256 instances, got %d", k.External)
	}
	if len(k.Remote) > 0 || k.External > 0 {
		switch {
		case len(k.Hosts) > 0 || k.Instances > 1 || (len(k.Remote) > 0 && k.External > 0):
			p.add("k6.remote", "instances started elsewhere (remote or external) run alone: not with each other, k6.hosts or k6.instances")
		case !collectorPort:
			p.add("k6.collector", "instances started elsewhere are told the collector in advance: want IP:PORT")
		}
	}
	if s.Segment != "" && k.Instances > 1 {
		p.add("segments", "with k6.instances the harness gives each instance its segment")
	}
}

// checkTargets checks every target.
func (s *Scenario) checkTargets(p *problems) {
	if len(s.Targets) == 0 {
		p.add("targets", "want at least one target")
	}
	for i, t := range s.Targets {
		key := fmt.Sprintf("targets[%d]", i)
		if !safeName.MatchString(t.Name) {
			p.add(key+".name", "want a name of letters, digits, '.', '_' or '-', got %q", t.Name)
		}
		if slices.ContainsFunc(s.Targets[:i], func(o Target) bool { return o.Name == t.Name }) {
			p.add(key+".name", "target %q defined twice", t.Name)
		}
		if t.Attach != nil {
			s.checkAttach(t, key, p)
		} else {
			checkStarted(t, key, p.add)
		}
		if t.Port < 0 || t.Port > 65535 || (t.Port != 0 && t.Attach != nil) {
			p.add(key+".port", "want a port 1..65535 for a target the harness starts (an attached one gives attach.port), got %d", t.Port)
		}
		if !loopback.Host(t.Host) && !s.AllowRemote {
			p.add(key+".host", "%q is not a loopback address; load goes only to 127.0.0.1 or ::1 unless the scenario sets allow_remote: true", t.Host)
		}
		for _, path := range []struct{ key, v string }{{"path", t.Path}, {"pprof", t.Pprof}, {"tracemalloc", t.Tracemalloc}} {
			if path.v != "" && !strings.HasPrefix(path.v, "/") {
				p.add(key+"."+path.key, "want a path starting with /, got %q", path.v)
			}
		}
		if !strings.HasPrefix(t.Health, "/") {
			p.add(key+".health", "want a path starting with /, got %q", t.Health)
		}
		s.checkTLS(t, key, p.add)
		if r := t.Request; r != nil {
			s.checkRequest(*r, key+".request", p.add)
			for k, set := range map[string]bool{"path": r.Path != "", "validate": r.Validate != "", "timeout": r.Timeout != 0} {
				if set {
					p.add(key+".request."+k, "%s is the scenario's (request.%s; a target's path is its path:)", k, k)
				}
			}
		}
		checkHeap(t, key, p)
	}
}

// checkAttach checks a target the harness attaches to.
func (s *Scenario) checkAttach(t Target, key string, p *problems) {
	a := t.Attach
	named := 0
	for _, set := range []bool{a.PID != 0, a.PIDFile != "", a.Cgroup != "", a.Container != ""} {
		if set {
			named++
		}
	}
	switch {
	case len(t.Command) > 0 || t.Container != nil:
		p.add(key+".attach", "attach names a running server: give command, container or attach, one of them")
	case named != 1:
		p.add(key+".attach", "want exactly one of pid, pid_file, cgroup or container")
	case a.PID < 0:
		p.add(key+".attach.pid", "want a process id, got %d", a.PID)
	case a.Cgroup != "" && !strings.HasPrefix(a.Cgroup, "/"):
		p.add(key+".attach.cgroup", "want the cgroup's absolute path, e.g. /sys/fs/cgroup/system.slice/app.service, got %q", a.Cgroup)
	}
	if a.Engine != "" && a.Container == "" {
		p.add(key+".attach.engine", "engine is for attach.container")
	} else if a.Engine != "" && a.Engine != "podman" && a.Engine != "docker" {
		p.add(key+".attach.engine", "want podman or docker, got %q", a.Engine)
	}
	if a.Port < 1 || a.Port > 65535 {
		p.add(key+".attach.port", "want the port the server answers on (1..65535), got %d", a.Port)
	}
	if s.Memory.Limit != 0 {
		p.add("memory.limit", "target %q is attached: the harness cannot cap a server it did not start; set memory.limit: 0", t.Name)
	}
	if s.Chaos.RestartAfter > 0 {
		p.add("chaos.restart_after", "target %q is attached: the harness cannot restart a server it did not start", t.Name)
	}
}

// checkStarted checks how a target the harness starts is started: a
// command with {port}, or a container.
func checkStarted(t Target, key string, bad func(key, format string, args ...any)) {
	switch c := t.Container; {
	case c != nil && len(t.Command) > 0:
		bad(key+".container", "give command or container, not both")
	case c != nil:
		if c.Engine != "" && c.Engine != "podman" && c.Engine != "docker" {
			bad(key+".container.engine", "want podman or docker, got %q", c.Engine)
		}
		if c.Image == "" || strings.ContainsAny(c.Image, " \t\n") || strings.HasPrefix(c.Image, "-") {
			bad(key+".container.image", "want an image name such as localhost/my-app:latest, got %q", c.Image)
		}
		if c.Port < 1 || c.Port > 65535 {
			bad(key+".container.port", "want the port the server listens on inside the container (1..65535), got %d", c.Port)
		}
	case len(t.Command) == 0:
		bad(key+".command", "want the command that starts the server (or container: to run an image)")
	case t.Port == 0 && !slices.ContainsFunc(t.Command, func(a string) bool { return strings.Contains(a, "{port}") }):
		// With a fixed port: the server may take it from its own config
		// file (nginx's listen), as most servers people bring do.
		bad(key+".command", "no argument contains {port}: the harness picks the port (or give the port the server listens on: port:)")
	}
}

// checkHeap checks a target's heap endpoint.
func checkHeap(t Target, key string, p *problems) {
	if t.Tracemalloc != "" && t.Pprof != "" {
		p.add(key+".tracemalloc", "give pprof or tracemalloc, not both")
	}
	switch {
	case t.Heap != "" && t.Heap != "pprof" && t.Heap != "tracemalloc" && t.Heap != HeapAuto && t.Heap != HeapOff:
		p.add(key+".heap", "want auto, off, pprof or tracemalloc, got %q", t.Heap)
	case t.Heap == "pprof" && t.Tracemalloc != "", t.Heap == "tracemalloc" && t.Pprof != "":
		p.add(key+".heap", "heap: %s contradicts the target's other heap endpoint", t.Heap)
	case t.Heap == HeapAuto && (t.Pprof != "" || t.Tracemalloc != ""):
		p.add(key+".heap", "heap: auto takes the evidence itself: drop the target's pprof or tracemalloc endpoint, or name that kind")
	case t.Heap == HeapAuto && !loopback.Host(t.Host):
		p.add(key+".heap", "heap: auto opens a Node server's inspector, a remote-code door: only for a target on loopback, not %s", t.Host)
	case t.Heap == HeapAuto && (t.Container != nil || t.Attach != nil):
		p.add(key+".heap", "heap: auto works on servers the harness starts (command:); a container or an attached server needs an endpoint of its own (pprof, tracemalloc)")
	}
}

// parentKey is the enclosing key path: "targets[0]" for "targets[0].name".
func parentKey(k string) string {
	if i := strings.LastIndexAny(k, ".["); i >= 0 {
		return k[:i]
	}
	return ""
}

// joined is errs as one error, nil when there are none.
func joined(errs []error) error { return errors.Join(errs...) }
