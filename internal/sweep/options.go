package sweep

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/floodharness/harness/internal/heaphook"
	"github.com/floodharness/harness/internal/k6"
	"github.com/floodharness/harness/internal/launch"
	"github.com/floodharness/harness/internal/load"
	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/scenario"
)

// The one place a scenario is mapped onto what runs it: the target's
// launch.Spec, the built-in client's load.Options (or the k6 driver), and
// the binaries "harness" names in a command.

// Programs are the harness's own binaries, as a target's command may name
// them: "harness" is Self, and "harness serve" runs Serve instead when it is
// set — the lean server that links no plotting or reports, so a reference
// server's memory is the export's, not the tool's.
type Programs struct {
	Self  string // the harness binary (os.Executable())
	Serve string // harness-serve, or "" to run Self serve
}

// SelfPrograms finds the harness's binaries: this executable, and
// harness-serve beside it if it is there.
func SelfPrograms() Programs {
	self, err := os.Executable()
	if err != nil {
		return Programs{Self: "harness"}
	}
	return ProgramsIn(filepath.Dir(self), self)
}

// ProgramsIn is the programs of a harness binary self with its lean
// siblings in dir.
func ProgramsIn(dir, self string) Programs {
	p := Programs{Self: self}
	if st, err := os.Stat(filepath.Join(dir, "harness-serve")); err == nil && st.Mode().IsRegular() {
		p.Serve = filepath.Join(dir, "harness-serve")
	}
	return p
}

// resolve replaces "harness" (and "harness serve") in argv by the binary
// that runs it; other commands are returned as they are.
func (p Programs) resolve(argv []string) []string {
	if len(argv) == 0 || argv[0] != "harness" {
		return argv
	}
	if len(argv) > 1 && argv[1] == "serve" && p.Serve != "" {
		return append([]string{p.Serve}, argv[2:]...)
	}
	self := p.Self
	if self == "" {
		self = "harness"
	}
	return append([]string{self}, argv[1:]...)
}

func (m *measurement) spec() (launch.Spec, error) {
	sc, tg := m.o.Scenario, m.tg
	spec := launch.Spec{
		Name: tg.Name, Label: m.label,
		Command: m.o.Programs.resolve(tg.Command), Env: tg.Env, Host: tg.Host, Port: tg.Port,
		Health: tg.Health, HealthTimeout: tg.HealthTimeout, HealthKey: m.healthKey(),
		LogDir:      filepath.Join(m.o.Dir, "logs"),
		MemoryLimit: int64(sc.Memory.Limit),
		Cgroups:     m.o.Cgroups,
	}
	if m.traced {
		if err := m.inject(&spec); err != nil {
			return spec, err
		}
	}
	tlsConfig, err := sc.TLSConfig(tg)
	if err != nil {
		return spec, err
	}
	spec.TLS = tlsConfig
	if a := tg.Attach; a != nil {
		spec.Attached = &launch.AttachSpec{PID: a.PID, PIDFile: a.PIDFile, Cgroup: a.Cgroup, Container: a.Container, Port: a.Port}
		if a.Container != "" {
			engine, err := launch.FindEngine(a.Engine)
			if err != nil {
				return spec, fmt.Errorf("target %q: %w", tg.Name, err)
			}
			spec.Attached.Engine = engine
		}
	}
	if c := tg.Container; c != nil {
		engine, err := launch.FindEngine(c.Engine)
		if err != nil {
			return spec, fmt.Errorf("target %q: %w", tg.Name, err)
		}
		spec.Container = &launch.ContainerSpec{Engine: engine, Image: c.Image, Command: c.Command, Port: c.Port, Run: filepath.Base(m.o.Dir)}
	}
	return spec, nil
}

// healthKey is where this target's health path came from: the flag, or
// the scenario's line.
func (m *measurement) healthKey() string {
	sc := m.o.Scenario
	i := slices.IndexFunc(sc.Targets, func(t scenario.Target) bool { return t.Name == m.tg.Name })
	o := sc.Origin(fmt.Sprintf("targets[%d].health", i))
	if o.Flag != "" {
		return o.Flag
	}
	return fmt.Sprintf("health: of target %q (%s)", m.tg.Name, o)
}

