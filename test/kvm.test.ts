// The KVM hypervisor: QEMU command lines from Ganeti's hvparams (pure), and
// real QEMU guests under TCG booting the test guest (kernel + busybox
// initramfs from Debian packages): start, QMP, serial console, soft and hard
// reboot, ACPI shutdown, forced stop of a guest that ignores ACPI, adoption
// after the owning process is killed, user shutdown. At most two guests run
// at once (a TCG guest takes about one core).
import test, { type ExecutionContext } from 'ava';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { HVC_DEFAULTS } from '../src/defaults.ts';
import { HypervisorFailure } from '../hypervisor/driver.ts';
import { buildKvmCommand, deviceId, KvmUnsupportedError, resolveAccel, type KvmCommandInput } from '../hypervisor/kvm-cmdline.ts';
import { checkKvmParameterSyntax, KvmParameterError } from '../hypervisor/kvm-params.ts';
import { KvmHypervisor, processAlive } from '../hypervisor/kvm.ts';
import { QmpClient, QmpCommandError } from '../hypervisor/qmp.ts';
import { cachedKvmVerdict, probeAccel } from '../hypervisor/kvm-probe.ts';
import { lockRunDir, RunDirBusyError } from '../hypervisor/run-lock.ts';
import { guestSpec, READY, Serial, testGuest } from './helpers/guest.ts';
import { recordPid, repoRoot, tempDir, unrecordPid, waitExit } from './helpers/pids.ts';

// --- command lines (pure) -----------------------------------------------------

const MACHINES = [
  'Supported machines are:',
  'microvm              microvm (i386)',
  'pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-7.2)',
  'pc-i440fx-7.2        Standard PC (i440FX + PIIX, 1996) (default)',
  'pc-i440fx-7.1        Standard PC (i440FX + PIIX, 1996)',
  'q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-7.2)',
].join('\n');
const DEVICES = ['virtio-blk-pci', 'virtio-net-pci', 'scsi-hd', 'scsi-cd', 'e1000', 'ide-hd'].map((d) => `name "${d}", bus PCI`).join('\n');
const DISK_UUID = '0a1b2c3d-4e5f-4071-8293-a4b5c6d7e8f9';
const NIC_UUID = 'f0e1d2c3-b4a5-4697-8879-6a5b4c3d2e1f';

function cmdInput(hv: Record<string, unknown> = {}, o: Partial<KvmCommandInput['instance']> & { accel?: KvmCommandInput['accel'] } = {}): KvmCommandInput {
  const R = '/run/k';
  return {
    instance: {
      name: 'vm1.example.com', uuid: '6b0e7d1c-0000-4000-8000-000000000001',
      hvparams: { ...HVC_DEFAULTS.kvm, kernel_path: '', ...hv }, beparams: { maxmem: 256, vcpus: 2 },
      network_port: 11005, disks: [{ uuid: DISK_UUID, mode: 'rw', path: '/srv/vm1/disk0', template: 'file' }], nics: [],
      ...o,
    },
    paths: {
      pidfile: `${R}/pid/vm1`, monitor: `${R}/ctrl/vm1.monitor`, qmp: `${R}/ctrl/vm1.qmp`, kvmd: `${R}/ctrl/vm1.kvmd`,
      serial: `${R}/ctrl/vm1.serial`, serialLog: `${R}/log/vm1.serial.log`, qga: `${R}/ctrl/vm1.qga`, log: `${R}/log/vm1.log`,
    },
    qemu: { machineHelp: MACHINES, deviceHelp: DEVICES },
    accel: o.accel ?? 'tcg', paused: true, daemonize: true,
  };
}

/** The value after each occurrence of `opt`. */
const values = (argv: string[], opt: string) => argv.flatMap((a, i) => (a === opt ? [argv[i + 1]!] : []));

test('cmdline: Ganeti defaults booting from disk', (t) => {
  t.deepEqual(buildKvmCommand(cmdInput()), [
    '/usr/bin/kvm', '-name', 'vm1.example.com', '-m', '256', '-smp', '2', '-pidfile', '/run/k/pid/vm1',
    '-device', 'virtio-balloon', '-daemonize', '-D', '/run/k/log/vm1.log',
    '-machine', 'pc-i440fx-7.2,accel=tcg',
    '-monitor', 'unix:/run/k/ctrl/vm1.monitor,server=on,wait=off',
    '-chardev', 'socket,id=serial0,path=/run/k/ctrl/vm1.serial,server=on,wait=off,logfile=/run/k/log/vm1.serial.log,logappend=on',
    '-serial', 'chardev:serial0', '-usb', '-display', 'none', '-uuid', '6b0e7d1c-0000-4000-8000-000000000001',
    '-net', 'none',
    '-qmp', 'unix:/run/k/ctrl/vm1.qmp,server=on,wait=off', '-qmp', 'unix:/run/k/ctrl/vm1.kvmd,server=on,wait=off',
    '-boot', 'c',
    '-device', 'virtio-blk-pci,id=disk-0a1b2c3d-4e5f-4071,bus=pci.0,addr=0xc,drive=disk-0a1b2c3d-4e5f-4071',
    '-drive', 'file=/srv/vm1/disk0,format=raw,if=none,aio=threads,id=disk-0a1b2c3d-4e5f-4071,auto-read-only=off',
    '-S',
  ]);
});

