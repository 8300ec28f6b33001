// The lock requests opcodes share. Ganeti's Big Ganeti Lock is rapid's
// cluster-level lock: opcodes that change the cluster take it exclusively,
// the others shared, so they never run while the cluster changes.
import type { LockRequest } from '../locks.ts';

export const BGL: LockRequest = { level: 'cluster', name: 'cluster', shared: false };
export const BGL_SHARED: LockRequest = { level: 'cluster', name: 'cluster', shared: true };

export const nodeLock = (name: unknown, shared: boolean): LockRequest => ({ level: 'node', name: String(name), shared });
export const groupLock = (name: unknown, shared = false): LockRequest => ({ level: 'nodegroup', name: String(name), shared });
