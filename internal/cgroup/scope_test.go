package cgroup

import (
	"slices"
	"testing"
)

func TestScopeArgs(t *testing.T) {
	t.Parallel()
	got := scopeArgs("flood-harness-1-1-a", 64<<20, []string{"srv", "--port", "80"})
	want := []string{"systemd-run", "--user", "--scope", "--quiet", "--collect", "--unit", "flood-harness-1-1-a",
		"-p", "MemoryMax=67108864", "-p", "MemorySwapMax=0", "-p", "OOMPolicy=kill", "--", "srv", "--port", "80"}
	if !slices.Equal(got, want) {
		t.Errorf("scopeArgs = %q\nwant %q", got, want)
	}
	if got := scopeArgs("u", 0, []string{"x"}); !slices.Contains(got, "MemoryMax=infinity") {
		t.Errorf("uncapped scope: %q, want MemoryMax=infinity", got)
	}
}