test('cmdline: kernel boot, serial speed, ACPI, reboot behaviour, machine, CPU topology', (t) => {
  const argv = buildKvmCommand(cmdInput({
    kernel_path: '/boot/vmlinuz', initrd_path: '/boot/initrd', root_path: '/dev/vda2', kernel_args: 'ro quiet',
    serial_speed: 115200, acpi: false, reboot_behavior: 'exit', machine_version: 'pc-i440fx-7.1', cpu_type: 'qemu64',
    cpu_cores: 2, cpu_sockets: 1, use_localtime: true, vga: 'std', keymap: 'de', mem_path: '/dev/hugepages', kvm_extra: '-rtc  clock=vm',
  }));
  t.deepEqual(values(argv, '-kernel'), ['/boot/vmlinuz']);
  t.deepEqual(values(argv, '-initrd'), ['/boot/initrd']);
  t.deepEqual(values(argv, '-append'), ['root=/dev/vda2 ro quiet console=ttyS0,115200']);
  t.deepEqual(values(argv, '-machine'), ['pc-i440fx-7.1,accel=tcg,acpi=off']);
  t.true(argv.includes('-no-reboot'));
  t.false(argv.includes('-boot'), 'a kernel boot has no boot order');
  t.deepEqual(values(argv, '-smp'), ['2,cores=2,sockets=1']);
  t.deepEqual(values(argv, '-cpu'), ['qemu64']);
  t.deepEqual(values(argv, '-rtc'), ['base=localtime', 'clock=vm']);
  t.deepEqual(values(argv, '-vga'), ['std']);
  t.deepEqual(values(argv, '-k'), ['de']);
  t.deepEqual(values(argv, '-mem-path'), ['/dev/hugepages']);
  t.true(argv.includes('-mem-prealloc'));
  const noSerial = buildKvmCommand(cmdInput({ serial_console: false, kernel_path: '/boot/vmlinuz' }));
  t.deepEqual(values(noSerial, '-serial'), ['none']);
  t.deepEqual(values(noSerial, '-append'), ['root=/dev/vda1 ro']);
  t.false(noSerial.includes('-chardev'));
  t.false(buildKvmCommand({ ...cmdInput(), daemonize: false, paused: false }).some((a) => a === '-daemonize' || a === '-S'));
});

test('cmdline: accelerator from the node setting, else kvm_flag', (t) => {
  t.is(resolveAccel('tcg', 'enabled'), 'tcg');
  t.is(resolveAccel('kvm', 'disabled'), 'kvm');
  t.is(resolveAccel('auto', 'enabled'), 'kvm');
  t.is(resolveAccel('auto', 'disabled'), 'tcg');
  t.is(resolveAccel('auto', ''), 'kvm:tcg');
  t.deepEqual(values(buildKvmCommand(cmdInput({ kvm_flag: 'enabled' }, { accel: 'auto' })), '-machine'), ['pc-i440fx-7.2,accel=kvm']);
});

