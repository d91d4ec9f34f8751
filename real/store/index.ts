export { StoreError } from "./errors.js";
export { MIGRATIONS, SCHEMA_VERSION, applyMigrations, readSchemaVersion, type Migration } from "./migrations.js";
export type { EventRow, NewRun, RunRow, StoredEventInput } from "./rows.js";
export {
  BUSY_TIMEOUT_MS,
  DEFAULT_STORE_PATH,
  EVENTS_INSERT_MAX,
  EVENTS_LIST_MAX,
  RUNS_LIST_MAX,
  openStore,
  type ListRunsOptions,
  type RunEventsOptions,
  type Store,
  type StoreOptions,
} from "./store.js";
export { MONITOR_NODES_MAX, openMonitorStore, type CorruptedMonitorRow, type MonitorNodeInput, type MonitorNodeRow, type MonitorStore } from "./monitor.js";
export {
  EXPERIMENT_NODES_MAX,
  ExperimentError,
  checkNewExperiment,
  diskStateNode,
  openExperimentStore,
  type ExperimentEvent,
  type ExperimentNode,
  type ExperimentRow,
  type ExperimentStore,
  type ExperimentSummary,
  type LiveNode,
  type NodeProgress,
  type PartitionRow,
  type Serving,
  type SwapProgress,
} from "./experiments.js";
export { SiteVariableError, checkSiteVariable, type SiteVariableValue } from "./sitevars.js";
export { claimWriter, processStart, type WriterClaim } from "./writers.js";
export { SERVICE_ROWS_MAX, openServiceStore, type ServiceBatchRow, type ServiceChecksumRow, type ServiceNodeRow, type ServiceReconcileRow, type ServiceRestartRow, type ServiceRolloutRow, type ServiceStore } from "./service.js";
export { DiskImageStore, NODE_DISKS_LIST_MAX, openDiskImageStore, type DiskDeltaRow, type DiskImageRow, type NodeDiskRow, type UnreferencedFiles } from "./disk-images.js";
