package proc

import (
	"os"
	"testing"
)

func TestHostFacts(t *testing.T) {
	t.Parallel()
	h := ReadHost()
	if h.Kernel == "" || h.MemBytes <= 0 {
		t.Errorf("ReadHost() = %+v, want a kernel release and the memory", h)
	}
	if n, err := SysctlUint("kernel.pid_max"); err != nil || n == 0 {
		t.Errorf("SysctlUint(kernel.pid_max) = %d, %v", n, err)
	}
	if f, err := Sysctl("net.ipv4.ip_local_port_range"); err != nil || len(f) != 2 {
		t.Errorf("Sysctl(ip_local_port_range) = %q, %v; want two fields", f, err)
	}
	if _, err := Sysctl("no.such.setting"); err == nil {
		t.Error("Sysctl of a setting that is not there: no error")
	}
	if !Exists(os.Getpid()) || Exists(-1) {
		t.Error("Exists is wrong about this process or about pid -1")
	}
}
