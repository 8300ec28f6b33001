#!/usr/bin/python3
"""Every public method of Ganeti's official RAPI client against a 3-node rapid.

Usage: /usr/bin/python3 client_all.py HOST PORT USER PASSWORD CAFILE NODE1 NODE2 NODE3

NODE1 is the master; NODE2 and NODE3 are joined node workers (fake
hypervisor, file/sharedfile/diskless storage). The script walks through the
cluster, groups, networks, instances, nodes, jobs, queries and filter rules,
asserting return values, job outcomes and the state the calls leave behind.
Where Ganeti itself fails a call (e.g. replace-disks on a non-DRBD instance)
the expected error class, ecode and message are checked instead.

Each section runs on its own: a failure is reported and the next section
still runs. It prints one line per step, then one line per client method
with its call count, then the public methods it did not call (there must be
none). It exits 1 if any check failed or any method was not exercised.
"""

import os
import re
import sys
import time
import traceback
import uuid as uuidlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import client_flow as flow  # noqa: E402  (exits 2 when ganeti.rapi is missing)
from client_flow import FlowError, check, step  # noqa: E402

client = flow.client

# Every public callable of the client class, as an operator's tool sees it.
PUBLIC = sorted(name for name in dir(client.GanetiRapiClient)
                if not name.startswith("_")
                and callable(getattr(client.GanetiRapiClient, name)))

# Public methods that send no request (they only build a body), and why.
LOCAL_ONLY = {
  "InstanceAllocation": "builds one InstancesMultiAlloc entry locally",
}

# The lower bounds of Ganeti's default instance policy (ipolicy minmax), which
# every instance this script creates must meet: memory and disk size in MiB.
MIN_MEM = 128
DISK_MIB = 1024

STORAGE_FIELDS = "name,size,used,free,allocatable,type,node"

# /2/query resources (constants.QR_VIA_RAPI) and a few fields each must have.
QUERY_FIELDS = {
  "export": ["node", "export"],
  "filter": ["uuid", "priority", "action"],
  "group": ["name", "uuid", "node_cnt"],
  "instance": ["name", "pnode", "status", "osparams"],
  "job": ["id", "status", "summary"],
  "lock": ["name", "mode", "owner", "pending"],
  "network": ["name", "network", "free_count"],
  "node": ["name", "role", "pinst_cnt"],
}


# rlib2's field lists: what the bulk and single-object reads return, exactly.
_COMMON = ["ctime", "mtime", "uuid", "serial_no", "tags"]
I_FIELDS = set(["name", "admin_state", "os", "pnode", "snodes", "disk_template", "nic.ips", "nic.macs",
                "nic.modes", "nic.uuids", "nic.names", "nic.links", "nic.networks", "nic.networks.names",
                "nic.bridges", "network_port", "disk.sizes", "disk.spindles", "disk_usage", "disk.uuids",
                "disk.names", "beparams", "hvparams", "oper_state", "oper_ram", "oper_vcpus", "status",
                "custom_hvparams", "custom_beparams", "custom_nicparams"] + _COMMON)
N_FIELDS = set(["name", "offline", "master_candidate", "drained", "dtotal", "dfree", "sptotal", "spfree",
                "mtotal", "mnode", "mfree", "pinst_cnt", "sinst_cnt", "ctotal", "cnos", "cnodes", "csockets",
                "pip", "sip", "role", "pinst_list", "sinst_list", "master_capable", "vm_capable", "ndparams",
                "group.uuid"] + _COMMON)
G_FIELDS = set(["alloc_policy", "name", "node_cnt", "node_list", "ipolicy", "custom_ipolicy", "diskparams",
                "custom_diskparams", "ndparams", "custom_ndparams"] + _COMMON)
NET_FIELDS = set(["name", "network", "gateway", "network6", "gateway6", "mac_prefix", "free_count",
                  "reserved_count", "map", "group_list", "inst_list", "external_reservations"] + _COMMON)
J_FIELDS_BULK = set(["id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"])
J_FIELDS = J_FIELDS_BULK | set(["oplog", "opresult"])
# LUInstanceQueryData's per-instance dict.
INFO_FIELDS = set(["name", "config_state", "run_state", "pnode", "pnode_group_uuid", "pnode_group_name",
                   "snodes", "snodes_group_uuids", "snodes_group_names", "os", "nics", "disk_template",
                   "disks", "hypervisor", "network_port", "hv_instance", "hv_actual", "be_instance",
                   "be_actual", "os_instance", "os_actual", "serial_no", "mtime", "ctime", "uuid"])


def check_keys(d, want, what):
  check(isinstance(d, dict) and set(d) == want, "%s has exactly rlib2's fields" % what,
        isinstance(d, dict) and ("missing %s, extra %s" % (sorted(want - set(d)), sorted(set(d) - want))) or d)


class Recorder(object):
  """Counts the calls made to each public client method."""

  def __init__(self, cl):
    self._cl = cl
    self.calls = {}

  def __getattr__(self, name):
    attr = getattr(self._cl, name)
    if name not in PUBLIC:
      return attr

    def wrapper(*args, **kwargs):
      self.calls[name] = self.calls.get(name, 0) + 1
      return attr(*args, **kwargs)
    wrapper.__name__ = name
    return wrapper


# ---- helpers -------------------------------------------------------------------

# Failed checks the section could carry on after: (section, message).
SOFT_FAILURES = []
CURRENT = {"section": None}


def expect(cond, what, got=None):
  """A check whose failure is recorded without stopping the section."""
  if not cond:
    msg = "%s (got %r)" % (what, got) if got is not None else what
    SOFT_FAILURES.append((CURRENT["section"], msg))
    print("FAIL (continuing): %s" % msg)
    sys.stdout.flush()
  return cond


def soft(fn, *args, **kwargs):
  """Runs a group of checks whose failure must not stop the section."""
  try:
    fn(*args, **kwargs)
  except FlowError as exc:
    expect(False, str(exc))


def ok_job(cl, jid, what):
  """The job must succeed; returns it (GetJobStatus form)."""
  return flow.run_job(cl, jid, what)


def error_job(cl, jid, what, cls, ecode, msg):
  """The job must fail in one opcode with Ganeti's class, ecode and message
  (msg: exact string, or a compiled regex that must match); the opcodes after
  it fail as "Preceding opcode failed" (jqueue)."""
  job = flow.run_job(cl, jid, what, expect="error")
  first = job["opstatus"].index("error")
  check(job["opstatus"][first:] == ["error"] * (len(job["opstatus"]) - first)
        and all(st == "success" for st in job["opstatus"][:first]),
        "%s: opcodes before the failure succeed, the rest fail" % what, job["opstatus"])
  for res in job["opresult"][first + 1:]:
    check(res == ["OpExecError", ["Preceding opcode failed"]],
          "%s: opcodes after the failure" % what, res)
  got_cls, got_msg, got_ecode = flow.maybe_raise(job["opresult"][first])
  check(got_cls == cls and got_ecode == ecode,
        "%s: error should be %s/%s" % (what, cls, ecode), job["opresult"][first])
  if hasattr(msg, "search"):
    check(msg.search(got_msg), "%s: message should match %r" % (what, msg.pattern), got_msg)
  else:
    check(got_msg == msg, "%s: message should be %r" % (what, msg), got_msg)
  return job


def child_jobs(cl, job, what):
  """A {"jobs": [[true, id], ...]} opresult: every child must succeed."""
  res = job["opresult"][0]
  check(isinstance(res, dict) and set(res) == {"jobs"} and isinstance(res["jobs"], list),
        "%s: opresult must be {'jobs': [...]}" % what, res)
  children = []
  for entry in res["jobs"]:
    check(isinstance(entry, list) and len(entry) == 2 and entry[0] is True,
          "%s: child job entry must be [true, id]" % what, entry)
    children.append(ok_job(cl, entry[1], "%s child %s" % (what, entry[1])))
  return children


def until(fn, pred, timeout=20.0, what="condition"):
  deadline = time.time() + timeout
  while True:
    value = fn()
    if pred(value):
      return value
    check(time.time() < deadline, "%s within %ss" % (what, timeout), value)
    time.sleep(0.2)


def create(cl, name, template, disks, pnode, what=None, **extra):
  kwargs = dict(os="noop", name_check=False, ip_check=False,
                beparams={"memory": MIN_MEM}, hypervisor="fake")
  if pnode is not None:
    kwargs["pnode"] = pnode
  kwargs.update(extra)
  nics = kwargs.pop("nics", [{}])
  jid = cl.CreateInstance("create", name, template, disks, nics, **kwargs)
  return ok_job(cl, jid, what or "CreateInstance(%s, %s)" % (template, name))


def instance_names(cl):
  return set(cl.GetInstances())


def pinst(cl, node):
  return cl.GetNode(node)["pinst_list"]


