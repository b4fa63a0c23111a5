package launch

import (
	"os/exec"
	"strings"
	"testing"
)

// A preloaded library skips the shell that puts the server in its cgroup
// (heaptrack, loaded into it, would take its trace file and clear
// LD_PRELOAD) and reaches the program it execs.
func TestPreloadLast(t *testing.T) {
	t.Parallel()
	argv, env := preloadLast([]string{"sh", "-c", `echo "[$LD_PRELOAD][$FLOOD_PRELOAD]"`}, []string{"A=1", "LD_PRELOAD=/lib/x.so"})
	if strings.Contains(strings.Join(env, " "), "LD_PRELOAD=") {
		t.Fatalf("env %q still preloads into the wrapper", env)
	}
	// As the cgroup wrapper does: a shell that execs what follows.
	cmd := exec.Command("/bin/sh", append([]string{"-c", `exec "$@"`, "sh"}, argv...)...)
	cmd.Env = env
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "[/lib/x.so][]" {
		t.Errorf("the server saw %q (%v); want LD_PRELOAD set for it alone", out, err)
	}
	if a, e := preloadLast([]string{"srv"}, []string{"A=1"}); len(a) != 1 || len(e) != 1 {
		t.Errorf("nothing preloaded: argv %q env %q changed", a, e)
	}
}
