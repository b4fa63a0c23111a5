package launch

import (
	"os"
	"path/filepath"
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

func TestV2Path(t *testing.T) {
	t.Parallel()
	f := filepath.Join(t.TempDir(), "cgroup")
	os.WriteFile(f, []byte("1:name=systemd:/x\n0::/user.slice/user-1000.slice/user@1000.service/app.slice/u.scope\n"), 0o644)
	if p, err := v2Path(f); err != nil || p != "/user.slice/user-1000.slice/user@1000.service/app.slice/u.scope" {
		t.Errorf("v2Path = %q, %v", p, err)
	}
	os.WriteFile(f, []byte("4:memory:/a\n"), 0o644)
	if _, err := v2Path(f); err == nil {
		t.Error("v2Path of a v1-only file: no error")
	}
}
