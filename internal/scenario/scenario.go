package scenario

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/floodharness/harness/internal/loopback"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/units"
)

// Scenario is one validated scenario file with its defaults filled in.
type Scenario struct {
	// Name names the run's report directory.
	Name string `yaml:"name"`
	// Levels are the concurrency levels, each a fresh target process.
	Levels []int `yaml:"levels"`
	// Repeats is how often each target × level is measured (default 1).
	Repeats int `yaml:"repeats"`
	// Duration bounds every level's flood (default 10s).
	Duration time.Duration `yaml:"duration"`
	// Requests, when set, is how many requests each client sends; the
	// flood stops at Duration even if they are not all done.
	Requests int `yaml:"requests"`
	// Warmup is flooded but not counted (default 0).
	Warmup time.Duration `yaml:"warmup"`
	// Grace is how long requests still in flight when Duration ends may
	// finish; they are counted apart, not as failures (default 5s).
	Grace time.Duration `yaml:"grace"`
	// AllowRemote lets a target's host be a non-loopback address.
	AllowRemote bool `yaml:"allow_remote"`
	// Driver produces the load: harness (default, the built-in client) or
	// k6 (runs Script with the k6 binary; the harness still starts and
	// samples the target and writes the results).
	Driver string `yaml:"driver"`
	// Script is the k6 script for driver k6. It gets TARGET_URL,
	// TARGET_PORT, TARGET_NAME, VUS (the level) and DURATION as -e variables.
	Script string `yaml:"script"`
	// Segment is this machine's k6 execution segment (e.g. "0:1/2") when
	// the same script runs split over several machines.
	Segment string `yaml:"segments"`
	// K6 says which k6 and how many instances share the load: `k6: PATH`
	// names the binary alone; `k6: {bin, instances}` splits it.
	K6 K6 `yaml:"k6"`

	Request Request `yaml:"request"`
	Client  Client  `yaml:"client"`
	Memory  Memory  `yaml:"memory"`
	// Targets are the servers compared, each started fresh per run.
	Targets []Target `yaml:"targets"`
	// Chaos disturbs targets during a level.
	Chaos Chaos `yaml:"chaos"`
	// Gate holds the regression rules for `harness gate`.
	Gate *Gate `yaml:"gate"`

	// File is the path the scenario was read from, SHA256 its content's hash.
	File   string `yaml:"-"`
	SHA256 string `yaml:"-"`
}

// Request is what each client asks for.
type Request struct {
	// Path is the request path and query (default /export).
	Path string `yaml:"path"`
	// Validate checks bodies while streaming: none, json, ndjson or csv.
	Validate result.BodyCheck `yaml:"validate"`
	// Timeout is the longest wait for the next byte before a response
	// counts as stalled (default 30s).
	Timeout time.Duration `yaml:"timeout"`
}

// Client shapes how the load behaves.
type Client struct {
	// Model is closed (clients in loops) or open (Rate arrivals per second).
	Model string `yaml:"model"`
	// Rate is requests per second for the open model, e.g. "50/s".
	Rate Rate `yaml:"rate"`
	// ReadRate limits each connection's reading, bytes/s; 0 = unlimited.
	ReadRate units.Bytes `yaml:"read_rate"`
	// AbortAfterBytes makes clients hang up after this many body bytes.
	AbortAfterBytes units.Bytes `yaml:"abort_after_bytes"`
	// AbortFraction is the share of clients that abort (default 1 when
	// AbortAfterBytes is set).
	AbortFraction float64 `yaml:"abort_fraction"`
	// RecvBuffer sets SO_RCVBUF on each connection; small values make the
	// kernel stop hiding in-flight bodies, as a slow network would.
	RecvBuffer units.Bytes `yaml:"recv_buffer"`
	// Resume continues broken exports with ?since=<last id seen> and checks
	// every row id arrives exactly once (needs request.validate).
	Resume bool `yaml:"resume"`
	// ForgiveResends does not count as failures the requests that died
	// before their response on a kept-alive connection and were sent again
	// (they are still counted, as resent).
	ForgiveResends bool `yaml:"forgive_resends"`
}

