#!/usr/bin/env bash
# Boots a real cgroup v2 kernel (Debian's linux-image-amd64, emulated by
# qemu: these machines are cgroup v1 hosts, and KVM guests do not start
# here) with an initramfs of busybox and the static harness binaries, and
# runs scenarios/cgroup2-vm.yaml as a user would on a cgroup v2 host:
#
#   root     root, in the root cgroup (a bare VM)
#   beside   root, in a cgroup it shares with its shell (the common case)
#   leaf     root, alone in a service's cgroup (moves itself into a leaf)
#   user     uid 1000, alone in a cgroup delegated to it (as systemd's
#            Delegate=yes gives)
#   fallback uid 1000 in a cgroup it may not write: no cgroup at all
#   killed   a harness SIGKILLed mid-flood; the next start removes its cgroups
#
# Each case's results.json and what it left behind are printed between
# markers on the console; internal/launch's TestCgroupV2VM reads them.
# Usage: scripts/cgroup2-vm.sh WORKDIR  (packages: scripts/install-deps.sh
# qemu-system-x86 linux-image-amd64 busybox-static)
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:?usage: cgroup2-vm.sh WORKDIR}
kernel=$(ls /boot/vmlinuz-* 2>/dev/null | sort -V | tail -1)
[ -n "$kernel" ] || { echo "cgroup2-vm: no kernel in /boot (install linux-image-amd64)" >&2; exit 2; }
command -v qemu-system-x86_64 >/dev/null || { echo "cgroup2-vm: qemu-system-x86_64 missing (install qemu-system-x86)" >&2; exit 2; }
busybox=$(command -v busybox) || { echo "cgroup2-vm: busybox missing (install busybox-static)" >&2; exit 2; }

root="$work/root"
rm -rf "$root" && mkdir -p "$root"/{bin,etc,proc,sys,dev,tmp,scenarios}
CGO_ENABLED=0 GOFLAGS=-buildvcs=false go build -o "$root/bin/" ./cmd/harness ./cmd/harness-serve
cp "$busybox" "$root/bin/busybox"
cp scenarios/cgroup2-vm.yaml "$root/scenarios/"
printf 'root:x:0:0:root:/:/bin/sh\nflood:x:1000:1000:flood:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nflood:x:1000:\n' >"$root/etc/group"
cat >"$root/init" <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
chmod 1777 /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
ip link set lo up
cg=/sys/fs/cgroup
echo "+memory +pids" >$cg/cgroup.subtree_control
mkdir -p $cg/user.slice/session $cg/user.slice/user-1000 $cg/system.slice/flood.service
echo "+memory +pids" >$cg/user.slice/cgroup.subtree_control
echo "+memory +pids" >$cg/system.slice/cgroup.subtree_control
chown -R 1000:1000 $cg/user.slice/user-1000
echo $$ >$cg/user.slice/session/cgroup.procs
echo "VM-KERNEL $(uname -r) $(cat $cg/cgroup.controllers)"

report() { # case outdir
	echo "===CASE $1 exit=$2"
	cat "$3/results.json" 2>/dev/null
	echo "===LEFT cgroups: $(find $cg -name 'flood-harness*' | tr '\n' ' ')"
	echo "===LEFT procs: $(ps -o pid,comm | grep -c 'harness-serv')"
	echo "===END $1"
}
run() { harness run --out "$1" /scenarios/cgroup2-vm.yaml >/tmp/run.log 2>&1; }

# beside: root, sharing its cgroup with this shell.
cd /
out=/tmp/beside; run $out; report beside $? $out
# root: in the root cgroup itself (a bare VM).
out=/tmp/root; sh -c "echo \$\$ >$cg/cgroup.procs && exec harness run --out $out /scenarios/cgroup2-vm.yaml >/tmp/run.log 2>&1"
report root $? $out
# leaf: root, alone in a service's cgroup.
out=/tmp/leaf; sh -c "echo \$\$ >$cg/system.slice/flood.service/cgroup.procs && exec harness run --out $out /scenarios/cgroup2-vm.yaml >/tmp/run.log 2>&1"
report leaf $? $out
# user: uid 1000 alone in a delegated cgroup (moved there as root, then su).
out=/tmp/user; sh -c "echo \$\$ >$cg/user.slice/user-1000/cgroup.procs && exec su -s /bin/sh flood -c 'exec harness run --out $out /scenarios/cgroup2-vm.yaml >/tmp/user.log 2>&1'"
report user $? $out
# fallback: uid 1000 in the shell's cgroup, which it may not write.
out=/tmp/fallback; su -s /bin/sh flood -c "harness run --out $out /scenarios/cgroup2-vm.yaml >/tmp/fallback.log 2>&1"
report fallback $? $out
# killed: a harness SIGKILLed mid-flood leaves its cgroups; the next one
# (here: harness doctor) removes them.
harness run --out /tmp/killed /scenarios/cgroup2-vm.yaml >/tmp/killed.log 2>&1 &
pid=$!
for i in $(seq 300); do [ -n "$(find $cg -name 'flood-harness*buffered*')" ] && break; sleep 0.1; done
sleep 1
kill -9 $pid
wait $pid 2>/dev/null
echo "===STALE before: $(find $cg -name 'flood-harness*' | tr '\n' ' ')"
echo "===DOCTOR"; harness doctor; echo "===DOCTOR exit=$?"
echo "===STALE after: $(find $cg -name 'flood-harness*' | tr '\n' ' ')"
echo "===STALE procs: $(ps -o pid,comm | grep -c 'harness-serv')"
echo "===VM-DONE"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initramfs.gz"

# TCG: these machines' KVM guests do not get past their firmware.
timeout "${VM_TIMEOUT:-300}" qemu-system-x86_64 -machine q35 -cpu max -smp 2 -m 1024 \
	-nographic -no-reboot -kernel "$kernel" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet loglevel=3"
