//! Versioned schema migrations, kept in the crate and applied by `heso fleet migrate URL`.

use crate::connect::{DbError, Store};

/// The schema version `migrate` brings a store to.
pub const SCHEMA_VERSION: i32 = 2;

/// The oldest schema version this heso still pushes to and reads: version 2 changed how
/// the rules on `heso.receipts` are checked, not the tables, so hosts can be upgraded
/// before the store is migrated.
pub const OLDEST_SCHEMA_VERSION: i32 = 1;

/// One migration: its version, a name, and its SQL.
struct Migration {
    version: i32,
    name: &'static str,
    sql: &'static str,
}

/// Every migration, in order. A released migration is never edited: a change is a new one.
const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "logs, approvers, receipts, checkpoints, cosignatures, forks; append-only triggers; roles heso_host and heso_reader",
        sql: include_str!("sql/0001_init.sql"),
    },
    Migration {
        version: 2,
        name: "the same rules on receipts, cheaper per row: registration checked per statement instead of a foreign key, action_hash checked without a regular expression, one lookup of the log's head per insert",
        sql: include_str!("sql/0002_cheaper_receipt_checks.sql"),
    },
];

/// Serialises concurrent `migrate` runs (`pg_advisory_xact_lock` key).
const MIGRATE_LOCK: i64 = 0x6865_736f_6d69_6772; // "hesomigr"

/// What `migrate` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrateReport {
    /// The version the store had before (0: no heso schema).
    pub from: i32,
    /// The migrations applied now: version and name.
    pub applied: Vec<(i32, &'static str)>,
    /// The version the store has now.
    pub to: i32,
}

/// Why `migrate` failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The store was migrated by a newer heso.
    #[error(
        "the store's schema is version {found}, newer than this heso knows ({SCHEMA_VERSION}); \
         upgrade heso"
    )]
    Newer {
        /// The store's version.
        found: i32,
    },
    /// A statement failed (nothing was applied: migrations run in one transaction).
    #[error("migration to schema version {version} failed, nothing was changed: {source}")]
    Failed {
        /// The migration.
        version: i32,
        /// The server's error.
        #[source]
        source: DbError,
    },
    /// The store could not be read or written.
    #[error("{0}")]
    Db(#[from] DbError),
}

/// Why the store's schema cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// No heso schema: `heso fleet migrate URL` has not run.
    #[error("the store has no heso schema: run `heso fleet migrate URL` as its owner first")]
    Missing,
    /// Older than this heso reads.
    #[error(
        "the store's schema is version {found}, this heso needs {OLDEST_SCHEMA_VERSION} to \
         {SCHEMA_VERSION}: run `heso fleet migrate URL` as its owner"
    )]
    Older {
        /// The store's version.
        found: i32,
    },
    /// Newer than this heso.
    #[error(
        "the store's schema is version {found}, newer than this heso knows ({SCHEMA_VERSION}): \
         upgrade heso"
    )]
    Newer {
        /// The store's version.
        found: i32,
    },
    /// The version could not be read.
    #[error("{0}")]
    Db(#[from] DbError),
}

impl SchemaError {
    /// True when trying again later may succeed.
    pub fn is_transient(&self) -> bool {
        matches!(self, SchemaError::Db(e) if e.is_transient())
    }
}

/// Brings the store's schema to [`SCHEMA_VERSION`], in one transaction under a lock (two
/// runs at once apply each migration once). Needs a role that can create schemas and roles
/// (the database owner with CREATEROLE, or a superuser). Running it again does nothing.
pub fn migrate(store: &mut Store) -> Result<MigrateReport, MigrateError> {
    migrate_to(store, SCHEMA_VERSION)
}

/// [`migrate`], stopping at `target` (at most [`SCHEMA_VERSION`]): makes the stores older
/// heso versions made, to test upgrading them in place.
pub fn migrate_to(store: &mut Store, target: i32) -> Result<MigrateReport, MigrateError> {
    let target = target.min(SCHEMA_VERSION);
    let mut tx = store.client.transaction().map_err(DbError::from)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATE_LOCK])
        .map_err(DbError::from)?;
    tx.batch_execute(
        "CREATE SCHEMA IF NOT EXISTS heso;
         CREATE TABLE IF NOT EXISTS heso.schema_migrations (
             version    integer PRIMARY KEY,
             name       text NOT NULL,
             applied_at timestamptz NOT NULL DEFAULT now()
         );",
    )
    .map_err(DbError::from)?;
    let from: i32 = tx
        .query_one(
            "SELECT coalesce(max(version), 0) FROM heso.schema_migrations",
            &[],
        )
        .map_err(DbError::from)?
        .get(0);
    if from > SCHEMA_VERSION {
        return Err(MigrateError::Newer { found: from });
    }
    let mut applied = Vec::new();
    for migration in MIGRATIONS
        .iter()
        .filter(|m| m.version > from && m.version <= target)
    {
        let failed = |source: postgres::Error| MigrateError::Failed {
            version: migration.version,
            source: source.into(),
        };
        tx.batch_execute(migration.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO heso.schema_migrations (version, name) VALUES ($1, $2)",
            &[&migration.version, &migration.name],
        )
        .map_err(failed)?;
        applied.push((migration.version, migration.name));
    }
    tx.commit().map_err(DbError::from)?;
    Ok(MigrateReport {
        from,
        applied,
        to: from.max(target),
    })
}

/// Checks the store's schema is one this heso reads and writes ([`OLDEST_SCHEMA_VERSION`]
/// to [`SCHEMA_VERSION`]).
pub fn check_schema(store: &mut Store) -> Result<(), SchemaError> {
    let exists: bool = store
        .client
        .query_one(
            "SELECT to_regclass('heso.schema_migrations') IS NOT NULL",
            &[],
        )
        .map_err(DbError::from)?
        .get(0);
    if !exists {
        return Err(SchemaError::Missing);
    }
    let found: i32 = store
        .client
        .query_one(
            "SELECT coalesce(max(version), 0) FROM heso.schema_migrations",
            &[],
        )
        .map_err(DbError::from)?
        .get(0);
    match found {
        0 => Err(SchemaError::Missing),
        v if v < OLDEST_SCHEMA_VERSION => Err(SchemaError::Older { found: v }),
        v if v > SCHEMA_VERSION => Err(SchemaError::Newer { found: v }),
        _ => Ok(()),
    }
}