// Memory says how targets are measured and capped.
type Memory struct {
	// SampleInterval is the RSS sampling period (default 20ms).
	SampleInterval time.Duration `yaml:"sample_interval"`
	// Limit caps each target in a cgroup; 0 means no cap.
	Limit units.Bytes `yaml:"limit"`
	// HeapProfile is when to fetch a heap profile: peak, end or off
	// (default peak; only for targets with pprof).
	HeapProfile result.HeapMode `yaml:"heap_profile"`
}

// K6 is the k6 side of driver k6.
type K6 struct {
	// Bin is the k6 binary (default bin/k6, else k6 on PATH).
	Bin string `yaml:"bin"`
	// Instances, above 1, splits each level over that many local k6
	// processes with complementary execution segments, started paused and
	// resumed together; their figures are merged exactly (histograms, not
	// percentiles) through k6's output "flood".
	Instances int `yaml:"instances"`
	// Hosts, when set, places the instances elsewhere, one per host
	// (Instances is then their count): each is started through its Launch
	// command (ssh HOST, ip netns exec NS, …) with its REST API on
	// Address, and sends to the collector on Collector.
	Hosts []K6Host `yaml:"hosts"`
	// Remote lists the REST APIs (HOST:PORT) of k6 instances started
	// elsewhere for each level, paused, sending to Collector and asking it
	// for the level's job (k6/x/flood's job(__ENV.FLOOD_JOB)).
	Remote []string `yaml:"remote"`
	// External counts k6 instances that start by themselves for each
	// level (a k6-operator TestRun, whose starter resumes its runners),
	// sending to Collector: the harness publishes the level's job and
	// waits for that many final snapshots.
	External int `yaml:"external"`
	// Collector is where the harness receives the instances' data: an IP
	// (default 127.0.0.1; with hosts, one they can reach), or IP:PORT, as
	// remote instances must be told it in advance.
	Collector string `yaml:"collector"`
}

// K6Host is where one k6 instance runs.
type K6Host struct {
	// Launch is the command that runs a program there; the k6 command line
	// is appended to it.
	Launch []string `yaml:"launch"`
	// Address is the instance's IP: its REST API listens there (port
	// 6565) and the harness resumes it through it.
	Address string `yaml:"address"`
}

// FromScalar reads `k6: PATH`, the binary alone.
func (k *K6) FromScalar(s string) error {
	k.Bin = s
	return nil
}

// Target is one server under test.
type Target struct {
	Name string `yaml:"name"`
	// Command starts the server; "{port}" is replaced by a free port and
	// "harness" as the program means this executable.
	Command []string `yaml:"command"`
	// Host is where the server listens (default 127.0.0.1).
	Host string `yaml:"host"`
	// Port, when set, is the port every run of the target gets instead of
	// a free one: load from elsewhere (k6 on another machine, split by
	// segments) knows where to go at every level. A container target's
	// published port.
	Port int `yaml:"port"`
	// Path, when set, is requested instead of request.path: targets of one
	// scenario may serve the same data under different routes.
	Path string `yaml:"path"`
	// Health is polled until it answers 200 (default /healthz).
	Health string `yaml:"health"`
	// HealthTimeout bounds the wait for health (default 30s).
	HealthTimeout time.Duration `yaml:"health_timeout"`
	// Pprof is the Go heap profile path, e.g. /debug/pprof/heap.
	Pprof string `yaml:"pprof"`
	// Tracemalloc is a path answering a heap top as JSON,
	// [{"func": …, "inuse_bytes": …}], e.g. a Python app's tracemalloc.
	Tracemalloc string `yaml:"tracemalloc"`
	// Heap names the kind of heap endpoint without its path: pprof
	// (/debug/pprof/heap) or tracemalloc (/debug/tracemalloc?top=10).
	Heap string `yaml:"heap"`
	// Env adds variables to the server's environment ("{port}" replaced).
	Env map[string]string `yaml:"env"`
	// Container, instead of Command, runs the server from an image: a
	// fresh container per run, capped by memory.limit, measured from its
	// cgroup.
	Container *Container `yaml:"container"`
	// Attach, instead of Command, floods a server the harness does not
	// start: a compose service, a process a test fixture started.
	Attach *Attach `yaml:"attach"`
}

