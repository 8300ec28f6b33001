// Ganeti 3.0's opcodes as data: the single source of truth for every opcode
// rapid knows. Each entry gives OP_ID, the Python class name, OP_DSC_FIELD
// (the field shown in job summaries) and the opcode's own parameters in
// Ganeti's order, with default and check. Every opcode then takes
// COMMON_PARAMS, in that order, as Ganeti's OpCode base class appends them.
//
// Generated once from ganeti/opcodes.py (3.0) and kept as plain data. A
// parameter whose default is null and whose check refuses null is required:
// Ganeti 3.0 has no other "required" marker.
import * as ht from './ht.ts';
import type { Check } from './ht.ts';

export interface ParamDef {
  readonly name: string;
  /** Ganeti's default; copy it before use, lists and dicts are shared. */
  readonly default: unknown;
  readonly check: Check;
}

export interface OpcodeDef {
  /** OP_ID, e.g. OP_INSTANCE_REBOOT. */
  readonly id: string;
  /** The Python class, e.g. OpInstanceReboot; Ganeti's error texts name it. */
  readonly className: string;
  /** OP_DSC_FIELD: the parameter whose value the job summary shows. */
  readonly dscField: string | null;
  /** Own parameters, then COMMON_PARAMS: Ganeti's validation and serialisation order. */
  readonly params: readonly ParamDef[];
}

type ParamRow = readonly [name: string, defaultValue: unknown, check: Check];

const toParam = ([name, defaultValue, check]: ParamRow): ParamDef => ({ name, default: defaultValue, check });

/** constants.OP_PRIO_SUBMIT_VALID: the priorities a client may submit. */
const OP_PRIO_SUBMIT_VALID = new Set([-10, 0, 10]);
/** constants.JOBS_FINALIZED: the statuses a job dependency may wait for. */
const JOBS_FINALIZED = new Set(['canceled', 'error', 'success']);

/**
 * opcodes_base.BuildJobDepCheck(True): [[job id, [status, ...]], ...], where a
 * negative (relative) id refers to an earlier job of the same submission.
 */
const TJobDependencies = ht.TMaybe(ht.TListOf(ht.TAnd(
  ht.TOr(ht.TListOf(ht.TAny), ht.TTuple),
  ht.TIsLength(2),
  ht.TItems([ht.TOr(ht.TJobId, ht.TRelativeJobId), ht.TListOf(ht.TElemOf(JOBS_FINALIZED))]),
)));

/** OpCode.OP_PARAMS: appended to every opcode's own parameters. */
export const COMMON_PARAMS: readonly ParamDef[] = ([
  ['dry_run', null, ht.TMaybe(ht.TBool)],
  ['debug_level', null, ht.TMaybe(ht.TNonNegative(ht.TInt))],
  ['priority', 0, ht.TElemOf(OP_PRIO_SUBMIT_VALID)],
  ['depends', null, TJobDependencies],
  ['comment', null, ht.TMaybe(ht.TString)],
  ['reason', [], ht.TMaybe(ht.TListOf(ht.TAny))],
] as const).map(toParam);

function op(id: string, className: string, dscField: string | null, own: readonly ParamRow[]): OpcodeDef {
  return { id, className, dscField, params: [...own.map(toParam), ...COMMON_PARAMS] };
}

