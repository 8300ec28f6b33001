#!/usr/bin/python3
"""Ganeti's own request validator as an oracle for rapid's input handling.

Usage:
  /usr/bin/python3 oracle.py fixtures
      prints the objects the table names (JSON), for the caller to create
  /usr/bin/python3 oracle.py run HOST PORT USER PASSWORD CAFILE CACHE_DIR DONE_JOB
      DONE_JOB is the id of a finished job (job-id based calls name it)

Every case is one GanetiRapiClient call. Ganeti decides it first: the real
rlib2/baserlib/opcodes code of the ganeti-3.0 Debian package, driven by
ganeti.rapi.testutils.InputTestClient, which accepts a request once it would
reach LUXI and otherwise reports the HTTP error Ganeti answers. The package is
fetched with `apt-get download` into CACHE_DIR and unpacked there (never
installed, never committed). That side runs in a child process whose
PYTHONPATH is the unpacked tree, because the tree has its own
ganeti.rapi.client; this process uses Debian's python3-ganeti-rapi
(/usr/lib/python3/dist-packages) to send the same call to rapid.

A case passes when both accept (rapid answered 200) or both refuse with the
same status and the same text. Prints one line per case, then
"SUMMARY <json>"; exits 0 only when every case passes, 1 on any mismatch,
2 when the oracle itself cannot run.
"""

import copy
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

DIST_PACKAGES = "/usr/lib/python3/dist-packages"
TREE_SUBDIR = "usr/share/ganeti/3.0"
PACKAGE = "ganeti-3.0"
# What the unpacked tree needs from Debian to import (scripts/setup.sh
# installs them).
TREE_DEPS = ("python3-bitarray python3-pyparsing python3-openssl python3-psutil"
             " python3-pyinotify python3-simplejson")

INSTANCE = "inst1.example.com"
GONE_INSTANCE = "gone.example.com"
NODE1 = "node1.example.com"
NODE2 = "node2.example.com"
NODE3 = "node3.example.com"
GONE_NODE = "node9.example.com"
GROUP = "group2"
NETWORK = "net1"
NETWORK_CIDR = "192.0.2.0/24"
FILTER_UUID = "7f1f8a52-0c0e-4bd9-9a5c-0a7d3c1e9b01"

FIXTURES = {
  "nodes": [NODE1, NODE2, NODE3],
  "instance": INSTANCE,
  "group": GROUP,
  "network": NETWORK,
  "network_cidr": NETWORK_CIDR,
}


class OracleError(Exception):
  """The oracle itself cannot run (missing package, broken download)."""


def C(method, *args, **kwargs):
  return (method, args, kwargs)