// Attach names a running server: by exactly one of PID, PIDFile, Cgroup
// or Container, and the port it serves on the target's host.
type Attach struct {
	PID       int    `yaml:"pid"`
	PIDFile   string `yaml:"pid_file"`
	Cgroup    string `yaml:"cgroup"`    // e.g. /sys/fs/cgroup/system.slice/app.service
	Container string `yaml:"container"` // a container's name or id (podman or docker)
	Engine    string `yaml:"engine"`    // for container: podman or docker (default as for container targets)
	Port      int    `yaml:"port"`
}

// By says how an attached server is named: pid, pid_file, cgroup or
// container.
func (a *Attach) By() string {
	switch {
	case a.PID != 0:
		return "pid"
	case a.PIDFile != "":
		return "pid_file"
	case a.Cgroup != "":
		return "cgroup"
	case a.Container != "":
		return "container"
	}
	return ""
}

// Container is a target run from an image by podman or docker.
type Container struct {
	// Engine is podman or docker (default: podman when on PATH, else
	// docker).
	Engine string `yaml:"engine"`
	// Image is what to run, e.g. localhost/my-app:latest (never pulled:
	// the engine must have it).
	Image string `yaml:"image"`
	// Command replaces the image's command (its CMD; the entrypoint stays),
	// as command: in a compose file.
	Command []string `yaml:"command"`
	// Port is the port the server listens on inside the container; the
	// harness publishes it on a free port of the target's host (127.0.0.1).
	Port int `yaml:"port"`
}

// Chaos disturbs the target while it is flooded.
type Chaos struct {
	// RestartAfter kills the target (SIGKILL to its group) this long after
	// the flood starts and starts a fresh one on the same port; clients
	// with client.resume continue their exports. 0: never.
	RestartAfter time.Duration `yaml:"restart_after"`
}

// Gate is the scenario's regression rules; `harness gate` interprets them.
type Gate struct {
	Baseline string `yaml:"baseline"`
	Rules    []Rule `yaml:"rules"`
	// File is where the rules were read from, for error messages.
	File string `yaml:"-"`
}

// Rule is one gate rule, kept as written; the gate package parses values.
type Rule struct {
	Metric    string `yaml:"metric"`
	Target    string `yaml:"target"`
	Level     int    `yaml:"level"`
	Max       string `yaml:"max"`
	Min       string `yaml:"min"`
	Tolerance string `yaml:"tolerance"`
	OOM       string `yaml:"oom"`
	// Line is where the rule starts in its file.
	Line int `yaml:"-"`
}

// Rate is requests per second, written "50/s", "3000/m" or "50".
type Rate float64

// UnmarshalText reads a rate.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	per := 1.0
	if num, unit, ok := strings.Cut(s, "/"); ok {
		switch unit {
		case "s":
		case "m":
			per = 60
		case "h":
			per = 3600
		default:
			return fmt.Errorf("unknown unit %q (want /s, /m or /h)", unit)
		}
		s = num
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil || v < 0 || v != v || v > 1e9 {
		return fmt.Errorf("want a rate such as 50/s")
	}
	*r = Rate(v / per)
	return nil
}

// LoadGate reads gate rules from a scenario file (its gate: block) or from
// a file holding only baseline: and rules:.
func LoadGate(path string) (*Gate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return ParseGate(path, data)
}

