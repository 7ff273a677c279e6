//! The `heso` command line: a thin layer over heso-engine.
//!
//! [`run`] is the whole program, callable as a library so the Python wheel's `heso`
//! command is this same program. Exit codes: 0 success; 1 when what was checked is not
//! valid (verify, log verify, a reveal that does not match); 2 for usage, input and lookup
//! errors, and for output that cannot be written (a full disk); 141 when stdout's reader
//! went away (`| head -1`), quietly. It never panics on a closed or full stdout.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// First, so its `out!`, `out_part!` and `err!` macros are in scope in every module below.
#[macro_use]
mod output;

mod approve;
mod checkpoint_cmd;
mod commands;
mod disclosure;
mod fleet;
mod keys;
mod mcp_http;
mod mcp_proxy;
mod policy_cmd;
mod push;
mod verify;
mod witness;

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// A failed command: what to print and the exit code.
#[derive(Debug)]
pub(crate) struct Failure {
    pub(crate) code: i32,
    pub(crate) message: String,
}

impl Failure {
    /// A usage, input or lookup error (exit 2).
    pub(crate) fn usage(message: impl std::fmt::Display) -> Self {
        Self {
            code: 2,
            message: message.to_string(),
        }
    }
}

pub(crate) type Outcome = Result<i32, Failure>;

#[derive(Parser, Debug)]
#[command(
    name = "heso",
    version,
    about = "heso: every action your agent takes, checked against policy, signed and logged",
    long_about = None,
    propagate_version = true
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Create a project here (or in DIR): policy, identity, bootstrap module, .gitignore.
    Init {
        /// The project folder (default: the working directory).
        dir: Option<PathBuf>,
        /// Refuse the dev passphrase file: the key opens only with HESO_KEY_PASSPHRASE.
        #[arg(long)]
        require_passphrase: bool,
        /// Make a separate project even inside an existing one.
        #[arg(long)]
        nested: bool,
    },
    /// Mint one allowed and one redacted receipt through the gate, and verify both.
    Demo {
        /// The project folder (default: the current project, or a new one here).
        dir: Option<PathBuf>,
    },
    /// Verify a receipt (action_hash prefix, a .json file, a .jsonl log, or - for stdin), an
    /// inclusion bundle (heso prove), or a consistency proof (--consistency).
    Verify(VerifyArgs),
    /// Print a receipt from the local log as pretty JSON.
    Show {
        /// An action_hash prefix (at least 4 hex digits).
        prefix: String,
    },
    /// The local audit log.
    Log {
        #[command(subcommand)]
        command: LogCommand,
    },
    /// Check or explain the policy.
    Policy {
        #[command(subcommand)]
        command: PolicyCommand,
    },
    /// List parked actions with everything an approver needs to decide them.
    Pending {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Approve a pending action with an approver key (appends an L1 receipt).
    Approve(DecideArgs),
    /// Reject a pending action with an approver key (appends an L1 receipt).
    Reject(DecideArgs),
    /// Identities: show them, create an approver, change the operator passphrase.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// An MCP gateway (stdio, or streamable HTTP with --listen): every tools/call is gated
    /// before the server sees it.
    McpProxy {
        /// The project folder (default: the current project).
        #[arg(long, value_name = "DIR")]
        project: Option<PathBuf>,
        /// The workflow the calls are recorded under.
        #[arg(long, default_value = "default")]
        workflow: String,
        /// Serve MCP's streamable HTTP transport on IP:PORT (loopback unless
        /// --allow-non-loopback) instead of stdio.
        #[arg(
            long,
            value_name = "IP:PORT",
            requires = "upstream",
            conflicts_with = "server"
        )]
        listen: Option<String>,
        /// With --listen: the upstream server's streamable HTTP endpoint, http://HOST:PORT/PATH.
        #[arg(long, value_name = "URL", requires = "listen")]
        upstream: Option<String>,
        /// With --listen: allow an address other than loopback.
        #[arg(long, requires = "listen")]
        allow_non_loopback: bool,
        /// The MCP server to start, after `--` (stdio).
        #[arg(
            last = true,
            required_unless_present = "listen",
            value_name = "SERVER_COMMAND"
        )]
        server: Vec<std::ffi::OsString>,
    },
    /// Ship the local log to the fleet store (PostgreSQL): what it lacks, then a signed
    /// checkpoint. Refuses a log truncated or rewritten since an earlier push (exit 1).
    Push {
        /// The store (default: HESO_STORE_URL, else [store] url in heso.toml).
        url: Option<String>,
        /// Keep shipping as the log grows, through store restarts.
        #[arg(long)]
        follow: bool,
        /// With --follow: seconds between two looks at the log.
        #[arg(long, default_value_t = 1.0, value_name = "SECONDS")]
        interval: f64,
    },
    /// The fleet store: set it up, verify it, query it.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// An inclusion proof bundle: the receipt, a signed checkpoint of the log and the proof
    /// that the receipt is in it, as one JSON document `heso verify` checks offline.
    Prove {
        /// An action_hash prefix (at least 4 hex digits).
        prefix: String,
        /// Prove against this checkpoint file (default: sign one of the whole log now).
        #[arg(long, value_name = "FILE")]
        checkpoint: Option<PathBuf>,
        /// Write the bundle to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A witness: its own key; cosigns a log's checkpoints only when consistent with the
    /// last one it cosigned.
    Witness {
        #[command(subcommand)]
        command: WitnessCommand,
    },
    /// Check a claimed value against a committed (redacted) field.
    Reveal {
        /// An action_hash prefix.
        prefix: String,
        /// The marker's field path, e.g. `api_key` or `headers.Authorization`.
        field_path: String,
        /// The claimed value: JSON when it parses as JSON, else a string.
        #[arg(long)]
        value: String,
        /// Print the disclosure (path, salt, value) as JSON for an auditor.
        #[arg(long)]
        export: bool,
    },
}

