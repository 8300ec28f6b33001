// How to reach a kvm guest's console (hv_kvm.GetInstanceConsole), and the
// recent serial output the node keeps per instance.
import { open, rm, stat, truncate } from 'node:fs/promises';
import { kvmPaths, VNC_BASE_PORT } from './kvm-cmdline.ts';

/** The serial console: socat in raw mode, Ctrl-] (0x1d) leaves, as Ganeti's SOCAT_ESCAPE_CODE. */
const SOCAT_PATH = '/usr/bin/socat';
const SOCAT_PARAMS = 'raw,echo=0,escape=0x1d';
const SSH_CONSOLE_USER = 'root';

export interface KvmConsoleInput {
  instance: { name: string; network_port: number | null };
  node: { name: string; sshPort: unknown };
  hvparams: Record<string, unknown>;
  /** The primary node's kvm run directory (it reports it with its heartbeat). */
  runDir: string;
}

/**
 * Ganeti's objects.InstanceConsole for kvm: the ssh + socat command for the
 * serial console, else VNC, else SPICE, else a message. Ganeti wraps socat in
 * its kvm-console-wrapper (which wakes a suspended guest first); rapid nodes
 * have no such wrapper, so the command is socat itself.
 */
export function kvmConsole(i: KvmConsoleInput): Record<string, unknown> {
  const { instance, hvparams } = i;
  if (hvparams.serial_console) {
    return {
      instance: instance.name, kind: 'ssh', host: i.node.name, port: i.node.sshPort, user: SSH_CONSOLE_USER,
      command: [SOCAT_PATH, `STDIO,${SOCAT_PARAMS}`, `UNIX-CONNECT:${kvmPaths(i.runDir, instance.name).serial}`],
    };
  }
  const port = instance.network_port ?? 0;
  const vnc = hvparams.vnc_bind_address;
  if (vnc && port > VNC_BASE_PORT) return { instance: instance.name, kind: 'vnc', host: vnc, port, display: port - VNC_BASE_PORT };
  if (hvparams.spice_bind) return { instance: instance.name, kind: 'spice', host: hvparams.spice_bind, port: instance.network_port };
  return { instance: instance.name, kind: 'msg', message: `No serial shell for instance ${instance.name}` };
}

/** The last `length` bytes of the guest's serial output across its boots (-1: all that is kept). */
export async function readSerialLog(runDir: string, name: string, length: number): Promise<Buffer> {
  const { serialLog } = kvmPaths(runDir, name);
  // The log is rotated to .old when it grows too big; older output is read from there.
  const parts: Buffer[] = [];
  let want = length < 0 ? Infinity : length;
  for (const file of [serialLog, `${serialLog}.old`]) {
    if (want <= 0) break;
    const size = (await stat(file).catch(() => null))?.size ?? 0;
    if (!size) continue;
    const n = Math.min(size, want);
    const fh = await open(file, 'r');
    try {
      const buf = Buffer.alloc(n);
      const { bytesRead } = await fh.read(buf, 0, n, size - n);
      parts.unshift(buf.subarray(0, bytesRead));
      want -= bytesRead;
    } finally {
      await fh.close();
    }
  }
  return Buffer.concat(parts);
}

/** Forgets the kept serial output (Shaken Fist's DELETE consoledata); QEMU appends to the emptied file. */
export async function clearSerialLog(runDir: string, name: string): Promise<void> {
  const { serialLog } = kvmPaths(runDir, name);
  await truncate(serialLog, 0).catch((e: NodeJS.ErrnoException) => { if (e.code !== 'ENOENT') throw e; });
  await rm(`${serialLog}.old`, { force: true });
}
