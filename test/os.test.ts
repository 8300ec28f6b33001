// Ganeti OS definitions (OS API 10/15/20) on a node: definitions read and
// diagnosed with backend.py's texts, the scripts' environment exactly as
// backend.OSEnvironment builds it, failures and timeouts, verify, rename,
// export/import streams; Debian's ganeti-os-noop as the package installs it;
// rapid's rapid-guest OS installing a disk that boots under QEMU/tcg with no
// kernel_path; and all of it through a one-node cluster (create, reinstall,
// rename, export, osparams validation, /2/os, OP_OS_DIAGNOSE, hidden and
// blacklisted OSes). One QEMU guest at a time (the QEMU tests run serially);
// every QEMU is recorded so an interrupted run leaves none.
import test, { type ExecutionContext } from 'ava';
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { BUILTIN_OS_DIR, diagnoseOs, osFromDisk, retireWrittenNoopOs, type OsDiagnosis } from '../hypervisor/os.ts';
import { OsScripts } from '../hypervisor/os-run.ts';
import type { OsInstance } from '../hypervisor/os-env.ts';
import { processAlive } from '../hypervisor/kvm.ts';
import { READY, testGuest } from './helpers/guest.ts';
import { recordPid, tempDir, terminate, unrecordPid } from './helpers/pids.ts';
import { NODE, createBody, startCluster, type TestCluster } from './helpers/cluster.ts';
import { rapi } from './helpers/http.ts';
import { until } from './helpers/until.ts';

// --- OS definitions on disk ---------------------------------------------------

type Files = Record<string, string | { text: string; mode: number }>;

/** An OS directory; texts starting with "#!" are executable scripts. */
function writeOs(dir: string, name: string, files: Files): string {
  const d = path.join(dir, name);
  fs.mkdirSync(d, { recursive: true });
  for (const [f, v] of Object.entries(files)) {
    const { text, mode } = typeof v === 'string' ? { text: v, mode: v.startsWith('#!') ? 0o755 : 0o644 } : v;
    fs.writeFileSync(path.join(d, f), text);
    fs.chmodSync(path.join(d, f), mode);
  }
  return d;
}

const OK = '#!/bin/sh\nexit 0\n';
/** A complete API 20 definition whose scripts do nothing. */
const api20 = (over: Files = {}): Files => ({
  ganeti_api_version: '20\n', create: OK, export: OK, import: OK, rename: OK, verify: OK, 'parameters.list': '', ...over,
});
const without = (files: Files, ...names: string[]): Files => Object.fromEntries(Object.entries(files).filter(([k]) => !names.includes(k)));

/** Parses /proc/<pid>/environ: what the process was started with, nothing a shell adds. */
const parseEnviron = (raw: string): Record<string, string> =>
  Object.fromEntries(raw.split('\0').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));

/** A script that records its environment, working directory and arguments under `out`/<kind>.*, then runs `then`. */
const recorder = (out: string, kind: string, then = 'exit 0') =>
  `#!/bin/sh\ncat /proc/$$/environ > ${out}/${kind}.env\npwd > ${out}/${kind}.cwd\nprintf '%s\\n' "$@" > ${out}/${kind}.args\n${then}\n`;

const readEnv = (out: string, kind: string) => parseEnviron(fs.readFileSync(path.join(out, `${kind}.env`), 'utf8'));

