#!/usr/bin/python3
"""End-to-end flow of Ganeti's official RAPI client against rapid.

Usage: /usr/bin/python3 client_flow.py HOST PORT USER PASSWORD CAFILE NODE

Uses Debian's python3-ganeti-rapi (module ganeti.rapi.client), which only the
system interpreter can import. It pins the daemon's certificate (cafile) and
checks the host name, then walks through the calls real tools make, asserting
return values and job outcomes. It prints one line per step and exits
non-zero with a clear message at the first failure.
"""

import sys
import time
import traceback

try:
  from ganeti.rapi import client
except ImportError as exc:  # pragma: no cover - environment problem
  print("FAIL: cannot import ganeti.rapi.client (run with /usr/bin/python3): %s" % exc)
  sys.exit(2)

FEATURES = {
  "instance-create-reqv1",
  "instance-reinstall-reqv1",
  "node-migrate-reqv1",
  "node-evac-res1",
}

FINAL = client.JOB_STATUS_FINALIZED

# How long a job may take before the flow gives up.
JOB_DEADLINE = 60.0


class FlowError(Exception):
  pass


def check(cond, what, got=None):
  if not cond:
    if got is not None:
      raise FlowError("%s (got %r)" % (what, got))
    raise FlowError(what)


def step(name, detail=""):
  print("ok   %-40s %s" % (name, detail))
  sys.stdout.flush()


def check_ts(value, what):
  check(isinstance(value, list) and len(value) == 2 and
        all(isinstance(x, int) and not isinstance(x, bool) for x in value),
        "%s must be [sec, usec] ints" % what, value)


def check_job_id(jid, what):
  check(isinstance(jid, int) and not isinstance(jid, bool) and jid > 0,
        "%s must return a bare integer job id" % what, jid)
  return jid


def wait_change(cl, jid, fields=("status",)):
  """Ganeti's cli.GenericPollJob loop over WaitForJobChange.

  Passes the previous job_info and the highest log serial seen back in, until
  the status is final. Returns (final job_info, log entries, rounds).
  """
  fields = list(fields)
  prev_info = None
  prev_serial = None
  logs = []
  rounds = 0
  deadline = time.time() + JOB_DEADLINE
  while True:
    rounds += 1
    check(time.time() < deadline,
          "job %s: WaitForJobChange loop not final after %ss" % (jid, JOB_DEADLINE), prev_info)
    result = cl.WaitForJobChange(jid, fields, prev_info, prev_serial)
    if result is None:
      continue  # "no change" in the old (null) form
    check(isinstance(result, dict) and set(result) == {"job_info", "log_entries"},
          "job %s: WaitForJobChange must return {job_info, log_entries}" % jid, result)
    info = result["job_info"]
    entries = result["log_entries"]
    check(isinstance(info, list) and len(info) == len(fields),
          "job %s: job_info must be a list with one value per field %r" % (jid, fields), info)
    check(isinstance(entries, list), "job %s: log_entries must be a list" % jid, entries)
    for entry in entries:
      check(isinstance(entry, list) and len(entry) == 4,
            "job %s: log entry must be [serial, [sec, usec], type, message]" % jid, entry)
      serial, ts, kind, _msg = entry
      check(isinstance(serial, int), "job %s: log serial must be an int" % jid, entry)
      check(prev_serial is None or serial > prev_serial,
            "job %s: log entry serial %s not above previous_log_serial %s"
            % (jid, serial, prev_serial), entries)
      check_ts(ts, "job %s log entry timestamp" % jid)
      check(isinstance(kind, str), "job %s: log entry type must be a string" % jid, entry)
      prev_serial = serial
      logs.append(entry)
    status = info[fields.index("status")] if "status" in fields else None
    check(status in client.JOB_STATUS_ALL, "job %s: unknown status" % jid, status)
    if status in FINAL:
      return info, logs, rounds
    prev_info = info


