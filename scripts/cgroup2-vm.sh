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
#   scope    uid 1001 with no writable cgroup but a user systemd: a scope
#            per target (systemd-run --user --scope; a stand-in here, below)
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
printf 'root:x:0:0:root:/:/bin/sh\nflood:x:1000:1000:flood:/tmp:/bin/sh\nscoped:x:1001:1001:scoped:/tmp:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\nflood:x:1000:\nscoped:x:1001:\n' >"$root/etc/group"
# A stand-in for systemd-run --user --scope: it asks the "system manager"
# (a root loop in init, as PID 1 moves a user's process into a scope of its
# user manager) for a scope with the memory properties given, waits until
# it runs there, then execs the command. No systemd runs in this VM.
cat >"$root/bin/systemd-run" <<'EOF'
#!/bin/busybox sh
# Only uid 1001 has a user manager here; others get what systemd-run says
# where there is none.
[ "$(id -u)" = 1001 ] || { echo "Failed to connect to bus: No medium found" >&2; exit 1; }
unit="run-$$" max=max
while [ $# -gt 0 ]; do
	case $1 in
	--unit) unit=$2; shift ;;
	-p) case $2 in MemoryMax=*) max=${2#MemoryMax=}; [ "$max" = infinity ] && max=max ;; esac; shift ;;
	--) shift; break ;;
	esac
	shift
done
echo "$$ $unit $max" >/run/scope-req
for i in $(seq 500); do grep -q "/$unit.scope\$" /proc/self/cgroup && exec "$@"; sleep 0.01; done
echo "systemd-run (stand-in): no scope $unit" >&2
exit 1
EOF
chmod +x "$root/bin/systemd-run"
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
apps=$cg/user.slice/user-1001.slice/user@1001.service/app.slice
mkdir -p $apps
for d in $cg/user.slice/user-1001.slice $cg/user.slice/user-1001.slice/user@1001.service $apps; do echo "+memory +pids" >$d/cgroup.subtree_control; done
mkdir -p /run && mkfifo /run/scope-req && chmod 666 /run/scope-req
(exec 3<>/run/scope-req; while read -r pid unit max <&3; do
	d=$apps/$unit.scope; mkdir -p $d
	echo $max >$d/memory.max; echo 0 >$d/memory.swap.max; echo 1 >$d/memory.oom.group
	echo $pid >$d/cgroup.procs
done) &
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
# scope: uid 1001 may write no cgroup, but its systemd makes scopes.
out=/tmp/scope; su -s /bin/sh scoped -c "harness run --out $out /scenarios/cgroup2-vm.yaml >/tmp/scope.log 2>&1"
rc=$?
rmdir $apps/*.scope 2>/dev/null # --collect: systemd removes a scope once it is empty
report scope $rc $out
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
echo "===DOCTOR-SCOPED"; su -s /bin/sh scoped -c "harness doctor"; echo "===DOCTOR-SCOPED exit=$?"
echo "===VM-DONE"
poweroff -f
EOF
chmod +x "$root/init"
(cd "$root" && find . | "$busybox" cpio -o -H newc 2>/dev/null | gzip -1) >"$work/initramfs.gz"

# TCG: these machines' KVM guests do not get past their firmware.
timeout "${VM_TIMEOUT:-300}" qemu-system-x86_64 -machine q35 -cpu max -smp 2 -m 1024 \
	-nographic -no-reboot -kernel "$kernel" -initrd "$work/initramfs.gz" \
	-append "console=ttyS0 cgroup_no_v1=all panic=-1 quiet loglevel=3"
