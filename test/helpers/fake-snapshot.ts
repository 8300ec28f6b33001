// An in-memory Snapshot for view tests: a cluster from newCluster(), one
// default group, and whatever nodes, instances and runtime reports a test adds.
import { randomUUID } from 'node:crypto';
import type { Snapshot } from '../../src/store/snapshot.ts';
import type {
  Cluster, Disk, Instance, Kind, KindMap, Network, Nic, Node, NodeGroup, NodeRuntime, Params,
} from '../../src/model.ts';
import { newCluster, newNode, newNodeGroup } from '../../src/defaults.ts';

export const NOW = 1700000000.5;

export class FakeSnapshot implements Snapshot {
  serial = 1;
  cluster: Cluster;
  readonly nodes = new Map<string, Node>();
  readonly groups = new Map<string, NodeGroup>();
  readonly instances = new Map<string, Instance>();
  readonly networks = new Map<string, Network>();
  /** Runtime reports by node uuid; absent = worker not alive. */
  readonly runtimes = new Map<string, NodeRuntime>();
  readonly group: NodeGroup;

  constructor(hypervisors: string[] = ['kvm', 'fake']) {
    this.group = newNodeGroup({ name: 'default', now: NOW });
    this.groups.set(this.group.uuid, this.group);
    this.cluster = newCluster({
      name: 'cluster.example.com', masterNodeUuid: '', hypervisors,
      fileStorageDir: '/srv/ganeti/file-storage', sharedFileStorageDir: '/srv/ganeti/shared-file-storage', now: NOW,
    });
  }

  all<K extends Exclude<Kind, 'cluster'>>(kind: K): KindMap[K][] {
    const maps = { node: this.nodes, nodegroup: this.groups, instance: this.instances, network: this.networks };
    return [...maps[kind].values()] as KindMap[K][];
  }

  byName<K extends Exclude<Kind, 'cluster'>>(kind: K, name: string): KindMap[K] | undefined {
    return this.all(kind).find((o) => o.name === name);
  }

  liveRuntime(nodeUuid: string): NodeRuntime | undefined {
    return this.runtimes.get(nodeUuid);
  }

  /** Config changed: views must not serve cached derived data. */
  touch(): void {
    this.serial++;
  }

  addNode(name: string, opts: { master?: boolean; live?: boolean } & Partial<Node> = {}): Node {
    const { master = false, live = true, ...over } = opts;
    const n = this.nodes.size + 1;
    const node = {
      ...newNode({
        name, primaryIp: `192.0.2.${n}`, secondaryIp: `198.51.100.${n}`, groupUuid: this.group.uuid, master, now: NOW,
      }),
      ...over,
    };
    this.nodes.set(node.uuid, node);
    if (master) this.cluster = { ...this.cluster, master_node: node.uuid };
    if (live) this.setRuntime(node, {});
    this.touch();
    return node;
  }

  setRuntime(node: Node, over: Partial<NodeRuntime>): NodeRuntime {
    const rt: NodeRuntime = {
      node: node.uuid, heartbeat: Date.now(),
      mtotal: 32768, mnode: 1024, mfree: 30000, dtotal: 102400, dfree: 51200,
      ctotal: 8, cnos: 1, cnodes: 1, csockets: 1, instances: {},
      ...over,
    };
    this.runtimes.set(node.uuid, rt);
    return rt;
  }

  addInstance(name: string, pnode: Node, opts: Partial<Instance> & { running?: boolean } = {}): Instance {
    const { running = false, ...over } = opts;
    const disk: Disk = {
      uuid: randomUUID(), name: null, size: 10240, mode: 'rw', spindles: null, dev_type: 'file',
      logical_id: ['loop', `/srv/ganeti/file-storage/${name}/disk0`], params: {},
    };
    const nic: Nic = {
      uuid: randomUUID(), name: null, mac: 'aa:00:00:35:d9:6e', ip: null, network: null, nicparams: {},
    };
    const inst: Instance = {
      uuid: randomUUID(), ctime: NOW, mtime: NOW + 100, serial_no: 4, tags: [],
      name, primary_node: pnode.uuid, secondary_nodes: [], os: 'debian-image', hypervisor: 'kvm',
      admin_state: running ? 'up' : 'down', admin_state_source: 'admin', disk_template: 'file',
      disks: [disk], nics: [nic], beparams: {}, hvparams: {}, osparams: {}, network_port: null, forthcoming: false,
      ...over,
    };
    this.instances.set(inst.uuid, inst);
    if (running) this.run(inst, pnode);
    this.touch();
    return inst;
  }

  /** Report the instance as running on `node` (its primary by default). */
  run(inst: Instance, node: Node = this.nodes.get(inst.primary_node)!, state: NodeRuntime['instances'][string]['state'] = 'running'): void {
    const rt = this.runtimes.get(node.uuid);
    if (!rt) throw new Error(`node ${node.name} has no runtime`);
    const be = { maxmem: 128, vcpus: 1, ...inst.beparams } as Params;
    rt.instances[inst.name] = { state, memory: be['maxmem'] as number, vcpus: be['vcpus'] as number };
  }
}
