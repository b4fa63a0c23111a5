package main

import (
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/floodharness/harness/internal/harnesstest"
)

// engine is a container engine as a test drives it: its program, and the
// environment that points it at its daemon (docker's DOCKER_HOST).
type engine struct {
	name string
	env  []string
}

// cmd is the engine's command line with the test's environment.
func (e engine) cmd(args ...string) *exec.Cmd {
	cmd := exec.Command(e.name, args...)
	cmd.Env = append(os.Environ(), e.env...)
	return cmd
}

// podman is podman as installed (no daemon).
func podman(t *testing.T) engine {
	t.Helper()
	harnesstest.NeedProgram(t, "scripts/install-deps.sh installs podman and runc", "podman")
	return engine{name: "podman"}
}

// needPodman builds the reference server's image for podman; see needImage.
func needPodman(t *testing.T) string { return needImage(t, podman(t)) }

// needImage builds the reference server's image offline for this test
// (scripts/container-image.sh: a static harness-serve imported with the
// engine's import, no registry) and returns its name; the image is removed
// when the test ends.
func needImage(t *testing.T, e engine) string {
	t.Helper()
	image := fmt.Sprintf("localhost/flood-harness-serve:test-%d", os.Getpid())
	cmd := exec.Command("bash", "scripts/container-image.sh", e.name, image)
	cmd.Env = append(os.Environ(), e.env...)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build the image: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = e.cmd("rmi", "--force", image).Run() })
	return image
}