def build_cases(done_job):
  """The call table. Destructive calls that Ganeti accepts use dry_run or name
  objects that do not exist (Ganeti queues those jobs, which then fail), so
  that the fixtures stay as they are for the whole table.

  InputTestClient decides everything up to the LUXI call; what luxid itself
  checks (filter predicates and actions, query filters) is left out, except
  where Ganeti's RAPI passes input on unchecked (reinstall's osparams)."""
  disk = [{"size": 128}]
  nic = [{}]

  def create(**kw):
    base = dict(os="noop", pnode=NODE1, name_check=False, ip_check=False,
                beparams={"memory": 64}, dry_run=True)
    base.update(kw)
    return base

  def alloc(name, template="diskless", **kw):
    body = dict(mode="create", name=name, disk_template=template, disks=[],
                nics=nic, os="noop", pnode=NODE1, name_check=False, ip_check=False)
    body.update(kw)
    return body

  return [
    # ---- cluster ----
    C("ModifyCluster", candidate_pool_size=10),
    C("ModifyCluster", compression_tools=["gzip"]),
    C("ModifyCluster", candidate_pool_size="many"),
    C("ModifyCluster", enabled_hypervisors="fake"),
    C("ModifyCluster", no_such_param=1),
    C("ModifyCluster", maintain_node_health="yes"),
    C("RedistributeConfig"),
    C("AddClusterTags", ["oracle-a", "oracle-b"], dry_run=True),
    C("AddClusterTags", ["not a valid tag!"], dry_run=True),
    C("AddClusterTags", [""], dry_run=True),
    C("DeleteClusterTags", ["oracle-a"], dry_run=True),

    # ---- instance creation ----
    C("CreateInstance", "create", "oracle-new1.example.com", "diskless", [], nic, **create()),
    C("CreateInstance", "create", "oracle-new2.example.com", "file", disk, nic,
      **create(hvparams={"usb_devices": "a b"})),
    C("CreateInstance", "create", "oracle-new3.example.com", "file", [{"size": "big"}], nic,
      **create()),
    C("CreateInstance", "create", "oracle-new4.example.com", "file", [{"size": 1.5}], nic,
      **create()),
    C("CreateInstance", "create", "oracle-new5.example.com", "file", "one disk", nic, **create()),
    C("CreateInstance", "create", "oracle-new6.example.com", "file", [{"size": []}], nic,
      **create()),
    C("CreateInstance", "create", "oracle-new7.example.com", "diskless", [],
      [{"mode": "sideways"}], **create()),
    C("CreateInstance", "create", "oracle-new8.example.com", "diskless", [], [{"ip": 5}],
      **create()),
    C("CreateInstance", "create", "oracle-new9.example.com", "diskless", [], nic,
      **create(beparams={"memory": "lots"})),
    C("CreateInstance", "create", "oracle-new10.example.com", "diskless", [], nic,
      **create(beparams="big")),
    C("CreateInstance", "teleport", "oracle-new11.example.com", "diskless", [], nic, **create()),
    C("CreateInstance", "create", "oracle-new12.example.com", "floppy", [], nic, **create()),
    C("CreateInstance", "create", "oracle-new13.example.com", "diskless", [], nic,
      **create(no_such_param=1)),
    C("CreateInstance", "create", "oracle-new14.example.com", "diskless", [], nic,
      **create(name_check="yes")),
    C("CreateInstance", "create", "oracle-new15.example.com", "diskless", [], nic,
      **create(os_type="noop")),
    C("CreateInstance", "create", "oracle-new16.example.com", "diskless", [], nic,
      **create(instance_name="other.example.com")),
    C("CreateInstance", "create", "oracle-new17.example.com", "diskless", [], nic,
      **create(hvparams={"boot_order": 5}, tags=["a"])),
    C("CreateInstance", "create", "oracle-new18.example.com", "file",
      [{"size": 128, "mode": "rw"}, {"size": "1G"}], [{"mode": "bridged", "link": "br0"}],
      **create()),
    C("InstancesMultiAlloc", [alloc("oracle-m1.example.com"), alloc("oracle-m2.example.com")],
      dry_run=True),
    C("InstancesMultiAlloc", [alloc("oracle-m3.example.com", template="floppy")], dry_run=True),
    C("InstancesMultiAlloc", [alloc("oracle-m4.example.com", no_such_param=1)], dry_run=True),
    C("InstancesMultiAlloc", [alloc("oracle-m5.example.com", os_type="noop")], dry_run=True),

    # ---- instance actions ----
    C("DeleteInstance", GONE_INSTANCE, dry_run=True),
    C("DeleteInstance", INSTANCE, dry_run=True, shutdown_timeout="soon"),
    C("DeleteInstance", INSTANCE, dry_run=True, ignore_failures=True),
    C("ModifyInstance", INSTANCE, custom_beparams={"memory": 96}),
    C("ModifyInstance", INSTANCE, beparams={"memory": 96}, custom_beparams={"memory": 96}),
    C("ModifyInstance", INSTANCE, disks=[["add", {"size": 64}]]),
    C("ModifyInstance", INSTANCE, disks=[["grow", {"size": 64}]]),
    C("ModifyInstance", INSTANCE, disks=[[0, "modify", {"mode": "ro"}]]),
    C("ModifyInstance", INSTANCE, beparams={"memory": "lots"}),
    C("ModifyInstance", INSTANCE, nics=[["add", {"mode": "bridged"}]]),
    C("ModifyInstance", INSTANCE, nics=[[0, "add", {}, "extra"]]),
    C("ModifyInstance", INSTANCE, os_name=5),
    C("ModifyInstance", INSTANCE, offline="yes"),
    C("ModifyInstance", INSTANCE, instance_name="other.example.com"),
    C("ModifyInstance", INSTANCE, hvparams={"usb_devices": "a b"}),
    C("RebootInstance", INSTANCE, reboot_type="soft", dry_run=True),
    C("RebootInstance", INSTANCE, reboot_type="sideways"),
    C("RebootInstance", INSTANCE, dry_run=True, shutdown_timeout="x"),
    C("RebootInstance", INSTANCE, ignore_secondaries="maybe"),
    C("ShutdownInstance", INSTANCE, dry_run=True, no_remember=True),
    C("ShutdownInstance", INSTANCE, dry_run=True, timeout="x"),
    C("ShutdownInstance", INSTANCE, dry_run=True, instance_name="other.example.com"),
    C("StartupInstance", INSTANCE, dry_run=True),
    C("ReinstallInstance", GONE_INSTANCE, os="noop", no_startup=True),
    C("ReinstallInstance", GONE_INSTANCE, osparams="not-a-dict"),
    C("ReplaceInstanceDisks", GONE_INSTANCE, mode="replace_auto"),
    C("ReplaceInstanceDisks", INSTANCE, mode="sideways"),
    C("ReplaceInstanceDisks", INSTANCE, disks="a,b"),
    C("ActivateInstanceDisks", GONE_INSTANCE, ignore_size=True),
    C("DeactivateInstanceDisks", GONE_INSTANCE, force=True),
    C("RecreateInstanceDisks", GONE_INSTANCE, disks=[0]),
    C("RecreateInstanceDisks", INSTANCE, disks=["zero"]),
    C("GrowInstanceDisk", GONE_INSTANCE, 0, 64),
    C("GrowInstanceDisk", INSTANCE, 0, "lots"),
    C("GrowInstanceDisk", INSTANCE, "first", 64),
    C("PrepareExport", GONE_INSTANCE, "local"),
    C("PrepareExport", INSTANCE, "sideways"),
    C("ExportInstance", GONE_INSTANCE, "local", NODE2, shutdown=True),
    C("ExportInstance", INSTANCE, "carrier-pigeon", NODE2),
    C("ExportInstance", INSTANCE, "local", NODE2, compress=5),
    C("MigrateInstance", GONE_INSTANCE, mode="live"),
    C("MigrateInstance", INSTANCE, mode="teleport"),
    C("MigrateInstance", INSTANCE, cleanup="yes"),
    C("FailoverInstance", GONE_INSTANCE, ignore_consistency=True),
    C("FailoverInstance", INSTANCE, target_node=5),
    C("RenameInstance", GONE_INSTANCE, "gone2.example.com", ip_check=False, name_check=False),
    C("RenameInstance", INSTANCE, "inst2.example.com", ip_check=["x"]),
    C("GetInstanceInfo", INSTANCE, static=1),
    C("GetInstanceInfo", INSTANCE, static="x"),
    C("AddInstanceTags", INSTANCE, ["oracle"], dry_run=True, reason="oracle check"),
    C("DeleteInstanceTags", INSTANCE, ["oracle"], dry_run=True),

    # ---- nodes ----
    C("EvacuateNode", NODE3, mode="all", dry_run=True),
    C("EvacuateNode", NODE3, mode="secondary", remote_node=NODE2, early_release=True,
      dry_run=True),
    C("EvacuateNode", NODE3, mode="sideways", dry_run=True),
    C("EvacuateNode", NODE3, early_release="x", dry_run=True),
    C("MigrateNode", NODE2, mode="live", dry_run=True),
    C("MigrateNode", NODE2, mode="teleport"),
    C("MigrateNode", NODE2, iallocator=5),
    C("SetNodeRole", GONE_NODE, "drained"),
    C("SetNodeRole", NODE3, "master"),
    C("SetNodeRole", NODE3, 5),
    C("SetNodeRole", NODE3, "regular", auto_promote="x"),
    C("PowercycleNode", GONE_NODE, force=True),
    C("ModifyNode", GONE_NODE, drained=False),
    C("ModifyNode", NODE3, drained="no"),
    C("ModifyNode", NODE3, node_name=NODE2),
    C("ModifyNode", NODE3, secondary_ip=5),
    C("ModifyNodeStorageUnits", GONE_NODE, "lvm-vg", "xenvg", allocatable=True),
    C("ModifyNodeStorageUnits", NODE1, "floppy", "xenvg"),
    C("ModifyNodeStorageUnits", NODE1, "lvm-vg", ""),
    C("RepairNodeStorageUnits", GONE_NODE, "lvm-vg", "xenvg"),
    C("RepairNodeStorageUnits", NODE1, "floppy", "xenvg"),
    C("GetNodeStorageUnits", NODE1, "file", "name,size"),
    C("GetNodeStorageUnits", NODE1, "floppy", "name"),
    C("GetNodeStorageUnits", NODE1, "file", ""),
    C("AddNodeTags", NODE1, ["oracle"], dry_run=True),
    C("DeleteNodeTags", NODE1, ["oracle"], dry_run=True),

    # ---- networks ----
    C("CreateNetwork", "oracle-net", "10.0.0.0/24", gateway="10.0.0.1", tags="a,b",
      dry_run=True),
    C("CreateNetwork", "oracle-net", "not-a-network", dry_run=True),
    C("CreateNetwork", "oracle-net", "10.0.0.0/24", gateway="10.0.0.999", dry_run=True),
    C("CreateNetwork", "oracle-net", "10.0.0.0/24", mac_prefix=5, dry_run=True),
    C("ConnectNetwork", NETWORK, "default", "bridged", "br0", dry_run=True),
    C("ConnectNetwork", NETWORK, "default", "sideways", "br0", dry_run=True),
    C("DisconnectNetwork", NETWORK, GROUP, dry_run=True),
    C("DisconnectNetwork", NETWORK, 5, dry_run=True),
    C("ModifyNetwork", NETWORK, add_reserved_ips=["192.0.2.50"]),
    C("ModifyNetwork", NETWORK, vlan="10"),
    C("ModifyNetwork", NETWORK, network_name="other-net"),
    C("ModifyNetwork", NETWORK, add_reserved_ips="192.0.2.51"),
    C("DeleteNetwork", "gone-net", dry_run=True),
    C("AddNetworkTags", NETWORK, ["oracle"], dry_run=True),
    C("DeleteNetworkTags", NETWORK, ["oracle"], dry_run=True),

    # ---- groups ----
    C("CreateGroup", "oracle-group", alloc_policy="preferred", dry_run=True),
    C("CreateGroup", "oracle-group", alloc_policy="sometimes", dry_run=True),
    C("ModifyGroup", GROUP, alloc_policy="last_resort"),
    C("ModifyGroup", GROUP, custom_ndparams={"oob_program": ""}),
    C("ModifyGroup", GROUP, ndparams={}, custom_ndparams={}),
    C("ModifyGroup", GROUP, group_name="other"),
    C("ModifyGroup", GROUP, alloc_policy="sometimes"),
    C("DeleteGroup", "gone-group", dry_run=True),
    C("RenameGroup", "gone-group", "gone-group2"),
    C("RenameGroup", GROUP, 5),
    C("AssignGroupNodes", GROUP, [NODE3], dry_run=True),
    C("AssignGroupNodes", GROUP, NODE3, dry_run=True),
    C("AddGroupTags", GROUP, ["oracle"], dry_run=True),
    C("DeleteGroupTags", GROUP, ["oracle"], dry_run=True),

    # ---- filters ----
    C("ReplaceFilter", FILTER_UUID, 10, [["jobid", [">", "id", "watermark"]]], "CONTINUE"),
    C("AddFilter", 0, [], "CONTINUE"),
    C("AddFilter", "high", [], "CONTINUE"),
    C("AddFilter", 0, "all", "CONTINUE"),
    C("DeleteFilter", FILTER_UUID),

    # ---- jobs and queries ----
    C("WaitForJobChange", done_job, ["status"], None, None),
    C("WaitForJobChange", done_job, "status", None, None),
    C("WaitForJobChange", done_job, ["status"], "running", None),
    C("WaitForJobChange", done_job, ["status"], None, "1"),
    C("CancelJob", done_job),
    C("Query", "instance", ["name"], qfilter=["=", "name", INSTANCE]),
    C("QueryFields", "instance", ["name"]),
  ]


