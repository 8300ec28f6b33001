// Guest OS definitions from the master's side: the nodes' reports merged
// into one view per OS (cmdlib/operating_system.py, OP_OS_DIAGNOSE and
// /2/os), and OS parameter validation on the nodes (common.CheckOSParams).
import { OpExecError, OpPrereqError } from '../errors.ts';
import type { Cluster, Node, Params } from '../../src/model.ts';
import type { ConfigStore } from '../../src/store/config.ts';
import { niceSort } from '../../src/nicesort.ts';
import { OS_VALIDATE_PARAMETERS, type OsDiagnosis } from '../../hypervisor/os.ts';
import { OS_SCRIPT_TIMEOUT_S, type OsScriptKind } from '../../hypervisor/os-run.ts';
import { STEP, type NodeCall } from '../node-rpc.ts';
import { pyRepr } from '../py.ts';
import { define, type OpContext } from './context.ts';
import { logInfo } from './feedback.ts';
import { raiseOn, rpc, unreachable, type RpcResult } from './instance-disks.ts';

/**
 * A node step that runs an OS script, its failure a value as Ganeti's
 * RpcResult. The master waits a little longer than the node lets the script
 * run, so the node's own timeout is what fails it.
 */
export async function osRpc(ctx: OpContext, node: Node, step: string, args: Record<string, unknown>, kind: OsScriptKind): Promise<RpcResult> {
  const down = unreachable(ctx.cfg, node);
  if (down) return { ok: false, ...down };
  try {
    return { ok: true, payload: await ctx.node(node.name, step, args, (OS_SCRIPT_TIMEOUT_S[kind] + 30) * 1000) };
  } catch (err) {
    return { ok: false, msg: (err as Error).message, offline: false };
  }
}

/** rpc_defs os_diagnose: RPC_TMO_FAST. */
const DIAGNOSE_TIMEOUT_MS = 300_000;

/**
 * CheckOSParams: each vm_capable node validates the OS name (its variant
 * unless forced), the parameter names and, through the OS's verify script,
 * their values. An OS a node lacks fails only when `required`.
 */
export async function checkOsParams(ctx: OpContext, nodes: Node[], required: boolean, osName: string, osparams: Params, forceVariant: boolean): Promise<void> {
  if (!osName) return;
  for (const node of nodes.filter((n) => n.vm_capable)) {
    const r = await rpc<boolean>(ctx, node, STEP.osValidate, {
      required, name: osName, checks: [OS_VALIDATE_PARAMETERS], osparams, force_variant: forceVariant,
    });
    const found = raiseOn(r, `OS Parameters validation failed on node ${node.name}`);
    if (!found) await logInfo(ctx, `OS ${osName} not found on node ${node.name}, validation skipped`);
  }
}

// ---------------------------------------------------------------------------
// OsQuery (query.OS_FIELDS).

type NodeEntry = [path: string, status: boolean, diagnose: string, variants: string[], params: string[][], apiVersions: number[], trusted: boolean];

/** query.OsInfo. */
export interface OsInfo {
  name: string;
  valid: boolean;
  hidden: boolean;
  blacklisted: boolean;
  variants: string[];
  api_versions: number[];
  parameters: string[][];
  /** Per node uuid, every definition of that name the node has, the one it uses first. */
  node_status: Record<string, NodeEntry[]>;
  os_hvp: Record<string, unknown>;
  osparams: Record<string, unknown>;
  trusted: boolean;
}

const OS_FIELDS = ['name', 'valid', 'hidden', 'blacklisted', 'variants', 'api_versions', 'parameters', 'node_status', 'os_hvp', 'osparams', 'trusted'];

/**
 * call_os_diagnose on the vm_capable online nodes: each node's report, or
 * null for a node whose call failed (a silent worker is not waited for).
 */
export async function gatherOsReports(cfg: ConfigStore, call: NodeCall, timeoutMs = DIAGNOSE_TIMEOUT_MS): Promise<Map<string, OsDiagnosis[] | null>> {
  const nodes = [...cfg.nodes.values()].filter((n) => !n.offline && n.vm_capable);
  const reports = await Promise.all(nodes.map(async (n) => {
    if (!cfg.liveRuntime(n.uuid)) return null;
    return (call(n.name, STEP.osDiagnose, {}, timeoutMs) as Promise<OsDiagnosis[]>).catch(() => null);
  }));
  return new Map(nodes.map((n, i) => [n.uuid, reports[i]!]));
}

const sameParam = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * OsQuery._DiagnoseByOS and _GetQueryData: an OS is valid if every node
 * that answered has it, valid, first in its search path; variants,
 * parameters and API versions are those all such nodes agree on.
 */
