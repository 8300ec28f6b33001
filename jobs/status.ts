// Ganeti's job and opcode status vocabulary and the one rule that derives a
// job's status from its opcodes (jqueue CalcStatus).
export const OP_STATUS = ['queued', 'waiting', 'running', 'canceling', 'canceled', 'success', 'error'] as const;
export type OpStatus = (typeof OP_STATUS)[number];
export type JobStatus = OpStatus;

export const FINALIZED: ReadonlySet<JobStatus> = new Set(['canceled', 'success', 'error']);

export function calcStatus(opstatus: readonly OpStatus[]): JobStatus {
  let status: JobStatus = 'queued';
  let allSuccess = true;
  for (const s of opstatus) {
    if (s === 'success') continue;
    allSuccess = false;
    if (s === 'error' || s === 'canceling' || s === 'canceled') return s;
    if (s === 'waiting' || s === 'running') status = s;
  }
  return allSuccess ? 'success' : status;
}

/** Ganeti's [seconds, microseconds] timestamps. */
export type Timestamp = [number, number];
export function timestamp(ms: number = Date.now()): Timestamp {
  const sec = Math.floor(ms / 1000);
  return [sec, Math.round((ms - sec * 1000) * 1000)];
}