// driver is the scenario's load driver.
func driver(sc *scenario.Scenario) load.Driver {
	if sc.Driver == result.DriverK6 {
		k := k6.Driver{Bin: sc.K6.Bin, Script: sc.Script, Segment: sc.Segment, Instances: sc.K6.Instances, Collector: sc.K6.Collector, Remote: sc.K6.Remote, External: sc.K6.External}
		for _, h := range sc.K6.Hosts {
			k.Hosts = append(k.Hosts, k6.Host{Launch: h.Launch, Address: h.Address})
		}
		return k
	}
	return load.Builtin{}
}

// loadOptions is the built-in client's configuration for one run.
func loadOptions(sc *scenario.Scenario, tg scenario.Target, p *launch.Process, level int, stop <-chan struct{}, progress func(load.Progress)) load.Options {
	req := sc.RequestOf(tg)
	return load.Options{
		URL:    p.URL(req.Path),
		Method: req.Method, Header: sc.Header(tg),
		Body:        load.Body{Data: bodyData(req.Body), File: req.BodyFile, Size: int64(req.BodySize)},
		Concurrency: level,
		Sources:     load.ReadHost().SourcesFor(level),
		Mix:         mix(sc, p),
		Duration:    sc.Duration, Warmup: sc.Warmup, Requests: sc.Requests.Count, Grace: sc.Grace,
		UntilAnswered: untilAnswered(sc),
		Rate:          float64(sc.Client.Rate),
		ReadRate:      int64(sc.Client.ReadRate),
		AbortAfter:    int64(sc.Client.AbortAfterBytes), AbortFraction: sc.Client.AbortFraction,
		RecvBuffer: int(sc.Client.RecvBuffer),
		WriteRate:  int64(sc.Client.WriteRate),
		TLS:        p.TLS(), HTTP: sc.Client.HTTP,
		SendBuffer:     int(sc.Client.SendBuffer),
		Validate:       sc.Request.Validate,
		Rows:           req.Rows,
		Resume:         sc.Client.Resume,
		ForgiveResends: sc.Client.ForgiveResends,
		Login:          login(sc, p),
		Compressed:     sc.Client.Compressed,
		Timeout:        sc.Request.Timeout,
		AllowRemote:    sc.AllowRemote,
		Stop:           stop,
		Abort:          p.Abort(stop),
		Progress:       progress,
	}
}

// mix is the scenario's weighted mix as the client sends it to p (nil
// without one).
func mix(sc *scenario.Scenario, p *launch.Process) []load.Weighted {
	var out []load.Weighted
	for _, m := range sc.Mix() {
		out = append(out, load.Weighted{Name: m.Name, Weight: m.Weight, Request: load.Request{
			URL: p.URL(m.Path), Method: m.Method, Header: sc.HeaderOf(m.Request), Validate: m.Validate, Rows: m.Rows,
			Body: load.Body{Data: bodyData(m.Body), File: m.BodyFile, Size: int64(m.BodySize)},
		}})
	}
	return out
}

// login is the scenario's login request as the client sends it to p (nil
// without one).
func login(sc *scenario.Scenario, p *launch.Process) *load.Request {
	lg := sc.LoginRequest()
	if lg == nil {
		return nil
	}
	return &load.Request{URL: p.URL(lg.Path), Method: lg.Method, Header: sc.HeaderOf(*lg),
		Body: load.Body{Data: bodyData(lg.Body), File: lg.BodyFile, Size: int64(lg.BodySize)}}
}

// bodyData is a request body given as a string, nil for none.
func bodyData(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

// untilAnswered is how much longer than its duration a level may go on for
// every client to have one whole answer: scenario.AutoBound with duration
// auto, else nothing.
func untilAnswered(sc *scenario.Scenario) time.Duration {
	if sc.DurationAuto {
		return scenario.AutoBound
	}
	return 0
}

// inject prepares heap: auto's hooks in a directory of their own (removed
// after the run) and adds what loads them to the server's environment:
// PYTHONPATH first (the server's own after it), RUBYOPT's -r last. A
// server in neither language ignores both.
func (m *measurement) inject(spec *launch.Spec) error {
	dir, err := os.MkdirTemp("", "flood-heaphook-")
	if err != nil {
		return err
	}
	env := func(k string) (string, bool) { // what the server would have had
		if v, ok := m.tg.Env[k]; ok {
			return v, true
		}
		return os.LookupEnv(k)
	}
	if m.hook, err = heaphook.Prepare(dir, m.runtime, env); err != nil {
		os.RemoveAll(dir)
		return err
	}
	all := maps.Clone(spec.Env)
	if all == nil {
		all = map[string]string{}
	}
	maps.Copy(all, m.hook.Env)
	spec.Env = all
	return nil
}