test('definitions: valid ones by API version, invalid ones with backend.py\'s diagnose texts, first in the path wins', async (t) => {
  const a = tempDir('rapid-os-a-');
  const b = tempDir('rapid-os-b-');
  writeOs(a, 'good', api20({
    'variants.list': '# the variants\n default \n\nminimal\n',
    'parameters.list': 'dhcp Whether to use DHCP (yes or no)\nroot_size\tThe root size, in GiB\n\n',
  }));
  writeOs(b, 'good', api20());
  writeOs(a, 'v10', { ganeti_api_version: '5\n10\n', create: OK, export: OK, import: OK, rename: OK, 'variants.list': 'ignored\n' });
  writeOs(a, 'v15', { ganeti_api_version: '15\n', create: OK, export: OK, import: OK, rename: OK, 'variants.list': 'one\ntwo\n' });
  writeOs(a, 'untrusted', without(api20({ create_untrusted: OK }), 'create'));
  writeOs(a, 'noapi', without(api20(), 'ganeti_api_version'));
  writeOs(a, 'badver', api20({ ganeti_api_version: 'twenty\n' }));
  writeOs(a, 'oldapi', api20({ ganeti_api_version: '5\n' }));
  writeOs(a, 'noexport', without(api20(), 'export'));
  writeOs(a, 'noexec', api20({ export: { text: OK, mode: 0o644 } }));
  writeOs(a, 'noverify', without(api20(), 'verify'));
  writeOs(a, 'noparams', without(api20(), 'parameters.list'));
  writeOs(a, 'nocreate', without(api20(), 'create'));
  writeOs(a, 'bad.name', api20());
  writeOs(a, '.hidden', api20());
  fs.writeFileSync(path.join(a, 'plainfile'), '');

  const byName = (list: OsDiagnosis[]) => Object.fromEntries(list.map((d) => [d.name, d]));
  const all = await diagnoseOs([a, b, path.join(a, 'missing-dir')]);
  t.deepEqual(all.map((d) => `${d.path}`), [
    ...['bad.name', 'badver', 'good', 'noapi', 'noexec', 'noexport', 'noparams', 'nocreate', 'noverify', 'oldapi', 'plainfile', 'untrusted', 'v10', 'v15']
      .sort().map((n) => path.join(a, n)),
    path.join(b, 'good'),
  ], 'every visible entry of each directory, the second good too');
  const d = byName(all.slice(0, -1));
  t.deepEqual(d.good, {
    name: 'good', path: path.join(a, 'good'), status: true, diagnose: '', variants: ['default', 'minimal'],
    parameters: [['dhcp', 'Whether to use DHCP (yes or no)'], ['root_size', 'The root size, in GiB']], api_versions: [20], trusted: true,
  });
  t.like(d.v10, { status: true, variants: [], parameters: [], api_versions: [5, 10] }, 'API 10: no variants, no parameters, no verify needed');
  t.like(d.v15, { status: true, variants: ['one', 'two'], api_versions: [15] });
  t.like(d.untrusted, { status: true, trusted: false });
  const diag = Object.fromEntries(Object.entries(d).filter(([, x]) => !x.status).map(([n, x]) => [n, x.diagnose]));
  t.deepEqual(diag, {
    'bad.name': 'Directory for OS bad.name not found in search path',
    badver: "API version(s) can't be converted to integer: invalid literal for int() with base 10: 'twenty'",
    noapi: `Required file 'ganeti_api_version' not found under path ${a}/noapi: ENOENT`,
    noexec: `File 'export' under path '${a}/noexec' is not executable`,
    noexport: `File 'export' under path '${a}/noexport' is missing (ENOENT)`,
    noparams: `File 'parameters.list' under path '${a}/noparams' is missing (ENOENT)`,
    nocreate: `A create script (trusted or untrusted) under path '${a}/nocreate' must exist`,
    noverify: `File 'verify' under path '${a}/noverify' is missing (ENOENT)`,
    oldapi: `API version mismatch for path '${a}/oldapi': found [5], want frozenset({10, 15, 20}).`,
    plainfile: 'Directory for OS plainfile not found in search path',
  });
  t.is((await osFromDisk('good+minimal', [b, a])).path, path.join(b, 'good'), 'the first directory holding the OS wins');
  await t.throwsAsync(osFromDisk('noexport', [a, b]), { message: `File 'export' under path '${a}/noexport' is missing (ENOENT)` });
  await t.throwsAsync(osFromDisk('nosuch', [a, b]), { message: 'Directory for OS nosuch not found in search path' });
});

test('the noop earlier rapid versions wrote into a node\'s OS directory is retired; an operator\'s own stays', async (t) => {
  const old = '#!/bin/sh\n# rapid noop OS: nothing to install\nexit 0\n';
  const written = tempDir('rapid-os-old-');
  writeOs(written, 'noop', { ganeti_api_version: '20\n', create: old, export: old, import: old, rename: old, verify: old });
  t.like((await diagnoseOs([written]))[0], { name: 'noop', status: false }, 'invalid under Ganeti\'s rules: it would hide the built-in noop');
  await retireWrittenNoopOs(written);
  t.deepEqual(fs.readdirSync(written), []);
  t.like((await diagnoseOs([written, BUILTIN_OS_DIR])).find((d) => d.name === 'noop'), { status: true, path: path.join(BUILTIN_OS_DIR, 'noop'), api_versions: [10] });

  const own = tempDir('rapid-os-own-');
  writeOs(own, 'noop', { ganeti_api_version: '20\n', create: old, export: old, import: old, rename: '#!/bin/sh\necho mine\n', verify: old });
  await retireWrittenNoopOs(own);
  t.deepEqual(fs.readdirSync(own), ['noop']);
});

/** An instance as the RPC layer describes it, with every kind of disk and NIC. */
function instance(os: string): OsInstance {
  return {
    name: 'inst1.example.com', os, uuid: '6f1c2b9e-0000-4000-8000-00000000000a', ctime: 1700000000, mtime: 1700000123.25,
    primary_node: '0b5d9a3e-0000-4000-8000-0000000000n1', secondary_nodes: [], hypervisor: 'kvm',
    osparams: { dhcp: 'yes', 'root-size': '8' },
    hvparams: { disk_type: 'paravirtual', nic_type: 'e1000', serial_speed: 38400, acpi: true, kernel_path: '' },
    beparams: { maxmem: 128, minmem: 64, vcpus: 1, auto_balance: true, always_failover: false, spindle_use: 1 },
    disks: [
      { uuid: 'disk-0', name: 'root', size: 1024, mode: 'rw', dev_type: 'file', logical_id: ['loop', 'inst1/disk-0.file.disk0'] },
      { uuid: 'disk-1', name: null, size: 512, mode: 'ro', dev_type: 'plain', logical_id: ['xenvg', 'disk-1'] },
    ],
    nics: [
      {
        uuid: 'nic-0', name: 'eth0', mac: 'aa:00:00:11:22:33', ip: '192.0.2.10', mode: 'bridged', link: 'br0',
        netinfo: { name: 'net1', uuid: 'net-uuid-1', tags: ['blue', 'green'], network: '192.0.2.0/24', gateway: '192.0.2.1', network6: null, gateway6: null, mac_prefix: 'aa:00:00' },
      },
      { uuid: 'nic-1', name: null, mac: 'aa:00:00:44:55:66', ip: null, mode: 'routed', link: '', netinfo: null },
    ],
  };
}