def opresult_changes(job, what):
  """OP_*_SET_PARAMS results: a list of [name, value] pairs."""
  res = job["opresult"][0]
  check(isinstance(res, list) and all(isinstance(x, list) and len(x) == 2 for x in res),
        "%s: opresult must be a list of [parameter, value] pairs" % what, res)
  return dict((k, v) for k, v in res)


# ---- sections ------------------------------------------------------------------


def cluster_section(cl, env):
  v = cl.GetVersion()
  check(v == 2, "GetVersion() == 2", v)
  step("GetVersion", repr(v))

  feats = cl.GetFeatures()
  check(isinstance(feats, list) and flow.FEATURES <= set(feats),
        "GetFeatures() lists Ganeti's four features", feats)
  step("GetFeatures", ",".join(sorted(feats)))

  info = cl.GetInfo()
  check(info.get("master") == env.n1, "GetInfo().master", info.get("master"))
  for key in ("name", "software_version", "enabled_hypervisors", "beparams", "hvparams",
              "ipolicy", "candidate_pool_size", "tags", "uuid", "enabled_disk_templates"):
    check(key in info, "GetInfo() has %r" % key, sorted(info))
  step("GetInfo", "master=%s templates=%s" % (info["master"], info["enabled_disk_templates"]))

  oses = cl.GetOperatingSystems()
  check(isinstance(oses, list) and "noop" in oses, "GetOperatingSystems() has 'noop'", oses)
  step("GetOperatingSystems", repr(oses))

  # ModifyCluster: what is set shows up in GetInfo, and setting it back
  # restores GetInfo exactly (mtime aside).
  changes = {
    "candidate_pool_size": info["candidate_pool_size"] - 1,
    "maintain_node_health": not info["maintain_node_health"],
    "hvparams": {"fake": {"migration_mode": "non-live"}},
    "beparams": {"vcpus": 2},
    "osparams": {"noop": {"colour": "blue"}},
    "reserved_lvs": ["xenvg/client-all"],
  }
  job = ok_job(cl, cl.ModifyCluster(**changes), "ModifyCluster")
  check(job["ops"][0]["OP_ID"] == "OP_CLUSTER_SET_PARAMS", "ModifyCluster opcode", job["ops"][0])
  after = cl.GetInfo()
  check(after["candidate_pool_size"] == changes["candidate_pool_size"],
        "GetInfo().candidate_pool_size after ModifyCluster", after["candidate_pool_size"])
  check(after["maintain_node_health"] == changes["maintain_node_health"],
        "GetInfo().maintain_node_health after ModifyCluster", after["maintain_node_health"])
  check(after["hvparams"]["fake"]["migration_mode"] == "non-live",
        "GetInfo().hvparams.fake after ModifyCluster", after["hvparams"])
  check(after["beparams"]["default"]["vcpus"] == 2, "GetInfo().beparams after ModifyCluster",
        after["beparams"])
  check(after["osparams"] == {"noop": {"colour": "blue"}}, "GetInfo().osparams after ModifyCluster",
        after["osparams"])
  check(after["reserved_lvs"] == ["xenvg/client-all"], "GetInfo().reserved_lvs after ModifyCluster",
        after["reserved_lvs"])
  restore = {
    "candidate_pool_size": info["candidate_pool_size"],
    "maintain_node_health": info["maintain_node_health"],
    "hvparams": {"fake": info["hvparams"]["fake"]},
    "beparams": {"vcpus": info["beparams"]["default"]["vcpus"]},
    "osparams": {"noop": {"colour": None}},
    "reserved_lvs": info["reserved_lvs"],
  }
  ok_job(cl, cl.ModifyCluster(**restore), "ModifyCluster(restore)")
  back = cl.GetInfo()
  diff = sorted(k for k in set(info) | set(back) if k != "mtime" and info.get(k) != back.get(k))
  check(not diff, "GetInfo() after restoring is what it was", [(k, info.get(k), back.get(k)) for k in diff])
  step("ModifyCluster/GetInfo symmetry", "%d parameters set and restored" % len(changes))

  ok_job(cl, cl.ModifyCluster(dry_run=True, candidate_pool_size=3), "ModifyCluster(dry_run)")
  check(cl.GetInfo()["candidate_pool_size"] == info["candidate_pool_size"],
        "a dry-run ModifyCluster changes nothing")
  error_job(cl, cl.ModifyCluster(mac_prefix="zz:00:00"), "ModifyCluster(bad mac_prefix)",
            "OpPrereqError", "wrong_input", "Invalid MAC address prefix 'zz:00:00'")
  flow.expect_api_error(403, cl.ModifyCluster, compression_tools=["gzip"])
  step("ModifyCluster(compression_tools)", "403, as rlib2's PUT_FORBIDDEN")

  job = ok_job(cl, cl.RedistributeConfig(reason="client-all"), "RedistributeConfig")
  op = job["ops"][0]
  check(op["OP_ID"] == "OP_CLUSTER_REDIST_CONF" and job["opresult"] == [None],
        "RedistributeConfig: OP_CLUSTER_REDIST_CONF with a null result", (op["OP_ID"], job["opresult"]))
  check(op["reason"][0][:2] == ["gnt:user", "client-all"]
        and op["reason"][1][:2] == ["gnt:library:rlib2:redist_config", ""],
        "reason trail starts with the user's reason, then rlib2's", op["reason"])

  tag = "client-all-%s" % env.sfx
  check(isinstance(cl.GetClusterTags(), list), "GetClusterTags() is a list")
  ok_job(cl, cl.AddClusterTags([tag], dry_run=True), "AddClusterTags(dry_run)")
  check(tag not in cl.GetClusterTags(), "a dry-run AddClusterTags adds nothing", cl.GetClusterTags())
  ok_job(cl, cl.AddClusterTags([tag, tag + "-b"]), "AddClusterTags")
  tags = cl.GetClusterTags()
  check(tag in tags and tag + "-b" in tags, "GetClusterTags() after add", tags)
  check(tag in cl.GetInfo()["tags"], "GetInfo().tags after add", cl.GetInfo()["tags"])
  ok_job(cl, cl.DeleteClusterTags([tag, tag + "-b"]), "DeleteClusterTags")
  check(tag not in cl.GetClusterTags(), "GetClusterTags() after delete", cl.GetClusterTags())
  step("cluster tags", "dry run, add, delete")


def groups_section(cl, env):
  names = cl.GetGroups()
  check("default" in names, "GetGroups() has 'default'", names)
  bulk = cl.GetGroups(bulk=True)
  dflt = [g for g in bulk if g["name"] == "default"]
  check(len(dflt) == 1 and sorted(dflt[0]["node_list"]) == sorted(env.nodes),
        "GetGroups(bulk=True): default holds the three nodes", dflt)
  check_keys(dflt[0], G_FIELDS, "GetGroups(bulk=True) entry")
  g = cl.GetGroup("default")
  check_keys(g, G_FIELDS, "GetGroup()")
  check(g["uuid"] == dflt[0]["uuid"], "GetGroup('default') is the bulk entry", g)
  step("GetGroups/GetGroup", "default: %d nodes" % g["node_cnt"])

  name = "grp-%s" % env.sfx
  ok_job(cl, cl.CreateGroup(name, alloc_policy="last_resort", dry_run=True), "CreateGroup(dry_run)")
  check(name not in cl.GetGroups(), "a dry-run CreateGroup creates nothing")
  ok_job(cl, cl.CreateGroup(name, alloc_policy="last_resort"), "CreateGroup")
  g = cl.GetGroup(name)
  check(g["alloc_policy"] == "last_resort" and g["node_list"] == [],
        "GetGroup() of the new group", g)
  error_job(cl, cl.CreateGroup(name), "CreateGroup(duplicate)", "OpPrereqError", "already_exists",
            "Desired group name '%s' already exists as a node group (UUID: %s)" % (name, g["uuid"]))

  job = ok_job(cl, cl.ModifyGroup(name, alloc_policy="unallocable", ndparams={"spindle_count": 3}),
               "ModifyGroup")
  # LUGroupSetParams reports ndparams (as Python's str of the dict), not alloc_policy.
  res = opresult_changes(job, "ModifyGroup")
  check(res == {"ndparams": "{'spindle_count': 3}"}, "ModifyGroup result", res)
  g = cl.GetGroup(name)
  check(g["alloc_policy"] == "unallocable" and g["custom_ndparams"] == {"spindle_count": 3}
        and g["ndparams"]["spindle_count"] == 3, "GetGroup() after ModifyGroup", g)

  new = name + "-r"
  job = ok_job(cl, cl.RenameGroup(name, new), "RenameGroup")
  check(job["opresult"] == [new], "RenameGroup result is the new name", job["opresult"])
  flow.expect_api_error(404, cl.GetGroup, name)
  check(cl.GetGroup(new)["uuid"] == g["uuid"], "the renamed group keeps its uuid")

  gtag = "gtag-%s" % env.sfx
  ok_job(cl, cl.AddGroupTags(new, [gtag]), "AddGroupTags")
  check(cl.GetGroupTags(new) == [gtag], "GetGroupTags() after add", cl.GetGroupTags(new))
  check(cl.GetGroup(new)["tags"] == [gtag], "GetGroup().tags after add")
  ok_job(cl, cl.DeleteGroupTags(new, [gtag]), "DeleteGroupTags")
  check(cl.GetGroupTags(new) == [], "GetGroupTags() after delete", cl.GetGroupTags(new))

  # node3 holds no instances at this point, so it moves without force.
  ok_job(cl, cl.AssignGroupNodes(new, [env.n3], dry_run=True), "AssignGroupNodes(dry_run)")
  check(cl.GetNode(env.n3)["group.uuid"] == dflt[0]["uuid"], "a dry-run assignment moves nothing")
  ok_job(cl, cl.AssignGroupNodes(new, [env.n3]), "AssignGroupNodes")
  check(cl.GetNode(env.n3)["group.uuid"] == g["uuid"], "node3's group after AssignGroupNodes",
        cl.GetNode(env.n3)["group.uuid"])
  check(cl.GetGroup(new)["node_list"] == [env.n3] and env.n3 not in cl.GetGroup("default")["node_list"],
        "group node lists after AssignGroupNodes")
  # LUGroupRemove names the nodes by uuid.
  error_job(cl, cl.DeleteGroup(new), "DeleteGroup(not empty)", "OpPrereqError", "wrong_state",
            "Group '%s' not empty, has the following nodes: %s" % (new, cl.GetNode(env.n3)["uuid"]))
  ok_job(cl, cl.AssignGroupNodes("default", [env.n3]), "AssignGroupNodes(back)")
  check(cl.GetNode(env.n3)["group.uuid"] == dflt[0]["uuid"], "node3 back in default")

  ok_job(cl, cl.DeleteGroup(new, dry_run=True), "DeleteGroup(dry_run)")
  check(new in cl.GetGroups(), "a dry-run DeleteGroup deletes nothing")
  ok_job(cl, cl.DeleteGroup(new), "DeleteGroup")
  flow.expect_api_error(404, cl.GetGroup, new)
  check(new not in cl.GetGroups(), "GetGroups() after DeleteGroup")
  step("groups", "create, modify, rename, tags, assign, delete")