/** Every opcode of Ganeti 3.0's opcodes.OP_MAPPING, in opcodes.py's order. */
export const OPCODE_DEFS: readonly OpcodeDef[] = [
  // Post cluster initialization.
  op('OP_CLUSTER_POST_INIT', 'OpClusterPostInit', null, []),
  // Destroy the cluster.
  op('OP_CLUSTER_DESTROY', 'OpClusterDestroy', null, []),
  // Query cluster information.
  op('OP_CLUSTER_QUERY', 'OpClusterQuery', null, []),
  // Submits all jobs necessary to verify the cluster.
  op('OP_CLUSTER_VERIFY', 'OpClusterVerify', null, [
    ['debug_simulate_errors', false, ht.TBool],
    ['error_codes', false, ht.TBool],
    ['skip_checks', [], ht.TSetOf(ht.TVerifyOptionalChecks)],
    ['ignore_errors', [], ht.TSetOf(ht.TCVErrorCode)],
    ['verbose', false, ht.TBool],
    ['group_name', null, ht.TMaybeString],
    ['verify_clutter', false, ht.TBool],
  ]),
  // Verify the cluster config.
  op('OP_CLUSTER_VERIFY_CONFIG', 'OpClusterVerifyConfig', null, [
    ['debug_simulate_errors', false, ht.TBool],
    ['error_codes', false, ht.TBool],
    ['ignore_errors', [], ht.TSetOf(ht.TCVErrorCode)],
    ['verbose', false, ht.TBool],
  ]),
  // Run verify on a node group from the cluster.
  op('OP_CLUSTER_VERIFY_GROUP', 'OpClusterVerifyGroup', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['debug_simulate_errors', false, ht.TBool],
    ['error_codes', false, ht.TBool],
    ['skip_checks', [], ht.TSetOf(ht.TVerifyOptionalChecks)],
    ['ignore_errors', [], ht.TSetOf(ht.TCVErrorCode)],
    ['verbose', false, ht.TBool],
    ['verify_clutter', false, ht.TBool],
  ]),
  // Verify the cluster disks.
  op('OP_CLUSTER_VERIFY_DISKS', 'OpClusterVerifyDisks', null, [
    ['group_name', null, ht.TMaybeString],
  ]),
  // Verifies the status of all disks in a node group.
  op('OP_GROUP_VERIFY_DISKS', 'OpGroupVerifyDisks', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
  ]),
  // Verify the disk sizes of the instances and fixes configuration mismatches.
  op('OP_CLUSTER_REPAIR_DISK_SIZES', 'OpClusterRepairDiskSizes', null, [
    ['instances', [], ht.TListOf(ht.TNonEmptyString)],
  ]),
  // Query cluster configuration values.
  op('OP_CLUSTER_CONFIG_QUERY', 'OpClusterConfigQuery', null, [
    ['output_fields', null, ht.TListOf(ht.TNonEmptyString)],
  ]),
  // Rename the cluster.
  op('OP_CLUSTER_RENAME', 'OpClusterRename', 'name', [
    ['name', null, ht.TNonEmptyString],
  ]),
  // Change the parameters of the cluster.
  op('OP_CLUSTER_SET_PARAMS', 'OpClusterSetParams', null, [
    ['force', false, ht.TBool],
    ['hv_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['disk_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['vg_name', null, ht.TMaybe(ht.TString)],
    ['enabled_hypervisors', null, ht.TMaybe(ht.TListOf(ht.THypervisor))],
    ['hvparams', null, ht.TMaybe(ht.TDictOf(ht.TString, ht.TObject(ht.TAny)))],
    ['beparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['os_hvp', null, ht.TMaybe(ht.TDictOf(ht.TString, ht.TObject(ht.TAny)))],
    ['osparams', null, ht.TMaybe(ht.TDictOf(ht.TString, ht.TObject(ht.TAny)))],
    ['osparams_private_cluster', null, ht.TMaybe(ht.TDictOf(ht.TString, ht.TObject(ht.TPrivate(ht.TAny))))],
    ['diskparams', null, ht.TMaybe(ht.TDictOf(ht.TDiskTemplate, ht.TObject(ht.TAny)))],
    ['candidate_pool_size', null, ht.TMaybe(ht.TPositive(ht.TInt))],
    ['max_running_jobs', null, ht.TMaybe(ht.TPositive(ht.TInt))],
    ['max_tracked_jobs', null, ht.TMaybe(ht.TPositive(ht.TInt))],
    ['uid_pool', null, ht.TMaybe(ht.TListOf(ht.TTupleOf(ht.TInt, ht.TInt)))],
    ['add_uids', null, ht.TMaybe(ht.TListOf(ht.TTupleOf(ht.TInt, ht.TInt)))],
    ['remove_uids', null, ht.TMaybe(ht.TListOf(ht.TTupleOf(ht.TInt, ht.TInt)))],
    ['maintain_node_health', null, ht.TMaybeBool],
    ['prealloc_wipe_disks', null, ht.TMaybeBool],
    ['nicparams', null, ht.TMaybe(ht.TINicParams)],
    ['ndparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['ipolicy', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['drbd_helper', null, ht.TMaybe(ht.TString)],
    ['default_iallocator', null, ht.TMaybe(ht.TString)],
    ['default_iallocator_params', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['mac_prefix', null, ht.TMaybeString],
    ['master_netdev', null, ht.TMaybe(ht.TString)],
    ['master_netmask', null, ht.TMaybe(ht.TNonNegative(ht.TInt))],
    ['reserved_lvs', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['hidden_os', null, ht.TMaybe(ht.TListOf(ht.TTupleOf(ht.TDdmSimple, ht.TNonEmptyString)))],
    ['blacklisted_os', null, ht.TMaybe(ht.TListOf(ht.TTupleOf(ht.TDdmSimple, ht.TNonEmptyString)))],
    ['use_external_mip_script', null, ht.TMaybeBool],
    ['enabled_disk_templates', null, ht.TMaybe(ht.TListOf(ht.TDiskTemplate))],
    ['modify_etc_hosts', null, ht.TMaybeBool],
    ['file_storage_dir', null, ht.TMaybe(ht.TString)],
    ['shared_file_storage_dir', null, ht.TMaybe(ht.TString)],
    ['gluster_storage_dir', null, ht.TMaybe(ht.TString)],
    ['install_image', null, ht.TMaybe(ht.TString)],
    ['instance_communication_network', null, ht.TMaybe(ht.TString)],
    ['zeroing_image', null, ht.TMaybe(ht.TString)],
    ['compression_tools', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['enabled_user_shutdown', null, ht.TMaybeBool],
    ['enabled_data_collectors', null, ht.TMaybe(ht.TDictOf(ht.TString, ht.TBool))],
    ['data_collector_interval', null, ht.TMaybe(ht.TDictOf(ht.TString, ht.TInt))],
  ]),
  // Force a full push of the cluster configuration.
  op('OP_CLUSTER_REDIST_CONF', 'OpClusterRedistConf', null, []),
  // Activate the master IP on the master node.
  op('OP_CLUSTER_ACTIVATE_MASTER_IP', 'OpClusterActivateMasterIp', null, []),
  // Deactivate the master IP on the master node.
  op('OP_CLUSTER_DEACTIVATE_MASTER_IP', 'OpClusterDeactivateMasterIp', null, []),
  // Renews the cluster node's SSL client certificates.
  op('OP_CLUSTER_RENEW_CRYPTO', 'OpClusterRenewCrypto', null, [
    ['node_certificates', false, ht.TBool],
    ['renew_ssh_keys', false, ht.TBool],
    ['ssh_key_type', null, ht.TMaybe(ht.TSshKeyType)],
    ['ssh_key_bits', null, ht.TMaybe(ht.TPositive(ht.TInt))],
    ['verbose', false, ht.TBool],
    ['debug', false, ht.TBool],
  ]),
  // Query for resources/items.
  op('OP_QUERY', 'OpQuery', 'what', [
    ['what', null, ht.TQueryTypeOp],
    ['use_locking', false, ht.TBool],
    ['fields', null, ht.TListOf(ht.TNonEmptyString)],
    ['qfilter', null, ht.TMaybe(ht.TListOf(ht.TAny))],
  ]),
  // Query for available resource/item fields.
  op('OP_QUERY_FIELDS', 'OpQueryFields', 'what', [
    ['what', null, ht.TQueryTypeOp],
    ['fields', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
  ]),
  // Interact with OOB.
  op('OP_OOB_COMMAND', 'OpOobCommand', null, [
    ['node_names', [], ht.TListOf(ht.TNonEmptyString)],
    ['node_uuids', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['command', null, ht.TOobCommand],
    ['timeout', 60, ht.TInt],
    ['ignore_status', false, ht.TBool],
    ['power_delay', 2.0, ht.TFloat],
  ]),
  // Runs a restricted command on node(s).
  op('OP_RESTRICTED_COMMAND', 'OpRestrictedCommand', null, [
    ['use_locking', false, ht.TBool],
    ['nodes', null, ht.TListOf(ht.TNonEmptyString)],
    ['node_uuids', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['command', null, ht.TNonEmptyString],
  ]),
  // Remove a node.
  op('OP_NODE_REMOVE', 'OpNodeRemove', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
  ]),
  // Add a node to the cluster.
  op('OP_NODE_ADD', 'OpNodeAdd', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['hv_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['disk_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['primary_ip', null, ht.TMaybeString],
    ['secondary_ip', null, ht.TMaybeString],
    ['readd', false, ht.TBool],
    ['group', null, ht.TMaybeString],
    ['master_capable', null, ht.TMaybeBool],
    ['vm_capable', null, ht.TMaybeBool],
    ['ndparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['node_setup', false, ht.TBool],
  ]),
  // Get list of volumes on node.
  op('OP_NODE_QUERYVOLS', 'OpNodeQueryvols', null, [
    ['output_fields', null, ht.TListOf(ht.TNonEmptyString)],
    ['nodes', [], ht.TListOf(ht.TNonEmptyString)],
  ]),
  // Get information on storage for node(s).
  op('OP_NODE_QUERY_STORAGE', 'OpNodeQueryStorage', null, [
    ['output_fields', null, ht.TListOf(ht.TNonEmptyString)],
    ['storage_type', null, ht.TMaybe(ht.TStorageType)],
    ['nodes', [], ht.TListOf(ht.TNonEmptyString)],
    ['name', null, ht.TMaybeString],
  ]),
  // Modifies the properies of a storage unit
  op('OP_NODE_MODIFY_STORAGE', 'OpNodeModifyStorage', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
    ['storage_type', null, ht.TStorageType],
    ['name', null, ht.TMaybeString],
    ['changes', null, ht.TObject(ht.TAny)],
  ]),
  // Repairs the volume group on a node.
  op('OP_REPAIR_NODE_STORAGE', 'OpRepairNodeStorage', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
    ['storage_type', null, ht.TStorageType],
    ['name', null, ht.TMaybeString],
    ['ignore_consistency', false, ht.TBool],
  ]),
  // Change the parameters of a node.
  op('OP_NODE_SET_PARAMS', 'OpNodeSetParams', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
    ['force', false, ht.TBool],
    ['hv_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['disk_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['master_candidate', null, ht.TMaybeBool],
    ['offline', null, ht.TMaybeBool],
    ['drained', null, ht.TMaybeBool],
    ['auto_promote', false, ht.TBool],
    ['master_capable', null, ht.TMaybeBool],
    ['vm_capable', null, ht.TMaybeBool],
    ['secondary_ip', null, ht.TMaybeString],
    ['ndparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['powered', null, ht.TMaybeBool],
  ]),
  // Tries to powercycle a node.
  op('OP_NODE_POWERCYCLE', 'OpNodePowercycle', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
    ['force', false, ht.TBool],
  ]),
  // Migrate all instances from a node.
  op('OP_NODE_MIGRATE', 'OpNodeMigrate', 'node_name', [
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
    ['mode', null, ht.TMaybe(ht.TMigrationMode)],
    ['live', null, ht.TMaybeBool],
    ['target_node', null, ht.TMaybeString],
    ['target_node_uuid', null, ht.TMaybeString],
    ['allow_runtime_changes', true, ht.TBool],
    ['ignore_ipolicy', false, ht.TBool],
    ['iallocator', null, ht.TMaybeString],
  ]),
  // Evacuate instances off a number of nodes.
  op('OP_NODE_EVACUATE', 'OpNodeEvacuate', 'node_name', [
    ['early_release', false, ht.TBool],
    ['node_name', null, ht.TNonEmptyString],
    ['node_uuid', null, ht.TMaybeString],
    ['remote_node', null, ht.TMaybeString],
    ['remote_node_uuid', null, ht.TMaybeString],
    ['iallocator', null, ht.TMaybeString],
    ['mode', null, ht.TEvacMode],
    ['ignore_soft_errors', null, ht.TMaybeBool],
  ]),
  // Create an instance.
  op('OP_INSTANCE_CREATE', 'OpInstanceCreate', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['force_variant', false, ht.TBool],
    ['wait_for_sync', true, ht.TBool],
    ['name_check', true, ht.TBool],
    ['ignore_ipolicy', false, ht.TBool],
    ['opportunistic_locking', false, ht.TBool],
    ['beparams', {}, ht.TObject(ht.TAny)],
    ['disks', null, ht.TListOf(ht.TIDiskParams)],
    ['disk_template', null, ht.TMaybe(ht.TDiskTemplate)],
    ['group_name', null, ht.TMaybeString],
    ['file_driver', null, ht.TMaybe(ht.TFileDriver)],
    ['file_storage_dir', null, ht.TMaybeString],
    ['hvparams', {}, ht.TObject(ht.TAny)],
    ['hypervisor', null, ht.TMaybe(ht.THypervisor)],
    ['iallocator', null, ht.TMaybeString],
    ['identify_defaults', false, ht.TBool],
    ['ip_check', true, ht.TBool],
    ['conflicts_check', true, ht.TBool],
    ['mode', null, ht.TInstCreateMode],
    ['nics', null, ht.TListOf(ht.TINicParams)],
    ['no_install', null, ht.TMaybeBool],
    ['osparams', {}, ht.TObject(ht.TAny)],
    ['osparams_private', null, ht.TMaybe(ht.TObject(ht.TPrivate(ht.TAny)))],
    ['osparams_secret', null, ht.TMaybe(ht.TObject(ht.TSecret(ht.TAny)))],
    ['os_type', null, ht.TMaybeString],
    ['pnode', null, ht.TMaybeString],
    ['pnode_uuid', null, ht.TMaybeString],
    ['snode', null, ht.TMaybeString],
    ['snode_uuid', null, ht.TMaybeString],
    ['source_handshake', null, ht.TMaybe(ht.TListOf(ht.TAny))],
    ['source_instance_name', null, ht.TMaybeString],
    ['source_shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
    ['source_x509_ca', null, ht.TMaybeString],
    ['src_node', null, ht.TMaybeString],
    ['src_node_uuid', null, ht.TMaybeString],
    ['src_path', null, ht.TMaybeString],
    ['compress', 'none', ht.TString],
    ['start', true, ht.TBool],
    ['forthcoming', false, ht.TBool],
    ['commit', false, ht.TBool],
    ['tags', [], ht.TListOf(ht.TNonEmptyString)],
    ['instance_communication', false, ht.TBool],
    ['helper_startup_timeout', null, ht.TMaybe(ht.TInt)],
    ['helper_shutdown_timeout', null, ht.TMaybe(ht.TInt)],
  ]),
  // Allocates multiple instances.
  op('OP_INSTANCE_MULTI_ALLOC', 'OpInstanceMultiAlloc', null, [
    ['opportunistic_locking', false, ht.TBool],
    ['iallocator', null, ht.TMaybeString],
    ['instances', [], ht.TListOf(ht.TAny)],
  ]),
  // Reinstall an instance's OS.
  op('OP_INSTANCE_REINSTALL', 'OpInstanceReinstall', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['force_variant', false, ht.TBool],
    ['os_type', null, ht.TMaybeString],
    ['osparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['osparams_private', null, ht.TMaybe(ht.TObject(ht.TPrivate(ht.TAny)))],
    ['osparams_secret', null, ht.TMaybe(ht.TObject(ht.TSecret(ht.TAny)))],
  ]),
  // Remove an instance.
  op('OP_INSTANCE_REMOVE', 'OpInstanceRemove', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
    ['ignore_failures', false, ht.TBool],
  ]),
  // Rename an instance.
  op('OP_INSTANCE_RENAME', 'OpInstanceRename', null, [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['new_name', null, ht.TNonEmptyString],
    ['name_check', true, ht.TBool],
    ['ip_check', true, ht.TBool],
  ]),
  // Startup an instance.
  op('OP_INSTANCE_STARTUP', 'OpInstanceStartup', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['force', false, ht.TBool],
    ['ignore_offline_nodes', false, ht.TBool],
    ['hvparams', {}, ht.TObject(ht.TAny)],
    ['beparams', {}, ht.TObject(ht.TAny)],
    ['no_remember', false, ht.TBool],
    ['startup_paused', false, ht.TBool],
    ['shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
  ]),
  // Shutdown an instance.
  op('OP_INSTANCE_SHUTDOWN', 'OpInstanceShutdown', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['force', false, ht.TBool],
    ['ignore_offline_nodes', false, ht.TBool],
    ['timeout', 120, ht.TNonNegative(ht.TInt)],
    ['no_remember', false, ht.TBool],
    ['admin_state_source', null, ht.TMaybe(ht.TAdminStateSource)],
  ]),
  // Reboot an instance.
  op('OP_INSTANCE_REBOOT', 'OpInstanceReboot', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
    ['ignore_secondaries', false, ht.TBool],
    ['reboot_type', null, ht.TRebootType],
  ]),
  // Replace the disks of an instance.
  op('OP_INSTANCE_REPLACE_DISKS', 'OpInstanceReplaceDisks', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['early_release', false, ht.TBool],
    ['ignore_ipolicy', false, ht.TBool],
    ['mode', null, ht.TReplaceDisksMode],
    ['disks', [], ht.TListOf(ht.TDiskIndex)],
    ['remote_node', null, ht.TMaybeString],
    ['remote_node_uuid', null, ht.TMaybeString],
    ['iallocator', null, ht.TMaybeString],
  ]),
  // Failover an instance.
  op('OP_INSTANCE_FAILOVER', 'OpInstanceFailover', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
    ['ignore_consistency', false, ht.TBool],
    ['target_node', null, ht.TMaybeString],
    ['target_node_uuid', null, ht.TMaybeString],
    ['ignore_ipolicy', false, ht.TBool],
    ['cleanup', false, ht.TBool],
    ['iallocator', null, ht.TMaybeString],
  ]),
  // Migrate an instance.
  op('OP_INSTANCE_MIGRATE', 'OpInstanceMigrate', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['mode', null, ht.TMaybe(ht.TMigrationMode)],
    ['live', null, ht.TMaybeBool],
    ['target_node', null, ht.TMaybeString],
    ['target_node_uuid', null, ht.TMaybeString],
    ['allow_runtime_changes', true, ht.TBool],
    ['ignore_ipolicy', false, ht.TBool],
    ['cleanup', false, ht.TBool],
    ['iallocator', null, ht.TMaybeString],
    ['allow_failover', false, ht.TBool],
    ['ignore_hvversions', false, ht.TBool],
  ]),
  // Move an instance.
  op('OP_INSTANCE_MOVE', 'OpInstanceMove', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
    ['ignore_ipolicy', false, ht.TBool],
    ['target_node', null, ht.TNonEmptyString],
    ['target_node_uuid', null, ht.TMaybeString],
    ['compress', 'none', ht.TString],
    ['ignore_consistency', false, ht.TBool],
  ]),
  // Connect to an instance's console.
  op('OP_INSTANCE_CONSOLE', 'OpInstanceConsole', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
  ]),
  // Activate an instance's disks.
  op('OP_INSTANCE_ACTIVATE_DISKS', 'OpInstanceActivateDisks', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['ignore_size', false, ht.TBool],
    ['wait_for_sync', false, ht.TBool],
  ]),
  // Deactivate an instance's disks.
  op('OP_INSTANCE_DEACTIVATE_DISKS', 'OpInstanceDeactivateDisks', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['force', false, ht.TBool],
  ]),
  // Recreate an instance's disks.
  op('OP_INSTANCE_RECREATE_DISKS', 'OpInstanceRecreateDisks', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['disks', [], ht.TRecreateDisksInfo],
    ['nodes', [], ht.TListOf(ht.TNonEmptyString)],
    ['node_uuids', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['iallocator', null, ht.TMaybeString],
  ]),
  // Compute the run-time status of instances.
  op('OP_INSTANCE_QUERY_DATA', 'OpInstanceQueryData', null, [
    ['use_locking', false, ht.TBool],
    ['instances', [], ht.TListOf(ht.TNonEmptyString)],
    ['static', false, ht.TBool],
  ]),
  // Change the parameters of an instance.
  op('OP_INSTANCE_SET_PARAMS', 'OpInstanceSetParams', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['force', false, ht.TBool],
    ['force_variant', false, ht.TBool],
    ['ignore_ipolicy', false, ht.TBool],
    ['nics', [], ht.TSetParamsMods(ht.TINicParams)],
    ['disks', [], ht.TSetParamsMods(ht.TIDiskParams)],
    ['beparams', {}, ht.TObject(ht.TAny)],
    ['runtime_mem', null, ht.TMaybe(ht.TPositive(ht.TInt))],
    ['hvparams', {}, ht.TObject(ht.TAny)],
    ['disk_template', null, ht.TMaybe(ht.TDiskTemplate)],
    ['ext_params', {}, ht.TObject(ht.TAny)],
    ['file_driver', null, ht.TMaybe(ht.TFileDriver)],
    ['file_storage_dir', null, ht.TMaybeString],
    ['pnode', null, ht.TMaybeString],
    ['pnode_uuid', null, ht.TMaybeString],
    ['remote_node', null, ht.TMaybeString],
    ['remote_node_uuid', null, ht.TMaybeString],
    ['iallocator', null, ht.TMaybeString],
    ['os_name', null, ht.TMaybeString],
    ['osparams', {}, ht.TObject(ht.TAny)],
    ['osparams_private', null, ht.TMaybe(ht.TObject(ht.TPrivate(ht.TAny)))],
    ['wait_for_sync', true, ht.TBool],
    ['offline', null, ht.TMaybeBool],
    ['conflicts_check', true, ht.TBool],
    ['hotplug', false, ht.TBool],
    ['hotplug_if_possible', false, ht.TBool],
    ['instance_communication', null, ht.TMaybeBool],
  ]),
  // Grow a disk of an instance.
  op('OP_INSTANCE_GROW_DISK', 'OpInstanceGrowDisk', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['wait_for_sync', true, ht.TBool],
    ['disk', null, ht.TDiskIndex],
    ['amount', null, ht.TNonNegative(ht.TInt)],
    ['absolute', false, ht.TBool],
    ['ignore_ipolicy', false, ht.TBool],
  ]),
  // Moves an instance to another node group.
  op('OP_INSTANCE_CHANGE_GROUP', 'OpInstanceChangeGroup', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['early_release', false, ht.TBool],
    ['iallocator', null, ht.TMaybeString],
    ['target_groups', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
  ]),
  // Add a node group to the cluster.
  op('OP_GROUP_ADD', 'OpGroupAdd', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['alloc_policy', null, ht.TMaybe(ht.TAllocPolicy)],
    ['ndparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['diskparams', null, ht.TMaybe(ht.TDictOf(ht.TDiskTemplate, ht.TObject(ht.TAny)))],
    ['hv_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['disk_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['ipolicy', null, ht.TMaybe(ht.TObject(ht.TAny))],
  ]),
  // Assign nodes to a node group.
  op('OP_GROUP_ASSIGN_NODES', 'OpGroupAssignNodes', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['force', false, ht.TBool],
    ['nodes', null, ht.TListOf(ht.TNonEmptyString)],
    ['node_uuids', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
  ]),
  // Change the parameters of a node group.
  op('OP_GROUP_SET_PARAMS', 'OpGroupSetParams', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['alloc_policy', null, ht.TMaybe(ht.TAllocPolicy)],
    ['ndparams', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['diskparams', null, ht.TMaybe(ht.TDictOf(ht.TDiskTemplate, ht.TObject(ht.TAny)))],
    ['hv_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['disk_state', null, ht.TMaybe(ht.TObject(ht.TAny))],
    ['ipolicy', null, ht.TMaybe(ht.TObject(ht.TAny))],
  ]),
  // Remove a node group from the cluster.
  op('OP_GROUP_REMOVE', 'OpGroupRemove', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
  ]),
  // Rename a node group in the cluster.
  op('OP_GROUP_RENAME', 'OpGroupRename', null, [
    ['group_name', null, ht.TNonEmptyString],
    ['new_name', null, ht.TNonEmptyString],
  ]),
  // Evacuate a node group in the cluster.
  op('OP_GROUP_EVACUATE', 'OpGroupEvacuate', 'group_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['early_release', false, ht.TBool],
    ['iallocator', null, ht.TMaybeString],
    ['target_groups', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['sequential', false, ht.TBool],
    ['force_failover', false, ht.TBool],
  ]),
  // Compute the list of guest operating systems.
  op('OP_OS_DIAGNOSE', 'OpOsDiagnose', null, [
    ['output_fields', null, ht.TListOf(ht.TNonEmptyString)],
    ['names', [], ht.TListOf(ht.TNonEmptyString)],
  ]),
  // Compute the list of external storage providers.
  op('OP_EXT_STORAGE_DIAGNOSE', 'OpExtStorageDiagnose', null, [
    ['output_fields', null, ht.TListOf(ht.TNonEmptyString)],
    ['names', [], ht.TListOf(ht.TNonEmptyString)],
  ]),
  // Prepares an instance export.
  op('OP_BACKUP_PREPARE', 'OpBackupPrepare', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['mode', null, ht.TExportMode],
  ]),
  // Export an instance.
  op('OP_BACKUP_EXPORT', 'OpBackupExport', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
    ['compress', 'none', ht.TString],
    ['shutdown_timeout', 120, ht.TNonNegative(ht.TInt)],
    ['target_node', null, ht.TExportTarget],
    ['target_node_uuid', null, ht.TMaybeString],
    ['shutdown', true, ht.TBool],
    ['remove_instance', false, ht.TBool],
    ['ignore_remove_failures', false, ht.TBool],
    ['mode', 'local', ht.TExportMode],
    ['x509_key_name', null, ht.TMaybe(ht.TListOf(ht.TAny))],
    ['destination_x509_ca', null, ht.TMaybeString],
    ['zero_free_space', false, ht.TBool],
    ['zeroing_timeout_fixed', null, ht.TMaybe(ht.TInt)],
    ['zeroing_timeout_per_mib', null, ht.TMaybe(ht.TFloat)],
    ['long_sleep', false, ht.TBool],
  ]),
  // Remove an instance's export.
  op('OP_BACKUP_REMOVE', 'OpBackupRemove', 'instance_name', [
    ['instance_name', null, ht.TString],
    ['instance_uuid', null, ht.TMaybeString],
  ]),
  // Returns the tags of the given object.
  op('OP_TAGS_GET', 'OpTagsGet', 'name', [
    ['kind', null, ht.TTagKind],
    ['use_locking', false, ht.TBool],
    ['name', null, ht.TMaybe(ht.TString)],
  ]),
  // Searches the tags in the cluster for a given pattern.
  op('OP_TAGS_SEARCH', 'OpTagsSearch', 'pattern', [
    ['pattern', null, ht.TNonEmptyString],
  ]),
  // Add a list of tags on a given object.
  op('OP_TAGS_SET', 'OpTagsSet', null, [
    ['kind', null, ht.TTagKind],
    ['tags', null, ht.TListOf(ht.TString)],
    ['name', null, ht.TMaybe(ht.TString)],
  ]),
  // Remove a list of tags from a given object.
  op('OP_TAGS_DEL', 'OpTagsDel', null, [
    ['kind', null, ht.TTagKind],
    ['tags', null, ht.TListOf(ht.TString)],
    ['name', null, ht.TMaybe(ht.TString)],
  ]),
  // Sleeps for a configured amount of time.
  op('OP_TEST_DELAY', 'OpTestDelay', 'duration', [
    ['duration', null, ht.TFloat],
    ['on_master', true, ht.TBool],
    ['on_nodes', [], ht.TListOf(ht.TNonEmptyString)],
    ['on_node_uuids', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['repeat', 0, ht.TNonNegative(ht.TInt)],
    ['interruptible', false, ht.TBool],
    ['no_locks', true, ht.TBool],
  ]),
  // Allocator framework testing.
  op('OP_TEST_ALLOCATOR', 'OpTestAllocator', 'iallocator', [
    ['direction', null, ht.TIAllocatorTestDir],
    ['mode', null, ht.TIAllocatorMode],
    ['name', null, ht.TNonEmptyString],
    ['nics', null, ht.TMaybe(ht.TListOf(ht.TINicParams))],
    ['disks', null, ht.TMaybe(ht.TListOf(ht.TAny))],
    ['hypervisor', null, ht.TMaybe(ht.THypervisor)],
    ['iallocator', null, ht.TMaybeString],
    ['tags', [], ht.TListOf(ht.TNonEmptyString)],
    ['memory', null, ht.TMaybe(ht.TNonNegative(ht.TInt))],
    ['vcpus', null, ht.TMaybe(ht.TNonNegative(ht.TInt))],
    ['os', null, ht.TMaybeString],
    ['disk_template', null, ht.TMaybe(ht.TDiskTemplate)],
    ['instances', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['evac_mode', null, ht.TMaybe(ht.TEvacMode)],
    ['target_groups', null, ht.TMaybe(ht.TListOf(ht.TNonEmptyString))],
    ['spindle_use', 1, ht.TNonNegative(ht.TInt)],
    ['count', 1, ht.TNonNegative(ht.TInt)],
    ['group_name', null, ht.TMaybeString],
  ]),
  // Utility opcode to test some aspects of the job queue.
  op('OP_TEST_JQUEUE', 'OpTestJqueue', null, [
    ['notify_waitlock', false, ht.TBool],
    ['notify_exec', false, ht.TBool],
    ['log_messages', [], ht.TListOf(ht.TString)],
    ['fail', false, ht.TBool],
  ]),
  // Utility opcode to test secret os parameter transmission.
  op('OP_TEST_OS_PARAMS', 'OpTestOsParams', null, [
    ['osparams_secret', null, ht.TMaybe(ht.TObject(ht.TSecret(ht.TAny)))],
  ]),
  // Utility opcode used by unittests.
  op('OP_TEST_DUMMY', 'OpTestDummy', null, [
    ['result', null, ht.TAny],
    ['messages', null, ht.TAny],
    ['fail', null, ht.TAny],
    ['submit_jobs', null, ht.TAny],
  ]),
  // Add an IP network to the cluster.
  op('OP_NETWORK_ADD', 'OpNetworkAdd', 'network_name', [
    ['network_name', null, ht.TNonEmptyString],
    ['network', null, ht.TIPv4Network],
    ['gateway', null, ht.TMaybe(ht.TIPv4Address)],
    ['network6', null, ht.TMaybe(ht.TIPv6Network)],
    ['gateway6', null, ht.TMaybe(ht.TIPv6Address)],
    ['mac_prefix', null, ht.TMaybeString],
    ['add_reserved_ips', null, ht.TMaybe(ht.TListOf(ht.TIPv4Address))],
    ['conflicts_check', true, ht.TBool],
    ['tags', [], ht.TListOf(ht.TNonEmptyString)],
  ]),
  // Remove an existing network from the cluster. Must not be connected to any nodegroup.
  op('OP_NETWORK_REMOVE', 'OpNetworkRemove', 'network_name', [
    ['network_name', null, ht.TNonEmptyString],
    ['force', false, ht.TBool],
  ]),
  // Modify Network's parameters except for IPv4 subnet
  op('OP_NETWORK_SET_PARAMS', 'OpNetworkSetParams', 'network_name', [
    ['network_name', null, ht.TNonEmptyString],
    ['gateway', null, ht.TMaybe(ht.TIPv4Address)],
    ['network6', null, ht.TMaybe(ht.TIPv6Network)],
    ['gateway6', null, ht.TMaybe(ht.TIPv6Address)],
    ['mac_prefix', null, ht.TMaybeString],
    ['add_reserved_ips', null, ht.TMaybe(ht.TListOf(ht.TIPv4Address))],
    ['remove_reserved_ips', null, ht.TMaybe(ht.TListOf(ht.TIPv4Address))],
  ]),
  // Connect a Network to a specific Nodegroup with the defined netparams (mode, link). Nics in this
  // Network will inherit those params. Produce errors if a NIC (that its not already assigned to a
  // network) has an IP that is contained in the Network this will produce error unless --no-
  // conflicts-check is passed.
  op('OP_NETWORK_CONNECT', 'OpNetworkConnect', 'network_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['network_name', null, ht.TNonEmptyString],
    ['network_mode', null, ht.TNICMode],
    ['network_link', null, ht.TNonEmptyString],
    ['network_vlan', '', ht.TString],
    ['conflicts_check', true, ht.TBool],
  ]),
  // Disconnect a Network from a Nodegroup. Produce errors if NICs are present in the Network unless
  // --no-conficts-check option is passed.
  op('OP_NETWORK_DISCONNECT', 'OpNetworkDisconnect', 'network_name', [
    ['group_name', null, ht.TNonEmptyString],
    ['network_name', null, ht.TNonEmptyString],
  ]),
];