/** backend.OSEnvironment for instance() with disks at p0 and p1, written out by hand from Ganeti's code. */
const expectedEnv = (os: string, variant: string, p0: string, p1: string): Record<string, string> => ({
  OS_API_VERSION: '20', OS_NAME: 'rec', OS_VARIANT: variant, DEBUG_LEVEL: '0', PATH: '/sbin:/bin:/usr/sbin:/usr/bin',
  OSP_DHCP: 'yes', OSP_ROOT_SIZE: '8',
  INSTANCE_NAME: 'inst1.example.com', INSTANCE_OS: os, INSTANCE_UUID: '6f1c2b9e-0000-4000-8000-00000000000a',
  INSTANCE_CTIME: '1700000000.0', INSTANCE_MTIME: '1700000123.25', INSTANCE_PRIMARY_NODE: '0b5d9a3e-0000-4000-8000-0000000000n1',
  INSTANCE_SECONDARY_NODES: '', HYPERVISOR: 'kvm', DISK_COUNT: '2', NIC_COUNT: '2',
  DISK_0_ACCESS: 'rw', DISK_0_UUID: 'disk-0', DISK_0_SIZE: '1024', DISK_0_PATH: p0, DISK_0_NAME: 'root',
  DISK_0_FRONTEND_TYPE: 'paravirtual', DISK_0_BACKEND_TYPE: 'file:loop',
  DISK_1_ACCESS: 'ro', DISK_1_UUID: 'disk-1', DISK_1_SIZE: '512', DISK_1_PATH: p1,
  DISK_1_FRONTEND_TYPE: 'paravirtual', DISK_1_BACKEND_TYPE: 'block',
  NIC_0_MAC: 'aa:00:00:11:22:33', NIC_0_UUID: 'nic-0', NIC_0_NAME: 'eth0', NIC_0_IP: '192.0.2.10', NIC_0_MODE: 'bridged',
  NIC_0_BRIDGE: 'br0', NIC_0_LINK: 'br0', NIC_0_FRONTEND_TYPE: 'e1000',
  NIC_0_NETWORK_NAME: 'net1', NIC_0_NETWORK_UUID: 'net-uuid-1', NIC_0_NETWORK_TAGS: 'blue green',
  NIC_0_NETWORK_SUBNET: '192.0.2.0/24', NIC_0_NETWORK_GATEWAY: '192.0.2.1', NIC_0_NETWORK_MAC_PREFIX: 'aa:00:00',
  NIC_1_MAC: 'aa:00:00:44:55:66', NIC_1_UUID: 'nic-1', NIC_1_MODE: 'routed', NIC_1_FRONTEND_TYPE: 'e1000',
  INSTANCE_BE_maxmem: '128', INSTANCE_BE_minmem: '64', INSTANCE_BE_vcpus: '1', INSTANCE_BE_auto_balance: 'True',
  INSTANCE_BE_always_failover: 'False', INSTANCE_BE_spindle_use: '1',
  INSTANCE_HV_disk_type: 'paravirtual', INSTANCE_HV_nic_type: 'e1000', INSTANCE_HV_serial_speed: '38400',
  INSTANCE_HV_acpi: 'True', INSTANCE_HV_kernel_path: '',
});

const LOG_NAME = (kind: string, os: string, inst: string) =>
  new RegExp(`^${kind}-${os.replace(/\+/g, '\\+')}-${inst.replace(/\./g, '\\.')}-\\d{4}-\\d\\d-\\d\\d_\\d\\d_\\d\\d_\\d\\d\\.log$`);

test('create, reinstall, rename and verify get exactly Ganeti\'s environment, in the OS directory', async (t) => {
  const dir = tempDir('rapid-os-rec-');
  const out = tempDir('rapid-os-rec-out-');
  const logDir = path.join(tempDir('rapid-os-log-'), 'os');
  const osDir = writeOs(dir, 'rec', api20({
    'variants.list': 'default\nminimal\n',
    'parameters.list': 'dhcp DHCP or not\nroot-size The root size\n',
    create: recorder(out, 'create', 'echo "creating $INSTANCE_NAME"'),
    rename: recorder(out, 'rename'),
    verify: recorder(out, 'verify'),
  }));
  const os = new OsScripts({ searchPath: [dir], logDir });
  const [p0, p1] = ['/srv/disks/inst1/disk0', '/dev/xenvg/disk-1'];

  await os.add(instance('rec+minimal'), [p0, p1], false);
  t.deepEqual(readEnv(out, 'create'), expectedEnv('rec+minimal', 'minimal', p0, p1));
  t.is(fs.readFileSync(path.join(out, 'create.cwd'), 'utf8').trim(), osDir);
  const addLogs = fs.readdirSync(logDir);
  t.is(addLogs.length, 1);
  t.regex(addLogs[0]!, LOG_NAME('add', 'rec+minimal', 'inst1.example.com'));
  t.is(fs.readFileSync(path.join(logDir, addLogs[0]!), 'utf8'), 'creating inst1.example.com\n', 'the script\'s output goes to its log');

  // No variant in the name: the first one listed. A reinstall says so.
  await os.add(instance('rec'), [p0, p1], true, 1);
  t.deepEqual(readEnv(out, 'create'), { ...expectedEnv('rec', 'default', p0, p1), INSTANCE_REINSTALL: '1', DEBUG_LEVEL: '1' });

  const renamed = { ...instance('rec+minimal'), name: 'inst2.example.com' };
  await os.rename(renamed, [p0, p1], 'inst1.example.com');
  t.deepEqual(readEnv(out, 'rename'), { ...expectedEnv('rec+minimal', 'minimal', p0, p1), INSTANCE_NAME: 'inst2.example.com', OLD_INSTANCE_NAME: 'inst1.example.com' });
  t.true(fs.readdirSync(logDir).some((f) => LOG_NAME('rename', 'rec+minimal', 'inst1.example.com-inst2.example.com').test(f)));

  // verify: OSCoreEnv only (no instance), the checks as arguments.
  t.true(await os.validate(true, 'rec+minimal', ['parameters'], { dhcp: 'no', 'root-size': '4' }, false));
  t.deepEqual(readEnv(out, 'verify'), {
    OS_API_VERSION: '20', OS_NAME: 'rec', OS_VARIANT: 'minimal', DEBUG_LEVEL: '0', OSP_DHCP: 'no', OSP_ROOT_SIZE: '4', PATH: '/sbin:/bin:/usr/sbin:/usr/bin',
  });
  t.is(fs.readFileSync(path.join(out, 'verify.args'), 'utf8'), 'parameters\n');
  t.is(fs.readFileSync(path.join(out, 'verify.cwd'), 'utf8').trim(), osDir);
});

