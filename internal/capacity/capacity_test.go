package capacity

import (
	"context"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/floodharness/harness/internal/result"
)

// fake is a target that serves up to k concurrent clients completely and
// fails above; its peak grows 10 MiB a client over 20 at rest.
func fake(k int, trials *int) func(context.Context, int, int) (result.Run, error) {
	return func(_ context.Context, c, _ int) (result.Run, error) {
		*trials++
		run := result.Run{Concurrency: c, MainLived: true, MemoryLimitBytes: 512 << 20, MemoryLimitBy: result.LimitCgroup,
			PeakRSSBytes: int64(20+10*c) << 20, PeakRSSSource: result.PeakVmHWM,
			Client: result.Client{Requests: int64(2 * c), OK: int64(2 * c), Errors: map[string]int64{}}}
		if c > k {
			run.OOMKilled = true
		}
		return run, nil
	}
}

// The search finds exactly K, confirmed, within ⌈log2 K⌉·2 + 2·repeats + 2
// trials; at or past --max it says the ceiling was reached.
func TestSearchFindsExactlyK(t *testing.T) {
	t.Parallel()
	for _, k := range []int{0, 1, 2, 3, 5, 8, 23, 64, 100, 700, 2000} {
		const repeats = 3
		var trials int
		tg := &result.CapacityTarget{Target: "fake"}
		if err := Search(context.Background(), Options{Max: 1024, Repeats: repeats, Trial: fake(k, &trials)}, tg); err != nil {
			t.Fatal(err)
		}
		want, ceiling := min(k, 1024), k >= 1024
		bound := int(math.Ceil(math.Log2(float64(max(k, 2)))))*2 + 2*repeats + 2
		if tg.Capacity != want || tg.CeilingReached != ceiling || trials > bound {
			t.Errorf("K=%d: capacity %d (ceiling %v) in %d trials; want %d (ceiling %v) in at most %d", k, tg.Capacity, tg.CeilingReached, trials, want, ceiling, bound)
		}
		if !ceiling && tg.FirstFailing != k+1 {
			t.Errorf("K=%d: first failing %d, want %d", k, tg.FirstFailing, k+1)
		}
		passes := 0
		for _, tr := range tg.Trials {
			if tr.Concurrency == k && tr.Passed {
				passes++
			}
		}
		if k > 0 && k < 1024 && passes < repeats {
			t.Errorf("K=%d: the answer passed %d trials, want %d", k, passes, repeats)
		}
		// 10 MiB a client over 20: the curve reaches 512 MiB at 49.2.
		if k >= 2 && (math.Abs(tg.PerClientBytes-10<<20) > 1 || math.Abs(tg.EstimateFromCurve-49.2) > 0.01) {
			t.Errorf("K=%d: per client %.0f, estimate %.2f", k, tg.PerClientBytes, tg.EstimateFromCurve)
		}
	}
}

// Where the cap counts another figure than the peak (the cgroup's charge
// beside a VmHWM holding 40 MiB of mapped files it never charged), the
// curve is drawn through what the cap counted, and each trial keeps it.
func TestTheCurveFollowsWhatTheCapCounts(t *testing.T) {
	t.Parallel()
	var trials int
	inner := fake(40, &trials)
	mapped := func(ctx context.Context, c, rep int) (result.Run, error) {
		run, err := inner(ctx, c, rep)
		run.CgroupPeakBytes = run.PeakRSSBytes
		run.PeakRSSBytes += 40 << 20
		return run, err
	}
	tg := &result.CapacityTarget{Target: "mapped"}
	if err := Search(context.Background(), Options{Max: 64, Repeats: 2, Trial: mapped}, tg); err != nil {
		t.Fatal(err)
	}
	// Through the charges, 10 MiB a client over 20: 49.2, not the 45.2
	// the VmHWMs would give.
	if math.Abs(tg.EstimateFromCurve-49.2) > 0.01 || tg.Trials[0].CapChargedBytes != tg.Trials[0].PeakRSSBytes-40<<20 {
		t.Errorf("estimate %.2f, first trial %+v", tg.EstimateFromCurve, tg.Trials[0])
	}
}

// A level that passed during the search and then fails a confirmation
// lowers the answer, and says so: no number is reported that did not pass.
func TestConfirmationThatFailsSearchesBelow(t *testing.T) {
	t.Parallel()
	var trials int
	inner := fake(6, &trials)
	seen := map[int]int{}
	flaky := func(ctx context.Context, c, rep int) (result.Run, error) {
		seen[c]++
		run, _ := inner(ctx, c, rep)
		if c == 6 && seen[c] == 2 { // 6 passes once, then fails
			run.OOMKilled = true
		}
		return run, nil
	}
	tg := &result.CapacityTarget{Target: "flaky"}
	if err := Search(context.Background(), Options{Max: 64, Repeats: 3, Trial: flaky}, tg); err != nil {
		t.Fatal(err)
	}
	if tg.Capacity != 5 || tg.FirstFailing != 6 || len(tg.Notes) == 0 || !strings.Contains(tg.Notes[0], "c=6 passed during the search, then failed") {
		t.Errorf("capacity %d, first failing %d, notes %q; want 5 and 6, and the contradiction said", tg.Capacity, tg.FirstFailing, tg.Notes)
	}
}