test('cmdline: disk cache, aio, discard, shared storage, disk types, boot order', (t) => {
  const drive = (hv: Record<string, unknown>, template = 'file') =>
    values(buildKvmCommand(cmdInput(hv, { disks: [{ uuid: DISK_UUID, mode: 'rw', path: '/d/x,y', template }] })), '-drive');
  t.deepEqual(drive({ disk_cache: 'writeback', disk_discard: 'unmap' }),
    ['file=/d/x,,y,format=raw,if=none,aio=threads,cache=writeback,discard=unmap,id=disk-0a1b2c3d-4e5f-4071,auto-read-only=off']);
  t.deepEqual(drive({ disk_aio: 'native', disk_cache: 'none' }), ['file=/d/x,,y,format=raw,if=none,aio=native,cache=none,id=disk-0a1b2c3d-4e5f-4071,auto-read-only=off']);
  t.deepEqual(drive({ disk_cache: 'writeback' }, 'sharedfile'), ['file=/d/x,,y,format=raw,if=none,aio=threads,cache=none,id=disk-0a1b2c3d-4e5f-4071,auto-read-only=off'],
    'shared storage is never cached on the host (migration safety)');
  const ide = buildKvmCommand(cmdInput({ disk_type: 'ide' }));
  t.deepEqual(values(ide, '-drive'), ['file=/srv/vm1/disk0,format=raw,if=ide,aio=threads,auto-read-only=off']);
  t.false(values(ide, '-device').some((d) => d.includes('disk-')), 'ide disks need no -device');
  const scsi = buildKvmCommand(cmdInput({ disk_type: 'scsi-hd' }));
  t.deepEqual(values(scsi, '-device').slice(0, 2), ['lsi,id=scsi', 'virtio-balloon']);
  t.true(values(scsi, '-device').includes('scsi-hd,id=disk-0a1b2c3d-4e5f-4071,bus=scsi.0,channel=0,scsi-id=0,lun=0,drive=disk-0a1b2c3d-4e5f-4071'));
  t.deepEqual(values(buildKvmCommand(cmdInput({ boot_order: 'network' })), '-boot'), ['n']);
  const cd = buildKvmCommand(cmdInput({ boot_order: 'cdrom', cdrom_image_path: '/iso/d.iso' }));
  t.deepEqual(values(cd, '-boot'), ['d']);
  t.true(values(cd, '-drive').includes('file=/iso/d.iso,media=cdrom,format=raw,if=ide'));
  const err = t.throws(() => buildKvmCommand(cmdInput({}, { disks: [{ uuid: DISK_UUID, mode: 'ro', path: '/d', template: 'file' }] })));
  t.is(err?.message, 'Instance has read-only disks which are not supported by KVM');
});

test('cmdline: PCI slots after kvm_pci_reservations, disks first; NICs on taps', (t) => {
  const disks = [0, 1].map((i) => ({ uuid: `${i}0000000-aaaa-bbbb-cccc-dddddddddddd`, mode: 'rw', path: `/d${i}`, template: 'file' }));
  const nics = [{ uuid: NIC_UUID, mac: 'aa:00:00:35:7e:01', tap: 'rtf0e1d2c3b4a5' }];
  const argv = buildKvmCommand(cmdInput({ kvm_pci_reservations: 14 }, { disks, nics }));
  const addr = (prefix: string) => values(argv, '-device').filter((d) => d.startsWith(prefix)).map((d) => /addr=(0x\w+)/.exec(d)![1]);
  t.deepEqual(addr('virtio-blk-pci'), ['0xe', '0xf']);
  t.deepEqual(addr('virtio-net-pci'), ['0x10']);
  const nicId = deviceId('nic', NIC_UUID);
  t.is(nicId, 'nic-f0e1d2c3-b4a5-4697');
  t.deepEqual(values(argv, '-netdev'), [`tap,id=${nicId},ifname=rtf0e1d2c3b4a5,script=no,downscript=no,vnet_hdr=on`]);
  t.true(values(argv, '-device').includes(`virtio-net-pci,id=${nicId},bus=pci.0,addr=0x10,netdev=${nicId},mac=aa:00:00:35:7e:01`));
  t.false(argv.includes('-net'));
  const mq = buildKvmCommand(cmdInput({ vhost_net: true, virtio_net_queues: 4 }, { nics }));
  t.regex(values(mq, '-netdev')[0]!, /,vnet_hdr=on,vhost=on,queues=4$/);
  t.regex(values(mq, '-device').find((d) => d.startsWith('virtio-net'))!, /,mq=on,vectors=10$/);
  const e1000 = buildKvmCommand(cmdInput({ nic_type: 'e1000' }, { nics }));
  t.regex(values(e1000, '-netdev')[0]!, /vnet_hdr=off$/);
  t.true(values(e1000, '-device').some((d) => d.startsWith(`e1000,id=${nicId},bus=pci.0,addr=0xd,`)));
});