export function osInfos(cluster: Cluster, reports: Map<string, OsDiagnosis[] | null>): OsInfo[] {
  const good = [...reports].filter(([, r]) => r !== null).map(([uuid]) => uuid);
  const byOs = new Map<string, Record<string, NodeEntry[]>>();
  for (const [uuid, report] of reports) {
    for (const d of report ?? []) {
      if (!byOs.has(d.name)) byOs.set(d.name, Object.fromEntries(good.map((g) => [g, [] as NodeEntry[]])));
      byOs.get(d.name)![uuid]!.push([d.path, d.status, d.diagnose, d.variants, d.parameters, d.api_versions, d.trusted]);
    }
  }
  const infos: OsInfo[] = [];
  for (const name of niceSort(byOs.keys())) {
    const status = byOs.get(name)!;
    let valid = true;
    let variants: string[] = [];
    let parameters: string[][] = [];
    let apis: number[] = [];
    let trusted = true;
    Object.values(status).forEach((entries, idx) => {
      if (!valid) return;
      valid = entries.length > 0 && entries[0]![1];
      if (!valid) return;
      const [, , , v, p, a, t] = entries[0]!;
      if (idx === 0) {
        variants = [...new Set(v)];
        parameters = p.filter((x, i) => p.findIndex((y) => sameParam(x, y)) === i);
        apis = [...new Set(a)];
      } else {
        variants = variants.filter((x) => v.includes(x));
        parameters = parameters.filter((x) => p.some((y) => sameParam(x, y)));
        apis = apis.filter((x) => a.includes(x));
      }
      if (!t) trusted = false;
    });
    // Only variant names ("os+variant") pick up the cluster's per-OS settings here.
    const osHvp: Record<string, unknown> = {};
    const osparams: Record<string, unknown> = {};
    for (const variant of variants) {
      const full = `${name}+${variant}`;
      if (full in cluster.os_hvp) osHvp[full] = cluster.os_hvp[full];
      if (full in cluster.osparams) osparams[full] = cluster.osparams[full];
    }
    infos.push({
      name, valid, hidden: cluster.hidden_os.includes(name), blacklisted: cluster.blacklisted_os.includes(name),
      variants: niceSort(variants), api_versions: [...apis].sort((x, y) => x - y),
      parameters: sortParameters(parameters), node_status: status, os_hvp: osHvp, osparams, trusted,
    });
  }
  return infos;
}

/** utils.NiceSort(parameters, key=fst). */
function sortParameters(params: string[][]): string[][] {
  const order = niceSort(new Set(params.map((p) => p[0]!)));
  return [...params].sort((a, b) => order.indexOf(a[0]!) - order.indexOf(b[0]!));
}

/**
 * LUOsDiagnose's old-style result: a row of `fields` per OS. As Ganeti's
 * legacy behaviour, hidden, blacklisted and invalid OSes are left out unless
 * the field saying so is asked for.
 */
export function osDiagnoseRows(infos: OsInfo[], fields: string[], names: string[]): unknown[][] {
  const unknown = fields.filter((f) => !OS_FIELDS.includes(f));
  if (unknown.length) throw new OpPrereqError(`Unknown output fields selected: ${[...new Set(unknown)].join(', ')}`, 'wrong_input');
  const shown = infos.filter((i) => (fields.includes('hidden') || !i.hidden) && (fields.includes('blacklisted') || !i.blacklisted)
    && (fields.includes('valid') || i.valid) && (!names.length || names.includes(i.name)));
  let rows = shown;
  // Only a filter on names alone asks for those names, in that order (query._FilterHints).
  if (names.length && ['hidden', 'blacklisted', 'valid'].every((f) => fields.includes(f))) {
    const wanted = [...new Set(names)];
    const missing = wanted.filter((n) => !infos.some((i) => i.name === n));
    if (missing.length) throw new OpExecError(`Some items were removed before retrieving their data: {${missing.map((m) => pyRepr(m)).join(', ')}}`);
    rows = wanted.map((n) => shown.find((i) => i.name === n)!);
  }
  return rows.map((info) => fields.map((f) => info[f as keyof OsInfo]));
}

export const OP_OS_DIAGNOSE = define<null>({
  // LUOsDiagnose takes no locks.
  locks: () => [],
  prereq: () => null,
  async exec(_plan, op, ctx) {
    const infos = osInfos(ctx.cfg.cluster, await gatherOsReports(ctx.cfg, ctx.node));
    return osDiagnoseRows(infos, op.output_fields as string[], op.names as string[]);
  },
});
