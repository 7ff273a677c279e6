//! Connecting to the store: the URL, the password PostgreSQL's own way (`PGPASSWORD`,
//! `~/.pgpass`), and errors that say which server.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr as _;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::{Client, Config, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::tls::{self, ProcessEnv, SslMode, TlsSettings};

/// An error from PostgreSQL or the connection to it, with the server's message, detail
/// and SQLSTATE when it sent them.
#[derive(Debug)]
pub struct DbError(postgres::Error);

impl DbError {
    /// True when trying again later may succeed: the connection was lost or refused, or
    /// the server is shutting down or starting up. A refusal (a trigger, a privilege, a
    /// constraint) is not transient.
    pub fn is_transient(&self) -> bool {
        if self.0.is_closed() {
            return true;
        }
        match self.0.code() {
            None => true,
            Some(code) => {
                *code == SqlState::ADMIN_SHUTDOWN
                    || *code == SqlState::CRASH_SHUTDOWN
                    || *code == SqlState::CANNOT_CONNECT_NOW
                    || *code == SqlState::CONNECTION_FAILURE
                    || *code == SqlState::CONNECTION_EXCEPTION
                    || *code == SqlState::SQLCLIENT_UNABLE_TO_ESTABLISH_SQLCONNECTION
                    || *code == SqlState::T_R_SERIALIZATION_FAILURE
                    || *code == SqlState::T_R_DEADLOCK_DETECTED
                    || *code == SqlState::TOO_MANY_CONNECTIONS
            }
        }
    }

    /// The SQLSTATE code, when the server sent one.
    pub fn code(&self) -> Option<&str> {
        self.0.code().map(SqlState::code)
    }

    /// True when the server refused for lack of privilege (a role without the right, or
    /// the append-only triggers).
    pub fn is_refusal(&self) -> bool {
        self.0.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE)
    }
}

impl From<postgres::Error> for DbError {
    fn from(e: postgres::Error) -> Self {
        Self(e)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.as_db_error() {
            Some(db) => {
                write!(f, "{} (SQLSTATE {})", db.message(), db.code().code())?;
                if let Some(detail) = db.detail() {
                    write!(f, ": {detail}")?;
                }
                Ok(())
            }
            None => {
                // The client's own message, with its cause (connection refused, ...).
                write!(f, "{}", self.0)?;
                let mut source = std::error::Error::source(&self.0);
                while let Some(cause) = source {
                    write!(f, ": {cause}")?;
                    source = cause.source();
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for DbError {}

/// Why the store could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a PostgreSQL connection string.
    #[error(
        "not a PostgreSQL connection URL: {reason} (give postgresql://USER@HOST:PORT/DATABASE; \
         the password comes from PGPASSWORD or ~/.pgpass)"
    )]
    Url {
        /// What the parser said.
        reason: String,
    },
    /// The TLS options (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`) cannot be used.
    #[error("the store's TLS settings: {reason}")]
    Tls {
        /// What is wrong with them.
        reason: String,
    },
    /// The server could not be reached or refused the login.
    #[error("cannot connect to the store {target} ({tls}): {source}{hint}")]
    Connect {
        /// The server, without any password.
        target: String,
        /// The TLS settings used (`sslmode=…`, the CA file).
        tls: String,
        /// What the error means, when it is a certificate the client refused.
        hint: String,
        /// What went wrong.
        #[source]
        source: DbError,
    },
}

impl ConnectError {
    /// True when trying again later may succeed (the server is down or restarting).
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectError::Url { .. } | ConnectError::Tls { .. } => false,
            // A certificate the client refused, or a server without TLS when TLS is
            // required, stays so until someone changes a setting.
            ConnectError::Connect { source, .. } => {
                let text = source.to_string();
                source.is_transient()
                    && !text.contains("invalid peer certificate")
                    && !text.contains("server does not support TLS")
            }
        }
    }
}

/// An open connection to the fleet store.
pub struct Store {
    pub(crate) client: Client,
    target: String,
    tls: TlsSettings,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("target", &self.target)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to the PostgreSQL server `url` names (`postgresql://USER@HOST:PORT/DB` or
    /// `host=… user=… dbname=…`). Without a password in the URL, the password comes from
    /// `PGPASSWORD`, else from the password file (`PGPASSFILE`, else `~/.pgpass`, used
    /// only when no one else can read it), as with `psql`. The user defaults to `PGUSER`,
    /// else the login name. TLS as libpq: `sslmode` (`disable`, `allow`, `prefer` by
    /// default, `require`, `verify-ca`, `verify-full`), `sslrootcert` (a PEM file, or
    /// `system`), `sslcert` and `sslkey`, from the URL or `PGSSLMODE`, `PGSSLROOTCERT`,
    /// `PGSSLCERT`, `PGSSLKEY`; see `docs/fleet.md`.
    pub fn connect(url: &str) -> Result<Self, ConnectError> {
        let split = tls::split(url, &ProcessEnv).map_err(|reason| ConnectError::Url { reason })?;
        let settings = split.tls;
        let mut config = Config::from_str(&split.rest).map_err(|e| ConnectError::Url {
            reason: e.to_string(),
        })?;
        config.ssl_mode(match settings.mode {
            SslMode::Disable => postgres::config::SslMode::Disable,
            SslMode::Allow | SslMode::Prefer => postgres::config::SslMode::Prefer,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                postgres::config::SslMode::Require
            }
        });
        let rustls_config =
            tls::client_config(&settings).map_err(|reason| ConnectError::Tls { reason })?;
        if config.get_user().is_none() {
            let user = std::env::var("PGUSER")
                .or_else(|_| std::env::var("USER"))
                .unwrap_or_else(|_| "postgres".to_owned());
            config.user(&user);
        }
        if config.get_password().is_none()
            && let Some(password) = password_for(&config)
        {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        if config.get_application_name().is_none() {
            config.application_name("heso");
        }
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(30));
        let target = describe(&config);
        let connected = match rustls_config {
            None => config.connect(NoTls),
            Some(rustls_config) => config.connect(MakeRustlsConnect::new(rustls_config)),
        };
        let client = connected.map_err(|e| {
            let source = DbError(e);
            let text = source.to_string();
            let hint = if text.contains("UnknownIssuer") {
                " (the server's certificate is not signed by a CA in the trusted certificates \
                 named above)"
            } else if text.contains("not valid for name") {
                " (sslmode=verify-full: the host name in the URL must be one the server's \
                 certificate names)"
            } else {
                ""
            };
            ConnectError::Connect {
                target: target.clone(),
                tls: settings.to_string(),
                hint: hint.to_owned(),
                source,
            }
        })?;
        Ok(Self {
            client,
            target,
            tls: settings,
        })
    }