test('cmdline: VNC display, TLS, password, unix socket; guest agent', (t) => {
  const vnc = (hv: Record<string, unknown>, port: number | null = 11005) => {
    const argv = buildKvmCommand({ ...cmdInput(hv, { network_port: port }), interfaceIPv4: (n) => (n === 'eth9' ? ['192.0.2.9'] : undefined) });
    return { vnc: values(argv, '-vnc'), argv };
  };
  t.deepEqual(vnc({ vnc_bind_address: '0.0.0.0' }).vnc, [':5105']);
  t.deepEqual(vnc({ vnc_bind_address: '192.0.2.1' }).vnc, ['192.0.2.1:5105']);
  t.deepEqual(vnc({ vnc_bind_address: '2001:db8::1' }).vnc, ['[2001:db8::1]:5105']);
  t.deepEqual(vnc({ vnc_bind_address: 'eth9' }).vnc, ['192.0.2.9:5105']);
  t.deepEqual(vnc({ vnc_bind_address: '0.0.0.0' }, 5000).vnc, ['none'], 'no display below port 5900');
  t.deepEqual(vnc({ vnc_bind_address: '/var/run/vnc' }).vnc, ['unix:/var/run/vnc/vm1.example.com.vnc']);
  const tls = vnc({ vnc_bind_address: '0.0.0.0', vnc_tls: true, vnc_x509_path: '/etc/x509', vnc_x509_verify: true, vnc_password_file: '/etc/pw' });
  t.deepEqual(tls.vnc, [':5105,tls-creds=vnctls0,password=on']);
  t.deepEqual(values(tls.argv, '-object'), ['tls-creds-x509,id=vnctls0,endpoint=server,dir=/etc/x509,verify-peer=yes']);
  t.deepEqual(values(tls.argv, '-usbdevice'), ['tablet']);
  t.false(tls.argv.includes('-display'));
  const qga = buildKvmCommand(cmdInput({ use_guest_agent: true }));
  t.true(values(qga, '-chardev').includes('socket,path=/run/k/ctrl/vm1.qga,server=on,wait=off,id=qga0'));
});

test('cmdline: Ganeti parameter errors and unsupported values', (t) => {
  const err = (hv: Record<string, unknown>, o = {}) => {
    const e = t.throws(() => buildKvmCommand(cmdInput(hv, o)));
    t.true(e instanceof HypervisorFailure);
    return e!;
  };
  const speed = err({ serial_speed: 12345 });
  t.true(speed instanceof KvmParameterError);
  t.is(speed.message, 'Invalid serial console speed, must be one of: 75, 110, 300, 600, 1200, 1800, 2400, 4800, 9600, 14400, 19200, 28800, 38400, 57600, 115200, 230400, 345600, 460800');
  t.is(err({ disk_cache: 'unsafe' }).message, "Parameter 'disk_cache' fails syntax check: The value must be one of: default, none, writeback, writethrough (current value: 'unsafe')");
  t.is(err({ boot_order: '' }).message, "Parameter 'boot_order' is required but is currently not defined");
  t.is(err({ kernel_path: 'vmlinuz' }).message, "Parameter 'kernel_path' fails syntax check: must be an absolute normalized path (current value: 'vmlinuz')");
  t.is(err({ boot_order: 'cdrom' }).message, 'Cannot boot from cdrom without an ISO path');
  t.is(err({ disk_aio: 'native' }).message, "When 'disk_aio' is set to 'native', the only supported value for 'disk_cache' is 'none'.");
  t.is(err({ security_model: 'user' }).message, 'A security domain (user to run kvm as) must be specified');
  t.is(err({ spice_use_tls: true }).message, 'SPICE: spice_use_tls requires spice_bind to be set');
  t.is(err({ kvm_pci_reservations: 40 }).message, "Parameter 'kvm_pci_reservations' fails syntax check: The number of PCI slots managed by QEMU (max: 32) (current value: '40')");
  const spice = err({ spice_bind: '0.0.0.0' });
  t.true(spice instanceof KvmUnsupportedError);
  t.is(spice.message, "Hypervisor parameter spice_bind='0.0.0.0' is not supported by rapid's kvm hypervisor: SPICE is not available; use vnc_bind_address");
  t.true(err({ cpu_mask: '0-1' }) instanceof KvmUnsupportedError);
  t.true(err({ disk_type: 'scsi-generic' }) instanceof KvmUnsupportedError);
  t.notThrows(() => checkKvmParameterSyntax({ ...HVC_DEFAULTS.kvm }), "Ganeti's defaults pass");
});

// --- real guests ----------------------------------------------------------------

/** At most two guests at once, across this file's concurrent tests. */
let vmSlots = 2;
const vmQueue: (() => void)[] = [];
async function withVmSlot<T>(fn: () => Promise<T>): Promise<T> {
  if (vmSlots === 0) await new Promise<void>((r) => vmQueue.push(r));
  else vmSlots--;
  try {
    return await fn();
  } finally {
    const next = vmQueue.shift();
    if (next) next();
    else vmSlots++;
  }
}

const uniq = () => Math.random().toString(36).slice(2, 8);