def run_job(cl, jid, what, expect="success"):
  """Follows a job with WaitForJobChange, then with WaitForJobCompletion,
  and returns its GetJobStatus dict."""
  check_job_id(jid, what)
  info, logs, rounds = wait_change(cl, jid)
  check(info[0] == expect, "%s: job %s status via WaitForJobChange should be %r"
        % (what, jid, expect), info[0])
  ok = cl.WaitForJobCompletion(jid, period=1, retries=int(JOB_DEADLINE))
  check(ok is (expect == "success"),
        "%s: WaitForJobCompletion(%s) should be %r" % (what, jid, expect == "success"), ok)
  job = cl.GetJobStatus(jid)
  check(job["status"] == expect, "%s: GetJobStatus(%s).status should be %r"
        % (what, jid, expect), job)
  check(job["id"] == jid, "%s: job id echoed" % what, job.get("id"))
  step(what, "job %s %s (%d wait rounds, %d log entries)" % (jid, expect, rounds, len(logs)))
  return job


def expect_api_error(code, fn, *args, **kwargs):
  try:
    got = fn(*args, **kwargs)
  except client.GanetiApiError as err:
    check(err.code == code, "%s: expected GanetiApiError code %s"
          % (fn.__name__, code), (err.code, str(err)))
    return err
  raise FlowError("%s%r: expected GanetiApiError %s, got a result %r"
                  % (fn.__name__, args, code, got))


def maybe_raise(result):
  """Mirror of ganeti.errors.MaybeRaise, which clients (ganeti.cli, synnefo,
  move-instance) apply to a failed opcode's result: the result must be
  [ErrorClassName, [message, ecode?]]. Returns (class, message, ecode)."""
  check(isinstance(result, list) and len(result) == 2 and isinstance(result[0], str)
        and isinstance(result[1], list),
        "failed opresult must be [ErrorClass, args]", result)
  cls, args = result
  check(cls.endswith("Error"), "error class name", cls)
  check(len(args) >= 1 and isinstance(args[0], str), "error args start with a message", args)
  ecode = args[1] if len(args) > 1 else None
  check(ecode is None or ecode in client.ECODE_ALL,
        "ecode must be one of Ganeti's ECODE_* strings", ecode)
  return cls, args[0], ecode


def instance_create(cl, name, node, disk_template_override=None, **extra):
  kwargs = dict(os="noop", pnode=node, name_check=False, ip_check=False,
                beparams={"memory": 128}, hypervisor="fake")
  kwargs.update(extra)
  return cl.CreateInstance("create", name, disk_template_override or "file", [{"size": 1024}],
                           [{}], **kwargs)