def networks_section(cl, env):
  net = "net-%s" % env.sfx
  before = cl.GetNetworks()
  check(isinstance(before, list), "GetNetworks() is a list", before)
  ok_job(cl, cl.CreateNetwork(net, "10.9.0.0/28", gateway="10.9.0.1", add_reserved_ips="10.9.0.5",
                              mac_prefix="aa:00:99", tags="nt1,nt2", dry_run=True),
         "CreateNetwork(dry_run)")
  check(net not in cl.GetNetworks(), "a dry-run CreateNetwork creates nothing")
  ok_job(cl, cl.CreateNetwork(net, "10.9.0.0/28", gateway="10.9.0.1", add_reserved_ips="10.9.0.5",
                              mac_prefix="aa:00:99", tags="nt1,nt2"), "CreateNetwork")
  check(net in cl.GetNetworks(), "GetNetworks() has the new network", cl.GetNetworks())
  n = cl.GetNetwork(net)
  check_keys(n, NET_FIELDS, "GetNetwork()")
  # network, gateway, .5 and broadcast are reserved: 12 of 16 addresses free.
  check((n["network"], n["gateway"], n["mac_prefix"]) == ("10.9.0.0/28", "10.9.0.1", "aa:00:99"),
        "GetNetwork() addresses", n)
  check(n["free_count"] == 12 and n["reserved_count"] == 4 and n["map"] == "XX...X.........X",
        "GetNetwork() pool after create", (n["free_count"], n["reserved_count"], n["map"]))
  check(sorted(n["tags"]) == ["nt1", "nt2"], "GetNetwork().tags from CreateNetwork(tags=)", n["tags"])
  check(n["group_list"] == [] and n["inst_list"] == [], "a new network is connected nowhere", n)
  bulk = [x for x in cl.GetNetworks(bulk=True) if x["name"] == net]
  check(len(bulk) == 1 and bulk[0]["uuid"] == n["uuid"], "GetNetworks(bulk=True) has it", bulk)
  check_keys(bulk[0], NET_FIELDS, "GetNetworks(bulk=True) entry")
  step("GetNetwork", "free=%d map=%s" % (n["free_count"], n["map"]))

  error_job(cl, cl.ModifyNetwork(net, add_reserved_ips=["10.9.0.6"], gateway="10.9.0.14"),
            "ModifyNetwork(gateway and reservations)", "OpPrereqError", "wrong_input",
            "Cannot modify gateway and reserved ips at once")
  ok_job(cl, cl.ModifyNetwork(net, add_reserved_ips=["10.9.0.6"]), "ModifyNetwork(reserve)")
  ok_job(cl, cl.ModifyNetwork(net, gateway="10.9.0.14"), "ModifyNetwork(gateway)")
  n = cl.GetNetwork(net)
  check(n["gateway"] == "10.9.0.14" and n["map"] == "X....XX.......XX" and n["free_count"] == 11,
        "GetNetwork() after ModifyNetwork(reserve .6, gateway .14)", (n["gateway"], n["map"], n["free_count"]))

  ok_job(cl, cl.ConnectNetwork(net, "default", "bridged", "br-ca", vlan="", dry_run=True),
         "ConnectNetwork(dry_run)")
  check(cl.GetNetwork(net)["group_list"] == [], "a dry-run ConnectNetwork connects nothing")
  ok_job(cl, cl.ConnectNetwork(net, "default", "bridged", "br-ca"), "ConnectNetwork")
  n = cl.GetNetwork(net)
  check(len(n["group_list"]) == 1 and n["group_list"][0][:3] == ["default", "bridged", "br-ca"],
        "GetNetwork().group_list after ConnectNetwork: (group, mode, link...)", n["group_list"])

  # An instance joins the network through ModifyInstance(nics=...) and gets
  # an address from the pool; it goes back when the NIC is removed.
  inst = "net-inst-%s" % env.sfx
  create(cl, inst, "diskless", [], env.n1, start=False)
  job = ok_job(cl, cl.ModifyInstance(inst, nics=[["add", {"network": net, "ip": "pool"}]]),
               "ModifyInstance(nics add on network)")
  res = opresult_changes(job, "ModifyInstance(nics add)")
  # .1 went back to the pool when the gateway moved to .14: it is the first free address.
  check(re.match(r"^add:mac=aa:00:99:[0-9a-f:]{8},ip=10\.9\.0\.1,mode=bridged,link=br-ca,network=%s$"
                 % re.escape(net), res.get("nic.1", "")),
        "NIC add result: the pool's first free address and the network's netparams", res)
  i = cl.GetInstance(inst)
  check(i["nic.networks.names"] == [None, net] and i["nic.ips"] == [None, "10.9.0.1"]
        and i["nic.links"][1] == "br-ca", "GetInstance() NICs after joining the network", i)
  n = cl.GetNetwork(net)
  check(n["inst_list"] == [inst] and n["free_count"] == 10, "GetNetwork() sees the instance",
        (n["inst_list"], n["free_count"]))
  # Ganeti's _NetworkConflictCheck (its message has the double space).
  error_job(cl, cl.DisconnectNetwork(net, "default"), "DisconnectNetwork(in use)", "OpPrereqError",
            "wrong_state", "Conflicting IP addresses found;  remove/modify the corresponding network"
            " interfaces")
  check(cl.GetNetwork(net)["group_list"] != [], "a refused DisconnectNetwork leaves the connection")
  ok_job(cl, cl.ModifyInstance(inst, nics=[["remove", -1, {}]]), "ModifyInstance(nics remove)")
  n = cl.GetNetwork(net)
  check(n["inst_list"] == [] and n["free_count"] == 11, "the address went back to the pool",
        (n["inst_list"], n["free_count"]))
  ok_job(cl, cl.DeleteInstance(inst), "DeleteInstance(%s)" % inst)

  ok_job(cl, cl.AddNetworkTags(net, ["nt3"]), "AddNetworkTags")
  check(sorted(cl.GetNetworkTags(net)) == ["nt1", "nt2", "nt3"], "GetNetworkTags() after add",
        cl.GetNetworkTags(net))
  ok_job(cl, cl.DeleteNetworkTags(net, ["nt1", "nt3"]), "DeleteNetworkTags")
  check(cl.GetNetworkTags(net) == ["nt2"], "GetNetworkTags() after delete", cl.GetNetworkTags(net))

  ok_job(cl, cl.DisconnectNetwork(net, "default", dry_run=True), "DisconnectNetwork(dry_run)")
  check(cl.GetNetwork(net)["group_list"] != [], "a dry-run DisconnectNetwork disconnects nothing")
  ok_job(cl, cl.DisconnectNetwork(net, "default"), "DisconnectNetwork")
  check(cl.GetNetwork(net)["group_list"] == [], "GetNetwork().group_list after DisconnectNetwork")

  ok_job(cl, cl.DeleteNetwork(net, dry_run=True), "DeleteNetwork(dry_run)")
  check(net in cl.GetNetworks(), "a dry-run DeleteNetwork deletes nothing")
  ok_job(cl, cl.DeleteNetwork(net), "DeleteNetwork")
  flow.expect_api_error(404, cl.GetNetwork, net)
  check(net not in cl.GetNetworks(), "GetNetworks() after DeleteNetwork")
  step("networks", "create, modify, connect, instance NIC, tags, disconnect, delete")