/** A driver on a fresh, short run directory (unix socket paths are limited to 107 bytes). */
function driver(runDir = tempDir('rk-'), opts: Partial<ConstructorParameters<typeof KvmHypervisor>[0]> = {}) {
  const d = new KvmHypervisor({ runDir, accel: 'tcg', ...opts });
  return { d, runDir };
}

/** Records the guest's QEMU so an interrupted run leaves nothing; kills it at teardown. */
async function track(t: ExecutionContext, d: KvmHypervisor, name: string): Promise<number> {
  const pid = (await d.pid(name))!;
  t.truthy(pid, 'QEMU runs');
  recordPid(pid, name);
  t.teardown(() => {
    if (processAlive(pid)) process.kill(pid, 'SIGKILL');
    unrecordPid(pid);
  });
  return pid;
}

/** Nothing of the instance is left: no process, no socket, pidfile or runtime file. */
function assertGone(t: ExecutionContext, runDir: string, name: string, pid: number): void {
  t.false(fs.existsSync(`/proc/${pid}`), `QEMU ${pid} is gone (reaped)`);
  for (const dir of ['pid', 'ctrl', 'conf']) {
    const left = (fs.existsSync(path.join(runDir, dir)) ? fs.readdirSync(path.join(runDir, dir)) : []).filter((f) => f.startsWith(name));
    t.deepEqual(left, [], `nothing left in ${dir}/`);
  }
  const strays = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
    try {
      return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(runDir) && processAlive(Number(p));
    } catch {
      return false;
    }
  });
  t.deepEqual(strays, [], 'no process uses the run directory');
}

/** /proc/<pid> disappears only once PID 1 reaps the exited daemon. */
async function reaped(pid: number, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (fs.existsSync(`/proc/${pid}`) && Date.now() < end) await new Promise((r) => setTimeout(r, 50));
}

test.before(async () => {
  await testGuest();
});

test('guest lifecycle: start, QMP, serial, soft and hard reboot, ACPI shutdown', async (t) => {
  t.timeout(150_000);
  await withVmSlot(async () => {
    const { d, runDir } = driver();
    t.teardown(() => d.close());
    const name = `life-${uniq()}`;
    const disk = path.join(runDir, 'disk0');
    fs.writeFileSync(disk, '');
    fs.truncateSync(disk, 32 << 20);
    const spec = await guestSpec(name, { disks: [{ uuid: DISK_UUID, index: 0, size: 32, mode: 'rw', logical_id: ['loop', 'disk0'] }] });

    let t0 = Date.now();
    await d.start(spec, { paused: false, diskPaths: [disk] });
    const started = Date.now() - t0;
    const pid1 = await track(t, d, name);
    let serial = await Serial.connect(d.paths(name).serial);
    await serial.waitFor(/GUEST-READY[^\n]*\n/, 60_000);
    const bootMs = Date.now() - t0;
    t.log(`start() returned after ${started} ms; boot to ${READY} ${bootMs} ms`);
    t.regex(serial.output, /GUEST-READY .*powerbutton=\/dev\/input\/event\d .*disks=vda/);

    // The diagnostic socket is free while the driver holds the control one.
    const diag = await QmpClient.connect(d.paths(name).kvmd);
    t.like(await diag.execute('query-status'), { status: 'running', running: true });
    await t.throwsAsync(diag.execute('no-such-command'), { instanceOf: QmpCommandError, message: "QMP command 'no-such-command' failed: CommandNotFound: The command no-such-command has not been found" });
    await diag.close();
    await t.throwsAsync(QmpClient.connect(d.paths(name).qmp, { timeoutMs: 500 }), { message: /sent no greeting/ }, 'the control socket has one owner');

    t.is((await serial.run('cat /sys/block/vda/size')).trim().split('\n').pop()!.trim(), String(65536), 'the guest sees the 32 MiB disk');
    t.deepEqual((await d.list())[name], { state: 'running', memory: 128, vcpus: 1 });
    await t.throwsAsync(d.start(spec, { paused: false, diskPaths: [disk] }), { message: `Failed to start instance ${name}: already running` });

    // soft: the saved command line runs again (memory stays 128 although the spec says 160).
    const bigger = { ...spec, beparams: { ...spec.beparams, maxmem: 160 } };
    serial.close();
    t0 = Date.now();
    await d.reboot(bigger, 'soft', 30, [disk]);
    const pid2 = await track(t, d, name);
    t.not(pid2, pid1);
    serial = await Serial.connect(d.paths(name).serial);
    await serial.waitFor(/GUEST-READY/, 60_000);
    t.log(`soft reboot to ${READY}: ${Date.now() - t0} ms`);
    t.is((await d.list())[name]?.memory, 128);

    // hard: stop, then start from the current spec.
    serial.close();
    t0 = Date.now();
    await d.reboot(bigger, 'hard', 30, [disk]);
    const pid3 = await track(t, d, name);
    t.not(pid3, pid2);
    serial = await Serial.connect(d.paths(name).serial);
    await serial.waitFor(/GUEST-READY/, 60_000);
    t.log(`hard reboot to ${READY}: ${Date.now() - t0} ms`);
    t.deepEqual((await d.list())[name], { state: 'running', memory: 160, vcpus: 1 });

    // ACPI shutdown: the guest powers itself off on the power button.
    const watch = await QmpClient.connect(d.paths(name).kvmd);
    const events = Promise.all([watch.waitEvent('POWERDOWN', 30_000), watch.waitEvent('SHUTDOWN', 30_000)]);
    t0 = Date.now();
    await d.stop(name, 30);
    const stopMs = Date.now() - t0;
    t.log(`ACPI shutdown: ${stopMs} ms`);
    t.true(stopMs < 10_000, `stopped by ACPI, not by the ${30} s timeout`);
    await serial.waitFor(/power button, powering off/, 5_000);
    const [, shutdown] = await events;
    t.deepEqual(shutdown.data, { guest: true, reason: 'guest-shutdown' });
    await watch.closed;
    serial.close();
    await reaped(pid3);
    assertGone(t, runDir, name, pid3);
    t.deepEqual(await d.list(), {});
    t.false(fs.readFileSync(d.paths(name).log, 'utf8').includes('terminating on signal'), 'QEMU was not killed');
    await t.notThrowsAsync(d.stop(name, 30), 'stopping a stopped instance is no error');
    await t.throwsAsync(d.reboot(spec, 'soft', 30, [disk]), { message: `Cannot reboot instance '${name}' that is not running` });
  });
});

