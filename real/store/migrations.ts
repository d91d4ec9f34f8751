import Database from "better-sqlite3";
import { StoreError, translate } from "./errors.js";

export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

/*
 * The version lives in a `schema_version` table, one row per applied migration, rather than in
 * PRAGMA user_version: the rows say which migrations ran and what they were, any SQLite tool shows
 * them, and a foreign SQLite file (tables but no schema_version) is told apart from a fresh one.
 *
 * Append-only: databases in the field already carry every released migration, so an entry is never
 * edited, removed or reordered. A change to the schema is a new entry with the next version.
 * Tables are STRICT so that a value of the wrong type is refused on the way in.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: "schema_version, runs and events",
    sql: `
      CREATE TABLE schema_version (
        version INTEGER PRIMARY KEY,
        description TEXT NOT NULL
      ) STRICT;

      CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        scenario TEXT NOT NULL,
        seed TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        events INTEGER NOT NULL,
        sim_seconds REAL NOT NULL,
        wall_seconds REAL NOT NULL,
        ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
        results TEXT NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;
      CREATE INDEX runs_created ON runs (created_at, id);
      CREATE INDEX runs_scenario_created ON runs (scenario, created_at, id);

      CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        run_id INTEGER REFERENCES runs (id) ON DELETE CASCADE,
        time_us INTEGER NOT NULL,
        host TEXT NOT NULL,
        kind TEXT NOT NULL,
        data TEXT NOT NULL
      ) STRICT;
      CREATE INDEX events_run_time ON events (run_id, time_us);
      CREATE INDEX events_kind ON events (kind);
    `,
  },
  {
    version: 2,
    description: "monitor_nodes: node monitor pools, counters and next test times",
    sql: `
      CREATE TABLE monitor_nodes (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        pool TEXT NOT NULL,
        passes INTEGER NOT NULL,
        failures INTEGER NOT NULL,
        next_test_us INTEGER NOT NULL,
        flapping INTEGER NOT NULL,
        probation INTEGER NOT NULL,
        history INTEGER NOT NULL,
        history_length INTEGER NOT NULL,
        tests INTEGER NOT NULL,
        updated_us INTEGER NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 3,
    description: "experiments and their nodes, with the sync server each names",
    sql: `
      CREATE TABLE experiments (
        name TEXT PRIMARY KEY,
        sync_server TEXT,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE experiment_nodes (
        experiment TEXT NOT NULL REFERENCES experiments (name) ON DELETE CASCADE,
        node TEXT NOT NULL,
        host TEXT NOT NULL,
        PRIMARY KEY (experiment, node)
      ) STRICT;
    `,
  },
  {
    version: 4,
    description: "experiment files, states and live node progress; partitions; site variables; events by experiment",
    sql: `
      ALTER TABLE experiments ADD COLUMN state TEXT NOT NULL DEFAULT 'new'
        CHECK (state IN ('new', 'swapping-in', 'active', 'swapping-out', 'swapped', 'failed'));
      ALTER TABLE experiments ADD COLUMN state_reason TEXT NOT NULL DEFAULT '';
      ALTER TABLE experiments ADD COLUMN spec TEXT;
      ALTER TABLE experiments ADD COLUMN world TEXT CHECK (world IS NULL OR world IN ('sim', 'real'));
      ALTER TABLE experiments ADD COLUMN save_disk_state INTEGER NOT NULL DEFAULT 0 CHECK (save_disk_state IN (0, 1));
      ALTER TABLE experiments ADD COLUMN clock_us INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE experiments ADD COLUMN seconds_left REAL;
      ALTER TABLE experiments ADD COLUMN progress TEXT NOT NULL DEFAULT '{}';
      ALTER TABLE experiments ADD COLUMN updated_at TEXT NOT NULL DEFAULT '';

      ALTER TABLE experiment_nodes ADD COLUMN phase TEXT NOT NULL DEFAULT '';
      ALTER TABLE experiment_nodes ADD COLUMN pnode TEXT NOT NULL DEFAULT '';
      ALTER TABLE experiment_nodes ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE experiment_nodes ADD COLUMN bytes_written INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE experiment_nodes ADD COLUMN image_bytes INTEGER NOT NULL DEFAULT 0;
      ALTER TABLE experiment_nodes ADD COLUMN seconds_left REAL;
      ALTER TABLE experiment_nodes ADD COLUMN last_report_us INTEGER;
      ALTER TABLE experiment_nodes ADD COLUMN ready INTEGER NOT NULL DEFAULT 0 CHECK (ready IN (0, 1));
      ALTER TABLE experiment_nodes ADD COLUMN reason TEXT NOT NULL DEFAULT '';

      CREATE TABLE partitions (
        experiment TEXT NOT NULL,
        node TEXT NOT NULL,
        partition INTEGER NOT NULL,
        image TEXT NOT NULL,
        delta TEXT,
        delta_bytes INTEGER,
        saved_at TEXT,
        PRIMARY KEY (experiment, node, partition),
        FOREIGN KEY (experiment, node) REFERENCES experiment_nodes (experiment, node) ON DELETE CASCADE
      ) STRICT;

      CREATE TABLE site_variables (
        name TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;

      ALTER TABLE events ADD COLUMN experiment TEXT;
      CREATE INDEX events_experiment ON events (experiment, id);
      CREATE INDEX experiment_nodes_host ON experiment_nodes (host);
    `,
  },
  {
    version: 5,
    description: "store_writers: the one process allowed to write a role's state (a monitor's node rows)",
    sql: `
      CREATE TABLE store_writers (
        role TEXT PRIMARY KEY,
        pid INTEGER NOT NULL,
        host TEXT NOT NULL,
        process_start TEXT NOT NULL,
        started_at TEXT NOT NULL,
        command TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 6,
    description: "service management: nodes and their versions, rollouts and their batches, checksum results",
    sql: `
  CREATE TABLE service_nodes (
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    address TEXT NOT NULL,
    node_set TEXT NOT NULL,
    version TEXT,
    previous TEXT,
    healthy INTEGER NOT NULL CHECK (healthy IN (0, 1)),
    restarts INTEGER NOT NULL,
    error TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (service, node)
  ) STRICT;

  CREATE TABLE service_rollouts (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    version TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL,
    targets INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    seconds REAL NOT NULL
  ) STRICT;
  CREATE INDEX service_rollouts_service ON service_rollouts (service, id);

  CREATE TABLE service_batches (
    rollout_id INTEGER NOT NULL REFERENCES service_rollouts (id) ON DELETE CASCADE,
    batch INTEGER NOT NULL,
    first INTEGER NOT NULL,
    size INTEGER NOT NULL,
    failed INTEGER NOT NULL,
    PRIMARY KEY (rollout_id, batch)
  ) STRICT;

  CREATE TABLE service_checksums (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    round_at TEXT NOT NULL,
    node_set TEXT NOT NULL,
    file TEXT NOT NULL,
    decided TEXT,
    supporters INTEGER NOT NULL,
    expected INTEGER NOT NULL,
    minority TEXT NOT NULL
  ) STRICT;
  CREATE INDEX service_checksums_service ON service_checksums (service, id);
`,
  },
  {
    version: 7,
    description: "disk images, their signatures and deltas, and which image and delta each node's partition holds",
    sql: `
      CREATE TABLE disk_images (
        digest TEXT PRIMARY KEY,
        image_id TEXT NOT NULL,
        path TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        signature TEXT,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE disk_deltas (
        path TEXT PRIMARY KEY,
        digest TEXT NOT NULL,
        base TEXT NOT NULL REFERENCES disk_images (digest),
        kind TEXT NOT NULL CHECK (kind IN ('delta', 'full')),
        delta_id TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        data_bytes INTEGER NOT NULL,
        created_at TEXT NOT NULL
      ) STRICT;

      CREATE TABLE node_disks (
        node TEXT NOT NULL,
        partition INTEGER NOT NULL,
        image TEXT NOT NULL REFERENCES disk_images (digest),
        delta TEXT REFERENCES disk_deltas (path),
        loaded_at TEXT NOT NULL,
        saved_at TEXT,
        PRIMARY KEY (node, partition)
      ) STRICT;
      CREATE INDEX node_disks_image ON node_disks (image);
      CREATE INDEX node_disks_delta ON node_disks (delta);
    `,
  },
  {
    version: 8,
    description: "service sweeps: the nodes the sweep restarted, why and how",
    sql: `
  CREATE TABLE service_restarts (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    at TEXT NOT NULL,
    reason TEXT NOT NULL CHECK (reason IN ('silent', 'gave-up')),
    how TEXT NOT NULL CHECK (how IN ('agent', 'command', 'none')),
    ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
    detail TEXT NOT NULL
  ) STRICT;
  CREATE INDEX service_restarts_service ON service_restarts (service, id);
`,
  },
  {
    version: 9,
    description: "experiments.serving: what a running swap serves its nodes (image servers, sync port, heartbeat)",
    sql: `
      ALTER TABLE experiments ADD COLUMN serving TEXT NOT NULL DEFAULT '{}';
    `,
  },
  {
    version: 10,
    description: "service sweeps: the nodes the sweep brought to the wanted version, from which",
    sql: `
  CREATE TABLE service_reconciles (
    id INTEGER PRIMARY KEY,
    service TEXT NOT NULL,
    node TEXT NOT NULL,
    at TEXT NOT NULL,
    from_version TEXT,
    to_version TEXT NOT NULL,
    ok INTEGER NOT NULL CHECK (ok IN (0, 1)),
    detail TEXT NOT NULL
  ) STRICT;
  CREATE INDEX service_reconciles_service ON service_reconciles (service, id);
`,
  },
];

function latestVersion(migrations: readonly Migration[]): number {
  return migrations[migrations.length - 1]?.version ?? 0;
}

/** The schema version this program writes and understands. */
export const SCHEMA_VERSION = latestVersion(MIGRATIONS);