    /// True when this connection is encrypted (the server's own view, `pg_stat_ssl`).
    pub fn encrypted(&mut self) -> Result<bool, DbError> {
        let row = self.client.query_one(
            "SELECT coalesce((SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()), false)",
            &[],
        )?;
        Ok(row.get(0))
    }

    /// The server and user, as errors name them (never a password).
    pub fn target(&self) -> &str {
        &self.target
    }

    /// True when the connection is gone (the server restarted, the network dropped).
    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Runs SQL statements that return nothing (for tests and administration).
    pub fn batch_execute(&mut self, sql: &str) -> Result<(), DbError> {
        Ok(self.client.batch_execute(sql)?)
    }
}

/// `user@host:port/db`, for messages.
fn describe(config: &Config) -> String {
    let host = first_host(config);
    let port = config.get_ports().first().copied().unwrap_or(5432);
    let user = config.get_user().unwrap_or("?");
    let db = config.get_dbname().unwrap_or(user);
    format!("{user}@{host}:{port}/{db}")
}

fn first_host(config: &Config) -> String {
    match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_owned(),
    }
}

/// The password libpq would use: `PGPASSWORD`, else the first matching line of the
/// password file.
fn password_for(config: &Config) -> Option<String> {
    if let Ok(password) = std::env::var("PGPASSWORD") {
        return Some(password);
    }
    let file = match std::env::var_os("PGPASSFILE") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".pgpass"),
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&file).ok()?.permissions().mode();
        if mode & 0o077 != 0 {
            // libpq ignores a password file others can read; so do we.
            return None;
        }
    }
    let text = std::fs::read_to_string(&file).ok()?;
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(host)) => host.clone(),
        _ => "localhost".to_owned(),
    };
    let port = config
        .get_ports()
        .first()
        .copied()
        .unwrap_or(5432)
        .to_string();
    let user = config.get_user().unwrap_or_default().to_owned();
    let db = config
        .get_dbname()
        .map_or_else(|| user.clone(), str::to_owned);
    pgpass_lookup(&text, [&host, &port, &db, &user])
}

/// The password of the first line of a `.pgpass` text whose four fields match (`*`
/// matches anything; `\:` and `\\` are escapes).
fn pgpass_lookup(text: &str, wanted: [&str; 4]) -> Option<String> {
    for line in text.lines() {
        if line.starts_with('#') || line.trim().is_empty() {
            continue;
        }
        let fields = split_pgpass(line);
        let [host, port, db, user, password] = fields.as_slice() else {
            continue;
        };
        let matches = [host, port, db, user]
            .iter()
            .zip(wanted)
            .all(|(field, want)| field.as_str() == "*" || field.as_str() == want);
        if matches {
            return Some(password.clone());
        }
    }
    None
}

fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(next), Some(field)) = (chars.next(), fields.last_mut()) {
                    field.push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => {
                if let Some(field) = fields.last_mut() {
                    field.push(c);
                }
            }
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_setting_errors_name_the_option_never_the_password() {
        let errors = [
            Store::connect(
                "postgresql://u:hunter2@127.0.0.1:1/db?sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            ),
            Store::connect("host=127.0.0.1 port=1 password='hunter2' sslmode=bogus"),
            Store::connect("host=127.0.0.1 password='hunter2 sslmode=require"),
            Store::connect("postgresql://u:hunter2@127.0.0.1:1/db?sslcert=/c.pem"),
        ];
        let wanted = [
            "does not exist",
            "sslmode \"bogus\"",
            "no closing quote",
            "sslcert is given without sslkey",
        ];
        for (result, wanted) in errors.into_iter().zip(wanted) {
            let message = match result {
                Ok(_) => String::from("connected"),
                Err(e) => {
                    assert!(!e.is_transient(), "{e}");
                    e.to_string()
                }
            };
            assert!(message.contains(wanted), "{message}");
            assert!(!message.contains("hunter2"), "{message}");
        }
    }

    #[test]
    fn pgpass_lines_match_with_wildcards_and_escapes() {
        let text = "# comment\n\
                    db.example:5432:heso:alice:first\n\
                    *:*:heso:bob:pa\\:ss\n\
                    *:*:*:*:fallback\n";
        assert_eq!(
            pgpass_lookup(text, ["db.example", "5432", "heso", "alice"]).as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(text, ["other", "5433", "heso", "bob"]).as_deref(),
            Some("pa:ss")
        );
        assert_eq!(
            pgpass_lookup(text, ["x", "1", "y", "z"]).as_deref(),
            Some("fallback")
        );
        assert_eq!(pgpass_lookup("a:b:c:d:e\n", ["x", "1", "y", "z"]), None);
    }
}
