// Every Redis key and channel rapid uses, in one place. BullMQ keeps its own
// keys under the `rapidq` prefix.
export const QUEUE_PREFIX = 'rapidq';
export const JOBS_QUEUE = 'jobs';
export const nodeQueue = (nodeName: string) => `node-${nodeName}`;

export const K = {
  config: 'rapid:cfg',
  configSerial: 'rapid:cfg:serial',
  /** serial_no of every config object, by the same field as in `config`. */
  configSerials: 'rapid:cfg:serials',
  configChanged: 'rapid:cfg:changed',
  /** Proof a joining node worker means this cluster. */
  clusterSecret: 'rapid:cluster:secret',
  runtime: (nodeUuid: string) => `rapid:rt:${nodeUuid}`,
  runtimeChanged: 'rapid:rt:changed',
  jobId: 'rapid:jobs:id',
  job: (id: number) => `rapid:job:${id}`,
  jobLog: (id: number) => `rapid:job:${id}:log`,
  jobsLive: 'rapid:jobs:live',
  /** Jobs not finished yet: the reconciler's work list. */
  jobsPending: 'rapid:jobs:pending',
  jobsArchived: 'rapid:jobs:archived',
  jobChanged: 'rapid:job:changed',
  lock: (name: string) => `rapid:lock:${name}`,
  lockReleased: 'rapid:lock:released',
  /** Job filter rules by uuid, their change channel, and the jobs each rate limit admitted. */
  filters: 'rapid:filters',
  filtersChanged: 'rapid:filters:changed',
  filterRunning: (uuid: string) => `rapid:filter:${uuid}:running`,
  /** Bearer tokens, by the SHA-256 of the secret. */
  tokenPrefix: 'rapid:token:',
} as const;
