package launch

import (
	"testing"

	"github.com/floodharness/harness/internal/result"
	"github.com/floodharness/harness/internal/sample"
)

// TestPeakByKind: each kind reads its peak in its one measure, with the
// kernel's figure where it keeps one.
func TestPeakByKind(t *testing.T) {
	t.Parallel()
	one := func(rss, hwm int64) sample.Summary {
		return sample.Summary{Peak: sample.Sample{RSS: rss, Procs: 1}, HWM: hwm, Memory: rss}
	}
	proc := &Process{kind: &started{}}
	ctr := &Process{kind: &container{}}
	byPID := &Process{kind: &attached{spec: AttachSpec{PID: 1}}, Reset: ResetClearRefs}
	byCgroup := &Process{kind: &attached{spec: AttachSpec{Cgroup: "/x"}}, Reset: ResetMaxUsage}
	unreset := &Process{kind: &attached{spec: AttachSpec{Cgroup: "/x"}}, Reset: ResetNone}
	tests := []struct {
		name       string
		p          *Process
		sum        sample.Summary
		ex         Exit
		want       int64
		wantSource result.PeakSource
	}{
		{"one process: VmHWM beats the sampled peak", proc, one(100, 150), Exit{MaxRSS: 120}, 150, "vmhwm"},
		{"one process the harness stopped: its VmHWM, not ru_maxrss (which can hold the harness's fork)", proc, one(100, 150), Exit{MaxRSS: 400, Stopped: true}, 150, "vmhwm"},
		{"one process killed between samples: ru_maxrss", proc, one(100, 150), Exit{MaxRSS: 500}, 500, "vmhwm"},
		{"a tree under a cgroup: its anonymous memory, not its charge", proc, sample.Summary{Peak: sample.Sample{RSS: 300, Procs: 3}, HWM: 900, Anon: 120, Memory: 120}, Exit{CgroupPeak: 400}, 120, "cgroup_anon"},
		{"a tree without a cgroup: the summed PSS, not RSS", proc, sample.Summary{Peak: sample.Sample{RSS: 300, Procs: 3}, HWM: 900, Memory: 110}, Exit{}, 110, "pss"},
		{"a container: its cgroup's peak charge, what its limit counts", ctr, one(100, 150), Exit{CgroupPeak: 260}, 260, "cgroup"},
		{"a container without a cgroup peak: as a process", ctr, one(100, 150), Exit{}, 150, "vmhwm"},
		{"attached by PID: its reset VmHWM", byPID, one(100, 150), Exit{Stopped: true, CgroupPeak: 999}, 150, "vmhwm"},
		{"attached by cgroup: the reset cgroup peak", byCgroup, one(100, 150), Exit{Stopped: true, CgroupPeak: 260}, 260, "cgroup"},
		{"attached, nothing reset: the sampled memory, not a peak from before the level", unreset, one(100, 150), Exit{Stopped: true, CgroupPeak: 999}, 100, "attached_sampled"},
	}
	for _, tt := range tests {
		got, src := tt.p.Peak(tt.sum, tt.ex)
		if got != tt.want || src != tt.wantSource {
			t.Errorf("%s: Peak = %d (%s), want %d (%s)", tt.name, got, src, tt.want, tt.wantSource)
		}
	}
}