def describe(case):
  method, args, kwargs = case
  parts = [repr(a) for a in args] + ["%s=%r" % kv for kv in sorted(kwargs.items())]
  return "%s(%s)" % (method, ", ".join(parts))


def call(client, case):
  method, args, kwargs = case
  # Some client methods change their arguments (reason trails, bodies).
  return getattr(client, method)(*copy.deepcopy(args), **copy.deepcopy(kwargs))


# ---------------------------------------------------------------------------
# Ganeti's side (child process, PYTHONPATH = unpacked ganeti-3.0)

# InputTestClient wraps every Ganeti-side error as "Unhandled Ganeti error:
# <GanetiApiError text>"; that text is "<code> <message>: <explain>".
_GANETI_ERR = re.compile(r"\AUnhandled Ganeti error: ((\d{3}) .*)\Z", re.S)


def ganeti_verdicts(done_job, tree):
  import logging
  # Opcode validation logs every refusal at ERROR level; the verdict says it.
  logging.disable(logging.CRITICAL)
  from ganeti.rapi import testutils
  if not os.path.realpath(testutils.__file__).startswith(os.path.realpath(tree) + os.sep):
    raise OracleError("ganeti.rapi.testutils came from %s, not from %s"
                      % (testutils.__file__, tree))
  itc = testutils.InputTestClient()
  out = []
  for case in build_cases(done_job):
    try:
      call(itc, case)
    except testutils.VerificationError as err:
      m = _GANETI_ERR.match(str(err))
      if m:
        out.append({"verdict": "reject", "code": int(m.group(2)), "text": m.group(1)})
      else:
        out.append({"verdict": "undecided", "text": str(err)})
    else:
      # NotImplemented (the request reached LUXI) or a static answer.
      out.append({"verdict": "accept"})
  return out


