# Shared by rapid-guest's scripts (sourced, not run).
#
# The disk layout: an MBR with syslinux's boot code, one bootable FAT
# partition from 1 MiB to the end of the disk holding syslinux, the test
# guest's kernel and initramfs and syslinux.cfg. BIOS -> MBR -> syslinux ->
# kernel: the instance boots from its disk, with no kernel_path.

PART_START_SECTOR=2048
PART_OFFSET=$((PART_START_SECTOR * 512))

die() {
  echo "rapid-guest: $*" >&2
  exit 1
}

# check_parameters: the OSP_* variables hold values the guest understands.
check_parameters() {
  case "${OSP_POWERBUTTON:-}" in
    ""|honour|ignore) ;;
    *) die "Invalid value '$OSP_POWERBUTTON' for the powerbutton parameter (honour or ignore)" ;;
  esac
  # syslinux.cfg takes the command line on one line.
  case "${OSP_KERNEL_ARGS:-}" in
    *"
"*) die "Invalid value for the kernel_args parameter: it must be one line" ;;
  esac
}

# kernel_cmdline: the guest's command line from the hypervisor and OS parameters.
kernel_cmdline() {
  local args="console=tty0"
  # As Ganeti's kvm does for a kernel it boots itself: the serial console at its speed.
  if [ "${INSTANCE_HV_serial_console:-True}" = True ]; then
    args="$args console=ttyS0,${INSTANCE_HV_serial_speed:-38400}"
  fi
  args="$args ro quiet"
  [ "${OSP_POWERBUTTON:-}" = ignore ] && args="$args guest.powerbutton=ignore"
  [ -n "${OSP_KERNEL_ARGS:-}" ] && args="$args $OSP_KERNEL_ARGS"
  echo "$args"
}

# disk_bytes PATH: the size of a disk file or block device.
disk_bytes() {
  if [ -b "$1" ]; then blockdev --getsize64 "$1"; else stat -L -c %s "$1"; fi
}
