//! The heso fleet store: receipts from many hosts in one PostgreSQL database, that no agent
//! host can rewrite, verified and queried as one.
//!
//! - [`migrate`]: the schema, versioned in this crate ([`SCHEMA_VERSION`]), applied by
//!   `heso fleet migrate URL`: tables for logs, approvers, receipts, checkpoints,
//!   cosignatures and refused inserts (forks); triggers that refuse UPDATE, DELETE and
//!   TRUNCATE for every role; an insert trigger that stores a receipt only as the successor
//!   of its stored predecessor (anything else is kept in `heso.forks`); the group role
//!   `heso_host` (INSERT and SELECT only, and only into logs its own role registered) and
//!   `heso_reader` (SELECT only).
//! - [`Pusher`]: `heso push` and the Python shipper. Before sending, the local log must
//!   contain what the store holds of it (its latest signed checkpoint's tree and its last
//!   stored receipt): a truncated or rewritten log is refused with [`StoreVerdict`]
//!   `Truncated` or `RootMismatch`. Then what the store lacks goes in binary COPY batches,
//!   one transaction each, and a checkpoint of the whole log signed by the operator key.
//!   Pushing again, or after a crash mid-batch, stores every receipt exactly once.
//! - [`check_against_store`]: the same comparison without sending (`heso log verify
//!   --store`).
//! - [`fleet_verify`]: every stored byte re-checked, streaming: receipts pinned to each
//!   log's registered operator key and approvers, chain links, positions, the query columns,
//!   checkpoints against the stored receipts, cosignatures, recorded forks.
//! - [`list`], [`show`]: queries across the fleet.
//!
//! This crate is never on the path of a gated call: the engine does not depend on it.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod connect;
mod migrate;
mod project;
mod push;
mod query;
mod rows;
mod tls;
mod verify;

pub use connect::{ConnectError, DbError, Store};
pub use migrate::{
    MigrateError, MigrateReport, OLDEST_SCHEMA_VERSION, SCHEMA_VERSION, SchemaError, check_schema,
    migrate, migrate_to,
};
pub use project::{
    ProjectError, ProjectLog, STORE_URL_ENV, host_name, project_log, ship_source, store_url,
};
pub use push::{
    PushError, PushReport, Pusher, RegisteredApprover, ShipSource, StoreVerdict,
    check_against_store, log_origin,
};
pub use query::{ListFilter, Listed, QueryError, Shown, list, show};
pub use verify::{
    FleetFailure, FleetOptions, FleetReport, FleetVerifyError, LogResult, fleet_verify,
};