// A search out of budget keeps only a confirmed answer, and says it
// stopped early.
func TestBudgetKeepsOnlyConfirmed(t *testing.T) {
	t.Parallel()
	var trials int
	tg := &result.CapacityTarget{Target: "slow"}
	err := Search(context.Background(), Options{Max: 64, Repeats: 3, Trial: fake(20, &trials), Deadline: time.Now().Add(-time.Second)}, tg)
	if err != ErrBudget || tg.Capacity != 0 || trials != 0 || !strings.Contains(strings.Join(tg.Notes, " "), "stopped early") {
		t.Errorf("err %v, capacity %d after %d trials, notes %q", err, tg.Capacity, trials, tg.Notes)
	}
}

func TestJudge(t *testing.T) {
	t.Parallel()
	ok := result.Run{Concurrency: 2, MainLived: true, Client: result.Client{Requests: 4, OK: 4}}
	for name, tt := range map[string]struct {
		mod  func(*result.Run)
		want string
	}{
		"all served":       {func(*result.Run) {}, ""},
		"a failure":        {func(r *result.Run) { r.Failed, r.Errors = 1, map[string]int64{"truncated": 1} }, "1 of 4 requests failed (truncated ×1)"},
		"killed":           {func(r *result.Run) { r.OOMKilled, r.MemoryLimitBy = true, result.LimitCgroup }, "OOM-killed at the cap"},
		"a worker died":    {func(r *result.Run) { r.DiedProcesses = 1 }, "1 of its processes died"},
		"cut off":          {func(r *result.Run) { r.CutOff = 1 }, "a longer trial is needed"},
		"a client starved": {func(r *result.Run) { r.OK = 1 }, "only 1 whole responses for 2 clients"},
	} {
		run := ok
		tt.mod(&run)
		passed, why := Judge(run, Bounds{})
		if passed != (tt.want == "") || !strings.Contains(why, tt.want) {
			t.Errorf("%s: Judge = %v, %q; want %q", name, passed, why, tt.want)
		}
	}
}

// --p99 fails a trial whose ok responses were too slow; --allow-shed
// passes one whose only failures were 503s with Retry-After, and nothing
// else: another failure, or nothing served at all, still fails.
func TestJudgeBounds(t *testing.T) {
	t.Parallel()
	slow := result.Run{Concurrency: 2, MainLived: true, Client: result.Client{Requests: 4, OK: 4, LatencyMs: result.Latency{P99: 2500}}}
	if ok, why := Judge(slow, Bounds{P99: 2 * time.Second}); ok || why != "p99 2.5s above the 2s bound" {
		t.Errorf("p99 2.5 s under a 2 s bound: %v %q", ok, why)
	}
	if ok, _ := Judge(slow, Bounds{P99: 3 * time.Second}); !ok {
		t.Error("p99 2.5 s under a 3 s bound failed")
	}
	shed := result.Run{Concurrency: 4, MainLived: true, Client: result.Client{Requests: 10, OK: 2, Failed: 8, Shed: 8, Errors: map[string]int64{"status_503": 8}}}
	if ok, why := Judge(shed, Bounds{}); ok || !strings.Contains(why, "8 of 10 requests failed (status_503 ×8)") {
		t.Errorf("shed without --allow-shed: %v %q", ok, why)
	}
	if ok, why := Judge(shed, Bounds{AllowShed: true}); !ok {
		t.Errorf("only shed, with --allow-shed: failed, %q", why)
	}
	mixed := shed
	mixed.Failed, mixed.Errors = 9, map[string]int64{"status_503": 8, "truncated": 1}
	if ok, why := Judge(mixed, Bounds{AllowShed: true}); ok || why != "1 of 10 requests failed (truncated ×1)" {
		t.Errorf("a truncation beside the shed: %v %q", ok, why)
	}
	none := result.Run{Concurrency: 2, MainLived: true, Client: result.Client{Requests: 6, Failed: 6, Shed: 6, Errors: map[string]int64{"status_503": 6}}}
	if ok, why := Judge(none, Bounds{AllowShed: true}); ok || !strings.Contains(why, "served none") {
		t.Errorf("everything shed: %v %q", ok, why)
	}
}

// A target that does not start has no capacity (not a capacity of 0):
// the search ends at the first trial with the reason.
func TestNotStartedIsNoAnswer(t *testing.T) {
	t.Parallel()
	trials := 0
	tg := &result.CapacityTarget{Target: "gone"}
	err := Search(context.Background(), Options{Max: 64, Repeats: 3, Trial: func(context.Context, int, int) (result.Run, error) {
		trials++
		return result.Run{Error: "start target"}, errors.New("start target \"gone\": exec: \"gunicorn\": not found\n--- last lines of its log ---\nx")
	}}, tg)
	if !errors.Is(err, ErrNotStarted) || trials != 1 || tg.Error != `could not start: start target "gone": exec: "gunicorn": not found` || tg.Capacity != 0 || len(tg.Notes) != 0 {
		t.Errorf("err %v, %d trials, error %q, capacity %d, notes %q", err, trials, tg.Error, tg.Capacity, tg.Notes)
	}
}