function assertOrdered(migrations: readonly Migration[]): void {
  migrations.forEach((migration, index) => {
    if (migration.version !== index + 1) {
      throw new Error(`migration at index ${index} has version ${migration.version}, expected ${index + 1}`);
    }
  });
}

/**
 * The version recorded in the database: 0 for a fresh database. A SQLite file that has tables of
 * its own but no schema_version table belongs to something else and is refused.
 */
export function readSchemaVersion(db: Database.Database, path: string): number {
  const versionTable = db
    .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'schema_version'")
    .get();
  if (versionTable === undefined) {
    const other = db
      .prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' LIMIT 1")
      .get() as { name: string } | undefined;
    if (other !== undefined) {
      throw new StoreError(path, `not a testbed database (has table "${other.name}" but no schema_version table)`);
    }
    return 0;
  }
  const row = db.prepare("SELECT MAX(version) AS version FROM schema_version").get() as { version: unknown };
  if (!Number.isSafeInteger(row.version) || (row.version as number) < 1) {
    throw new StoreError(path, `corrupted data in table schema_version: no valid version (got ${String(row.version)})`);
  }
  return row.version as number;
}

export function assertKnownVersion(path: string, version: number, latest: number): void {
  if (version > latest) {
    throw new StoreError(path, `schema version ${version} is newer than this testbed (knows ${latest}); upgrade testbed`);
  }
}

/**
 * Applies, in order, each migration newer than the database, each in its own immediate (write-
 * locked) transaction that re-reads the version, so two processes opening a fresh file at once do
 * not both migrate it. Returns the versions applied.
 */
export function applyMigrations(
  db: Database.Database,
  path: string,
  migrations: readonly Migration[] = MIGRATIONS,
): number[] {
  assertOrdered(migrations);
  const latest = latestVersion(migrations);
  let current: number;
  try {
    current = readSchemaVersion(db, path);
  } catch (error) {
    throw translate(error, path, "read the schema version");
  }
  assertKnownVersion(path, current, latest);
  const applied: number[] = [];
  for (const migration of migrations.slice(current)) {
    const apply = db.transaction((): boolean => {
      if (readSchemaVersion(db, path) >= migration.version) return false;
      db.exec(migration.sql);
      db.prepare("INSERT INTO schema_version (version, description) VALUES (?, ?)").run(
        migration.version,
        migration.description,
      );
      return true;
    });
    try {
      if (apply.immediate()) applied.push(migration.version);
    } catch (error) {
      throw translate(error, path, `apply migration ${migration.version} (${migration.description})`);
    }
  }
  return applied;
}