test('failures carry Ganeti\'s texts: exit codes, signals, timeouts (SIGTERM, then SIGKILL after the linger)', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('rapid-os-fail-');
  const logDir = tempDir('rapid-os-fail-log-');
  writeOs(dir, 'failing', api20({
    create: '#!/bin/bash\nfor i in $(seq 1 25); do echo "line $i"; done\nprintf "tab\\there\\n" >&2\nexit 3\n',
    rename: '#!/bin/sh\nkill -TERM $$\n',
  }));
  writeOs(dir, 'slow', api20({ create: '#!/bin/sh\necho started\nsleep 31.25\n' }));
  writeOs(dir, 'stubborn', api20({ create: "#!/bin/sh\ntrap '' TERM\necho stubborn\nsleep 31.75\necho survived\n" }));
  const os = new OsScripts({ searchPath: [dir], logDir, timeoutsS: { create: 1 } });
  const inst = (name: string) => ({ ...instance(name), disks: [], nics: [] });

  const lines = Array.from({ length: 19 }, (_, i) => `line ${i + 7}`).join('\n');
  await t.throwsAsync(os.add(inst('failing'), [], false), {
    message: `OS create script failed (exited with exit code 3), last lines in the log file:\n${lines}\ntab\\there`,
  });
  await t.throwsAsync(os.rename({ ...inst('failing'), name: 'new' }, [], 'old'), {
    message: 'OS rename script failed (terminated by signal 15), last lines in the log file:\n',
  });
  await t.throwsAsync(os.add(inst('nosuch'), [], false), { message: 'Directory for OS nosuch not found in search path' });

  const t0 = Date.now();
  await t.throwsAsync(os.add(inst('slow'), [], false), {
    message: 'OS create script failed (terminated by signal 15, terminated after timeout of 1.00 seconds), last lines in the log file:\nstarted',
  });
  t.true(Date.now() - t0 < 5_000, 'stopped at the timeout');
  await t.throwsAsync(os.add(inst('stubborn'), [], false), {
    message: 'OS create script failed (terminated by signal 9, force termination after timeout of 1.00 seconds and linger for another 5.00 seconds), last lines in the log file:\nstubborn',
  });
  // The whole process group goes, not just the script.
  const sleepers = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try { return /sleep\x0031\.(25|75)/.test(fs.readFileSync(`/proc/${p}/cmdline`, 'latin1')); } catch { return false; }
  });
  t.deepEqual(sleepers, [], 'no sleep left behind');
});

test('verify: variants, parameter names, the verify script\'s verdict; API 10 definitions are not checked', async (t) => {
  const dir = tempDir('rapid-os-verify-');
  const os = new OsScripts({ searchPath: [dir], logDir: tempDir('rapid-os-verify-log-') });
  writeOs(dir, 'plain', api20({
    'parameters.list': 'dhcp DHCP\n',
    verify: '#!/bin/sh\ncase "$OSP_DHCP" in ""|yes|no) exit 0;; esac\necho "checking dhcp"\necho "Invalid value \'$OSP_DHCP\' for the dhcp parameter" >&2\nexit 1\n',
  }));
  writeOs(dir, 'var', api20({ 'variants.list': 'a\nb\n' }));
  writeOs(dir, 'old', { ganeti_api_version: '10\n', create: OK, export: OK, import: OK, rename: OK });

  t.true(await os.validate(true, 'plain', ['parameters'], { dhcp: 'yes' }, false));
  await t.throwsAsync(os.validate(true, 'plain', ['parameters'], { dhcp: 'maybe' }, false), {
    message: "OS validation script failed (exited with exit code 1), output: checking dhcp\nInvalid value 'maybe' for the dhcp parameter\n",
  });
  await t.throwsAsync(os.validate(true, 'plain', ['parameters'], { dhcp: 'yes', colour: 'red', size: '1' }, false), {
    message: 'The following parameters are not supported by the OS plain: colour, size',
  });
  await t.throwsAsync(os.validate(true, 'plain', ['parameters', 'bogus'], {}, false), { message: "Unknown checks required for OS plain: {'bogus'}" });
  await t.throwsAsync(os.validate(true, 'plain+x', ['parameters'], {}, false), { message: "OS 'plain' does not support variants ('x' passed)" });
  t.true(await os.validate(true, 'plain+x', ['parameters'], {}, true), 'force_variant skips the variant check');
  await t.throwsAsync(os.validate(true, 'var', ['parameters'], {}, false), { message: "OS name 'var' must include a variant" });
  await t.throwsAsync(os.validate(true, 'var+c', ['parameters'], {}, false), { message: "OS 'var' does not support variant 'c'" });
  t.true(await os.validate(true, 'var+b', ['parameters'], {}, false));
  t.true(await os.validate(true, 'old', ['parameters'], { anything: 'goes' }, false), 'OS API 10 has no parameters to check');
  t.false(await os.validate(false, 'nosuch', ['parameters'], {}, false), 'a missing OS is not an error unless required');
  await t.throwsAsync(os.validate(true, 'nosuch', ['parameters'], {}, false), { message: 'Directory for OS nosuch not found in search path' });
});