def ipolicy_section(cl, env):
  """LUInstanceCreate.CheckPrereq refuses specs outside the group's instance
  policy unless ignore_ipolicy is set (the default minimum memory is 128)."""
  name = "inst-small-%s" % env.sfx
  small = dict(os="noop", pnode=env.n1, name_check=False, ip_check=False, hypervisor="fake",
               beparams={"memory": MIN_MEM // 2})
  try:
    jid = cl.CreateInstance("create", name, "diskless", [], [{}], **small)
    error_job(cl, jid, "CreateInstance(below ipolicy)", "OpPrereqError", "wrong_input",
              re.compile(r"^Instance allocation to group \S+ \(default\) violates policy: "
                         r"memory-size value %d is not in range \[%d, \d+\]$" % (MIN_MEM // 2, MIN_MEM)))
    check(name not in instance_names(cl), "a refused creation leaves no instance")
    jid = cl.CreateInstance("create", name, "diskless", [], [{}], ignore_ipolicy=True, **small)
    ok_job(cl, jid, "CreateInstance(ignore_ipolicy)")
  finally:
    if name in instance_names(cl):
      ok_job(cl, cl.DeleteInstance(name), "DeleteInstance(%s)" % name)


def instances_section(cl, env):
  a = "inst-a-%s" % env.sfx    # sharedfile: disks, migration, failover, export
  b = "inst-b-%s" % env.sfx    # diskless: migration chosen by the allocator
  f = "inst-f-%s" % env.sfx    # file: disk recreation on another node
  disk = [{"size": DISK_MIB}]

  job = create(cl, a, "sharedfile", disk, env.n1, "CreateInstance(dry_run)", dry_run=True)
  check(job["ops"][0].get("dry_run") is True, "dry-run create op", job["ops"][0])
  check(a not in instance_names(cl), "a dry-run CreateInstance creates nothing")

  job = create(cl, a, "sharedfile", disk, env.n1)
  check(job["summary"] == ["INSTANCE_CREATE(%s)" % a], "create summary", job["summary"])
  create(cl, b, "diskless", [], env.n2)
  create(cl, f, "file", disk, env.n1, start=False)
  i = cl.GetInstance(a)
  check_keys(i, I_FIELDS, "GetInstance()")
  check((i["pnode"], i["status"], i["disk_template"], i["disk.sizes"], i["beparams"]["maxmem"])
        == (env.n1, "running", "sharedfile", [DISK_MIB], MIN_MEM), "GetInstance() after create", i)
  check(cl.GetInstance(f)["status"] == "ADMIN_down", "CreateInstance(start=False) leaves it down")
  names = instance_names(cl)
  check({a, b, f} <= names, "GetInstances() has the new instances", names)
  bulk = dict((x["name"], x) for x in cl.GetInstances(bulk=True))
  check({a, b, f} <= set(bulk) and bulk[b]["pnode"] == env.n2 and bulk[b]["disk_template"] == "diskless",
        "GetInstances(bulk=True) entries", sorted(bulk))
  check_keys(bulk[a], I_FIELDS, "GetInstances(bulk=True) entry")
  step("GetInstance/GetInstances", "%s running on %s" % (a, i["pnode"]))

  job = ok_job(cl, cl.GetInstanceInfo(a), "GetInstanceInfo")
  data = job["opresult"][0][a]
  check_keys(data, INFO_FIELDS, "GetInstanceInfo() result")
  check((data["config_state"], data["run_state"], data["pnode"], data["disk_template"], data["hypervisor"],
         data["pnode_group_name"]) == ("up", "up", env.n1, "sharedfile", "fake", "default"),
        "GetInstanceInfo() live data", data)
  check(len(data["disks"]) == 1 and data["disks"][0]["size"] == DISK_MIB, "GetInstanceInfo() disks",
        data["disks"])
  job = ok_job(cl, cl.GetInstanceInfo(a, static=True), "GetInstanceInfo(static)")
  data = job["opresult"][0][a]
  check(data["config_state"] == "up" and data["run_state"] is None,
        "GetInstanceInfo(static=True): no live state", (data["config_state"], data["run_state"]))

  # ---- ModifyInstance: beparams, osparams, NICs, disks ----
  job = ok_job(cl, cl.ModifyInstance(a, beparams={"maxmem": 2 * MIN_MEM, "vcpus": 2}),
               "ModifyInstance(beparams)")
  res = opresult_changes(job, "ModifyInstance(beparams)")
  check(res == {"be/maxmem": 2 * MIN_MEM, "be/vcpus": 2}, "ModifyInstance(beparams) result", res)
  i = cl.GetInstance(a)
  check(i["beparams"]["maxmem"] == 2 * MIN_MEM and i["beparams"]["minmem"] == MIN_MEM
        and i["beparams"]["vcpus"] == 2 and i["custom_beparams"].get("maxmem") == 2 * MIN_MEM,
        "GetInstance().beparams after ModifyInstance", i["beparams"])
  job = ok_job(cl, cl.ModifyInstance(a, osparams={"flavour": "mint"}), "ModifyInstance(osparams)")
  check(opresult_changes(job, "ModifyInstance(osparams)") == {"os/flavour": "mint"},
        "ModifyInstance(osparams) result", job["opresult"])
  q = cl.Query("instance", ["name", "custom_osparams"], ["=", "name", a])
  check(q["data"] == [[[0, a], [0, {"flavour": "mint"}]]], "Query custom_osparams after ModifyInstance", q["data"])
  macs = cl.GetInstance(a)["nic.macs"]
  ok_job(cl, cl.ModifyInstance(a, nics=[["add", -1, {"link": "br-extra"}]]), "ModifyInstance(nics add)")
  i = cl.GetInstance(a)
  check(len(i["nic.macs"]) == 2 and i["nic.macs"][0] == macs[0] and i["nic.links"][1] == "br-extra",
        "GetInstance() NICs after adding one", (i["nic.macs"], i["nic.links"]))
  job = ok_job(cl, cl.ModifyInstance(a, disks=[["add", -1, {"size": DISK_MIB, "name": "scratch"}]]),
               "ModifyInstance(disks add)")
  check(opresult_changes(job, "ModifyInstance(disks add)") == {"disk/1": "add:size=%d,mode=rw" % DISK_MIB},
        "ModifyInstance(disks add) result", job["opresult"])
  check(cl.GetInstance(a)["disk.sizes"] == [DISK_MIB, DISK_MIB], "disk.sizes after adding a disk")
  error_job(cl, cl.ModifyInstance(a), "ModifyInstance(no changes)", "OpPrereqError", "wrong_input",
            "No changes submitted")

  # ---- disks ----
  ok_job(cl, cl.GrowInstanceDisk(a, 0, 512, wait_for_sync=False), "GrowInstanceDisk")
  check(cl.GetInstance(a)["disk.sizes"] == [DISK_MIB + 512, DISK_MIB], "disk.sizes after GrowInstanceDisk",
        cl.GetInstance(a)["disk.sizes"])
  job = ok_job(cl, cl.ActivateInstanceDisks(a), "ActivateInstanceDisks")
  res = job["opresult"][0]
  check(isinstance(res, list) and [r[:2] for r in res] == [[env.n1, "disk/0"], [env.n1, "disk/1"]]
        and all(isinstance(r[2], str) and r[2] for r in res),
        "ActivateInstanceDisks result: [node, iv_name, device path] per disk", res)
  error_job(cl, cl.DeactivateInstanceDisks(a), "DeactivateInstanceDisks(running)", "OpPrereqError",
            "wrong_state", "Instance '%s' is marked to be up, cannot shutdown disks" % a)
  ok_job(cl, cl.ShutdownInstance(a), "ShutdownInstance")
  i = cl.GetInstance(a)
  check((i["status"], i["admin_state"]) == ("ADMIN_down", "down"), "GetInstance() after shutdown", i["status"])
  ok_job(cl, cl.DeactivateInstanceDisks(a), "DeactivateInstanceDisks")
  job = ok_job(cl, cl.ModifyInstance(a, disks=[["remove", 1, {}]]), "ModifyInstance(disks remove)")
  check(opresult_changes(job, "ModifyInstance(disks remove)") == {"disk/1": "remove"},
        "ModifyInstance(disks remove) result", job["opresult"])
  check(cl.GetInstance(a)["disk.sizes"] == [DISK_MIB + 512], "disk.sizes after removing a disk")
  # The disk files exist: Ganeti's file storage refuses to create them again.
  error_job(cl, cl.RecreateInstanceDisks(a), "RecreateInstanceDisks(existing)", "OpExecError", None,
            re.compile(r"^Can't create block device disk/0 on node %s for instance %s: "
                       % (re.escape(env.n1), re.escape(a))))
  # A stopped file instance's disks recreated on another node move it there.
  ok_job(cl, cl.RecreateInstanceDisks(f, nodes=[env.n2]), "RecreateInstanceDisks(nodes)")
  check(cl.GetInstance(f)["pnode"] == env.n2, "RecreateInstanceDisks(nodes=[node2]) moved the instance",
        cl.GetInstance(f)["pnode"])
  job = ok_job(cl, cl.ActivateInstanceDisks(f), "ActivateInstanceDisks(recreated)")
  check(job["opresult"][0][0][0] == env.n2, "the recreated disk is on node2", job["opresult"])

  # ---- rename, start, reboot, reinstall, console ----
  a2 = a + "-renamed"
  job = ok_job(cl, cl.RenameInstance(a, a2, ip_check=False, name_check=False), "RenameInstance")
  check(job["opresult"] == [a2], "RenameInstance result is the new name", job["opresult"])
  flow.expect_api_error(404, cl.GetInstance, a)
  a = a2
  check(cl.GetInstance(a)["disk.sizes"] == [DISK_MIB + 512], "the renamed instance keeps its disk")
  ok_job(cl, cl.StartupInstance(a), "StartupInstance")
  check(cl.GetInstance(a)["status"] == "running", "running after StartupInstance")
  for kind in ("soft", "hard", "full"):
    job = ok_job(cl, cl.RebootInstance(a, reboot_type=kind), "RebootInstance(%s)" % kind)
    check(job["ops"][0]["reboot_type"] == kind, "reboot_type in the opcode", job["ops"][0])
  check(cl.GetInstance(a)["status"] == "running", "running after the reboots")
  job = ok_job(cl, cl.ReinstallInstance(a, os="noop", osparams={"flavour": "lime"}), "ReinstallInstance")
  check([op["OP_ID"] for op in job["ops"]] == ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL",
                                               "OP_INSTANCE_STARTUP"],
        "ReinstallInstance opcodes", [op["OP_ID"] for op in job["ops"]])
  check(cl.GetInstance(a)["status"] == "running", "running after ReinstallInstance")
  # LUInstanceReinstall replaces the instance's OS parameters with the op's.
  q = cl.Query("instance", ["name", "custom_osparams"], ["=", "name", a])
  check(q["data"] == [[[0, a], [0, {"flavour": "lime"}]]], "custom_osparams after ReinstallInstance(osparams)",
        q["data"])
  # Without osparams the op carries {} (_MergeValidateOsParams), which
  # replaces them as well.
  ok_job(cl, cl.ReinstallInstance(a, no_startup=True), "ReinstallInstance(no osparams, no startup)")
  check(cl.GetInstance(a)["status"] == "ADMIN_down", "ReinstallInstance(no_startup=True) leaves it down",
        cl.GetInstance(a)["status"])
  q = cl.Query("instance", ["name", "custom_osparams"], ["=", "name", a])
  expect(q["data"] == [[[0, a], [0, {}]]], "custom_osparams after ReinstallInstance without osparams "
         "(LUInstanceReinstall sets instance.osparams = op.osparams or {})", q["data"])
  ok_job(cl, cl.StartupInstance(a), "StartupInstance(after reinstall)")

  def reinstall_diskless():
    # LUInstanceReinstall.CheckPrereq wants disks: the job's shutdown
    # opcode runs, the reinstall fails, the startup is not reached.
    error_job(cl, cl.ReinstallInstance(b), "ReinstallInstance(diskless)", "OpPrereqError", "wrong_input",
              "Instance '%s' has no disks" % b)
    check(cl.GetInstance(b)["status"] == "ADMIN_down", "the reinstall job's shutdown opcode ran",
          cl.GetInstance(b)["status"])
  soft(reinstall_diskless)
  ok_job(cl, cl.StartupInstance(b), "StartupInstance(%s)" % b)
  con = cl.GetInstanceConsole(a)
  check(con == {"instance": a, "kind": "msg", "message": "Console not available for fake hypervisor"},
        "GetInstanceConsole() for the fake hypervisor", con)
  flow.expect_api_error(503, cl.GetInstanceConsole, f)
  step("GetInstanceConsole", "%s; 503 for a stopped instance" % con["kind"])

  # no_remember: the guest stops, the configuration still says up.
  ok_job(cl, cl.ShutdownInstance(b, no_remember=True), "ShutdownInstance(no_remember)")
  i = cl.GetInstance(b)
  check((i["status"], i["admin_state"]) == ("ERROR_down", "up"), "ShutdownInstance(no_remember=True)",
        (i["status"], i["admin_state"]))
  ok_job(cl, cl.StartupInstance(b), "StartupInstance(after no_remember)")

  # ---- migration and failover: the guest moves between node workers ----
  ok_job(cl, cl.MigrateInstance(a, mode="live", target_node=env.n3), "MigrateInstance(target)")
  i = cl.GetInstance(a)
  check((i["pnode"], i["status"]) == (env.n3, "running"), "MigrateInstance moved the running instance to node3",
        (i["pnode"], i["status"]))
  check(a in pinst(cl, env.n3) and a not in pinst(cl, env.n1), "node instance lists after migration")
  ok_job(cl, cl.FailoverInstance(a, target_node=env.n2), "FailoverInstance")
  i = cl.GetInstance(a)
  check((i["pnode"], i["status"]) == (env.n2, "running"), "FailoverInstance moved the instance to node2",
        (i["pnode"], i["status"]))
  ok_job(cl, cl.MigrateInstance(b), "MigrateInstance(allocator)")
  moved = cl.GetInstance(b)["pnode"]
  check(moved != env.n2 and moved in env.nodes, "MigrateInstance without a target moved the diskless "
        "instance off node2", moved)
  error_job(cl, cl.MigrateInstance(f, target_node=env.n1), "MigrateInstance(file)", "OpPrereqError",
            "wrong_state", "Instance's disk layout 'file' does not allow migrations")
  # Ganeti's TLReplaceDisks wants exactly one secondary node (DRBD).
  error_job(cl, cl.ReplaceInstanceDisks(a, disks=[0]), "ReplaceInstanceDisks", "OpPrereqError",
            "internal_error", "The instance has a strange layout, expected one secondary but found 0")

  # ---- export ----
  job = ok_job(cl, cl.PrepareExport(a, "local"), "PrepareExport")
  check(job["opresult"] == [None], "PrepareExport(local) result", job["opresult"])
  # File disks cannot be snapshotted: a running instance would have to stay
  # down for the copy, which needs long_sleep (not a client argument). Ganeti
  # has shut the guest down by then and leaves it so.
  error_job(cl, cl.ExportInstance(a, "local", env.n1, shutdown=True), "ExportInstance(running)",
            "OpExecError", None, "Not all disks could be snapshotted, and you did not allow the instance"
            " to remain offline for a longer time through the --long-sleep option; aborting")
  check(cl.GetInstance(a)["status"] == "ERROR_down", "the refused export left the guest stopped",
        cl.GetInstance(a)["status"])
  ok_job(cl, cl.ShutdownInstance(a), "ShutdownInstance(before export)")
  job = ok_job(cl, cl.ExportInstance(a, "local", env.n1), "ExportInstance")
  check(job["opresult"] == [[True, [True]]], "ExportInstance result: [finalized, [disk ok]]", job["opresult"])
  ok_job(cl, cl.StartupInstance(a), "StartupInstance(after export)")
  q = cl.Query("export", ["node", "export"])
  expect([[0, env.n1], [0, a]] in q["data"], "Query('export') lists the export on node1", q["data"])

  # ---- tags ----
  itag = "itag-%s" % env.sfx
  ok_job(cl, cl.AddInstanceTags(a, [itag], dry_run=True), "AddInstanceTags(dry_run)")
  check(cl.GetInstanceTags(a) == [], "a dry-run AddInstanceTags adds nothing", cl.GetInstanceTags(a))
  ok_job(cl, cl.AddInstanceTags(a, [itag, "other"]), "AddInstanceTags")
  check(sorted(cl.GetInstanceTags(a)) == sorted([itag, "other"]), "GetInstanceTags() after add")
  check(sorted(cl.GetInstance(a)["tags"]) == sorted([itag, "other"]), "GetInstance().tags after add")
  ok_job(cl, cl.DeleteInstanceTags(a, ["other"]), "DeleteInstanceTags")
  check(cl.GetInstanceTags(a) == [itag], "GetInstanceTags() after delete", cl.GetInstanceTags(a))

  # ---- delete ----
  ok_job(cl, cl.DeleteInstance(a, dry_run=True), "DeleteInstance(dry_run)")
  check(a in instance_names(cl), "a dry-run DeleteInstance deletes nothing")
  for name in (a, b, f):
    ok_job(cl, cl.DeleteInstance(name), "DeleteInstance(%s)" % name)
    flow.expect_api_error(404, cl.GetInstance, name)
  check(not ({a, b, f} & instance_names(cl)), "GetInstances() after delete")
  step("instances", "lifecycle done")


def multi_alloc_section(cl, env):
  names = ["ma-%d-%s" % (k, env.sfx) for k in (1, 2)]
  allocs = [cl.InstanceAllocation("create", n, "diskless", [], [{}], os="noop", name_check=False,
                                  ip_check=False, hypervisor="fake", beparams={"memory": MIN_MEM})
            for n in names]
  check(allocs[0] == {"mode": "create", "name": names[0], "disk_template": "diskless", "disks": [],
                      "nics": [{}], "os": "noop", "name_check": False, "ip_check": False,
                      "hypervisor": "fake", "beparams": {"memory": MIN_MEM}},
        "InstanceAllocation() builds the request entry", allocs[0])
  step("InstanceAllocation", "local")

  ok_job(cl, cl.InstancesMultiAlloc(allocs, dry_run=True), "InstancesMultiAlloc(dry_run)")
  check(not (set(names) & instance_names(cl)), "a dry-run multi-allocation creates nothing")
  job = ok_job(cl, cl.InstancesMultiAlloc(allocs), "InstancesMultiAlloc")
  res = job["opresult"][0]
  check(isinstance(res, dict) and sorted(res) == ["allocatable", "failed", "jobs"],
        "InstancesMultiAlloc result keys", res)
  check(sorted(res["allocatable"]) == sorted(names) and res["failed"] == [],
        "InstancesMultiAlloc allocatable/failed", res)
  children = child_jobs(cl, {"opresult": [{"jobs": res["jobs"]}]}, "InstancesMultiAlloc")
  check(sorted(c["ops"][0]["instance_name"] for c in children) == sorted(names),
        "one creation job per instance", [c["ops"][0]["instance_name"] for c in children])
  for n in names:
    i = cl.GetInstance(n)
    check(i["status"] == "running" and i["pnode"] in env.nodes, "%s created by its child job" % n, i["status"])
  for n in names:
    ok_job(cl, cl.DeleteInstance(n), "DeleteInstance(%s)" % n)


def nodes_section(cl, env):
  names = cl.GetNodes()
  check(sorted(names) == sorted(env.nodes), "GetNodes() lists the three nodes", names)
  bulk = dict((n["name"], n) for n in cl.GetNodes(bulk=True))
  check(sorted(bulk) == sorted(env.nodes), "GetNodes(bulk=True) has the three nodes", sorted(bulk))
  for n in env.nodes:
    check_keys(bulk[n], N_FIELDS, "GetNodes(bulk=True) entry")
  check([bulk[n]["role"] for n in env.nodes] == ["M", "C", "C"], "node roles M, C, C",
        [bulk[n]["role"] for n in env.nodes])
  n3 = cl.GetNode(env.n3)
  # R_2_nodes_name.GET_ALIASES repeats sip as secondary_ip.
  check_keys(n3, N_FIELDS | set(["secondary_ip"]), "GetNode()")
  check(n3["secondary_ip"] == n3["sip"], "GetNode(): secondary_ip is the sip alias", n3["secondary_ip"])
  check(n3["name"] == env.n3 and n3["uuid"] == bulk[env.n3]["uuid"] and n3["offline"] is False,
        "GetNode(node3)", n3)
  flow.expect_api_error(404, cl.GetNode, "ghost.example.com")
  step("GetNodes/GetNode", ", ".join(env.nodes))

  # ---- roles ----
  check(cl.GetNodeRole(env.n1) == "master" and cl.GetNodeRole(env.n3) == "master-candidate",
        "GetNodeRole() words", (cl.GetNodeRole(env.n1), cl.GetNodeRole(env.n3)))
  job = ok_job(cl, cl.SetNodeRole(env.n3, client.NODE_ROLE_DRAINED), "SetNodeRole(drained)")
  check(opresult_changes(job, "SetNodeRole") == {"master_candidate": "False", "drained": "True"},
        "SetNodeRole(drained) result", job["opresult"])
  check(cl.GetNodeRole(env.n3) == "drained" and cl.GetNode(env.n3)["drained"] is True,
        "node3 drained", cl.GetNodeRole(env.n3))
  ok_job(cl, cl.SetNodeRole(env.n3, client.NODE_ROLE_OFFLINE, force=True), "SetNodeRole(offline)")
  check(cl.GetNodeRole(env.n3) == "offline" and cl.GetNode(env.n3)["offline"] is True, "node3 offline")
  ok_job(cl, cl.SetNodeRole(env.n3, client.NODE_ROLE_REGULAR, auto_promote=True), "SetNodeRole(regular)")
  # The candidate pool has room, so Ganeti promotes it straight back.
  check(cl.GetNodeRole(env.n3) == "master-candidate", "node3 auto-promoted back", cl.GetNodeRole(env.n3))
  error_job(cl, cl.SetNodeRole(env.n1, client.NODE_ROLE_DRAINED), "SetNodeRole(master)", "OpPrereqError",
            "wrong_input", "The master role can be changed only via master-failover")
  flow.expect_api_error(400, cl.SetNodeRole, env.n2, client.NODE_ROLE_MASTER)
  step("SetNodeRole(master)", "400")

  # ---- modify ----
  ok_job(cl, cl.ModifyNode(env.n3, ndparams={"spindle_count": 4}), "ModifyNode")
  check(cl.GetNode(env.n3)["ndparams"]["spindle_count"] == 4, "GetNode().ndparams after ModifyNode",
        cl.GetNode(env.n3)["ndparams"])
  ok_job(cl, cl.ModifyNode(env.n3, ndparams={"spindle_count": "default"}), "ModifyNode(default)")
  check(cl.GetNode(env.n3)["ndparams"]["spindle_count"] == 1, "ndparams back to the group's value")
  error_job(cl, cl.ModifyNode(env.n3), "ModifyNode(nothing)", "OpPrereqError", "wrong_input",
            "Please pass at least one modification")

  # ---- storage: rapid's nodes have file storage, no LVM ----
  job = ok_job(cl, cl.GetNodeStorageUnits(env.n2, "file", STORAGE_FIELDS), "GetNodeStorageUnits")
  rows = job["opresult"][0]
  check(isinstance(rows, list) and len(rows) == 1 and len(rows[0]) == 7, "one file storage row", rows)
  name, size, used, free, alloc, stype, node = rows[0]
  check(isinstance(name, str) and all(isinstance(x, int) for x in (size, used, free))
        and size >= free and (alloc, stype, node) == (True, "file", env.n2), "file storage row values", rows[0])
  error_job(cl, cl.GetNodeStorageUnits(env.n2, "lvm-vg", "name"), "GetNodeStorageUnits(lvm-vg)",
            "OpPrereqError", None,
            "No disk template of storage type 'lvm-vg' is enabled in this cluster. "
            "Enabled disk templates are: diskless,file,sharedfile,drbd")
  error_job(cl, cl.ModifyNodeStorageUnits(env.n2, "file", name, allocatable=False),
            "ModifyNodeStorageUnits", "OpPrereqError", "wrong_input",
            "Storage units of type 'file' can not be modified")
  error_job(cl, cl.RepairNodeStorageUnits(env.n2, "file", name), "RepairNodeStorageUnits",
            "OpPrereqError", "wrong_input", "Storage units of type 'file' can not be repaired")

  # ---- tags ----
  ntag = "ntag-%s" % env.sfx
  ok_job(cl, cl.AddNodeTags(env.n2, [ntag]), "AddNodeTags")
  check(cl.GetNodeTags(env.n2) == [ntag], "GetNodeTags() after add", cl.GetNodeTags(env.n2))
  ok_job(cl, cl.DeleteNodeTags(env.n2, [ntag]), "DeleteNodeTags")
  check(cl.GetNodeTags(env.n2) == [], "GetNodeTags() after delete", cl.GetNodeTags(env.n2))

  # ---- power cycle: node3's guests die, the node carries on ----
  c1, c2 = "ev-1-%s" % env.sfx, "ev-2-%s" % env.sfx
  create(cl, c1, "diskless", [], env.n3)
  create(cl, c2, "sharedfile", [{"size": DISK_MIB}], env.n3)
  error_job(cl, cl.PowercycleNode(env.n1), "PowercycleNode(master)", "OpPrereqError", "wrong_input",
            "The node is the master and the force parameter was not set")
  job = ok_job(cl, cl.PowercycleNode(env.n3), "PowercycleNode")
  check(job["opresult"] == ["Reboot scheduled in 5 seconds"], "PowercycleNode result", job["opresult"])
  for n in (c1, c2):
    until(lambda: cl.GetInstance(n)["status"], lambda s: s == "ERROR_down", 20, "%s down after the power cycle" % n)
  for n in (c1, c2):
    ok_job(cl, cl.StartupInstance(n), "StartupInstance(%s)" % n)
  step("PowercycleNode", "guests on node3 stopped, restarted")

  # ---- evacuation: primary instances leave node3 through child jobs ----
  on3 = sorted(pinst(cl, env.n3))
  check({c1, c2} <= set(on3), "node3 holds the two instances", on3)
  job = ok_job(cl, cl.EvacuateNode(env.n3, iallocator="hail", mode=client.NODE_EVAC_PRI, dry_run=True),
               "EvacuateNode(dry_run)")
  check(job["opresult"] == [None], "a dry-run EvacuateNode submits nothing", job["opresult"])
  check(sorted(pinst(cl, env.n3)) == on3, "still on node3 after the dry run", pinst(cl, env.n3))
  job = ok_job(cl, cl.EvacuateNode(env.n3, iallocator="hail", mode=client.NODE_EVAC_PRI), "EvacuateNode")
  children = child_jobs(cl, job, "EvacuateNode")
  check(sorted(ch["ops"][0]["instance_name"] for ch in children) == on3,
        "one child job per primary instance", [ch["ops"][0] for ch in children])
  check(all(ch["ops"][0]["OP_ID"] == "OP_INSTANCE_MIGRATE" for ch in children),
        "evacuation children are OP_INSTANCE_MIGRATE", [ch["ops"][0]["OP_ID"] for ch in children])
  check(pinst(cl, env.n3) == [], "node3 has no primary instances after EvacuateNode", pinst(cl, env.n3))
  for n in (c1, c2):
    i = cl.GetInstance(n)
    check(i["pnode"] in (env.n1, env.n2) and i["status"] == "running", "%s moved and running" % n,
          (i["pnode"], i["status"]))

  # ---- node migration: every primary instance of a node is live-migrated ----
  src = cl.GetInstance(c1)["pnode"]
  mine = sorted(pinst(cl, src))
  job = ok_job(cl, cl.MigrateNode(src, mode="live"), "MigrateNode")
  children = child_jobs(cl, job, "MigrateNode")
  check(sorted(ch["ops"][0]["instance_name"] for ch in children) == mine,
        "one migration job per primary instance of %s" % src, [ch["ops"][0] for ch in children])
  check(all((ch["ops"][0]["OP_ID"], ch["ops"][0]["mode"]) == ("OP_INSTANCE_MIGRATE", "live") for ch in children),
        "MigrateNode children are live OP_INSTANCE_MIGRATE", [ch["ops"][0] for ch in children])
  check(pinst(cl, src) == [], "%s has no primary instances after MigrateNode" % src, pinst(cl, src))
  check(cl.GetInstance(c1)["pnode"] != src and cl.GetInstance(c1)["status"] == "running",
        "MigrateNode moved %s" % c1)
  for n in (c1, c2):
    ok_job(cl, cl.DeleteInstance(n), "DeleteInstance(%s)" % n)


def filters_and_jobs_section(cl, env):
  uuids = []
  try:
    _filters_and_jobs(cl, env, uuids)
  finally:
    # A PAUSE rule left behind would hold every later job.
    for uuid in uuids:
      if uuid in cl.GetFilters():
        cl.DeleteFilter(uuid)


def _filters_and_jobs(cl, env, uuids):
  # A PAUSE rule holds new jobs, which makes a queued job to cancel.
  check(isinstance(cl.GetFilters(), list), "GetFilters() is a list")
  uuid = cl.AddFilter(10, [["jobid", [">", "id", "watermark"]]], "PAUSE", reason_trail=[["client-all", "hold", 1]])
  check(isinstance(uuid, str) and re.match(r"^[0-9a-f-]{36}$", uuid), "AddFilter returns the new uuid", uuid)
  uuids.append(uuid)
  check(uuid in cl.GetFilters(), "GetFilters() has the new rule", cl.GetFilters())
  rule = cl.GetFilter(uuid)
  check(sorted(rule) == sorted(["watermark", "priority", "predicates", "action", "reason_trail", "uuid"]),
        "GetFilter() fields", rule)
  check((rule["uuid"], rule["priority"], rule["action"], rule["predicates"])
        == (uuid, 10, "PAUSE", [["jobid", [">", "id", "watermark"]]]), "GetFilter() values", rule)
  check(rule["reason_trail"][0] == ["client-all", "hold", 1] and rule["reason_trail"][-1][0] == "gnt:client",
        "GetFilter().reason_trail", rule["reason_trail"])
  bulk = [r for r in cl.GetFilters(bulk=True) if r["uuid"] == uuid]
  check(len(bulk) == 1 and bulk[0] == rule, "GetFilters(bulk=True) entry is GetFilter()", bulk)
  step("AddFilter/GetFilter", "PAUSE rule %s" % uuid)

  tag = "held-%s" % env.sfx
  held = flow.check_job_id(cl.AddClusterTags([tag]), "AddClusterTags(held)")
  time.sleep(0.5)
  check(cl.GetJobStatus(held)["status"] == "queued", "a paused job stays queued", cl.GetJobStatus(held)["status"])
  # No change within the server's wait timeout: the unchanged state, after
  # the timeout (decisions.md: never null).
  t0 = time.time()
  res = cl.WaitForJobChange(held, ["status"], ["queued"], None)
  waited = time.time() - t0
  check(res == {"job_info": ["queued"], "log_entries": []},
        "WaitForJobChange on an unchanged job: its unchanged state", res)
  check(waited >= 1.0, "WaitForJobChange waited for a change before answering", waited)
  check(cl.WaitForJobCompletion(held, period=0, retries=2) is False,
        "WaitForJobCompletion gives up on a held job")
  res = cl.CancelJob(held)
  check(res == [True, "Dequeued job %d" % held], "CancelJob(queued) returns [true, 'Dequeued job N']", res)
  info, _logs, _rounds = flow.wait_change(cl, held, ("status", "opstatus", "opresult"))
  check(info == ["canceled", ["canceled"], [None]], "the canceled job ends canceled", info)
  check(tag not in cl.GetClusterTags(), "the canceled job did nothing")
  step("CancelJob(queued)", repr(res))

  got = cl.ReplaceFilter(uuid, 5, [["opcode", ["=", "OP_ID", "OP_TAGS_SET"]]], "REJECT")
  check(got == uuid, "ReplaceFilter returns the uuid", got)
  rule = cl.GetFilter(uuid)
  check((rule["priority"], rule["action"]) == (5, "REJECT"), "GetFilter() after ReplaceFilter", rule)
  jid = cl.AddClusterTags([tag])
  flow.run_job(cl, jid, "AddClusterTags(rejected)", expect="canceled")
  check(tag not in cl.GetClusterTags(), "a rejected job did nothing")
  other = str(uuidlib.uuid4())
  uuids.append(other)
  check(cl.ReplaceFilter(other, 1, [], "CONTINUE") == other, "ReplaceFilter(new uuid) creates that rule")
  check(other in cl.GetFilters(), "GetFilters() has the rule ReplaceFilter created")
  check(cl.DeleteFilter(uuid) is None and cl.DeleteFilter(other) is None, "DeleteFilter returns None")
  flow.expect_api_error(404, cl.GetFilter, uuid)
  check(uuid not in cl.GetFilters() and other not in cl.GetFilters(), "GetFilters() after DeleteFilter")
  step("ReplaceFilter/DeleteFilter", "REJECT, create by uuid, delete")

  jid = cl.AddClusterTags([tag])
  ok_job(cl, jid, "AddClusterTags(after the rules)")
  ok_job(cl, cl.DeleteClusterTags([tag]), "DeleteClusterTags(cleanup)")

  # ---- jobs ----
  ids = cl.GetJobs()
  check(all(isinstance(x, int) for x in ids) and {held, jid} <= set(ids), "GetJobs() ints with our jobs",
        ids[-5:])
  bulk = dict((j["id"], j) for j in cl.GetJobs(bulk=True))
  check({held, jid} <= set(bulk), "GetJobs(bulk=True) has our jobs", sorted(bulk)[-5:])
  check(bulk[held]["status"] == "canceled" and bulk[jid]["status"] == "success",
        "GetJobs(bulk=True) statuses", (bulk[held]["status"], bulk[jid]["status"]))
  check_keys(bulk[jid], J_FIELDS_BULK, "GetJobs(bulk=True) entry")
  st = cl.GetJobStatus(jid)
  check_keys(st, J_FIELDS, "GetJobStatus()")
  check(len(st["summary"]) == 1 and st["summary"][0].startswith("TAGS_SET"), "GetJobStatus().summary",
        st["summary"])
  res = cl.WaitForJobChange(jid, ["status", "opstatus"], None, None)
  check(res["job_info"] == ["success", ["success"]], "WaitForJobChange on a finished job", res)
  check(cl.WaitForJobCompletion(jid, period=0, retries=1) is True, "WaitForJobCompletion of a success")
  res = cl.CancelJob(jid)
  check(res == [False, "Job %d not found in queue" % jid], "CancelJob(finished)", res)
  step("jobs", "GetJobs, GetJobStatus, WaitForJobChange, WaitForJobCompletion, CancelJob")


def query_section(cl, env):
  inst = "q-inst-%s" % env.sfx
  create(cl, inst, "diskless", [], env.n2)
  uuid = cl.AddFilter(0, [["opcode", ["=", "OP_ID", "OP_TEST_DELAY"]]], "CONTINUE")
  try:
    for what in sorted(QUERY_FIELDS):
      fields = QUERY_FIELDS[what]
      allf = cl.QueryFields(what)
      check(isinstance(allf, dict) and list(allf) == ["fields"], "QueryFields(%s) is {fields}" % what, allf)
      names = [f["name"] for f in allf["fields"]]
      for f in allf["fields"]:
        check(sorted(f) == ["doc", "kind", "name", "title"], "QueryFields(%s) field definition" % what, f)
      check(set(fields) <= set(names), "QueryFields(%s) has %r" % (what, fields), names)
      some = cl.QueryFields(what, fields)
      check([f["name"] for f in some["fields"]] == fields, "QueryFields(%s, fields) keeps the order" % what,
            some["fields"])
      q = cl.Query(what, fields)
      check(sorted(q) == ["data", "fields"] and [f["name"] for f in q["fields"]] == fields,
            "Query(%s) returns {fields, data}" % what, sorted(q))
      for row in q["data"]:
        check(len(row) == len(fields) and all(isinstance(v, list) and len(v) == 2 for v in row),
              "Query(%s) rows are [status, value] per field" % what, row)
      step("Query/QueryFields(%s)" % what, "%d fields, %d rows" % (len(names), len(q["data"])))

    rows = cl.Query("node", ["name", "role"])["data"]
    check(sorted((r[0][1], r[1][1]) for r in rows) == sorted(zip(env.nodes, ["M", "C", "C"])),
          "Query(node) names and roles", rows)
    q = cl.Query("instance", ["name", "pnode", "status"], ["=", "name", inst])
    check(q["data"] == [[[0, inst], [0, env.n2], [0, "running"]]], "Query(instance) with a name filter", q["data"])
    q = cl.Query("group", ["name", "node_cnt"], ["=", "name", "default"])
    check(q["data"] == [[[0, "default"], [0, 3]]], "Query(group) default", q["data"])
    q = cl.Query("filter", ["uuid", "action"], ["=", "uuid", uuid])
    check(q["data"] == [[[0, uuid], [0, "CONTINUE"]]], "Query(filter) finds the rule", q["data"])
    last = max(cl.GetJobs())
    q = cl.Query("job", ["id", "status"], ["=", "id", last])
    check(q["data"] == [[[0, last], [0, "success"]]], "Query(job) by id", q["data"])
    q = cl.Query("instance", ["name", "nosuchfield"], ["=", "name", inst])
    check(q["data"] == [[[0, inst], [1, None]]], "Query() of an unknown field has status 1 (unknown)", q["data"])
    flow.expect_api_error(404, cl.Query, "os", ["name"])
    flow.expect_api_error(404, cl.QueryFields, "cluster")
    step("Query(filters)", "node, instance, group, filter, job; os/cluster are not RAPI resources")
  finally:
    cl.DeleteFilter(uuid)
    ok_job(cl, cl.DeleteInstance(inst), "DeleteInstance(%s)" % inst)


def sweep(cl, env):
  """After a section: removes what a failed section left behind (every
  object this run creates has the run's suffix in its name), so that the
  next section starts from the cluster it expects."""
  mine = lambda name: env.sfx in name
  for name in [i for i in cl.GetInstances() if mine(i)]:
    ok_job(cl, cl.DeleteInstance(name), "sweep: DeleteInstance(%s)" % name)
  for net in [n for n in cl.GetNetworks() if mine(n)]:
    for conn in cl.GetNetwork(net)["group_list"]:
      ok_job(cl, cl.DisconnectNetwork(net, conn[0]), "sweep: DisconnectNetwork(%s)" % net)
    ok_job(cl, cl.DeleteNetwork(net), "sweep: DeleteNetwork(%s)" % net)
  default_uuid = cl.GetGroup("default")["uuid"]
  stray = [n for n in env.nodes if cl.GetNode(n)["group.uuid"] != default_uuid]
  if stray:
    ok_job(cl, cl.AssignGroupNodes("default", stray, force=True), "sweep: AssignGroupNodes(default)")
  for g in [g for g in cl.GetGroups() if mine(g)]:
    ok_job(cl, cl.DeleteGroup(g), "sweep: DeleteGroup(%s)" % g)
  tags = [t for t in cl.GetClusterTags() if mine(t)]
  if tags:
    ok_job(cl, cl.DeleteClusterTags(tags), "sweep: DeleteClusterTags")


SECTIONS = [
  ("cluster", cluster_section),
  ("groups", groups_section),
  ("networks", networks_section),
  ("ipolicy", ipolicy_section),
  ("instances", instances_section),
  ("multi-alloc", multi_alloc_section),
  ("nodes", nodes_section),
  ("filters and jobs", filters_and_jobs_section),
  ("query", query_section),
]


class Env(object):
  def __init__(self, nodes):
    self.nodes = list(nodes)
    self.n1, self.n2, self.n3 = nodes
    self.sfx = "%d" % (int(time.time() * 1000) % 100000000)


def main(argv):
  if len(argv) != 9:
    print(__doc__)
    return 2
  host, port, user, password, cafile = argv[1:6]
  env = Env(argv[6:9])
  raw = client.GanetiRapiClient(host, port=int(port), username=user, password=password,
                                curl_config_fn=client.GenericCurlConfig(cafile=cafile, verify_hostname=True))
  cl = Recorder(raw)
  only = os.environ.get("CLIENT_ALL_SECTIONS")
  failures = []
  started = time.time()
  for name, fn in SECTIONS:
    if only and name not in only.split(","):
      continue
    print("---- %s" % name)
    CURRENT["section"] = name
    sys.stdout.flush()
    t0 = time.time()
    try:
      fn(cl, env)
    except FlowError as exc:
      failures.append((name, str(exc)))
      print("FAIL [%s]: %s" % (name, exc))
    except client.GanetiApiError as exc:
      failures.append((name, "unexpected GanetiApiError %s: %s" % (exc.code, exc)))
      print("FAIL [%s]: unexpected GanetiApiError (code %s): %s" % (name, exc.code, exc))
      traceback.print_exc(file=sys.stdout)
    except Exception as exc:  # noqa
      failures.append((name, "%s: %s" % (type(exc).__name__, exc)))
      print("FAIL [%s]: %s: %s" % (name, type(exc).__name__, exc))
      traceback.print_exc(file=sys.stdout)
    try:
      sweep(cl, env)
    except Exception as exc:  # noqa
      failures.append((name, "sweep after the section: %s: %s" % (type(exc).__name__, exc)))
      print("FAIL [%s] sweep: %s" % (name, exc))
    print("     (%s: %.1fs)" % (name, time.time() - t0))
    sys.stdout.flush()

  print("---- methods (%d public)" % len(PUBLIC))
  for name in PUBLIC:
    n = cl.calls.get(name, 0)
    note = LOCAL_ONLY.get(name, "")
    print("%-4s %-28s %3d call(s)%s" % ("ok" if n else "MISS", name, n, "  (%s)" % note if note else ""))
  missing = [m for m in PUBLIC if not cl.calls.get(m)]
  if only:
    missing = []
  print("not exercised: %s" % (", ".join(missing) if missing else "none"))
  print("total %.1fs" % (time.time() - started))
  order = [name for name, _ in SECTIONS]
  failures = sorted(SOFT_FAILURES + failures, key=lambda f: order.index(f[0]) if f[0] in order else -1)
  if failures or missing:
    for name, msg in failures:
      print("FAIL: [%s] %s" % (name, msg))
    if missing:
      print("FAIL: methods not exercised: %s" % ", ".join(missing))
    return 1
  print("ALL OK")
  return 0


if __name__ == "__main__":
  sys.exit(main(sys.argv))
