#!/usr/bin/python3
"""A real kvm guest's life through Ganeti's official RAPI client.

Usage: /usr/bin/python3 kvm_flow.py HOST PORT USER PASSWORD CAFILE NODE RUNDIR

RUNDIR is the node's kvm run directory (its ctrl/<instance>.serial socket is
the guest's serial console). The instance gets rapid's built-in OS
(`rapid-guest`, which makes its disk bootable) and boots from that disk. The
flow: create with OS install and start, the guest answers on serial, ACPI
shutdown, startup, soft and hard reboot, reinstall, online disk grow (the
running guest sees the new size), delete. One line per step; exits non-zero
at the first failure.
"""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client_flow import FlowError, check, client, expect_api_error, run_job, step  # noqa: E402

OS = "rapid-guest"
DISK_MIB = 1024  # the default instance policy's smallest disk
GROW_MIB = 128
BOOT_DEADLINE = 120.0


class Serial(object):
  """The guest's serial console: commands in, output read until a marker the
  guest computes (so the echoed command line never matches it)."""

  def __init__(self, path):
    self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    self.sock.connect(path)
    self.sock.settimeout(0.5)
    self.seq = 0

  def _read(self, until, deadline, resend=None):
    out = b""
    sent = 0
    while time.time() < deadline:
      if resend and time.time() >= sent + 3:
        resend()
        sent = time.time()
      try:
        data = self.sock.recv(65536)
      except socket.timeout:
        continue
      check(data, "the serial console closed")
      out += data
      found = until(out.decode("latin-1"))
      if found is not None:
        return found
    raise FlowError("no answer on the serial console: %r" % out[-300:])

  def sync(self, timeout):
    """A booting guest drops or mangles what is typed: type a probe every
    few seconds until one comes back whole, then the shell is listening."""
    answers = []

    def probe():
      self.seq += 1
      answers.append("sync-%d" % (self.seq * 1000 + 1))
      self.sock.sendall(("echo sync-$((%d+1))\n" % (self.seq * 1000)).encode())

    self._read(lambda text: next((a for a in answers if a in text), None), time.time() + timeout, probe)

  def run(self, command, timeout):
    self.seq += 1
    marker = "END%d" % (self.seq * 1000 + 42)
    self.sock.sendall(("%s; echo END$((%d+42))\n" % (command, self.seq * 1000)).encode())
    return self._read(lambda text: text.split(marker)[0] if marker in text else None, time.time() + timeout)

  def close(self):
    self.sock.close()


def answers(run_dir, name, what):
  serial = Serial(os.path.join(run_dir, "ctrl", "%s.serial" % name))
  try:
    serial.sync(BOOT_DEADLINE)
    text = serial.run("echo answer-$((6*7))", 30)
    check("answer-42" in text, "the guest answers on its serial console", text[-200:])
    sectors = serial.run("cat /sys/block/vda/size", 30).strip().splitlines()[-1].strip()
  finally:
    serial.close()
  step("serial console", "%s: guest answers, vda has %s sectors" % (what, sectors))
  return int(sectors)


def status(cl, name):
  return cl.GetInstance(name)["status"]


def main(argv):
  if len(argv) != 8:
    print(__doc__)
    return 2
  host, port, user, password, cafile, node, run_dir = argv[1:]
  cl = client.GanetiRapiClient(
    host, port=int(port), username=user, password=password,
    curl_config_fn=client.GenericCurlConfig(cafile=cafile, verify_hostname=True))
  name = "pykvm-%d.example.com" % (int(time.time() * 1000) % 100000000)

  oses = cl.GetOperatingSystems()
  check(OS in oses, "GetOperatingSystems() lists %s" % OS, oses)

  jid = cl.CreateInstance("create", name, "file", [{"size": DISK_MIB}], [],
                          os=OS, pnode=node, hypervisor="kvm", name_check=False, ip_check=False,
                          beparams={"memory": 128, "vcpus": 1}, start=True,
                          # No NIC here (no bridge on this node): the policy's nic-count does not hold.
                          ignore_ipolicy=True)
  job = run_job(cl, jid, "CreateInstance (OS install, start)")
  logs = [entry[3] for oplog in job["oplog"] for entry in oplog]
  check(any(m == "* running the instance OS create scripts..." for m in logs),
        "the create job's log tells of the OS install", logs)
  info = cl.GetInstance(name)
  check(info["status"] == "running" and info["oper_state"] is True, "running after create", info["status"])
  check(info["hvparams"]["kernel_path"] == "", "boots from its disk (no kernel_path)", info["hvparams"]["kernel_path"])
  check(answers(run_dir, name, "after create") == DISK_MIB * 2048, "vda is the 1 GiB disk")

  run_job(cl, cl.ShutdownInstance(name, timeout=60), "ShutdownInstance (ACPI)")
  check(status(cl, name) == "ADMIN_down", "ADMIN_down after shutdown", status(cl, name))
  run_job(cl, cl.StartupInstance(name), "StartupInstance")
  check(status(cl, name) == "running", "running after startup", status(cl, name))
  answers(run_dir, name, "after startup")

  for kind in ("soft", "hard"):
    run_job(cl, cl.RebootInstance(name, reboot_type=kind), "RebootInstance(%s)" % kind)
    check(status(cl, name) == "running", "running after %s reboot" % kind, status(cl, name))
  answers(run_dir, name, "after reboots")

  # reqv1: shutdown, reinstall, startup in one job.
  run_job(cl, cl.ReinstallInstance(name, os=OS), "ReinstallInstance")
  check(status(cl, name) == "running", "running after reinstall", status(cl, name))
  answers(run_dir, name, "after reinstall")

  run_job(cl, cl.GrowInstanceDisk(name, 0, GROW_MIB), "GrowInstanceDisk (online)")
  check(cl.GetInstance(name)["disk.sizes"] == [DISK_MIB + GROW_MIB], "disk size recorded",
        cl.GetInstance(name)["disk.sizes"])
  sectors = answers(run_dir, name, "after grow")
  check(sectors == (DISK_MIB + GROW_MIB) * 2048, "the running guest sees the grown disk", sectors)

  run_job(cl, cl.DeleteInstance(name), "DeleteInstance")
  expect_api_error(404, cl.GetInstance, name)
  step("gone", name)
  print("INSTANCE %s" % name)
  print("ALL OK")
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main(sys.argv))
  except FlowError as err:
    print("FAIL: %s" % err)
    sys.exit(1)