#[derive(Args, Debug)]
struct VerifyArgs {
    /// action_hash prefix, receipt file, .jsonl log file, inclusion bundle (`heso
    /// prove`), or `-` for stdin.
    #[arg(required_unless_present = "consistency")]
    target: Option<String>,
    /// Check a consistency proof (`heso log consistency`) between two checkpoints.
    #[arg(long, num_args = 3, value_names = ["PROOF", "OLD", "NEW"], conflicts_with = "target")]
    consistency: Option<Vec<PathBuf>>,
    /// Pin exactly these signer keys (did:key or base64; repeatable).
    #[arg(long = "signer", value_name = "KEY")]
    signers: Vec<String>,
    /// Pin nothing: accept any signer (the output names who signed).
    #[arg(long)]
    any_signer: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

#[derive(Args, Debug)]
struct DecideArgs {
    /// The pending action's id (see `heso pending`).
    id: String,
    /// The approver's key file (default: the key `heso keys new-approver` wrote for an
    /// approver of this action, when exactly one exists).
    #[arg(long, value_name = "PATH")]
    key: Option<PathBuf>,
    /// Why, in your words (recorded in the signed receipt).
    #[arg(long, default_value = "")]
    reason: String,
    /// Decide without asking for confirmation (needed when not on a terminal).
    #[arg(long)]
    yes: bool,
}

#[derive(Subcommand, Debug)]
enum LogCommand {
    /// Verify every receipt and every chain link of the local log, and that it contains
    /// its checkpoints (--checkpoint, else the newest one kept next to the log).
    Verify {
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also require the log to contain each of these signed checkpoints: same origin,
        /// at least their size, the same root over their first receipts.
        #[arg(long, value_name = "FILE", num_args = 1..)]
        checkpoint: Vec<PathBuf>,
        /// Require each checkpoint to be cosigned by this witness (its verifier key,
        /// NAME+ID+KEY; repeatable).
        #[arg(long, value_name = "KEY", requires = "checkpoint")]
        witness: Vec<String>,
        /// Also check the log against the fleet store (URL, else HESO_STORE_URL or
        /// [store] url): Truncated or RootMismatch when it lost or changed what was pushed.
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        store: Option<String>,
    },
    /// Sign a checkpoint of the whole log (print it, or write it to --out): store it where
    /// the agent cannot write.
    Checkpoint {
        /// Write the checkpoint to FILE instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// A consistency proof (JSON) that checkpoint OLD's tree is a prefix of NEW's.
    Consistency {
        /// The older checkpoint file.
        old: PathBuf,
        /// The newer checkpoint file.
        new: PathBuf,
    },
    /// List receipts (newest last).
    List {
        /// Only this verb.
        #[arg(long)]
        verb: Option<String>,
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Only this decision (allow, block, redact, require_approval).
        #[arg(long)]
        decision: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
enum FleetCommand {
    /// Create or upgrade the store's schema and the roles heso_host and heso_reader (run
    /// as the database owner).
    Migrate {
        /// postgresql://USER@HOST:PORT/DATABASE (password: PGPASSWORD or ~/.pgpass).
        url: String,
    },
    /// Verify every receipt, chain, position and checkpoint of every log in the store.
    Verify {
        /// postgresql://USER@HOST:PORT/DATABASE.
        url: String,
        /// Only this log id (repeatable).
        #[arg(long = "log", value_name = "ID")]
        logs: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List stored receipts across the fleet (newest last).
    List {
        /// postgresql://USER@HOST:PORT/DATABASE.
        url: String,
        /// Only logs of this host.
        #[arg(long)]
        host: Option<String>,
        /// Only this verb.
        #[arg(long)]
        verb: Option<String>,
        /// Only this tool.
        #[arg(long)]
        tool: Option<String>,
        /// Only this decision (allow, block, redact, require_approval).
        #[arg(long)]
        decision: Option<String>,
        /// Only this workflow.
        #[arg(long)]
        workflow: Option<String>,
        /// Captured at or after this RFC 3339 time.
        #[arg(long)]
        since: Option<String>,
        /// Captured before this RFC 3339 time.
        #[arg(long)]
        until: Option<String>,
        /// At most this many (the newest).
        #[arg(long, default_value_t = 20)]
        limit: u32,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Print a stored receipt (by action_hash prefix) as pretty JSON.
    Show {
        /// postgresql://USER@HOST:PORT/DATABASE.
        url: String,
        /// An action_hash prefix (at least 4 hex digits).
        hash: String,
    },
}

#[derive(Subcommand, Debug)]
enum WitnessCommand {
    /// Create the witness's own key (a plain 0600 seed file) and print its verifier key.
    Init {
        /// The witness's name (a note key name, e.g. witness.example.com/w1).
        #[arg(long)]
        name: Option<String>,
        /// The witness's folder (default: HESO_WITNESS_DIR, else ~/.config/heso/witness).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Cosign a checkpoint consistent with the last one cosigned for its log; prints the
    /// cosignature line to append to the checkpoint file.
    Cosign {
        /// The signed checkpoint file.
        checkpoint: PathBuf,
        /// A consistency proof from the size last cosigned (heso log consistency OLD NEW).
        #[arg(long, value_name = "PROOF")]
        proof: Option<PathBuf>,
        /// The witness's folder (default: HESO_WITNESS_DIR, else ~/.config/heso/witness).
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
enum PolicyCommand {
    /// Check heso.toml (or FILE): errors with file:line:column, lint warnings, policy hash.
    Check {
        /// The policy file (default: the project's heso.toml).
        file: Option<PathBuf>,
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Show which rule decides an action, and why.
    Explain(ExplainArgs),
}

#[derive(Args, Debug)]
struct ExplainArgs {
    /// The verb (llm_call, tool_call, http_request, payment, data_export, account_change, delete).
    #[arg(long)]
    verb: String,
    /// The tool name.
    #[arg(long, default_value = "")]
    tool: String,
    /// The workflow.
    #[arg(long, default_value = "default")]
    workflow: String,
    /// The account.
    #[arg(long, default_value = "default")]
    account: String,
    /// The target host.
    #[arg(long)]
    host: Option<String>,
    /// A field, key=value (the value is JSON when it parses, else a string); repeatable.
    #[arg(long = "field", value_name = "KEY=VALUE")]
    fields: Vec<String>,
    /// Print one JSON document.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand, Debug)]
enum KeysCommand {
    /// Show the operator's key and the approvers heso.toml names (no passphrase needed).
    Show {
        /// Print one JSON document.
        #[arg(long)]
        json: bool,
    },
    /// Create an approver key (passphrase from HESO_APPROVER_PASSPHRASE or a prompt).
    NewApprover {
        /// The approver's name, as used in heso.toml.
        name: String,
        /// Where to write the key (default ~/.config/heso/approvers/NAME.key).
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Make them a default approver (`[defaults] approvers`) without asking.
        #[arg(long)]
        default: bool,
    },
    /// Retire an approver: they decide nothing from now on (parked actions included);
    /// what they signed before stays valid.
    RetireApprover {
        /// The approver's name in heso.toml.
        name: String,
    },
    /// Re-encrypt the operator key under HESO_KEY_PASSPHRASE (or a prompted one) and
    /// delete the dev passphrase file.
    Passphrase,
    /// Replace the operator key: the old key signs a receipt naming the new one and stays
    /// trusted (heso.toml `[identity] retired`) for receipts signed before; run again to
    /// finish an interrupted rotation.
    Rotate,
}

/// Runs the `heso` program with `args` (the first is the program name) and returns the
/// exit code. Never panics on any input, nor on a stdout that is closed or full.
pub fn run<I, T>(args: I) -> i32
where
    I: IntoIterator<Item = T>,
    T: Into<OsString> + Clone,
{
    output::start();
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { 2 } else { 0 };
            let _ = e.print();
            return code;
        }
    };
    let code = match dispatch(cli.command) {
        Ok(code) => code,
        Err(failure) => {
            err!("heso: error: {}", failure.message);
            failure.code
        }
    };
    output::finish(code)
}

fn dispatch(command: Command) -> Outcome {
    match command {
        Command::Init {
            dir,
            require_passphrase,
            nested,
        } => commands::init(dir, require_passphrase, nested),
        Command::Demo { dir } => commands::demo(dir),
        Command::Verify(args) => match (&args.consistency, &args.target) {
            (Some(files), _) => checkpoint_cmd::verify_consistency(files, args.json),
            (None, target) => verify::verify(
                target.as_deref().unwrap_or_default(),
                &args.signers,
                args.any_signer,
                args.json,
            ),
        },
        Command::Show { prefix } => commands::show(&prefix),
        Command::Log {
            command:
                LogCommand::Verify {
                    json,
                    store: None,
                    checkpoint,
                    witness,
                },
        } => {
            // Without --checkpoint, the newest one the engine kept next to the log.
            match (
                checkpoint.is_empty(),
                checkpoint_cmd::newest_local_checkpoint(),
            ) {
                (false, _) => verify::log_verify_checkpoints(json, &checkpoint, &witness),
                (true, Some(kept)) => verify::log_verify_checkpoints(json, &[kept], &witness),
                (true, None) => verify::log_verify(json),
            }
        }
        Command::Log {
            command:
                LogCommand::Verify {
                    json,
                    store: Some(url),
                    ..
                },
        } => push::log_verify_store(json, &url),
        Command::Push {
            url,
            follow,
            interval,
        } => push::push(url, follow, interval),
        Command::Fleet { command } => match command {
            FleetCommand::Migrate { url } => fleet::migrate_cmd(&url),
            FleetCommand::Verify { url, logs, json } => fleet::verify(&url, logs, json),
            FleetCommand::List {
                url,
                host,
                verb,
                tool,
                decision,
                workflow,
                since,
                until,
                limit,
                json,
            } => fleet::list_cmd(
                &url,
                fleet::ListArgs {
                    host,
                    verb,
                    tool,
                    decision,
                    workflow,
                    since,
                    until,
                    limit,
                    json,
                },
            ),
            FleetCommand::Show { url, hash } => fleet::show_cmd(&url, &hash),
        },
        Command::Log {
            command:
                LogCommand::List {
                    verb,
                    workflow,
                    decision,
                    limit,
                    json,
                },
        } => commands::log_list(verb, workflow, decision, limit, json),
        Command::Policy {
            command: PolicyCommand::Check { file, json },
        } => policy_cmd::check(file, json),
        Command::Policy {
            command: PolicyCommand::Explain(args),
        } => policy_cmd::explain(
            &args.verb,
            &args.tool,
            &args.workflow,
            &args.account,
            args.host.as_deref(),
            &args.fields,
            args.json,
        ),
        Command::Pending { json } => approve::pending(json),
        Command::Approve(args) => approve::decide(
            &args.id,
            args.key.as_deref(),
            &args.reason,
            args.yes,
            heso_receipt::ApprovalOutcome::Approved,
        ),
        Command::Reject(args) => approve::decide(
            &args.id,
            args.key.as_deref(),
            &args.reason,
            args.yes,
            heso_receipt::ApprovalOutcome::Rejected,
        ),
        Command::Keys {
            command: KeysCommand::Show { json },
        } => keys::show(json),
        Command::Keys {
            command: KeysCommand::NewApprover { name, out, default },
        } => keys::new_approver(&name, out, default),
        Command::Keys {
            command: KeysCommand::RetireApprover { name },
        } => keys::retire_approver(&name),
        Command::Keys {
            command: KeysCommand::Passphrase,
        } => keys::passphrase(),
        Command::Keys {
            command: KeysCommand::Rotate,
        } => keys::rotate(),
        Command::McpProxy {
            project,
            workflow,
            listen,
            upstream,
            allow_non_loopback,
            server,
        } => match (listen, upstream) {
            (Some(listen), Some(upstream)) => mcp_http::run(
                project.as_deref(),
                &workflow,
                &listen,
                &upstream,
                allow_non_loopback,
            ),
            _ => mcp_proxy::run(project.as_deref(), &workflow, &server),
        },
        Command::Log {
            command: LogCommand::Checkpoint { out },
        } => checkpoint_cmd::log_checkpoint(out),
        Command::Log {
            command: LogCommand::Consistency { old, new },
        } => checkpoint_cmd::log_consistency(&old, &new),
        Command::Prove {
            prefix,
            checkpoint,
            out,
        } => checkpoint_cmd::prove(&prefix, checkpoint, out),
        Command::Witness {
            command: WitnessCommand::Init { name, dir },
        } => witness::init(name, dir),
        Command::Witness {
            command:
                WitnessCommand::Cosign {
                    checkpoint,
                    proof,
                    dir,
                },
        } => witness::cosign(&checkpoint, proof.as_deref(), dir),
        Command::Reveal {
            prefix,
            field_path,
            value,
            export,
        } => commands::reveal(&prefix, &field_path, &value, export),
    }
}
