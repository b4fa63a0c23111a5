package launch

import (
	"slices"
	"strings"
	"testing"
)

// The engine command line for both engines: published on the target's
// host only, capped with swap off, under the harness's cgroup, with this
// host's limits; podman's own flags for podman only (docker has neither
// --cgroups nor a global --runtime).
func TestContainerRunArgs(t *testing.T) {
	t.Parallel()
	for _, engine := range []string{"podman", "docker"} {
		c := ContainerSpec{Engine: Engine{Name: engine, Program: "/usr/bin/" + engine}, Image: "localhost/app:1", Command: []string{"--port", "8080"}, Port: 8080, Run: "r1"}
		args := c.runArgs("flood-harness-1-2-app-c1-r0", "127.0.0.1", 41000, 256<<20, "/flood-harness-1-2-app-c1-r0", []string{"A=b"})
		line := strings.Join(args, " ")
		for _, want := range []string{
			"run --name flood-harness-1-2-app-c1-r0", "--label flood-harness=1", "--label flood-harness.run=r1",
			"--publish 127.0.0.1:41000:8080", "--memory 268435456 --memory-swap 268435456",
			"--cgroup-parent /flood-harness-1-2-app-c1-r0", "--env A=b", "--ulimit nofile=",
			"localhost/app:1 --port 8080",
		} {
			if !strings.Contains(line, want) {
				t.Errorf("%s: %q lacks %q", engine, line, want)
			}
		}
		if podmanOnly := slices.Contains(args, "--cgroups") || slices.Contains(args, "--runtime"); podmanOnly != (engine == "podman") {
			t.Errorf("%s: podman's --cgroups/--runtime present: %v: %q", engine, podmanOnly, line)
		}
		if !strings.HasSuffix(line, "localhost/app:1 --port 8080") {
			t.Errorf("%s: the image and its command must come last: %q", engine, line)
		}
	}
	ipv6 := ContainerSpec{Engine: Engine{Name: "docker"}, Image: "app", Port: 80}.runArgs("n", "::1", 41000, 0, "", nil)
	if line := strings.Join(ipv6, " "); !strings.Contains(line, "--publish [::1]:41000:80") || strings.Contains(line, "--memory") || strings.Contains(line, "--cgroup-parent") {
		t.Errorf("IPv6 loopback, no cap, no parent: %q", line)
	}
}