def ensure_tree(cache_dir):
  """The unpacked ganeti-3.0 package under cache_dir (downloaded once)."""
  cache_dir = os.path.abspath(cache_dir)
  tree_root = os.path.join(cache_dir, "tree")
  tree = os.path.join(tree_root, TREE_SUBDIR)
  if os.path.isfile(os.path.join(tree, "ganeti", "rapi", "testutils.py")):
    return tree
  os.makedirs(cache_dir, exist_ok=True)
  debs = sorted(glob.glob(os.path.join(cache_dir, PACKAGE + "_*.deb")))
  if not debs:
    debs = [download_deb(cache_dir)]
  staging = tempfile.mkdtemp(prefix="unpack-", dir=cache_dir)
  res = subprocess.run(["dpkg-deb", "-x", debs[-1], staging],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
  if res.returncode != 0:
    raise OracleError("dpkg-deb -x %s failed: %s" % (debs[-1], res.stdout.strip()))
  try:
    os.rename(staging, tree_root)
  except OSError:
    # A concurrent run unpacked it first; theirs is as good as ours.
    shutil.rmtree(staging, ignore_errors=True)
  if not os.path.isfile(os.path.join(tree, "ganeti", "rapi", "testutils.py")):
    raise OracleError("%s holds no %s/ganeti/rapi/testutils.py" % (debs[-1], TREE_SUBDIR))
  return tree


def download_deb(cache_dir):
  staging = tempfile.mkdtemp(prefix="download-", dir=cache_dir)
  try:
    def run(cmd):
      return subprocess.run(cmd, cwd=staging, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            universal_newlines=True)

    download = ["apt-get", "download", PACKAGE]
    res = run(download)
    if res.returncode != 0 and os.geteuid() == 0:
      # A machine whose package lists were cleaned knows no packages yet.
      upd = run(["apt-get", "-q", "update"])
      res = run(download) if upd.returncode == 0 else upd
    debs = glob.glob(os.path.join(staging, PACKAGE + "_*.deb"))
    if res.returncode != 0 or len(debs) != 1:
      raise OracleError("`apt-get download %s` failed (needs the Debian mirror): %s"
                        % (PACKAGE, res.stdout.strip()[-2000:]))
    target = os.path.join(cache_dir, os.path.basename(debs[0]))
    os.rename(debs[0], target)
    return target
  finally:
    shutil.rmtree(staging, ignore_errors=True)


def ask_ganeti(done_job, cache_dir):
  tree = ensure_tree(cache_dir)
  env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
  env["PYTHONPATH"] = tree
  res = subprocess.run([sys.executable, os.path.abspath(__file__), "ganeti-side", str(done_job),
                        tree], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=120)
  if res.returncode != 0:
    hint = ""
    if "ModuleNotFoundError" in res.stderr or "ImportError" in res.stderr:
      hint = " (the unpacked tree needs Debian packages: %s)" % TREE_DEPS
    raise OracleError("Ganeti side failed%s: %s" % (hint, res.stderr.strip()[-3000:]))
  return json.loads(res.stdout)


# ---------------------------------------------------------------------------
# rapid's side (this process, Debian's python3-ganeti-rapi)

def rapid_verdicts(cases, host, port, user, password, cafile):
  from ganeti.rapi import client
  if not os.path.realpath(client.__file__).startswith(DIST_PACKAGES + os.sep):
    raise OracleError("ganeti.rapi.client came from %s, not from python3-ganeti-rapi in %s"
                      % (client.__file__, DIST_PACKAGES))
  cl = client.GanetiRapiClient(
    host, port=int(port), username=user, password=password,
    curl_config_fn=client.GenericCurlConfig(cafile=cafile, verify_hostname=True))
  out = []
  for case in cases:
    try:
      result = call(cl, case)
    except client.GanetiApiError as err:
      if err.code is None or err.code < 100:
        # pycurl's own failure (connection, TLS): not an answer from rapid.
        out.append({"verdict": "undecided", "text": "curl: %s" % err})
      else:
        out.append({"verdict": "reject", "code": err.code, "text": str(err)})
    else:
      out.append({"verdict": "accept", "result": result})
  return out


def judge(ganeti, rapid):
  """Returns (kind, detail): kind is ok, verdict, message or oracle."""
  if ganeti["verdict"] == "undecided":
    return "oracle", "Ganeti gave no HTTP answer: %s" % ganeti["text"]
  if rapid["verdict"] == "undecided":
    return "oracle", rapid["text"]
  if ganeti["verdict"] != rapid["verdict"]:
    return "verdict", None
  if ganeti["verdict"] == "accept":
    return "ok", None
  if ganeti["code"] != rapid["code"]:
    return "verdict", None
  if ganeti["text"] != rapid["text"]:
    return "message", None
  return "ok", None


def show(v):
  if v["verdict"] == "accept":
    if "result" in v:
      return "200 %s" % json.dumps(v["result"])[:60]
    return "accept"
  return v["text"]


def run(argv):
  if len(argv) != 8:
    print(__doc__)
    return 2
  host, port, user, password, cafile, cache_dir, done_job = argv[1:]
  done_job = int(done_job)
  cases = build_cases(done_job)
  ganeti = ask_ganeti(done_job, cache_dir)
  if len(ganeti) != len(cases):
    raise OracleError("Ganeti side returned %d verdicts for %d cases" % (len(ganeti), len(cases)))
  rapid = rapid_verdicts(cases, host, port, user, password, cafile)

  counts = {"ok": 0, "verdict": 0, "message": 0, "oracle": 0}
  failures = []
  for i, case in enumerate(cases):
    kind, detail = judge(ganeti[i], rapid[i])
    counts[kind] += 1
    label = describe(case)
    if kind == "ok":
      print("ok           %s -> %s" % (label, show(rapid[i])))
    else:
      print("FAIL %-7s %s -> ganeti: %s | rapid: %s"
            % (kind, label, show(ganeti[i]), detail or show(rapid[i])))
      failures.append({"kind": kind, "call": label, "ganeti": show(ganeti[i]),
                       "rapid": detail or show(rapid[i])})
  summary = {
    "cases": len(cases),
    "ganeti_accepts": sum(1 for g in ganeti if g["verdict"] == "accept"),
    "ganeti_rejects": sum(1 for g in ganeti if g["verdict"] == "reject"),
    "passed": counts["ok"],
    "verdict_mismatches": counts["verdict"],
    "message_mismatches": counts["message"],
    "oracle_errors": counts["oracle"],
    "failures": failures,
  }
  print("SUMMARY " + json.dumps(summary, sort_keys=True))
  return 0 if counts["ok"] == len(cases) else 1


def main(argv):
  mode = argv[1] if len(argv) > 1 else ""
  try:
    if mode == "fixtures":
      print(json.dumps(FIXTURES))
      return 0
    if mode == "ganeti-side":
      json.dump(ganeti_verdicts(int(argv[2]), argv[3]), sys.stdout)
      return 0
    if mode == "run":
      return run(argv[1:])
  except OracleError as err:
    print("ORACLE ERROR: %s" % err, file=sys.stderr if mode == "ganeti-side" else sys.stdout)
    return 2
  print(__doc__)
  return 2


if __name__ == "__main__":
  sys.exit(main(sys.argv))