// ParseGate is LoadGate on data read from path.
func ParseGate(path string, data []byte) (*Gate, error) {
	var probe map[string]any
	if yaml.Unmarshal(data, &probe) == nil {
		if _, ok := probe["targets"]; ok {
			sc, err := Parse(path, data)
			if err != nil {
				return nil, err
			}
			if sc.Gate == nil {
				return nil, &Error{File: path, Key: "gate", Msg: "the scenario has no gate: block"}
			}
			sc.Gate.File = path
			return sc.Gate, nil
		}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil || len(doc.Content) != 1 {
		return nil, &Error{File: path, Msg: "not a YAML rules file"}
	}
	g := &Gate{File: path}
	d := &decoder{file: path, lines: map[string]int{}, bad: map[string]bool{}}
	d.decode(doc.Content[0], reflect.ValueOf(g).Elem(), "")
	if len(d.errs) == 0 && len(g.Rules) == 0 {
		d.fail(doc.Content[0], "rules", "want at least one rule")
	}
	if len(d.errs) > 0 {
		return nil, errors.Join(d.errs...)
	}
	return g, nil
}

// Load reads and validates a scenario file.
func Load(path string) (*Scenario, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: err.Error()}
	}
	return Parse(path, data)
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

// Parse decodes and validates a scenario; file names it in errors.
func Parse(file string, data []byte) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		line := 0
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		msg := strings.TrimPrefix(yamlLine.ReplaceAllString(err.Error(), ""), "yaml: ")
		if err.Error() == "EOF" {
			msg = "empty file"
		}
		return nil, &Error{File: file, Line: line, Msg: strings.TrimLeft(msg, ": ")}
	}
	if len(doc.Content) != 1 {
		return nil, &Error{File: file, Msg: "empty document"}
	}
	s := &Scenario{File: file}
	sum := sha256.Sum256(data)
	s.SHA256 = hex.EncodeToString(sum[:])
	d := &decoder{file: file, lines: map[string]int{}, bad: map[string]bool{}}
	d.decode(doc.Content[0], reflect.ValueOf(s).Elem(), "")
	// Validate even after decode errors, so one pass reports every problem.
	s.setDefaults()
	if err := s.validate(d); err != nil {
		return nil, err
	}
	return s, nil
}

// setDefaults is the one place defaults are decided.
func (s *Scenario) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if s.Repeats == 0 {
		s.Repeats = 1
	}
	def(&s.Duration, 10*time.Second)
	def(&s.Grace, 5*time.Second)
	def(&s.Request.Timeout, 30*time.Second)
	def(&s.Memory.SampleInterval, 20*time.Millisecond)
	if s.Request.Path == "" {
		s.Request.Path = "/export"
	}
	if s.Request.Validate == "" {
		s.Request.Validate = result.CheckNone
	}
	if s.Client.Model == "" {
		s.Client.Model = "closed"
	}
	if s.Driver == "" {
		s.Driver = result.DriverBuiltin
	}
	if s.Driver == result.DriverK6 && s.K6.Bin == "" {
		s.K6.Bin = "k6"
		if _, err := os.Stat("bin/k6"); err == nil {
			s.K6.Bin = "bin/k6"
		}
	}
	if s.K6.Instances == 0 {
		s.K6.Instances = 1
	}
	if s.Client.AbortAfterBytes > 0 && s.Client.AbortFraction == 0 {
		s.Client.AbortFraction = 1
	}
	if s.Memory.HeapProfile == "" {
		s.Memory.HeapProfile = result.HeapPeak
	}
	for i := range s.Targets {
		t := &s.Targets[i]
		if t.Host == "" {
			t.Host = "127.0.0.1"
		}
		if t.Health == "" {
			t.Health = "/healthz"
		}
		switch {
		case t.Heap == "pprof" && t.Pprof == "" && t.Tracemalloc == "":
			t.Pprof = DefaultPprof
		case t.Heap == "tracemalloc" && t.Tracemalloc == "" && t.Pprof == "":
			t.Tracemalloc = DefaultTracemalloc
		}
		def(&t.HealthTimeout, 30*time.Second)
	}
}

