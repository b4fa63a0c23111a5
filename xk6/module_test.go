package flood

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.k6.io/k6/js/modulestest"
	"go.k6.io/k6/lib"
	"go.k6.io/k6/metrics"
)

// newVU gives a module instance bound to a test VU, in the init context.
func newVU(t *testing.T, root *RootModule) (*modulestest.Runtime, *ModuleInstance) {
	t.Helper()
	rt := modulestest.NewRuntime(t)
	m, ok := root.NewModuleInstance(rt.VU).(*ModuleInstance)
	if !ok {
		t.Fatal("not a *ModuleInstance")
	}
	if err := rt.VU.Runtime().Set("flood", m.Exports().Default); err != nil {
		t.Fatal(err)
	}
	return rt, m
}

func moveToVU(rt *modulestest.Runtime) chan metrics.SampleContainer {
	samples := make(chan metrics.SampleContainer, 1000)
	rt.MoveToVUContext(&lib.State{Samples: samples, Tags: lib.NewVUStateTags(rt.VU.InitEnvField.Registry.RootTagSet())})
	return samples
}

func TestWatchEmitsTargetMemory(t *testing.T) {
	root := New()
	rt, _ := newVU(t, root)
	samples := moveToVU(rt)
	if _, err := rt.VU.Runtime().RunString(`flood.watch({pid: ` + strconv.Itoa(os.Getpid()) + `, interval: "5ms", target: "self"})`); err != nil {
		t.Fatal(err)
	}
	seen := map[string]float64{}
	deadline := time.After(10 * time.Second)
	for len(seen) < 2 {
		select {
		case sc := <-samples:
			for _, s := range sc.GetSamples() {
				if tag, _ := s.Tags.Get("target"); tag != "self" {
					t.Errorf("sample %s has target tag %q", s.Metric.Name, tag)
				}
				seen[s.Metric.Name] = s.Value
			}
		case <-deadline:
			t.Fatalf("no metrics from watch(); seen %v", seen)
		}
	}
	if seen["target_rss_bytes"] <= 0 || seen["target_rss_peak_bytes"] < seen["target_rss_bytes"] {
		t.Errorf("metrics %v: want rss > 0 and peak ≥ rss", seen)
	}
}

func TestWatchStartsOneSamplerPerRun(t *testing.T) {
	root := New()
	for range 3 { // three VUs of one run
		rt, _ := newVU(t, root)
		moveToVU(rt)
		if _, err := rt.VU.Runtime().RunString(`flood.watch({pid: ` + strconv.Itoa(os.Getpid()) + `, interval: 50, target: "t"})`); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(root.watchers); n != 1 {
		t.Errorf("%d samplers for one target, want 1", n)
	}
}

func TestWatchRejects(t *testing.T) {
	tests := map[string]string{
		`flood.watch({interval: "1s"})`:          "exactly one of pid, pidfile or port",
		`flood.watch({pid: 1, port: 80})`:        "exactly one of pid, pidfile or port",
		`flood.watch({pid: 1, interval: "0s"})`:  "below 1ms",
		`flood.watch({pid: 1, colour: "red"})`:   `unknown option "colour"`,
		`flood.watch({pid: "x"})`:                `pid "x"`,
		`flood.watch({port: 1})`:                 "no socket listens on port 1",
		`flood.watch({pidfile: "/nonexistent"})`: "pidfile",
	}
	for script, want := range tests {
		rt, _ := newVU(t, New())
		moveToVU(rt)
		if _, err := rt.VU.Runtime().RunString(script); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", script, err, want)
		}
	}
	rt, _ := newVU(t, New()) // still in the init context
	if _, err := rt.VU.Runtime().RunString(`flood.watch({pid: 1})`); err == nil || !strings.Contains(err.Error(), "init context") {
		t.Errorf("watch in the init context: %v", err)
	}
}

func TestHeapProfile(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("profile-bytes")) }))
	defer ts.Close()
	rt, _ := newVU(t, New())
	moveToVU(rt)
	path := filepath.Join(t.TempDir(), "heap.pb.gz")
	v, err := rt.VU.Runtime().RunString(`flood.heapProfile("` + ts.URL + `/debug/pprof/heap", "` + path + `")`)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(path); string(b) != "profile-bytes" || v.ToInteger() != 13 {
		t.Errorf("saved %q, returned %v", b, v)
	}
	if _, err := rt.VU.Runtime().RunString(`flood.heapProfile("http://10.1.2.3/debug/pprof/heap", "x")`); err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("remote heap profile: %v", err)
	}
}
