// rapid's helper processes (node worker, job executor): started in their own
// process group (a terminal's Ctrl-C reaches rapid, which stops them in
// order), restarted if they die, and told to exit when rapid's pipe closes.
import { spawn, type ChildProcess } from 'node:child_process';
import type { PidFiles } from './pidfiles.ts';

export interface ChildSpec {
  name: string;
  script: string;
  env: NodeJS.ProcessEnv;
  /** A line on its stdout that says it is ready. */
  ready: RegExp;
}

export class SupervisedChild {
  private proc: ChildProcess | undefined;
  private stopping = false;

  constructor(private spec: ChildSpec, private pids: PidFiles) {}

  /** Start it and wait for its ready line (or its exit). */
  start(): Promise<void> {
    const proc = spawn(process.execPath, [this.spec.script], {
      env: { ...this.spec.env, RAPID_PARENT_PIPE: '1' },
      stdio: ['pipe', 'pipe', 'inherit'],
      detached: true,
    });
    this.proc = proc;
    this.pids.record(this.spec.name, proc.pid!, this.spec.script.split('/').pop()!);
    let seen = '';
    let isReady = false;
    const ready = new Promise<void>((resolve, reject) => {
      proc.stdout!.on('data', (b: Buffer) => {
        process.stdout.write(b);
        if (isReady) return;
        seen += b.toString();
        if (this.spec.ready.test(seen)) { isReady = true; resolve(); }
      });
      proc.once('exit', (code) => reject(new Error(`${this.spec.name} exited (${code}) before it was ready`)));
    });
    proc.on('exit', (code) => {
      this.pids.remove(this.spec.name, proc.pid!);
      if (!this.stopping) {
        console.error(`rapid: ${this.spec.name} exited (${code}); restarting`);
        setTimeout(() => void this.start().catch((e) => console.error(`rapid: ${e.message}`)), 1000);
      }
    });
    return ready;
  }

  async stop(): Promise<void> {
    this.stopping = true;
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
    await exited;
    clearTimeout(t);
  }
}
