#!/usr/bin/env bash
# Builds the tiny bootable test guest from Debian packages only: Debian's
# cloud kernel plus an initramfs made of busybox-static and the few kernel
# modules it needs. Nothing is downloaded from anywhere but the machine's
# configured Debian archive (apt-get download), and nothing is installed.
#
#   scripts/build-test-guest.sh [OUTDIR]
#     OUTDIR defaults to $RAPID_TEST_GUEST_DIR, else <repo>/.run/guest.
#     Prints OUTDIR on success. OUTDIR/vmlinuz and OUTDIR/initrd.gz are
#     replaced atomically; OUTDIR/inputs names what they were built from and
#     a later run with the same inputs does nothing.
#
# The guest (its /init is below):
#   - prints "GUEST-READY ..." on the serial console once it can take
#     commands; every line typed on the serial console then runs as one
#     shell command line (a plain read/eval loop: an interactive ash on a
#     serial port drops early input);
#   - powers off on the ACPI power button (QMP system_powerdown), unless
#     the kernel command line has guest.powerbutton=ignore, for tests of
#     guests that ignore ACPI;
#   - has virtio block, net and balloon drivers (disks show as /dev/vdX).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out=${1:-${RAPID_TEST_GUEST_DIR:-$repo/.run/guest}}
die() { echo "build-test-guest: $*" >&2; exit 1; }

for bin in apt-get apt-cache dpkg-deb gzip flock sha256sum; do
  command -v "$bin" >/dev/null || die "'$bin' is missing"
done

# The meta package follows Debian's current cloud kernel; the guest uses the
# versioned image package it depends on (one apt-cache call: it is slow).
show=$(apt-cache show --no-all-versions linux-image-cloud-amd64 busybox-static 2>/dev/null || true)
read -r kpkg kver < <(sed -n 's/^Depends: .*\(linux-image-[0-9][^ ,]*\) (= \([^)]*\)).*/\1 \2/p' <<<"$show" | head -1) || true
bbver=$(awk '/^Package: busybox-static$/ {p=1} p && /^Version:/ {print $2; exit}' <<<"$show")
[[ -n ${kpkg:-} && -n ${kver:-} && -n $bbver ]] \
  || die "apt knows no Debian cloud kernel or busybox-static (is 'apt-get update' needed?)"
inputs="script=$(sha256sum "${BASH_SOURCE[0]}" | cut -d' ' -f1) $kpkg=$kver busybox-static=$bbver"

mkdir -p "$out"
# Two test workers may ask at once: one builds, the other waits and reuses.
exec 9>"$out/.lock"
flock 9
if [[ -f $out/inputs && $(cat "$out/inputs") == "$inputs" && -s $out/vmlinuz && -s $out/initrd.gz ]]; then
  echo "$out"
  exit 0
fi

work=$(mktemp -d "$out/.build.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
# apt-get as root warns that its _apt sandbox cannot write here; harmless.
if ! apt-get download "$kpkg=$kver" "busybox-static=$bbver" >apt.log 2>&1; then
  cat apt.log >&2
  # Offline with a guest from older packages: that guest still boots.
  if [[ -s $out/vmlinuz && -s $out/initrd.gz ]]; then
    echo "build-test-guest: apt-get download failed; keeping the guest built from $(cat "$out/inputs" 2>/dev/null)" >&2
    echo "$out"
    exit 0
  fi
  die "apt-get download failed"
fi
dpkg-deb -x "${kpkg}_"*.deb k
dpkg-deb -x busybox-static_*.deb bb
kdir=$(echo k/lib/modules/*)
[[ -d $kdir ]] || die "$kpkg has no modules directory"

root=root
mkdir -p $root/bin $root/proc $root/sys $root/dev $root/tmp $root/mods
cp bb/bin/busybox $root/bin/busybox
for applet in $($root/bin/busybox --list); do
  # --list names busybox itself: a link there would replace the binary.
  [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done
ln -s bin $root/sbin

# Modules in load order, dependencies first. The package has no modules.dep
# (depmod runs at install time), so read each module's own depends= field.
order=()
declare -A seen=()
add_module() {
  local name=$1 file dep deps
  [[ -n ${seen[$name]:-} ]] && return 0
  seen[$name]=1
  file=$(find "$kdir" -name "$name.ko" -print -quit)
  [[ -n $file ]] || die "kernel module $name.ko not found in $kpkg"
  deps=$(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | head -1)
  for dep in ${deps//,/ }; do add_module "$dep"; done
  cp "$file" $root/mods/
  order+=("$name")
}
for m in virtio_pci virtio_blk virtio_net virtio_balloon evdev button; do add_module "$m"; done

cat >$root/init <<INIT
#!/bin/sh
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${order[*]}; do insmod /mods/\$m.ko || echo "GUEST: insmod \$m failed"; done
INIT
cat >>$root/init <<'INIT'
# The power button's event device is opened before READY is printed: a press
# that arrives before the reader has the device open is lost.
PB=
if ! grep -q 'guest.powerbutton=ignore' /proc/cmdline; then
  for i in $(seq 50); do
    for d in /sys/class/input/input*; do
      grep -q "Power Button" $d/name 2>/dev/null && PB=/dev/input/$(ls $d | grep ^event | head -1)
    done
    [ -n "$PB" ] && break
    sleep 0.1
  done
  if [ -n "$PB" ]; then
    exec 3<$PB
    ( dd bs=24 count=1 <&3 >/dev/null 2>&1; echo "GUEST: power button, powering off"; sync; poweroff -f ) &
  else
    echo "GUEST: no ACPI power button found"
  fi
fi
echo "GUEST-READY uptime=$(cut -d' ' -f1 /proc/uptime) powerbutton=${PB:-none} disks=$(ls /sys/block | tr '\n' ' ')"
exec </dev/ttyS0 >/dev/ttyS0 2>&1
while true; do
  while read -r line; do eval "$line"; done
  sleep 0.1
done
INIT
chmod +x $root/init

(cd $root && find . | ../bb/bin/busybox cpio -o -H newc 2>/dev/null | gzip -1) >initrd.gz
cp k/boot/vmlinuz-* vmlinuz
[[ -s vmlinuz && -s initrd.gz ]] || die "build produced no kernel or initramfs"
mv -f vmlinuz "$out/vmlinuz"
mv -f initrd.gz "$out/initrd.gz"
echo "$inputs" >"$out/inputs"
echo "$out"
