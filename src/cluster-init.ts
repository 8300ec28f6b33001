// First start: this host becomes a one-node cluster (gnt-cluster init);
// later starts find the configuration in Redis and change nothing.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { K } from './store/keys.ts';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { ConfigStore } from './store/config.ts';
import { INITIAL_NODE_GROUP_NAME, newCluster, newNode, newNodeGroup } from './defaults.ts';
import type { Settings } from './settings.ts';

function primaryIp(): string {
  for (const list of Object.values(os.networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}

export async function ensureCluster(cfg: ConfigStore, redis: Redis, settings: Settings): Promise<boolean> {
  if (cfg.hasCluster) return false;
  // Several daemons may start at once on an empty Redis: one initialises.
  if ((await redis.set('rapid:cfg:init', String(process.pid), 'PX', 30_000, 'NX')) !== 'OK') {
    for (let i = 0; i < 600 && !cfg.hasCluster; i++) {
      await new Promise((r) => setTimeout(r, 50));
      await cfg.reload();
    }
    return false;
  }
  await cfg.reload();
  if (cfg.hasCluster) return false;
  const now = Date.now() / 1000;
  const group = newNodeGroup({ name: INITIAL_NODE_GROUP_NAME, now });
  const ip = primaryIp();
  const node = newNode({ name: settings.nodeName, primaryIp: ip, secondaryIp: ip, groupUuid: group.uuid, master: true, now });
  const cluster = newCluster({
    name: os.hostname(), masterNodeUuid: node.uuid, hypervisors: settings.hypervisors,
    fileStorageDir: path.join(settings.dataDir, 'storage'), sharedFileStorageDir: path.join(settings.dataDir, 'shared-storage'), now,
  });
  // Ganeti's default kernel (/boot/vmlinuz-3-kvmU) is one an admin installs
  // for Ganeti; without it, guests boot from their own disk (what rapid's
  // built-in OS installs), as after `gnt-cluster init -H kvm:kernel_path=`.
  const kvm = cluster.hvparams.kvm;
  if (kvm && !existsSync(String(kvm.kernel_path))) cluster.hvparams.kvm = { ...kvm, kernel_path: '', initrd_path: '' };
  await cfg.commit([
    { kind: 'nodegroup', obj: group, isNew: true },
    { kind: 'node', obj: node, isNew: true },
    { kind: 'cluster', obj: cluster, isNew: true },
  ]);
  return true;
}

/**
 * The secret node workers present to join: made once per cluster, kept in
 * Redis and written (0600) into the master's data dir for the operator.
 */
export async function ensureClusterSecret(redis: Redis, file: string): Promise<string> {
  await redis.set(K.clusterSecret, randomBytes(24).toString('base64url'), 'NX');
  const secret = (await redis.get(K.clusterSecret))!;
  if (!existsSync(file)) writeFileSync(file, `${secret}\n`, { mode: 0o600 });
  return secret;
}