/** Everything a stream yields. */
async function drain(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

test('export and import stream a disk through the OS scripts; a failing export says why', async (t) => {
  const dir = tempDir('rapid-os-ie-');
  const out = tempDir('rapid-os-ie-out-');
  const logDir = tempDir('rapid-os-ie-log-');
  writeOs(dir, 'rec', api20({
    export: recorder(out, 'export', 'exec cat "$EXPORT_DEVICE"'),
    import: recorder(out, 'import', 'exec cat > "$IMPORT_DEVICE"'),
  }));
  writeOs(dir, 'broken', api20({ export: '#!/bin/sh\necho partial\necho "export went wrong" >&2\nexit 2\n' }));
  const os = new OsScripts({ searchPath: [dir], logDir });
  const work = tempDir('rapid-os-ie-disks-');
  const src = path.join(work, 'src');
  const dst = path.join(work, 'dst');
  const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
  fs.writeFileSync(src, data);
  fs.writeFileSync(dst, '');
  const inst = { ...instance('rec'), disks: [instance('rec').disks[1]!, instance('rec').disks[0]!] };

  const exp = await os.exportDisk(inst, ['/nowhere', src], 1);
  const [got] = await Promise.all([drain(exp.stream), exp.done]);
  t.true(got.equals(data));
  t.like(readEnv(out, 'export'), { EXPORT_DEVICE: src, EXPORT_DISK_PATH: src, EXPORT_INDEX: '1', DISK_1_PATH: src, DISK_1_NAME: 'root' });
  t.false('IMPORT_INDEX' in readEnv(out, 'export'));

  await os.importDisk(inst, ['/nowhere', dst], 1, Readable.from([data.subarray(0, 1000), data.subarray(1000)]));
  t.true(fs.readFileSync(dst).equals(data));
  t.like(readEnv(out, 'import'), { IMPORT_DEVICE: dst, IMPORT_DISK_PATH: dst, IMPORT_INDEX: '1' });
  const logs = fs.readdirSync(logDir);
  t.true(logs.some((f) => LOG_NAME('export', 'rec', 'inst1.example.com-disk1').test(f)), logs.join(' '));
  t.true(logs.some((f) => LOG_NAME('import', 'rec', 'inst1.example.com-disk1').test(f)), logs.join(' '));

  const bad = await os.exportDisk({ ...instance('broken'), disks: [instance('broken').disks[0]!] }, [src], 0);
  const [partial, failure] = await Promise.all([drain(bad.stream), bad.done.then(() => null, (e: Error) => e.message)]);
  t.is(partial.toString(), 'partial\n', 'the export stream is the script\'s stdout alone');
  t.is(failure, 'OS export script failed (exited with exit code 2), last lines in the log file:\nexport went wrong');
});

test('Debian\'s ganeti-os-noop works as the package installs it (OS API 10)', async (t) => {
  t.timeout(120_000);
  const work = tempDir('rapid-os-deb-');
  try {
    execFileSync('apt-get', ['download', 'ganeti-os-noop'], { cwd: work, stdio: 'pipe' });
  } catch (err) {
    t.fail(`apt-get download ganeti-os-noop failed (is the Debian archive reachable?): ${(err as Error).message}`);
    return;
  }
  const deb = fs.readdirSync(work).find((f) => f.endsWith('.deb'))!;
  execFileSync('dpkg-deb', ['-x', path.join(work, deb), path.join(work, 'root')]);
  const searchPath = [path.join(work, 'root/usr/share/ganeti/os')];
  const logDir = tempDir('rapid-os-deb-log-');
  const os = new OsScripts({ searchPath, logDir });

  const found = await os.diagnose();
  t.is(found.length, 1);
  t.like(found[0], { name: 'noop', status: true, diagnose: '', variants: [], parameters: [], api_versions: [5, 10], trusted: true });
  t.true(await os.validate(true, 'noop', ['parameters'], { colour: 'blue' }, false), 'API 10: parameters are not validated');

  const src = path.join(work, 'disk0');
  const dst = path.join(work, 'disk1');
  const data = Buffer.alloc(3 << 20, 0x5a);
  fs.writeFileSync(src, data);
  fs.writeFileSync(dst, Buffer.alloc(3 << 20));
  const inst = { ...instance('noop'), disks: [instance('noop').disks[0]!], nics: [] };
  await os.add(inst, [src], false);
  await os.rename({ ...inst, name: 'inst9.example.com' }, [src], inst.name);
  const exp = await os.exportDisk(inst, [src], 0);
  const [got] = await Promise.all([drain(exp.stream), exp.done]);
  t.true(got.equals(data), 'its export script (bash, dd) streams the disk');
  await os.importDisk(inst, [dst], 0, Readable.from([got]));
  t.true(fs.readFileSync(dst).equals(data), 'its import script writes it back');
  t.is(fs.readdirSync(logDir).length, 4, 'add, rename, export and import logs');
});

// --- rapid-guest: a disk that boots -------------------------------------------

const QEMU = '/usr/bin/qemu-system-x86_64';

/** Boots a raw disk under tcg with no kernel (BIOS, then the disk's boot loader) until the guest says READY; answers its ready line. */
async function bootFromDisk(disk: string): Promise<{ line: string; ms: number }> {
  const serial = `${disk}.serial`;
  fs.writeFileSync(serial, '');
  const started = Date.now();
  const q = spawn(QEMU, ['-machine', 'pc,accel=tcg', '-m', '128', '-display', 'none', '-no-reboot', '-monitor', 'none',
    '-drive', `file=${disk},format=raw,if=virtio`, '-serial', `file:${serial}`], { stdio: ['ignore', 'ignore', 'pipe'] });
  recordPid(q.pid!, path.basename(disk));
  let stderr = '';
  q.stderr!.on('data', (b) => { stderr += b; });
  try {
    for (;;) {
      // A whole line: the guest may be half-way through writing it.
      const m = /GUEST-READY[^\r\n]*(?=\r?\n)/.exec(fs.readFileSync(serial, 'latin1'));
      if (m) return { line: m[0], ms: Date.now() - started };
      if (q.exitCode !== null) throw new Error(`QEMU exited: ${stderr}`);
      if (Date.now() - started > 90_000) throw new Error(`no ${READY} within 90 s: ${fs.readFileSync(serial, 'latin1').slice(-500)}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await terminate(q, 2000);
    unrecordPid(q.pid!);
  }
}

/** The installed disk's FAT partition (1 MiB in), read on the host with mtools. */
const mtools = (cmd: string, disk: string, ...args: string[]) =>
  execFileSync(cmd, ['-i', `${disk}@@1048576`, ...args], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }).toString();
const mtype = (disk: string, file: string) => mtools('mtype', disk, `::/${file}`);
/** The file names in the partition's root, hidden ones (syslinux's) included. */
const mfiles = (disk: string) => mtools('mdir', disk, '-a', '-b', '::/').split('\n').filter(Boolean).map((f) => path.basename(f).toLowerCase()).sort();

test.serial('rapid-guest installs the test guest onto a raw disk that boots from the BIOS under QEMU/tcg', async (t) => {
  t.timeout(300_000);
  await testGuest();
  const work = tempDir('rapid-os-guest-');
  const os = new OsScripts({ searchPath: [BUILTIN_OS_DIR], logDir: path.join(work, 'log') });
  t.like((await os.diagnose()).find((d) => d.name === 'rapid-guest'), {
    status: true, api_versions: [20], variants: [], trusted: true,
    parameters: [
      ['powerbutton', 'What the guest does on the ACPI power button: honour (power off, the default) or ignore'],
      ['kernel_args', 'Extra kernel command line arguments for the guest'],
    ],
  });
  await t.throwsAsync(os.validate(true, 'rapid-guest', ['parameters'], { powerbutton: 'maybe' }, false), {
    message: "OS validation script failed (exited with exit code 1), output: rapid-guest: Invalid value 'maybe' for the powerbutton parameter (honour or ignore)\n",
  });
  t.true(await os.validate(true, 'rapid-guest', ['parameters'], { powerbutton: 'ignore', kernel_args: 'rapid.test=1' }, false));

  const small = path.join(work, 'small.img');
  fs.writeFileSync(small, '');
  fs.truncateSync(small, 8 << 20);
  const tooSmall = { ...instance('rapid-guest'), disks: [instance('rapid-guest').disks[0]!], nics: [], osparams: {} };
  await t.throwsAsync(os.add(tooSmall, [small], false), { message: /^OS create script failed \(exited with exit code 1\), last lines in the log file:\n[\s\S]*rapid-guest: disk 0 has 8 MiB; the guest needs at least \d+ MiB$/ });

  const disk = path.join(work, 'disk0.img');
  fs.writeFileSync(disk, '');
  fs.truncateSync(disk, 32 << 20);
  const inst = { ...tooSmall, osparams: { powerbutton: 'ignore', kernel_args: 'rapid.test=1' } };
  const t0 = Date.now();
  await os.add(inst, [disk], false);
  const installMs = Date.now() - t0;
  t.is(fs.statSync(disk).size, 32 << 20, 'the disk keeps its size');
  t.regex(mtype(disk, 'syslinux.cfg'), /^SERIAL 0 38400\n[\s\S]*APPEND console=tty0 console=ttyS0,38400 ro quiet guest\.powerbutton=ignore rapid\.test=1\n$/);
  t.deepEqual(mfiles(disk), ['initrd.gz', 'ldlinux.c32', 'ldlinux.sys', 'syslinux.cfg', 'vmlinuz']);

  const boot = await bootFromDisk(disk);
  t.regex(boot.line, /GUEST-READY .*powerbutton=none disks=vda/, 'the kernel got the OS parameter: the guest ignores the power button');
  t.log(`rapid-guest install: ${installMs} ms; BIOS boot from disk to ${READY} under tcg: ${boot.ms} ms`);

  // export/import of the installed disk through the OS's own scripts.
  const copy = path.join(work, 'disk1.img');
  fs.writeFileSync(copy, '');
  fs.truncateSync(copy, 48 << 20);
  const exp = await os.exportDisk(inst, [disk], 0);
  const [image] = await Promise.all([drain(exp.stream), exp.done]);
  t.true(image.equals(fs.readFileSync(disk)));
  await os.importDisk(inst, [copy], 0, Readable.from([image]));
  t.is(fs.statSync(copy).size, 48 << 20, 'an import keeps the target disk\'s size');
  t.true(fs.readFileSync(copy).subarray(0, image.length).equals(image));
  await os.rename({ ...inst, name: 'renamed.example.com' }, [disk], inst.name);
});

// --- through the cluster --------------------------------------------------------

let c: TestCluster | undefined;
test.after.always(async () => {
  await c?.stop();
  // A test that failed half-way may leave a guest: kill what the run dir's pidfiles name.
  const pids = c ? path.join(c.rapid.dataDir, 'kvm', 'pid') : '';
  for (const f of pids && fs.existsSync(pids) ? fs.readdirSync(pids) : []) {
    const pid = parseInt(fs.readFileSync(path.join(pids, f), 'utf8'), 10);
    if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGKILL');
  }
});

async function ok(method: string, p: string, body?: unknown): Promise<any> {
  const job = await c!.job(method, p, body === undefined ? {} : { body });
  if (job.status !== 'success') throw new Error(`${method} ${p}: ${job.status} ${JSON.stringify(job.opresult)}`);
  return job;
}

/** The guest's QEMU, recorded for the reaper while it runs. */
function trackQemu(t: ExecutionContext, name: string): void {
  const pid = parseInt(fs.readFileSync(path.join(c!.rapid.dataDir, 'kvm', 'pid', name), 'utf8'), 10);
  recordPid(pid, name);
  t.teardown(() => { if (processAlive(pid)) process.kill(pid, 'SIGKILL'); unrecordPid(pid); });
}

test.serial('through the cluster: a rapid-guest instance boots from its disk; reinstall, rename, export and validation run the OS scripts; hidden and blacklisted OSes', async (t) => {
  t.timeout(400_000);
  await testGuest();
  c = await startCluster({ RAPID_HYPERVISORS: 'fake,kvm', RAPID_KVM_ACCEL: 'tcg' });
  const get = async (p: string) => (await rapi(c!.rapid, 'GET', p)).json;
  const osLogs = () => fs.readdirSync(path.join(c!.rapid.dataDir, 'log', 'os'));
  const serialLog = (name: string) => path.join(c!.rapid.dataDir, 'kvm', 'log', `${name}.serial.log`);
  /** The guest's complete ready lines (it may be half-way through writing one). */
  const readyLines = (name: string) => (fs.existsSync(serialLog(name)) ? fs.readFileSync(serialLog(name), 'latin1').match(/GUEST-READY[^\r\n]*(?=\r?\n)/g) ?? [] : []);

  const names = await get('/2/os') as string[];
  t.true(names.includes('noop') && names.includes('rapid-guest'), JSON.stringify(names));

  const diagId = await c.submitDirect('OP_OS_DIAGNOSE', { output_fields: ['name', 'valid', 'variants', 'parameters', 'api_versions', 'trusted', 'node_status'], names: ['rapid-guest', 'noop'] });
  const diag = await until('OS diagnose job', async () => {
    const j = (await c!.w('GET', `/2/jobs/${diagId}`)).json;
    return j.status === 'success' || j.status === 'error' ? j : null;
  }, 30_000);
  t.is(diag.status, 'success', JSON.stringify(diag.opresult));
  const [noop, guest] = diag.opresult[0] as unknown[][];
  t.deepEqual(noop!.slice(0, 2), ['noop', true]);
  t.deepEqual(guest!.slice(0, 5), ['rapid-guest', true, [], [
    ['kernel_args', 'Extra kernel command line arguments for the guest'],
    ['powerbutton', 'What the guest does on the ACPI power button: honour (power off, the default) or ignore'],
  ], [20]]);
  const status = guest![6] as Record<string, unknown[][]>;
  t.deepEqual(Object.values(status).map((entries) => entries.map((e) => [e[0], e[1]])), [[[path.join(BUILTIN_OS_DIR, 'rapid-guest'), true]]]);

  // osparams are validated on the node, by name and by the verify script, before anything is created.
  const bad = await c.job('POST', '/2/instances', { body: createBody('bad.example.com', { os: 'rapid-guest', hypervisor: 'kvm', disk_template: 'file', disks: [{ size: 32 }], nics: [], ignore_ipolicy: true, osparams: { powerbutton: 'maybe' } }) });
  t.deepEqual(bad.opresult, [['OpExecError', [`OS Parameters validation failed on node ${NODE}: OS validation script failed (exited with exit code 1), output: rapid-guest: Invalid value 'maybe' for the powerbutton parameter (honour or ignore)\n`]]]);
  const unknown = await c.job('POST', '/2/instances', { body: createBody('bad.example.com', { os: 'rapid-guest', hypervisor: 'kvm', disk_template: 'file', disks: [{ size: 32 }], nics: [], ignore_ipolicy: true, osparams: { colour: 'red' } }) });
  t.deepEqual(unknown.opresult, [['OpExecError', [`OS Parameters validation failed on node ${NODE}: The following parameters are not supported by the OS rapid-guest: colour`]]]);
  t.is((await rapi(c.rapid, 'GET', '/2/instances/bad.example.com')).status, 404);

  const name = 'guest1.example.com';
  const t0 = Date.now();
  await ok('POST', '/2/instances', createBody(name, {
    os: 'rapid-guest', hypervisor: 'kvm', disk_template: 'file', disks: [{ size: 64 }], nics: [], start: true, ignore_ipolicy: true,
    hvparams: { kernel_path: '', serial_console: true }, osparams: { powerbutton: 'honour' },
  }));
  t.is((await get(`/2/instances/${name}`)).status, 'running');
  trackQemu(t, name);
  await until(`${READY} from disk`, () => readyLines(name).length >= 1, 90_000);
  t.log(`create (install) + start + boot from disk to ${READY} through RAPI: ${Date.now() - t0} ms`);
  t.regex(readyLines(name)[0]!, /powerbutton=\/dev\/input\/event\d/, 'honour: the guest listens to the power button');
  t.true(osLogs().some((f) => LOG_NAME('add', 'rapid-guest', name).test(f)), osLogs().join(' '));

  // The ACPI power button works (honour), so a plain shutdown stops it.
  await ok('PUT', `/2/instances/${name}/shutdown`, { timeout: 60 });
  const diskDir = path.join(c.rapid.dataDir, 'storage', name);
  const diskFile = path.join(diskDir, fs.readdirSync(diskDir)[0]!);
  t.notRegex(mtype(diskFile, 'syslinux.cfg'), /guest\.powerbutton=ignore/);

  await ok('POST', `/2/instances/${name}/reinstall`, { os: 'rapid-guest', start: false, osparams: { powerbutton: 'ignore', kernel_args: 'rapid.reinstalled=1' } });
  t.regex(mtype(diskFile, 'syslinux.cfg'), /APPEND console=tty0 console=ttyS0,38400 ro quiet guest\.powerbutton=ignore rapid\.reinstalled=1\n/, 'the reinstall rewrote the disk with the new parameters');
  const q = (await c.w('GET', '/2/query/instance?fields=name,custom_osparams')).json;
  t.deepEqual(q.data.find((row: [number, unknown][]) => row[0]![1] === name)[1][1], { powerbutton: 'ignore', kernel_args: 'rapid.reinstalled=1' }, 'the instance keeps the given parameters');
  t.is(osLogs().filter((f) => LOG_NAME('add', 'rapid-guest', name).test(f)).length >= 1, true);

  await ok('PUT', `/2/instances/${name}/startup`);
  trackQemu(t, name);
  await until(`${READY} after the reinstall`, () => readyLines(name).length >= 2, 90_000);
  t.regex(readyLines(name)[1]!, /powerbutton=none/, 'the reinstalled guest ignores the power button');
  await ok('PUT', `/2/instances/${name}/shutdown`, { timeout: 5 });

  // Export: the OS export script writes the image.
  await ok('PUT', `/2/instances/${name}/export`, { mode: 'local', destination: NODE, shutdown: false });
  const exported = path.join(c.rapid.dataDir, 'export', name);
  const images = fs.readdirSync(exported).filter((f) => f !== 'config.ini');
  t.is(images.length, 1);
  t.true(fs.readFileSync(path.join(exported, images[0]!)).equals(fs.readFileSync(diskFile)), 'the exported image is the disk');
  t.true(osLogs().some((f) => LOG_NAME('export', 'rapid-guest', `${name}-disk0`).test(f)), osLogs().join(' '));

  const renamed = 'guest2.example.com';
  await ok('PUT', `/2/instances/${name}/rename`, { new_name: renamed, name_check: false, ip_check: false });
  t.true(osLogs().some((f) => LOG_NAME('rename', 'rapid-guest', `${name}-${renamed}`).test(f)), osLogs().join(' '));
  await ok('DELETE', `/2/instances/${renamed}`);

  // Hidden and blacklisted OSes (cluster settings) leave /2/os; a blacklisted one cannot be installed.
  await ok('PUT', '/2/modify', { hidden_os: [['add', 'noop']], blacklisted_os: [['add', 'rapid-guest']] });
  const listed = await get('/2/os') as string[];
  t.false(listed.includes('noop') || listed.includes('rapid-guest'), JSON.stringify(listed));
  const refused = await c.job('POST', '/2/instances', { body: createBody('bl.example.com', { os: 'rapid-guest', hypervisor: 'kvm', disk_template: 'file', disks: [{ size: 32 }], nics: [], ignore_ipolicy: true }) });
  t.deepEqual(refused.opresult, [['OpPrereqError', ["Guest OS 'rapid-guest' is not allowed for installation", 'wrong_state']]]);
  const flagsId = await c.submitDirect('OP_OS_DIAGNOSE', { output_fields: ['name', 'hidden', 'blacklisted'], names: [] });
  const flags = await until('OS diagnose job', async () => {
    const j = (await c!.w('GET', `/2/jobs/${flagsId}`)).json;
    return j.status === 'success' ? j : null;
  }, 30_000);
  t.deepEqual((flags.opresult[0] as unknown[][]).filter((r) => r[0] === 'noop' || r[0] === 'rapid-guest'), [['noop', true, false], ['rapid-guest', false, true]]);
});
