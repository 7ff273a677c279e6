//! `heso fleet list` and `heso fleet show`: receipts across the fleet, by the columns
//! copied out of them (which `heso fleet verify` checks against the bytes).

use postgres::types::ToSql;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::connect::{DbError, Store};
use crate::migrate::{SchemaError, check_schema};
use crate::push::to_u64;

/// Which receipts to list. Empty filters match everything.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    /// Only logs registered by this host name.
    pub host: Option<String>,
    /// Only this verb.
    pub verb: Option<String>,
    /// Only this tool name.
    pub tool: Option<String>,
    /// Only this decision (`allow`, `block`, `redact`, `require_approval`).
    pub decision: Option<String>,
    /// Only this workflow.
    pub workflow: Option<String>,
    /// Captured at or after (RFC 3339).
    pub since: Option<String>,
    /// Captured before (RFC 3339).
    pub until: Option<String>,
    /// Only this log.
    pub log: Option<String>,
    /// At most this many, the newest.
    pub limit: u32,
}

/// A stored receipt's place and summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// The host that registered its log.
    pub host_name: String,
    /// Its log.
    pub log_id: String,
    /// Its position in the log.
    pub position: u64,
    /// Its action_hash.
    pub action_hash: String,
    /// When it was captured (RFC 3339).
    pub captured_at: String,
    /// When the store received it (RFC 3339).
    pub received_at: String,
    /// The verb.
    pub verb: String,
    /// The tool name.
    pub tool_name: String,
    /// The workflow.
    pub workflow: String,
    /// The policy's decision.
    pub decision: String,
    /// L0 or L1.
    pub trust_level: String,
}

/// A stored receipt with its exact bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// Where it is and what it says.
    pub listed: Listed,
    /// The receipt as the host's log held it.
    pub receipt: Vec<u8>,
}

/// Why a query failed.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The store's schema is missing or of another version.
    #[error(transparent)]
    Schema(#[from] SchemaError),
    /// The store could not be read.
    #[error("the store: {0}")]
    Db(#[from] DbError),
    /// A filter is not usable.
    #[error("{0}")]
    Filter(String),
    /// No stored receipt has this action_hash prefix.
    #[error("no receipt in the store has an action_hash starting with {0}")]
    NotFound(String),
    /// More than one receipt has this prefix.
    #[error("{prefix} is the start of {count} action_hashes in the store; give more digits")]
    Ambiguous {
        /// The prefix.
        prefix: String,
        /// How many match (at most 10 are counted).
        count: usize,
    },
}

const COLUMNS: &str = "l.host_name, r.log_id, r.position, r.action_hash, r.captured_at, \
     r.received_at, r.verb, r.tool_name, r.workflow, r.decision, r.trust_level";

fn listed(row: &postgres::Row) -> Result<Listed, DbError> {
    let time = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_else(|_| t.to_string());
    Ok(Listed {
        host_name: row.try_get(0)?,
        log_id: row.try_get(1)?,
        position: to_u64(row.try_get(2)?),
        action_hash: row.try_get(3)?,
        captured_at: time(row.try_get(4)?),
        received_at: time(row.try_get(5)?),
        verb: row.try_get(6)?,
        tool_name: row.try_get(7)?,
        workflow: row.try_get(8)?,
        decision: row.try_get(9)?,
        trust_level: row.try_get(10)?,
    })
}

fn parse_time(flag: &str, text: &str) -> Result<OffsetDateTime, QueryError> {
    OffsetDateTime::parse(text, &Rfc3339).map_err(|e| {
        QueryError::Filter(format!(
            "{flag} {text:?} is not an RFC 3339 time (like 2026-12-01T09:00:00Z): {e}"
        ))
    })
}

/// The newest receipts matching `filter`, oldest first.
pub fn list(store: &mut Store, filter: &ListFilter) -> Result<Vec<Listed>, QueryError> {
    check_schema(store)?;
    let since = filter
        .since
        .as_deref()
        .map(|t| parse_time("--since", t))
        .transpose()?;
    let until = filter
        .until
        .as_deref()
        .map(|t| parse_time("--until", t))
        .transpose()?;
    let limit = i64::from(filter.limit);
    let mut conditions: Vec<String> = Vec::new();
    let mut params: Vec<&(dyn ToSql + Sync)> = Vec::new();
    let text_filters = [
        ("l.host_name", &filter.host),
        ("r.verb", &filter.verb),
        ("r.tool_name", &filter.tool),
        ("r.decision", &filter.decision),
        ("r.workflow", &filter.workflow),
        ("r.log_id", &filter.log),
    ];
    for (column, value) in &text_filters {
        if let Some(value) = value {
            params.push(value);
            conditions.push(format!("{column} = ${}", params.len()));
        }
    }
    if let Some(since) = &since {
        params.push(since);
        conditions.push(format!("r.captured_at >= ${}", params.len()));
    }
    if let Some(until) = &until {
        params.push(until);
        conditions.push(format!("r.captured_at < ${}", params.len()));
    }
    params.push(&limit);
    let where_clause = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {COLUMNS} FROM heso.receipts r JOIN heso.logs l USING (log_id) {where_clause} \
         ORDER BY r.captured_at DESC, r.log_id, r.position DESC LIMIT ${}",
        params.len()
    );
    let rows = store.client.query(&sql, &params).map_err(DbError::from)?;
    let mut listed = rows.iter().map(listed).collect::<Result<Vec<_>, _>>()?;
    listed.reverse();
    Ok(listed)
}

/// The stored receipt whose action_hash starts with `prefix` (at least 4 hex digits).
pub fn show(store: &mut Store, prefix: &str) -> Result<Shown, QueryError> {
    let prefix = prefix.to_ascii_lowercase();
    if prefix.len() < 4 || prefix.len() > 64 || !prefix.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(QueryError::Filter(format!(
            "{prefix:?} is not an action_hash prefix (4 to 64 hex digits)"
        )));
    }
    check_schema(store)?;
    let pattern = format!("{prefix}%");
    let sql = format!(
        "SELECT {COLUMNS}, r.receipt FROM heso.receipts r JOIN heso.logs l USING (log_id) \
         WHERE r.action_hash LIKE $1 ORDER BY r.action_hash LIMIT 10"
    );
    let rows = store
        .client
        .query(&sql, &[&pattern])
        .map_err(DbError::from)?;
    match rows.as_slice() {
        [] => Err(QueryError::NotFound(prefix)),
        [row] => Ok(Shown {
            listed: listed(row)?,
            receipt: row.try_get(11).map_err(DbError::from)?,
        }),
        more => Err(QueryError::Ambiguous {
            prefix,
            count: more.len(),
        }),
    }
}