// Default heap endpoints for a target's heap: pprof|tracemalloc.
const (
	DefaultPprof       = "/debug/pprof/heap"
	DefaultTracemalloc = "/debug/tracemalloc?top=10"
)

var safeName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// validate checks meaning once types are right, reporting every problem.
func (s *Scenario) validate(d *decoder) error {
	bad := func(key, format string, args ...any) {
		for k := key; k != ""; k = parentKey(k) {
			if d.bad[k] {
				return // already reported as undecodable
			}
		}
		line, ok := d.lines[key]
		for k := key; !ok && k != ""; {
			// Fall back to the nearest enclosing key that was written.
			k = parentKey(k)
			line, ok = d.lines[k]
		}
		d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	if !safeName.MatchString(s.Name) {
		bad("name", "want a name of letters, digits, '.', '_' or '-', got %q", s.Name)
	}
	if len(s.Levels) == 0 {
		bad("levels", "want at least one concurrency level")
	}
	for i, l := range s.Levels {
		if l < 1 || l > 10000 {
			bad(fmt.Sprintf("levels[%d]", i), "concurrency %d: want 1..10000", l)
		} else if slices.Contains(s.Levels[:i], l) {
			bad(fmt.Sprintf("levels[%d]", i), "concurrency %d given twice", l)
		}
	}
	if s.Repeats < 1 || s.Repeats > 100 {
		bad("repeats", "want 1..100, got %d", s.Repeats)
	}
	if s.Requests < 0 {
		bad("requests", "want a positive count per client, got %d", s.Requests)
	}
	if s.Warmup >= s.Duration {
		bad("warmup", "warmup %v must be shorter than duration %v", s.Warmup, s.Duration)
	}
	if !strings.HasPrefix(s.Request.Path, "/") {
		bad("request.path", "want a path starting with /, got %q", s.Request.Path)
	}
	if !slices.Contains(result.BodyChecks(), s.Request.Validate) {
		bad("request.validate", "want none, json, ndjson or csv, got %q", s.Request.Validate)
	}
	switch s.Client.Model {
	case "closed":
		if s.Client.Rate != 0 {
			bad("client.rate", "a rate needs model: open")
		}
	case "open":
		if s.Client.Rate <= 0 {
			bad("client.rate", "model open needs a rate such as 50/s")
		}
	default:
		bad("client.model", "want closed or open, got %q", s.Client.Model)
	}
	if r := s.Chaos.RestartAfter; r > 0 && r >= s.Warmup+s.Duration {
		bad("chaos.restart_after", "%v is not inside the flood (warmup + duration = %v)", r, s.Warmup+s.Duration)
	}
	if s.Chaos.RestartAfter > 0 && s.Driver != result.DriverBuiltin {
		bad("chaos.restart_after", "chaos needs the harness driver")
	}
	if s.Client.Resume && s.Request.Validate == result.CheckNone {
		bad("client.resume", "resume needs request.validate (json, ndjson or csv): the row ids say where to continue")
	}
	if f := s.Client.AbortFraction; f < 0 || f > 1 {
		bad("client.abort_fraction", "want 0..1, got %v", f)
	}
	if s.Memory.SampleInterval < time.Millisecond {
		bad("memory.sample_interval", "want at least 1ms, got %v", s.Memory.SampleInterval)
	}
	if l := s.Memory.Limit; l != 0 && l < 8<<20 {
		bad("memory.limit", "%v is too small to start a server; want 0 (no cap) or at least 8MiB", l)
	}
	if !slices.Contains(result.HeapModes(), s.Memory.HeapProfile) {
		bad("memory.heap_profile", "want peak, end or off, got %q", s.Memory.HeapProfile)
	}
	switch s.Driver {
	case result.DriverBuiltin:
		if s.Script != "" || s.Segment != "" {
			bad("script", "script and segments are for driver: k6")
		}
		if s.K6.Instances > 1 {
			bad("k6.instances", "k6 instances are for driver: k6")
		}
	case result.DriverK6:
		if s.Script == "" {
			bad("script", "driver k6 needs the k6 script to run")
		}
		if s.K6.Instances < 1 || s.K6.Instances > 64 {
			bad("k6.instances", "want 1..64 local k6 processes, got %d", s.K6.Instances)
		}
		if n := len(s.K6.Hosts); n > 0 {
			if s.K6.Instances > 1 && s.K6.Instances != n {
				bad("k6.instances", "%d instances but %d hosts: one instance per host", s.K6.Instances, n)
			}
			s.K6.Instances = n
			for i, h := range s.K6.Hosts {
				if len(h.Launch) == 0 {
					bad(fmt.Sprintf("k6.hosts[%d].launch", i), "want the command that runs a program on that host, e.g. [ssh, host-a] or [ip, netns, exec, ns-a]")
				}
				if net.ParseIP(h.Address) == nil {
					bad(fmt.Sprintf("k6.hosts[%d].address", i), "want the IP the instance's REST API listens on, got %q", h.Address)
				}
			}
		}
		collectorPort := false
		if c := s.K6.Collector; c != "" {
			host, port, err := net.SplitHostPort(c)
			if err != nil {
				host = c
			}
			collectorPort = err == nil && port != "0"
			if net.ParseIP(host) == nil {
				bad("k6.collector", "want the IP (or IP:PORT) the harness receives the instances' data on, got %q", c)
			}
		}
		for i, r := range s.K6.Remote {
			if _, _, err := net.SplitHostPort(r); err != nil {
				bad(fmt.Sprintf("k6.remote[%d]", i), "want HOST:PORT of a k6 REST API (k6 run --paused --address HOST:PORT), got %q", r)
			}
		}
		if s.K6.External < 0 || s.K6.External > 256 {
			bad("k6.external", "want 0..256 instances, got %d", s.K6.External)
		}
		if len(s.K6.Remote) > 0 || s.K6.External > 0 {
			switch {
			case len(s.K6.Hosts) > 0 || s.K6.Instances > 1 || (len(s.K6.Remote) > 0 && s.K6.External > 0):
				bad("k6.remote", "instances started elsewhere (remote or external) run alone: not with each other, k6.hosts or k6.instances")
			case !collectorPort:
				bad("k6.collector", "instances started elsewhere are told the collector in advance: want IP:PORT")
			}
		}
		if s.Segment != "" && s.K6.Instances > 1 {
			bad("segments", "with k6.instances the harness gives each instance its segment")
		}
	default:
		bad("driver", "want harness or k6, got %q", s.Driver)
	}
	if s.Gate != nil && len(s.Gate.Rules) == 0 {
		bad("gate.rules", "a gate: block wants at least one rule")
	}
	if len(s.Targets) == 0 {
		bad("targets", "want at least one target")
	}
	for i, t := range s.Targets {
		key := fmt.Sprintf("targets[%d]", i)
		if !safeName.MatchString(t.Name) {
			bad(key+".name", "want a name of letters, digits, '.', '_' or '-', got %q", t.Name)
		}
		for _, o := range s.Targets[:i] {
			if o.Name == t.Name {
				bad(key+".name", "target %q defined twice", t.Name)
			}
		}
		if a := t.Attach; a != nil {
			named := 0
			for _, set := range []bool{a.PID != 0, a.PIDFile != "", a.Cgroup != "", a.Container != ""} {
				if set {
					named++
				}
			}
			switch {
			case len(t.Command) > 0 || t.Container != nil:
				bad(key+".attach", "attach names a running server: give command, container or attach, one of them")
			case named != 1:
				bad(key+".attach", "want exactly one of pid, pid_file, cgroup or container")
			case a.PID < 0:
				bad(key+".attach.pid", "want a process id, got %d", a.PID)
			case a.Cgroup != "" && !strings.HasPrefix(a.Cgroup, "/"):
				bad(key+".attach.cgroup", "want the cgroup's absolute path, e.g. /sys/fs/cgroup/system.slice/app.service, got %q", a.Cgroup)
			}
			if a.Engine != "" && a.Container == "" {
				bad(key+".attach.engine", "engine is for attach.container")
			} else if a.Engine != "" && a.Engine != "podman" && a.Engine != "docker" {
				bad(key+".attach.engine", "want podman or docker, got %q", a.Engine)
			}
			if a.Port < 1 || a.Port > 65535 {
				bad(key+".attach.port", "want the port the server answers on (1..65535), got %d", a.Port)
			}
			if s.Memory.Limit != 0 {
				bad("memory.limit", "target %q is attached: the harness cannot cap a server it did not start; set memory.limit: 0", t.Name)
			}
			if s.Chaos.RestartAfter > 0 {
				bad("chaos.restart_after", "target %q is attached: the harness cannot restart a server it did not start", t.Name)
			}
		} else {
			checkStarted(t, key, bad)
		}
		if t.Port < 0 || t.Port > 65535 || (t.Port != 0 && t.Attach != nil) {
			bad(key+".port", "want a port 1..65535 for a target the harness starts (an attached one gives attach.port), got %d", t.Port)
		}
		if !loopback.Host(t.Host) && !s.AllowRemote {
			bad(key+".host", "%q is not a loopback address; load goes only to 127.0.0.1 or ::1 unless the scenario sets allow_remote: true", t.Host)
		}
		if t.Path != "" && !strings.HasPrefix(t.Path, "/") {
			bad(key+".path", "want a path starting with /, got %q", t.Path)
		}
		if !strings.HasPrefix(t.Health, "/") {
			bad(key+".health", "want a path starting with /, got %q", t.Health)
		}
		if t.Pprof != "" && !strings.HasPrefix(t.Pprof, "/") {
			bad(key+".pprof", "want a path starting with /, got %q", t.Pprof)
		}
		if t.Tracemalloc != "" && !strings.HasPrefix(t.Tracemalloc, "/") {
			bad(key+".tracemalloc", "want a path starting with /, got %q", t.Tracemalloc)
		}
		if t.Tracemalloc != "" && t.Pprof != "" {
			bad(key+".tracemalloc", "give pprof or tracemalloc, not both")
		}
		switch {
		case t.Heap != "" && t.Heap != "pprof" && t.Heap != "tracemalloc":
			bad(key+".heap", "want pprof or tracemalloc, got %q", t.Heap)
		case t.Heap == "pprof" && t.Tracemalloc != "", t.Heap == "tracemalloc" && t.Pprof != "":
			bad(key+".heap", "heap: %s contradicts the target's other heap endpoint", t.Heap)
		}
	}
	return errors.Join(d.errs...)
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
	case !slices.ContainsFunc(t.Command, func(a string) bool { return strings.Contains(a, "{port}") }):
		bad(key+".command", "no argument contains {port}: the harness picks the port")
	}
}

// parentKey is the enclosing key path: "targets[0]" for "targets[0].name".
func parentKey(k string) string {
	if i := strings.LastIndexAny(k, ".["); i >= 0 {
		return k[:i]
	}
	return ""
}

// RequestPath is the path clients request from t.
func (s *Scenario) RequestPath(t Target) string {
	if t.Path != "" {
		return t.Path
	}
	return s.Request.Path
}

// Target returns the named target.
func (s *Scenario) Target(name string) (Target, bool) {
	for _, t := range s.Targets {
		if t.Name == name {
			return t, true
		}
	}
	return Target{}, false
}
