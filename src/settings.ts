// Every setting comes from the environment, with defaults a one-node cluster
// needs nothing else for.
import os from 'node:os';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { QEMU_SYSTEM } from '../hypervisor/host.ts';

export interface Settings {
  dataDir: string;
  port: number;
  bind: string;
  /** Unset: rapid runs its own redis-server under the data dir. */
  redisUrl: string | undefined;
  requireAuth: boolean;
  tls: boolean;
  certPath: string | undefined;
  keyPath: string | undefined;
  caPath: string | undefined;
  hypervisors: string[];
  nodeName: string;
  /** Seconds a /2/jobs/<id>/wait long-poll waits for a change. */
  waitTimeout: number;
  /** Seconds after which finished jobs leave /2/jobs. */
  jobRetention: number;
  /** Archived jobs kept readable by id before the oldest are deleted. */
  archiveMax: number;
  /** Seconds between checks for jobs whose process died. */
  reconcileInterval: number;
  /** Opcode executions running at once in one daemon. */
  jobConcurrency: number;
  maxBodyBytes: number;
  /** Job executor processes to run (0: run jobs inside the daemon). */
  executorProcesses: number;
  /** Run the local node worker as a child process. */
  localWorker: boolean;
}

function flag(v: string | undefined, dflt: boolean): boolean {
  if (v === undefined || v === '') return dflt;
  return !/^(0|false|no|off)$/i.test(v);
}

function int(name: string, v: string | undefined, dflt: number): number {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(v)}`);
  return n;
}

export function loadSettings(env: NodeJS.ProcessEnv = process.env): Settings {
  return {
    dataDir: path.resolve(env.RAPID_DATA_DIR || './data'),
    port: int('RAPID_PORT', env.RAPID_PORT, 5080),
    bind: env.RAPID_BIND || '0.0.0.0',
    redisUrl: env.REDIS_URL || undefined,
    requireAuth: flag(env.RAPID_REQUIRE_AUTH, false),
    tls: flag(env.RAPID_TLS, true),
    certPath: env.RAPID_CERT || undefined,
    keyPath: env.RAPID_KEY || undefined,
    caPath: env.RAPID_CA || undefined,
    // kvm first (the default for new instances) where QEMU is installed, as the issue asks.
    hypervisors: (env.RAPID_HYPERVISORS || (existsSync(QEMU_SYSTEM) ? 'kvm,fake' : 'fake')).split(',').map((s) => s.trim()).filter(Boolean),
    nodeName: env.RAPID_NODE_NAME || os.hostname(),
    waitTimeout: int('RAPID_WAIT_TIMEOUT', env.RAPID_WAIT_TIMEOUT, 10),
    jobRetention: int('RAPID_JOB_RETENTION', env.RAPID_JOB_RETENTION, 6 * 3600),
    archiveMax: int('RAPID_ARCHIVE_MAX', env.RAPID_ARCHIVE_MAX, 100_000),
    reconcileInterval: int('RAPID_RECONCILE_INTERVAL', env.RAPID_RECONCILE_INTERVAL, 10),
    jobConcurrency: int('RAPID_JOB_CONCURRENCY', env.RAPID_JOB_CONCURRENCY, 64),
    maxBodyBytes: int('RAPID_MAX_BODY', env.RAPID_MAX_BODY, 4 * 1024 * 1024),
    executorProcesses: int('RAPID_EXECUTORS', env.RAPID_EXECUTORS, 1),
    localWorker: flag(env.RAPID_LOCAL_WORKER, true),
  };
}