test('a guest that ignores ACPI is killed after the timeout; acpi=false kills at once', async (t) => {
  t.timeout(120_000);
  await withVmSlot(async () => {
    const { d, runDir } = driver(undefined, { powerdownIntervalMs: 1_000 });
    t.teardown(() => d.close());
    const name = `deaf-${uniq()}`;
    await d.start(await guestSpec(name, { hvparams: { kernel_args: 'ro quiet guest.powerbutton=ignore' } }), { paused: false, diskPaths: [] });
    const pid = await track(t, d, name);
    const serial = await Serial.connect(d.paths(name).serial);
    await serial.waitFor(/GUEST-READY[^\n]*powerbutton=none[^\n]*\n/, 60_000);
    const t0 = Date.now();
    await d.stop(name, 3);
    const ms = Date.now() - t0;
    t.log(`stop of an ACPI-deaf guest with timeout 3 s: ${ms} ms`);
    t.true(ms >= 3_000 && ms < 9_000, `killed after the timeout (${ms} ms)`);
    t.regex(fs.readFileSync(d.paths(name).log, 'utf8'), /terminating on signal 15/);
    t.false(serial.output.includes('powering off'));
    serial.close();
    await reaped(pid);
    assertGone(t, runDir, name, pid);

    // Ganeti kills a guest without ACPI outright, whatever the timeout.
    const noAcpi = `noacpi-${uniq()}`;
    await d.start(await guestSpec(noAcpi, { hvparams: { acpi: false } }), { paused: false, diskPaths: [] });
    const pid2 = await track(t, d, noAcpi);
    const t1 = Date.now();
    await d.stop(noAcpi, 60);
    t.true(Date.now() - t1 < 3_000);
    t.regex(fs.readFileSync(d.paths(noAcpi).log, 'utf8'), /terminating on signal 15/);
    await reaped(pid2);
    assertGone(t, runDir, noAcpi, pid2);

    // A QEMU that does not act on SIGTERM (here: stopped) gets SIGKILL after the grace time.
    const hung = `hung-${uniq()}`;
    const { d: quick } = driver(runDir, { killGraceMs: 1_000 });
    t.teardown(() => quick.close());
    await quick.start(await guestSpec(hung), { paused: false, diskPaths: [] });
    const pid3 = await track(t, quick, hung);
    process.kill(pid3, 'SIGSTOP');
    const t2 = Date.now();
    await quick.stop(hung, 0);
    t.true(Date.now() - t2 >= 1_000, 'SIGTERM first');
    t.false(fs.readFileSync(quick.paths(hung).log, 'utf8').includes('terminating on signal'), 'the process never handled SIGTERM');
    await reaped(pid3);
    assertGone(t, runDir, hung, pid3);
  });
});

