// IPv4 address management of networks (Ganeti's network.AddressPool and the
// IP parts of WConfd's TempRes): two reservation maps per network, one for
// instances and one for external reservations (network, broadcast, gateway,
// nodes, operator's list), stored as strings with "X" reserved and "." free.
// Everything here is pure: it reads a snapshot and returns new objects; the
// opcodes commit them.
import { isIPv4, isIPv6 } from 'node:net';
import { AddressPoolError, OpPrereqError, ReservationError } from '../errors.ts';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type { Instance, Network, Node, Params } from '../../src/model.ts';
import type { LockRequest } from '../locks.ts';
import { ipv4ToInt } from '../ipaddress.ts';
import { findNetwork } from './lookup.ts';

// test/networks-groups.test.ts takes the errors this module raises from here.
export { AddressPoolError, ReservationError };

const RESERVED = 'X';
const FREE = '.';

/** network.IPV4_NETWORK_MIN_SIZE / MAX_SIZE: prefix lengths a pool may have. */
export const IPV4_NETWORK_MIN_SIZE = 30;
export const IPV4_NETWORK_MAX_SIZE = 16;

export const intToIp = (n: number): string => [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');

/** A prefix length, or a netmask / hostmask in dotted form (as Python's ipaddress reads them). */
function prefixLength(text: string): number | null {
  if (/^\d{1,2}$/.test(text)) return Number(text) <= 32 ? Number(text) : null;
  const mask = ipv4ToInt(text);
  if (mask === null) return null;
  for (let len = 0; len <= 32; len++) {
    const net = len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
    if (mask === net || mask === (~net >>> 0)) return len;
  }
  return null;
}

/** The first address, size and canonical "a.b.c.d/len" form of a stored network. */
export function networkRange(network: string): { base: number; size: number; cidr: string } {
  const [addr, len = '32', ...rest] = network.split('/');
  const base = ipv4ToInt(addr);
  const prefix = prefixLength(len);
  if (base === null || prefix === null || rest.length) {
    throw new AddressPoolError(`'${network}' does not appear to be an IPv4 or IPv6 network`);
  }
  const size = 2 ** (32 - prefix);
  const first = base - (base % size);
  return { base: first, size, cidr: `${intToIp(first)}/${prefix}` };
}

/**
 * One network's pool (network.AddressPool). Methods change this object's
 * maps; `network()` returns the Network with them, leaving the input alone.
 */
export class AddressPool {
  readonly base: number;
  readonly size: number;
  /** The network as Python prints it, for messages. */
  readonly cidr: string;
  private res: string[];
  private ext: string[];

  constructor(readonly net: Network) {
    ({ base: this.base, size: this.size, cidr: this.cidr } = networkRange(net.network));
    if (this.size > 2 ** (32 - IPV4_NETWORK_MAX_SIZE)) {
      throw new AddressPoolError(`A big network with ${this.size} host(s) is currently not supported. please specify at most a /${IPV4_NETWORK_MAX_SIZE} network`);
    }
    if (this.size < 2 ** (32 - IPV4_NETWORK_MIN_SIZE)) {
      throw new AddressPoolError(`A network with only ${this.size} host(s) is too small, please specify at least a /${IPV4_NETWORK_MIN_SIZE} network`);
    }
    // An empty map is an untouched pool, as Ganeti reads a missing bitarray.
    this.res = [...(net.reservations || FREE.repeat(this.size))];
    this.ext = [...(net.ext_reservations || FREE.repeat(this.size))];
  }

  /** network.AddressPool.InitializeNetwork: network, broadcast and gateway reserved externally. */
  static initialize(net: Network): AddressPool {
    const pool = new AddressPool({ ...net, reservations: '', ext_reservations: '' });
    pool.reserve(intToIp(pool.base), true);
    pool.reserve(intToIp(pool.base + pool.size - 1), true);
    if (net.gateway !== null) pool.reserve(net.gateway, true);
    return pool;
  }

  /** The network with this pool's maps. */
  network(): Network {
    return { ...this.net, reservations: this.res.join(''), ext_reservations: this.ext.join('') };
  }

  contains(ip: string | null): boolean {
    if (ip === null) return false;
    const n = ipv4ToInt(ip);
    return n !== null && n >= this.base && n < this.base + this.size;
  }

  private index(ip: string): number {
    const n = ipv4ToInt(ip);
    if (n === null || n < this.base || n >= this.base + this.size) {
      throw new AddressPoolError(`${this.cidr} does not contain ${ip}`);
    }
    return n - this.base;
  }

  isReserved(ip: string, external = false): boolean {
    return (external ? this.ext : this.res)[this.index(ip)] === RESERVED;
  }

  reserve(ip: string, external = false): void {
    if (this.isReserved(ip, external)) {
      throw new AddressPoolError(external ? `IP ${ip} is already externally reserved` : `IP ${ip} is already used by an instance`);
    }
    (external ? this.ext : this.res)[this.index(ip)] = RESERVED;
  }

  release(ip: string, external = false): void {
    if (!this.isReserved(ip, external)) {
      throw new AddressPoolError(external ? `IP ${ip} is not externally reserved` : `IP ${ip} is not used by an instance`);
    }
    (external ? this.ext : this.res)[this.index(ip)] = FREE;
  }

  /** The first address free in both maps, or null when the network is full. */
  firstFree(): string | null {
    for (let i = 0; i < this.size; i++) {
      if (this.res[i] !== RESERVED && this.ext[i] !== RESERVED) return intToIp(this.base + i);
    }
    return null;
  }
}

// ---------------------------------------------------------------------------
// Query fields (Query/Network.hs): what /2/networks shows of a pool.

export interface PoolStats {
  free_count: number;
  reserved_count: number;
  /** Both maps combined, "X" reserved. */
  map: string;
  /** Externally reserved addresses, ", "-joined. */
  external_reservations: string;
}

export function poolStats(net: Network): PoolStats {
  const { base, size } = networkRange(net.network);
  const res = net.reservations || FREE.repeat(size);
  const ext = net.ext_reservations || FREE.repeat(size);
  let map = '';
  let reserved = 0;
  const external: string[] = [];
  for (let i = 0; i < size; i++) {
    const taken = res[i] === RESERVED || ext[i] === RESERVED;
    if (taken) reserved++;
    map += taken ? RESERVED : FREE;
    if (ext[i] === RESERVED) external.push(intToIp(base + i));
  }
  return { free_count: size - reserved, reserved_count: reserved, map, external_reservations: external.join(', ') };
}

// ---------------------------------------------------------------------------
// Instance addresses (WConfd's reserveIp / generateIp / commitReleaseIp).
// Each takes the network as it stands in the caller's pending changes and
// returns the network with the change.

/** cfg.ReserveIp: an address for an instance; `checkExternal` is the opcode's conflicts_check. */
export function reserveIp(net: Network, ip: string, checkExternal = true): Network {
  const pool = new AddressPool(net);
  if (!pool.contains(ip)) throw new ReservationError(`Address '${ip}' not in the network '${pool.cidr}'`);
  if (pool.isReserved(ip)) throw new ReservationError('IP address already in use');
  if (checkExternal && pool.isReserved(ip, true)) throw new ReservationError('IP is externally reserved');
  pool.reserve(ip);
  return pool.network();
}

/** cfg.GenerateIp: the first free address, reserved for an instance. */
export function generateFreeIp(net: Network): { ip: string; network: Network } {
  const pool = new AddressPool(net);
  const ip = pool.firstFree();
  if (ip === null) throw new ReservationError('Cannot generate IP. Network is full');
  pool.reserve(ip);
  return { ip, network: pool.network() };
}

/** An instance's address back to the pool (WConfd commitReleaseIp). */
export function releaseIp(net: Network, ip: string): Network {
  const pool = new AddressPool(net);
  try {
    pool.release(ip);
  } catch (err) {
    throw new ReservationError((err as Error).message);
  }
  return pool.network();
}

// ---------------------------------------------------------------------------
// NICs of instances.

const isNone = (v: unknown): boolean => v === null || v === undefined || (typeof v === 'string' && v.toLowerCase() === 'none');

/**
 * Exclusive locks on the networks NICs name (by name or uuid), the level
 * network opcodes lock by name: an opcode reserving or releasing addresses
 * never has its commit refused by a concurrent reservation.
 */
export function nicNetworkLocks(cfg: Snapshot, nics: readonly unknown[]): LockRequest[] {
  const names = new Set<string>();
  for (const nic of nics) {
    const ref = (nic as { network?: unknown } | null)?.network;
    if (typeof ref !== 'string' || isNone(ref)) continue;
    names.add(cfg.networks.get(ref)?.name ?? ref);
  }
  return [...names].sort().map((name) => ({ level: 'network', name, shared: false }));
}

/** Networks changed by one opcode so far, by uuid: later NICs see earlier reservations. */
export type PendingNetworks = Map<string, Network>;

/** The config writes for the networks an opcode changed. */
export const networkWrites = (pending: PendingNetworks): { kind: 'network'; obj: Network }[] =>
  [...pending.values()].map((obj) => ({ kind: 'network' as const, obj }));

const current = (cfg: Snapshot, pending: PendingNetworks, uuid: string): Network | undefined =>
  pending.get(uuid) ?? cfg.networks.get(uuid);

export interface NicRequest {
  network?: unknown;
  ip?: unknown;
  mode?: unknown;
  link?: unknown;
}

export interface ResolvedNic {
  /** Network uuid, or null for a NIC outside any network. */
  network: string | null;
  /** The netparams (mode, link, vlan) a network NIC inherits from its node's group; null without a network. */
  nicparams: Params | null;
  /** The NIC's address: as given, reserved in the network, or drawn from its pool. */
  ip: string | null;
  /** MAC prefix for a generated MAC: the network's, or null for the cluster's. */
  macPrefix: string | null;
}

/**
 * The network side of one NIC of an instance being created on `pnode`
 * (instance_utils.ComputeNics + LUInstanceCreate.CheckPrereq): the network
 * looked up, mode and link from the group's connection, the address reserved
 * or taken from the pool (`ip: "pool"`), and for a NIC without a network,
 * Ganeti's check that its address is not in a network of the group.
 * Reservations go into `pending`; commit `networkWrites(pending)` with the
 * instance. An `ip: "auto"` must be resolved by the caller first.
 */
export function resolveNicNetwork(
  cfg: Snapshot, pnode: Pick<Node, 'name' | 'group'>, nic: NicRequest,
  opts: { index: number; conflictsCheck: boolean; pending: PendingNetworks },
): ResolvedNic {
  const netName = isNone(nic.network) ? null : String(nic.network);
  const given = (v: unknown): boolean => v !== undefined && v !== null;
  if (netName !== null && (given(nic.mode) || given(nic.link))) {
    throw new OpPrereqError('If network is given, no mode or link is allowed to be passed', 'wrong_input');
  }
  let ip = isNone(nic.ip) ? null : String(nic.ip);
  if (ip !== null && ip.toLowerCase() === 'pool') {
    if (netName === null) throw new OpPrereqError('if ip=pool, parameter network must be passed too', 'wrong_input');
    ip = 'pool';
  } else if (ip !== null && !isIPv4(ip) && !isIPv6(ip)) {
    throw new OpPrereqError(`Invalid IP address '${ip}'`, 'wrong_input');
  }

  if (netName === null) {
    if (opts.conflictsCheck && ip !== null) {
      // config.CheckIPInNodeGroup: the first network of the group holding the address.
      const group = cfg.groups.get(pnode.group);
      for (const uuid of Object.keys(group?.networks ?? {})) {
        const net = current(cfg, opts.pending, uuid);
        if (net && new AddressPool(net).contains(ip)) {
          throw new OpPrereqError(`The requested IP address (${ip}) belongs to network ${net.name}, but the target NIC does not.`, 'wrong_state');
        }
      }
    }
    return { network: null, nicparams: null, ip, macPrefix: null };
  }

  const found = findNetwork(cfg, netName);
  const net = current(cfg, opts.pending, found.uuid)!;
  const netparams = cfg.groups.get(pnode.group)?.networks[net.uuid];
  if (!netparams) {
    throw new OpPrereqError(`No netparams found for network ${net.name}. Probably not connected to node's ${pnode.name} nodegroup`, 'wrong_input');
  }
  if (ip === 'pool') {
    try {
      const got = generateFreeIp(net);
      opts.pending.set(net.uuid, got.network);
      ip = got.ip;
    } catch (err) {
      if (!(err instanceof ReservationError)) throw err;
      throw new OpPrereqError(`Unable to get a free IP for NIC ${opts.index} from the address pool`, 'wrong_state');
    }
  } else if (ip !== null) {
    try {
      opts.pending.set(net.uuid, reserveIp(net, ip, opts.conflictsCheck));
    } catch (err) {
      if (!(err instanceof ReservationError)) throw err;
      throw new OpPrereqError(`IP address ${ip} already in use or does not belong to network ${net.name}`, 'resource_not_unique');
    }
  }
  return { network: net.uuid, nicparams: { ...netparams }, ip, macPrefix: net.mac_prefix };
}

/**
 * The addresses of an instance's NICs back to their pools, as WConfd's
 * removeInstance does. A NIC whose address is not marked (or whose network
 * is gone) has nothing to give back: removal must not fail over it.
 */
export function releaseInstanceIps(cfg: Snapshot, inst: Instance, pending: PendingNetworks = new Map()): PendingNetworks {
  for (const nic of inst.nics) {
    if (!nic.network || !nic.ip) continue;
    const net = current(cfg, pending, nic.network);
    if (!net) continue;
    const pool = new AddressPool(net);
    if (!pool.contains(nic.ip) || !pool.isReserved(nic.ip)) continue;
    pending.set(net.uuid, releaseIp(net, nic.ip));
  }
  return pending;
}