def main(argv):
  if len(argv) != 7:
    print(__doc__)
    return 2
  host, port, user, password, cafile, node = argv[1:]
  cl = client.GanetiRapiClient(
    host, port=int(port), username=user, password=password,
    curl_config_fn=client.GenericCurlConfig(cafile=cafile, verify_hostname=True))
  suffix = "%d" % (int(time.time() * 1000) % 100000000)
  inst = "flow-%s.example.com" % suffix
  job_ids = []

  # ---- cluster ----
  v = cl.GetVersion()
  check(v == 2, "GetVersion() == 2", v)
  step("GetVersion", repr(v))

  # Anonymous reads work; writes need valid credentials (401 otherwise).
  curl_cfg = client.GenericCurlConfig(cafile=cafile, verify_hostname=True)
  anon = client.GanetiRapiClient(host, port=int(port), curl_config_fn=curl_cfg)
  check(anon.GetVersion() == 2, "anonymous GetVersion()")
  check(anon.GetInfo().get("master") == node, "anonymous GetInfo()")
  expect_api_error(401, anon.AddClusterTags, ["anon-tag"])
  bad = client.GanetiRapiClient(host, port=int(port), username=user, password=password + "-wrong",
                                curl_config_fn=curl_cfg)
  expect_api_error(401, bad.GetInfo)
  expect_api_error(401, bad.AddClusterTags, ["bad-tag"])
  step("auth", "anonymous read ok, anonymous/wrong-password write 401")

  feats = cl.GetFeatures()
  # decisions.md: always Ganeti's four strings; rapid's extensions may follow.
  check(isinstance(feats, list) and FEATURES <= set(feats) and len(set(feats)) == len(feats)
        and all(f in FEATURES or f.startswith("rapid-") for f in feats),
        "GetFeatures() must list %r (plus rapid- extensions)" % sorted(FEATURES), feats)
  step("GetFeatures", ",".join(sorted(feats)))

  info = cl.GetInfo()
  check(isinstance(info.get("name"), str) and info["name"], "GetInfo().name", info.get("name"))
  sv = info.get("software_version")
  try:
    parts = [int(p) for p in sv.split(".")]
  except Exception:
    parts = None
  check(parts is not None and len(parts) == 3, "GetInfo().software_version is x.y.z ints", sv)
  check(info.get("master") == node, "GetInfo().master is the node %r" % node, info.get("master"))
  check(isinstance(info.get("tags"), list), "GetInfo().tags is a list", info.get("tags"))
  check("fake" in info.get("enabled_hypervisors", []), "fake hypervisor enabled",
        info.get("enabled_hypervisors"))
  step("GetInfo", "name=%s version=%s" % (info["name"], sv))

  oses = cl.GetOperatingSystems()
  check(isinstance(oses, list) and "noop" in oses, "GetOperatingSystems() contains 'noop'", oses)
  step("GetOperatingSystems", repr(oses))

  # ---- nodes and groups ----
  nodes = cl.GetNodes()
  check(nodes == [node], "GetNodes() == [%r]" % node, nodes)
  step("GetNodes", repr(nodes))

  bnodes = cl.GetNodes(bulk=True)
  check(isinstance(bnodes, list) and len(bnodes) == 1 and bnodes[0].get("name") == node,
        "GetNodes(bulk=True) holds one dict for the node", bnodes)
  for key in ("offline", "drained", "master_candidate", "vm_capable", "mtotal", "mfree",
              "dtotal", "dfree", "ctotal", "pinst_cnt", "sinst_cnt", "role", "group.uuid",
              "ndparams", "uuid", "tags"):
    check(key in bnodes[0], "GetNodes(bulk=True) node has %r" % key, sorted(bnodes[0]))
  check(bnodes[0]["role"] == "M", "bulk node role is the letter 'M'", bnodes[0]["role"])
  step("GetNodes(bulk)", "role=%s" % bnodes[0]["role"])

  n = cl.GetNode(node)
  check(n.get("name") == node, "GetNode(%r).name" % node, n.get("name"))
  check(n.get("offline") is False and n.get("vm_capable") is True, "node online and vm_capable",
        (n.get("offline"), n.get("vm_capable")))
  step("GetNode", node)

  role = cl.GetNodeRole(node)
  check(role == "master", "GetNodeRole(%r) == 'master'" % node, role)
  step("GetNodeRole", role)
  expect_api_error(404, cl.GetNode, "no-such-node.example.com")
  step("GetNode(missing)", "404")

  groups = cl.GetGroups()
  check("default" in groups, "GetGroups() contains 'default'", groups)
  bgroups = cl.GetGroups(bulk=True)
  check(isinstance(bgroups, list) and bgroups, "GetGroups(bulk=True) is a non-empty list", bgroups)
  dflt = [g for g in bgroups if g.get("name") == "default"]
  check(len(dflt) == 1, "GetGroups(bulk=True) has group 'default'", bgroups)
  check(node in dflt[0].get("node_list", []), "default group holds the node", dflt[0].get("node_list"))
  check(n.get("group.uuid") == dflt[0].get("uuid"), "node group.uuid is the default group's uuid",
        (n.get("group.uuid"), dflt[0].get("uuid")))
  step("GetGroups(bulk)", "default: node_cnt=%s" % dflt[0].get("node_cnt"))

  g = cl.GetGroup("default")
  check(g.get("name") == "default" and g.get("node_list") == [node], "GetGroup('default')", g)
  expect_api_error(404, cl.GetGroup, "no-such-group")
  step("GetGroup", "default uuid=%s" % g.get("uuid"))

  # ---- node and group tags ----
  ntag, gtag = "ntag-%s" % suffix, "gtag-%s" % suffix
  run_job(cl, cl.AddNodeTags(node, [ntag]), "AddNodeTags")
  check(ntag in cl.GetNodeTags(node), "GetNodeTags() after add", cl.GetNodeTags(node))
  check(ntag in cl.GetNode(node).get("tags", []), "GetNode().tags after add", cl.GetNode(node).get("tags"))
  run_job(cl, cl.DeleteNodeTags(node, [ntag]), "DeleteNodeTags")
  check(ntag not in cl.GetNodeTags(node), "GetNodeTags() after delete", cl.GetNodeTags(node))
  run_job(cl, cl.AddGroupTags("default", [gtag]), "AddGroupTags")
  check(gtag in cl.GetGroupTags("default"), "GetGroupTags() after add", cl.GetGroupTags("default"))
  run_job(cl, cl.DeleteGroupTags("default", [gtag]), "DeleteGroupTags")
  check(gtag not in cl.GetGroupTags("default"), "GetGroupTags() after delete",
        cl.GetGroupTags("default"))
  step("node/group tags", "added and removed")

  # ---- cluster tags ----
  tag_a, tag_b = "flow-a-%s" % suffix, "flow-b-%s" % suffix
  before = cl.GetClusterTags()
  check(isinstance(before, list), "GetClusterTags() is a list", before)
  jid = cl.AddClusterTags([tag_a, tag_b])
  job_ids.append(run_job(cl, jid, "AddClusterTags")["id"])
  tags = cl.GetClusterTags()
  check(tag_a in tags and tag_b in tags, "GetClusterTags() after add has both tags", tags)
  jid = cl.DeleteClusterTags([tag_a])
  job_ids.append(run_job(cl, jid, "DeleteClusterTags")["id"])
  tags = cl.GetClusterTags()
  check(tag_a not in tags and tag_b in tags, "GetClusterTags() after delete", tags)
  step("GetClusterTags", repr(tags))

  # ---- instance lifecycle ----
  jid = instance_create(cl, inst, node)
  job = run_job(cl, jid, "CreateInstance")
  job_ids.append(jid)
  check(job["ops"][0].get("OP_ID") == "OP_INSTANCE_CREATE", "create job op is OP_INSTANCE_CREATE",
        job["ops"][0].get("OP_ID"))
  check(job["summary"] == ["INSTANCE_CREATE(%s)" % inst], "create job summary", job["summary"])
  check(job["opstatus"] == ["success"], "create job opstatus", job["opstatus"])
  for key in ("received_ts", "start_ts", "end_ts"):
    check_ts(job[key], "create job %s" % key)
  check(isinstance(job["oplog"], list) and len(job["oplog"]) == 1, "create job oplog per op",
        job["oplog"])

  i = cl.GetInstance(inst)
  check(i.get("name") == inst, "GetInstance().name", i.get("name"))
  check(i.get("status") == "running", "GetInstance().status after create", i.get("status"))
  check(i.get("admin_state") == "up", "GetInstance().admin_state after create", i.get("admin_state"))
  be = i.get("beparams", {})
  check(be.get("memory") == 128 and be.get("maxmem") == 128 and be.get("minmem") == 128,
        "GetInstance().beparams memory == maxmem == minmem == 128", be)
  check(i.get("pnode") == node, "GetInstance().pnode", i.get("pnode"))
  check(i.get("os") == "noop", "GetInstance().os", i.get("os"))
  check(i.get("disk_template") == "file", "GetInstance().disk_template", i.get("disk_template"))
  check(i.get("disk.sizes") == [1024], "GetInstance()['disk.sizes']", i.get("disk.sizes"))
  check(isinstance(i.get("nic.macs"), list) and len(i["nic.macs"]) == 1,
        "GetInstance()['nic.macs'] one MAC", i.get("nic.macs"))
  step("GetInstance", "status=%s memory=%s" % (i["status"], be.get("memory")))

  names = cl.GetInstances()
  check(inst in names, "GetInstances() contains the new instance", names)
  bulk = cl.GetInstances(bulk=True)
  mine = [x for x in bulk if x.get("name") == inst]
  check(len(mine) == 1 and mine[0].get("status") == "running",
        "GetInstances(bulk=True) has the instance, running", mine)
  step("GetInstances(bulk)", "%d instance(s)" % len(bulk))

  jid = cl.GetInstanceInfo(inst)
  job = run_job(cl, jid, "GetInstanceInfo")
  res = job["opresult"][0]
  check(isinstance(res, dict) and inst in res, "GetInstanceInfo opresult keyed by instance", res)
  data = res[inst]
  check(data.get("config_state") == "up" and data.get("run_state") == "up",
        "GetInstanceInfo config_state/run_state up",
        (data.get("config_state"), data.get("run_state")))
  check(data.get("pnode") == node, "GetInstanceInfo pnode", data.get("pnode"))

  jid = cl.ShutdownInstance(inst)
  run_job(cl, jid, "ShutdownInstance")
  i = cl.GetInstance(inst)
  check(i.get("status") == "ADMIN_down", "status after ShutdownInstance", i.get("status"))
  check(i.get("admin_state") == "down", "admin_state after ShutdownInstance", i.get("admin_state"))
  step("GetInstance after shutdown", i["status"])

  jid = cl.StartupInstance(inst)
  run_job(cl, jid, "StartupInstance")
  i = cl.GetInstance(inst)
  check(i.get("status") == "running", "status after StartupInstance", i.get("status"))
  step("GetInstance after startup", i["status"])

  for kind in ("soft", "hard"):
    jid = cl.RebootInstance(inst, reboot_type=kind)
    job = run_job(cl, jid, "RebootInstance(%s)" % kind)
    check(job["ops"][0].get("reboot_type") == kind, "reboot op reboot_type", job["ops"][0])
    i = cl.GetInstance(inst)
    check(i.get("status") == "running", "status after %s reboot" % kind, i.get("status"))

  # Ganeti's LUInstanceReboot starts a stopped instance ("was already
  # stopped, starting now") and marks it up, whatever the reboot type.
  run_job(cl, cl.ShutdownInstance(inst), "ShutdownInstance(before reboot)")
  check(cl.GetInstance(inst).get("status") == "ADMIN_down", "stopped before reboot")
  run_job(cl, cl.RebootInstance(inst, reboot_type="hard"), "RebootInstance(hard, stopped)")
  i = cl.GetInstance(inst)
  check(i.get("status") == "running" and i.get("admin_state") == "up",
        "a hard reboot of a stopped instance starts it and marks it up",
        (i.get("status"), i.get("admin_state")))

  itag = "itag-%s" % suffix
  jid = cl.AddInstanceTags(inst, [itag, "other"])
  run_job(cl, jid, "AddInstanceTags")
  t = cl.GetInstanceTags(inst)
  check(sorted(t) == sorted([itag, "other"]), "GetInstanceTags() after add", t)
  jid = cl.DeleteInstanceTags(inst, ["other"])
  run_job(cl, jid, "DeleteInstanceTags")
  t = cl.GetInstanceTags(inst)
  check(t == [itag], "GetInstanceTags() after delete", t)
  step("GetInstanceTags", repr(t))

  jid = cl.ReinstallInstance(inst, os="noop", no_startup=False)
  job = run_job(cl, jid, "ReinstallInstance")
  check([op.get("OP_ID") for op in job["ops"]] ==
        ["OP_INSTANCE_SHUTDOWN", "OP_INSTANCE_REINSTALL", "OP_INSTANCE_STARTUP"],
        "reinstall job opcodes", [op.get("OP_ID") for op in job["ops"]])
  i = cl.GetInstance(inst)
  check(i.get("status") == "running", "status after ReinstallInstance(no_startup=False)",
        i.get("status"))
  step("GetInstance after reinstall", i["status"])

  # Cancel a job right after submission, while a reboot holds the instance
  # lock. Whichever wins, the answer and the job's final state must agree:
  # [True, ..] -> canceled (opresult null), [False, ..] -> it ran.
  canceled = 0
  for k in range(4):
    reboot = cl.RebootInstance(inst, reboot_type="hard")
    jid = cl.AddInstanceTags(inst, ["cancel-%d" % k])
    res = cl.CancelJob(jid)
    check(isinstance(res, list) and len(res) == 2 and isinstance(res[0], bool)
          and isinstance(res[1], str), "CancelJob returns [bool, message]", res)
    info, _logs, _rounds = wait_change(cl, jid, ("status", "opstatus", "opresult"))
    if res[0]:
      canceled += 1
      check(info == ["canceled", ["canceled"], [None]],
            "job %s: CancelJob said %r, so it must end canceled" % (jid, res), info)
    else:
      check(info[0] == "success", "job %s: CancelJob said %r, so it must run" % (jid, res), info)
    run_job(cl, reboot, "RebootInstance(hard, lock holder %d)" % k)
  leftover = [t for t in cl.GetInstanceTags(inst) if t.startswith("cancel-")]
  check(len(leftover) == 4 - canceled, "only jobs that were not canceled set their tag",
        (canceled, leftover))
  if leftover:
    run_job(cl, cl.DeleteInstanceTags(inst, leftover), "DeleteInstanceTags(cancel leftovers)")
  check(cl.GetInstance(inst).get("status") == "running", "running after the reboots")
  step("CancelJob(just submitted)", "%d of 4 canceled, states consistent" % canceled)

  # ---- jobs ----
  jobs = cl.GetJobs()
  check(all(isinstance(x, int) for x in jobs), "GetJobs() ints", jobs)
  for j in job_ids:
    check(j in jobs, "GetJobs() contains job %s" % j, jobs)
  bjobs = cl.GetJobs(bulk=True)
  byid = dict((x.get("id"), x) for x in bjobs)
  for j in job_ids:
    check(j in byid, "GetJobs(bulk=True) contains job %s" % j, sorted(byid))
  for key in ("id", "ops", "status", "summary", "opstatus", "received_ts", "start_ts", "end_ts"):
    check(key in byid[job_ids[0]], "GetJobs(bulk=True) entry has %r" % key, sorted(byid[job_ids[0]]))
  step("GetJobs(bulk)", "%d job(s)" % len(bjobs))

  st = cl.GetJobStatus(job_ids[0])
  for key in ("id", "status", "ops", "opresult", "opstatus", "oplog", "summary",
              "received_ts", "start_ts", "end_ts"):
    check(key in st, "GetJobStatus() has %r" % key, sorted(st))
  step("GetJobStatus", "job %s %s" % (st["id"], st["status"]))

  # A finished job: WaitForJobChange answers at once, whatever the previous info.
  t0 = time.time()
  res = cl.WaitForJobChange(job_ids[0], ["status", "opstatus"], ["success", ["success"]], None)
  check(isinstance(res, dict) and res.get("job_info") == ["success", ["success"]],
        "WaitForJobChange on a finished job returns its job_info", res)
  check(time.time() - t0 < 1.5, "WaitForJobChange on a finished job answers at once",
        time.time() - t0)
  step("WaitForJobChange(finished)", repr(res["job_info"]))
  expect_api_error(404, cl.WaitForJobChange, 99999999, ["status"], None, None)
  step("WaitForJobChange(missing job)", "404")

  res = cl.CancelJob(job_ids[0])
  check(isinstance(res, list) and len(res) == 2 and res[0] is False and isinstance(res[1], str),
        "CancelJob on a finished job returns [False, message]", res)
  step("CancelJob(finished)", repr(res))
  # Ganeti 3.0.2 answers an unknown job id with every field null (decisions.md).
  st = cl.GetJobStatus(99999999)
  check(isinstance(st, dict) and st.get("status") is None and st.get("id") is None,
        "GetJobStatus(unknown id) is a dict of nulls, as Ganeti 3.0.2", st)
  check(cl.WaitForJobCompletion(99999999, period=0, retries=1) is False,
        "WaitForJobCompletion(unknown id) is False")
  step("GetJobStatus(unknown job)", "all fields null")

  # ---- errors ----
  jid = instance_create(cl, inst, node)
  job = run_job(cl, jid, "CreateInstance(duplicate)", expect="error")
  check(job["opstatus"] == ["error"], "duplicate create opstatus", job["opstatus"])
  cls, msg, ecode = maybe_raise(job["opresult"][0])
  check(cls == "OpPrereqError" and ecode == "already_exists",
        "duplicate create opresult is OpPrereqError already_exists", job["opresult"])
  check(inst in msg, "duplicate create message names the instance", msg)
  step("duplicate create error", "%s: %s (%s)" % (cls, msg, ecode))

  expect_api_error(404, cl.GetInstance, "missing-%s.example.com" % suffix)
  step("GetInstance(missing)", "404")
  expect_api_error(404, cl.GetInstanceTags, "missing-%s.example.com" % suffix)
  step("GetInstanceTags(missing)", "404")

  # Job-submitting calls on a missing instance: Ganeti queues the job, which
  # fails in CheckPrereq with unknown_entity.
  jid = cl.ShutdownInstance("missing-%s.example.com" % suffix)
  job = run_job(cl, jid, "ShutdownInstance(missing)", expect="error")
  cls, msg, ecode = maybe_raise(job["opresult"][0])
  check(cls == "OpPrereqError" and ecode == "unknown_entity",
        "shutdown of a missing instance fails with OpPrereqError unknown_entity", job["opresult"])

  jid = instance_create(cl, "flow-badnode-%s.example.com" % suffix, "no-such-node.example.com")
  job = run_job(cl, jid, "CreateInstance(unknown pnode)", expect="error")
  cls, msg, ecode = maybe_raise(job["opresult"][0])
  check(cls == "OpPrereqError" and ecode == "unknown_entity",
        "create on an unknown node fails with OpPrereqError unknown_entity", job["opresult"])

  jid = instance_create(cl, "flow-badtpl-%s.example.com" % suffix, node, disk_template_override="plain")
  job = run_job(cl, jid, "CreateInstance(disabled template)", expect="error")
  cls, msg, ecode = maybe_raise(job["opresult"][0])
  check(cls == "OpPrereqError" and ecode == "wrong_input",
        "create with a disabled disk template fails with OpPrereqError wrong_input", job["opresult"])

  # ---- dry run ----
  dry = "flow-dry-%s.example.com" % suffix
  jid = instance_create(cl, dry, node, dry_run=True)
  job = run_job(cl, jid, "CreateInstance(dry_run)")
  check(job["ops"][0].get("dry_run") is True, "dry-run create op has dry_run=true", job["ops"][0])
  expect_api_error(404, cl.GetInstance, dry)
  check(dry not in cl.GetInstances(), "dry-run create left no instance")
  step("dry-run create", "no instance created")

  # ---- delete ----
  jid = cl.DeleteInstance(inst)
  run_job(cl, jid, "DeleteInstance")
  expect_api_error(404, cl.GetInstance, inst)
  check(inst not in cl.GetInstances(), "GetInstances() after delete")
  step("GetInstance after delete", "404")

  jid = cl.DeleteClusterTags([tag_b])
  run_job(cl, jid, "DeleteClusterTags(cleanup)")
  check(tag_b not in cl.GetClusterTags(), "cluster tag cleaned up")

  print("ALL OK")
  return 0


if __name__ == "__main__":
  try:
    sys.exit(main(sys.argv))
  except FlowError as exc:
    print("FAIL: %s" % exc)
    sys.exit(1)
  except client.GanetiApiError as exc:
    print("FAIL: unexpected GanetiApiError (code %s): %s" % (exc.code, exc))
    traceback.print_exc(file=sys.stdout)
    sys.exit(1)
  except Exception as exc:  # noqa
    print("FAIL: %s: %s" % (type(exc).__name__, exc))
    traceback.print_exc(file=sys.stdout)
    sys.exit(1)