test('guests outlive a SIGKILLed owner and are adopted; a guest powering itself off is user_down', async (t) => {
  t.timeout(120_000);
  await withVmSlot(async () => {
    const { d, runDir } = driver();
    t.teardown(() => d.close());
    const name = `adopt-${uniq()}`;
    const spec = await guestSpec(name, { hvparams: { user_shutdown: true } });
    // The first owner is another process, as a node worker would be.
    const moduleUrl = pathToFileURL(path.join(repoRoot, 'dist/hypervisor/kvm.js')).href;
    const code = `const { KvmHypervisor } = await import(${JSON.stringify(moduleUrl)});
      const d = new KvmHypervisor({ runDir: ${JSON.stringify(runDir)}, accel: 'tcg' });
      const spec = ${JSON.stringify(spec)};
      await d.start(spec, { paused: false, diskPaths: [] });
      console.log('STARTED', await d.pid(spec.name));
      setInterval(() => {}, 1000);`;
    const owner = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
    recordPid(owner.pid!, '--input-type=module');
    t.teardown(() => { owner.kill('SIGKILL'); unrecordPid(owner.pid!); });
    const pid = await new Promise<number>((resolve, reject) => {
      let out = '';
      owner.stdout!.on('data', (c) => { out += c; const m = /STARTED (\d+)/.exec(out); if (m) resolve(Number(m[1])); });
      owner.once('exit', (c) => reject(new Error(`owner exited (${c}) before starting the guest: ${out}`)));
    });
    recordPid(pid, name);
    t.teardown(() => { if (processAlive(pid)) process.kill(pid, 'SIGKILL'); unrecordPid(pid); });
    const serial = await Serial.connect(d.paths(name).serial);
    await serial.waitFor(/GUEST-READY/, 60_000);

    owner.kill('SIGKILL');
    await waitExit(owner);
    t.true(processAlive(pid), 'the guest survives its owner');
    t.regex(await serial.run('echo alive-$((6*7))'), /alive-42/);

    // A fresh driver (a restarted worker) finds it and takes its monitor.
    const t0 = Date.now();
    const exits: string[] = [];
    const { d: d2 } = driver(runDir, { onExit: (n) => exits.push(n) });
    t.teardown(() => d2.close());
    t.deepEqual((await d2.list())[name], { state: 'running', memory: 128, vcpus: 1 });
    t.log(`adoption list(): ${Date.now() - t0} ms`);
    let owned = false;
    for (let i = 0; i < 40 && !owned; i++) {
      await new Promise((r) => setTimeout(r, 50));
      owned = await QmpClient.connect(d.paths(name).qmp, { timeoutMs: 300 }).then((c) => { void c.close(); return false; }, () => true);
    }
    t.true(owned, 'the new driver holds the control socket');

    // The guest powers off from inside: kvmd's user shutdown.
    serial.run('poweroff -f').catch(() => undefined);
    await reaped(pid);
    t.false(processAlive(pid));
    t.deepEqual((await d2.list())[name], { state: 'user_down', memory: 0, vcpus: 0 });
    t.deepEqual(exits, [name], 'the exit was noticed');
    serial.close();
    await d2.stop(name, 30);
    t.deepEqual(await d2.list(), {}, 'shutdown clears the user-down mark');
    assertGone(t, runDir, name, pid);
  });
});

