// Ganeti's `fake` hypervisor: no guest runs, but the driver keeps real state
// on disk (as Ganeti's keeps files under /var/run/ganeti/fake-hv), so a
// started instance stays "running" across worker restarts and uses memory
// that the node then reports as taken.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { InstanceRuntime } from '../src/model.ts';
import type { HostInfo, HypervisorDriver, InstanceSpecLike, MigrationStatus } from './driver.ts';
import { hostCpus, hostMemory } from './host.ts';

type State = Record<string, InstanceRuntime>;

export class FakeHypervisor implements HypervisorDriver {
  readonly name = 'fake';
  private file: string;
  private state: State | undefined;
  /** Serialises read-modify-write of the state file. */
  private chain: Promise<unknown> = Promise.resolve();

  constructor(stateDir: string) {
    this.file = path.join(stateDir, 'fake-hv.json');
  }

  private async load(): Promise<State> {
    if (!this.state) {
      try {
        this.state = JSON.parse(await readFile(this.file, 'utf8')) as State;
      } catch {
        this.state = {};
      }
    }
    return this.state;
  }

  private mutate(fn: (s: State) => void): Promise<void> {
    const next = this.chain.then(async () => {
      const s = { ...(await this.load()) };
      fn(s);
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(s));
      await rename(tmp, this.file);
      this.state = s;
    });
    this.chain = next.catch(() => undefined);
    return next;
  }

  async list(): Promise<State> {
    await this.chain;
    return { ...(await this.load()) };
  }

  start(spec: InstanceSpecLike, opts: { paused: boolean }): Promise<void> {
    return this.mutate((s) => {
      s[spec.name] = { state: opts.paused ? 'paused' : 'running', memory: Number(spec.beparams.maxmem), vcpus: Number(spec.beparams.vcpus) };
    });
  }

  stop(name: string): Promise<void> {
    return this.mutate((s) => { delete s[name]; });
  }

  async reboot(spec: InstanceSpecLike): Promise<void> {
    // A fake guest reboots instantly; it must be running to be rebooted.
    const s = await this.list();
    if (!s[spec.name]) throw new Error(`Instance ${spec.name} is not running`);
  }

  async balloon(spec: InstanceSpecLike, memory: number): Promise<void> {
    await this.mutate((s) => {
      const cur = s[spec.name];
      if (!cur) throw new Error(`Failed to balloon memory for ${spec.name}: not running`);
      s[spec.name] = { ...cur, memory };
    });
  }

  /** The guest's runtime, so the target runs it with the memory it has now. */
  async migrationInfo(spec: InstanceSpecLike): Promise<InstanceRuntime | null> {
    return (await this.list())[spec.name] ?? null;
  }

  async acceptInstance(spec: InstanceSpecLike): Promise<void> {
    if ((await this.list())[spec.name]) throw new Error("Can't accept instance, already running");
  }

  async migrateInstance(): Promise<void> {
    // A fake guest has no memory to send.
  }

  async migrationStatus(): Promise<MigrationStatus> {
    return { status: 'completed' };
  }

  finalizeMigrationDst(spec: InstanceSpecLike, info: unknown, success: boolean): Promise<void> {
    const was = info as InstanceRuntime | null;
    return this.mutate((s) => {
      if (!success) { delete s[spec.name]; return; }
      s[spec.name] = {
        state: was?.state ?? 'running',
        memory: was?.memory ?? Number(spec.beparams.maxmem),
        vcpus: was?.vcpus ?? Number(spec.beparams.vcpus),
      };
    });
  }

  async finalizeMigrationSource(spec: InstanceSpecLike, success: boolean): Promise<void> {
    if (success) await this.stop(spec.name);
  }

  async hostInfo(): Promise<HostInfo> {
    const mem = await hostMemory();
    const used = Object.values(await this.list()).reduce((a, r) => a + r.memory, 0);
    return {
      mtotal: mem.total,
      mnode: mem.total - mem.available,
      mfree: Math.max(0, mem.available - used),
      ...hostCpus(),
    };
  }
}

/**
 * hv_fake.GetInstanceConsole: Ganeti's console description for a fake guest.
 * Computed from configuration alone, as Ganeti does on the master.
 */
export function fakeConsole(instanceName: string): Record<string, unknown> {
  return { instance: instanceName, kind: 'msg', message: 'Console not available for fake hypervisor' };
}