test('start failures say why and leave nothing behind', async (t) => {
  t.timeout(60_000);
  const { d, runDir } = driver();
  t.teardown(() => d.close());
  const name = `fail-${uniq()}`;
  const spec = await guestSpec(name, { disks: [{ uuid: DISK_UUID, index: 0, size: 32, mode: 'rw', logical_id: ['loop', 'missing'] }] });
  const missing = path.join(runDir, 'missing');
  const e = await t.throwsAsync(d.start(spec, { paused: false, diskPaths: [missing] }));
  t.true(e instanceof HypervisorFailure);
  t.regex(e!.message, new RegExp(`^Failed to start instance ${name}: exited with exit code 1 \\(.*${missing}.*No such file or directory`));
  t.deepEqual(await d.list(), {});
  for (const dir of ['pid', 'ctrl', 'conf']) t.deepEqual(fs.readdirSync(path.join(runDir, dir)), [], `${dir}/ is empty`);

  await t.throwsAsync(d.start(await guestSpec(name, { hvparams: { kvm_path: '/nonexistent/kvm' } }), { paused: false, diskPaths: [] }),
    { message: "Failed to run '/nonexistent/kvm -machine help': spawn /nonexistent/kvm ENOENT" });
  await t.throwsAsync(d.start(await guestSpec(name, { hvparams: { machine_version: 'pc-i440fx-1.0' } }), { paused: false, diskPaths: [] }),
    { instanceOf: KvmParameterError, message: 'Unsupported machine version: pc-i440fx-1.0' });
  await t.throwsAsync(d.start(await guestSpec(name, { hvparams: { initrd_path: '/nonexistent/initrd' } }), { paused: false, diskPaths: [] }),
    { message: "Parameter 'initrd_path' fails validation: not found or not a file (current value: '/nonexistent/initrd')" });
  const withNic = { ...(await guestSpec(name)), nics: [{ uuid: NIC_UUID, mac: 'aa:00:00:00:00:01', ip: null, mode: 'bridged', link: 'rnobr0' }] };
  await t.throwsAsync(d.start(withNic, { paused: false, diskPaths: [] }), { message: `Failed to start instance ${name}: bridge 'rnobr0' does not exist on this node` });
  const routed = { ...withNic, nics: [{ ...withNic.nics[0]!, mode: 'routed' }] };
  await t.throwsAsync(d.start(routed, { paused: false, diskPaths: [] }),
    { instanceOf: KvmUnsupportedError, message: "NIC 0 mode='routed' is not supported by rapid's kvm hypervisor: only bridged NICs are implemented" });
  await t.throwsAsync(d.balloon(await guestSpec(name), 64), { message: `Cannot balloon instance ${name}: it is not running` });
  t.deepEqual(await d.list(), {});
});

// --- accelerator probe and the run-directory lock ------------------------------

test.serial('the accelerator probe sees a guest boot under tcg, and reports one that does not get ready in time', async (t) => {
  t.timeout(120_000);
  const g = await testGuest();
  const qemu = String(HVC_DEFAULTS.kvm!.kvm_path);
  const ok = await probeAccel({ qemu, ...g, accel: 'tcg', timeoutMs: 60_000 });
  t.true(ok.usable, ok.detail);
  t.regex(ok.detail, /booted under tcg/);
  const slow = await probeAccel({ qemu, ...g, accel: 'tcg', timeoutMs: 200 });
  t.false(slow.usable);
  t.regex(slow.detail, /no guest reached GUEST-READY under tcg within 0.2s/);
  const broken = await probeAccel({ qemu, kernel: g.initrd, initrd: g.initrd, accel: 'tcg', timeoutMs: 30_000 });
  t.false(broken.usable, 'an initrd is no kernel');
  t.regex(broken.detail, /QEMU exited/);
});

test.serial('the kvm verdict is probed once per kernel and QEMU binary, then read back', async (t) => {
  t.timeout(60_000);
  const dir = tempDir('rapid-probe-');
  const qemu = String(HVC_DEFAULTS.kvm!.kvm_path);
  let built = 0;
  const guest = async () => { built++; return testGuest(); };
  // Under kvm the verdict depends on the host (this one's nested KVM hangs guests); either way it is kept.
  const first = await cachedKvmVerdict({ dir, qemu, guest, timeoutMs: 3_000 });
  t.false(first.cached);
  const again = await cachedKvmVerdict({ dir, qemu, guest, timeoutMs: 3_000 });
  t.true(again.cached);
  t.is(again.usable, first.usable);
  t.is(built, 1, 'the second answer needed no guest and no QEMU');
  t.true(fs.existsSync(path.join(dir, 'accel-probe.json')));
});

test.serial('one node worker per run directory: a live holder keeps it, a dead one (kill -9) does not', async (t) => {
  const dir = tempDir('rapid-runlock-');
  const holder = spawn(process.execPath, ['--input-type=module', '-e',
    `const { lockRunDir } = await import(${JSON.stringify(pathToFileURL(path.join(repoRoot, 'dist/hypervisor/run-lock.js')).href)});
     await lockRunDir(${JSON.stringify(dir)}); console.log('locked'); setInterval(() => {}, 1000);`], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { holder.kill('SIGKILL'); unrecordPid(holder.pid!); });
  recordPid(holder.pid!, 'run-lock.js');
  await new Promise<void>((resolve) => holder.stdout!.on('data', (b: Buffer) => { if (b.toString().includes('locked')) resolve(); }));
  const busy = await t.throwsAsync(lockRunDir(dir), { instanceOf: RunDirBusyError });
  t.is(busy!.message, `another node worker (pid ${holder.pid}) manages ${dir}`);
  holder.kill('SIGKILL');
  await waitExit(holder);
  const release = await lockRunDir(dir);
  t.is(fs.readFileSync(path.join(dir, 'worker.lock'), 'utf8').trim(), String(process.pid));
  await release();
  t.false(fs.existsSync(path.join(dir, 'worker.lock')));
});
