//! `heso mcp-proxy -- SERVER …`: an MCP gateway over stdio (and, in `mcp_http`, over MCP's
//! streamable HTTP transport, through the same `route`). It sits between an MCP client
//! (our stdin/stdout) and the server it starts, and gates every `tools/call` as a
//! `tool_call` before the server sees it. Everything else passes through byte for byte.
//!
//! MCP's stdio transport is newline-delimited JSON-RPC, so the proxy reads whole lines.
//! It parses a client line strictly (heso-receipt's parser: no duplicate keys, no integers
//! past ±(2^53−1)) and refuses what it cannot parse, because a line the proxy reads one way
//! and the server another could carry a call past the gate. Written by hand over serde_json
//! rather than with `rmcp`: the proxy needs only the JSON-RPC envelope and must forward
//! every other message unchanged, including methods of protocol revisions it does not know.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use heso_engine::{ActionRequest, Engine, GateStatus};
use heso_receipt::{Verb, parse_strict};
use serde_json::{Map, Value, json};

use crate::commands::open_engine;
use crate::{Failure, Outcome};

/// What to do with one message from the client (a stdio line or an HTTP POST body).
pub(crate) enum Route {
    /// Send it to the server unchanged.
    Forward,
    /// Answer the client ourselves (the server never sees the line).
    Reply(Value),
    /// Drop it (a notification that cannot be gated), saying why on stderr.
    Drop(String),
}

/// A JSON-RPC error response.
pub(crate) fn rpc_error(id: Value, code: i64, message: String) -> Value {
    json!({"jsonrpc": "2.0", "id": id, "error": {"code": code, "message": message}})
}

/// A tool result the client shows its model: the call did not run, and why.
fn tool_refusal(id: Value, text: String) -> Value {
    json!({
        "jsonrpc": "2.0",
        "id": id,
        "result": {"content": [{"type": "text", "text": text}], "isError": true},
    })
}

fn is_tool_call(message: &Value) -> bool {
    message.get("method").and_then(Value::as_str) == Some("tools/call")
}

/// Decides what to do with one client message. Both transports (stdio here, streamable
/// HTTP in `mcp_http`) gate through this one function.
pub(crate) fn route(engine: &Engine, workflow: &str, line: &[u8]) -> Route {
    let text = line.trim_ascii();
    if text.is_empty() {
        return Route::Forward;
    }
    let message = match parse_strict(text) {
        Ok(message) => message,
        Err(e) => {
            // Not forwarded: a line the gate cannot read must not reach the server.
            let plain = serde_json::from_slice::<Value>(text).is_ok();
            let (code, what) = if plain {
                (
                    -32600,
                    "is JSON heso refuses to forward (a duplicate key or an integer beyond ±(2^53−1))",
                )
            } else {
                (-32700, "is not JSON")
            };
            return Route::Reply(rpc_error(
                Value::Null,
                code,
                format!("heso mcp-proxy: the message {what}: {e}; it was not forwarded"),
            ));
        }
    };
    match &message {
        Value::Array(batch) if batch.iter().any(is_tool_call) => Route::Reply(rpc_error(
            Value::Null,
            -32600,
            "heso mcp-proxy: tools/call inside a JSON-RPC batch is not forwarded; send each call as its own message".into(),
        )),
        Value::Object(object) if is_tool_call(&message) => match object.get("id") {
            None => Route::Drop("a tools/call notification (no id) cannot be gated".into()),
            Some(id) => gate_call(engine, workflow, id.clone(), object.get("params")),
        },
        _ => Route::Forward,
    }
}

/// Gates one `tools/call` request: forward it when allowed (or when it retries a call a
/// person approved), else answer with a refusal naming the rule and the receipt.
fn gate_call(engine: &Engine, workflow: &str, id: Value, params: Option<&Value>) -> Route {
    let Some(name) = params.and_then(|p| p.get("name")).and_then(Value::as_str) else {
        return Route::Reply(rpc_error(
            id,
            -32602,
            "heso mcp-proxy: tools/call needs params.name (a string); it was not forwarded".into(),
        ));
    };
    let fields: Map<String, Value> = match params.and_then(|p| p.get("arguments")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(arguments)) => arguments.clone(),
        Some(_) => {
            return Route::Reply(rpc_error(
                id,
                -32602,
                "heso mcp-proxy: tools/call params.arguments must be an object; it was not forwarded".into(),
            ));
        }
    };
    match engine.claim_approved_retry(Verb::ToolCall, name, &fields) {
        Ok(Some(_)) => return Route::Forward,
        Ok(None) => {}
        Err(e) => {
            return Route::Reply(tool_refusal(
                id,
                format!("heso could not check approvals for {name}: {e}; the call did not run"),
            ));
        }
    }
    let mut request = ActionRequest::new(Verb::ToolCall, name, fields);
    request.workflow = workflow.to_owned();
    let outcome = match engine.gate(&request) {
        Ok(outcome) => outcome,
        Err(e) => {
            return Route::Reply(tool_refusal(
                id,
                format!("heso could not record the call to {name}, so it did not run: {e}"),
            ));
        }
    };
    match outcome.status {
        GateStatus::Allowed => Route::Forward,
        GateStatus::Blocked => Route::Reply(tool_refusal(
            id,
            format!(
                "heso blocked {name}: rule {} ({}); receipt {}",
                outcome.rule_id, outcome.rule_display, outcome.action_hash
            ),
        )),
        GateStatus::Suspended => {
            let pending = outcome.pending.map(|p| p.id).unwrap_or_default();
            Route::Reply(tool_refusal(
                id,
                format!(
                    "heso: {name} needs a person's approval (rule {}: {}); pending action {pending}. Once someone runs `heso approve {pending}`, retry the same call and it runs once. Receipt {}",
                    outcome.rule_id, outcome.rule_display, outcome.action_hash
                ),
            ))
        }
    }
}

fn send(out: &Mutex<std::io::Stdout>, bytes: &[u8]) -> std::io::Result<()> {
    let mut out = out.lock().unwrap_or_else(|p| p.into_inner());
    out.write_all(bytes)?;
    out.flush()
}

/// How long the server has to exit once its input is closed (or its output closes), before
/// the proxy stops it. MCP clients wait about as long before they stop the proxy itself.
const EXIT_GRACE: Duration = Duration::from_secs(5);

/// The session is running.
const RUNNING: u8 = 0;
/// The client closed its end first: the main thread ends the session.
const CLIENT_ENDED: u8 = 1;
/// The server closed its output first: the server-to-client thread ends the session.
const SERVER_ENDED: u8 = 2;

/// The client's requests the server has not answered yet (id as JSON text -> what it was),
/// so that a server that dies can be reported with what it left unanswered.
#[derive(Default)]
struct InFlight(Mutex<BTreeMap<String, String>>);

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, String>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Notes each request (a message with a method and an id) in a client line.
    fn sent(&self, line: &[u8]) {
        let Ok(message) = serde_json::from_slice::<Value>(line.trim_ascii()) else {
            return;
        };
        let mut open = self.lock();
        for one in messages(&message) {
            if let (Some(method), Some(id)) =
                (one.get("method").and_then(Value::as_str), one.get("id"))
            {
                let what = match one.pointer("/params/name").and_then(Value::as_str) {
                    Some(tool) if method == "tools/call" => format!("tools/call {tool}"),
                    _ => method.to_owned(),
                };
                open.insert(id.to_string(), what);
            }
        }
    }

    /// Forgets the requests a server message answers (a response: an id and no method).
    fn answered(&self, message: &Value) {
        let mut open = self.lock();
        for one in messages(message) {
            if let (None, Some(id)) = (one.get("method"), one.get("id")) {
                open.remove(&id.to_string());
            }
        }
    }

    /// `; 1 request unanswered (tools/call crash)`, or nothing.
    fn describe(&self) -> String {
        let open = self.lock();
        match open.len() {
            0 => String::new(),
            n => {
                let what: Vec<&str> = open.values().map(String::as_str).collect();
                let noun = if n == 1 { "request" } else { "requests" };
                format!("; {n} {noun} unanswered ({})", what.join(", "))
            }
        }
    }
}

/// The messages of a JSON-RPC line: the object itself, or each object of a batch.
fn messages(message: &Value) -> Vec<&Value> {
    match message {
        Value::Array(batch) => batch.iter().collect(),
        one => vec![one],
    }
}

fn describe_status(status: ExitStatus) -> String {
    match status.code() {
        Some(code) => format!("status {code}"),
        None => status.to_string(), // killed by a signal: "signal: 9 (SIGKILL)"
    }
}

/// Waits up to EXIT_GRACE for the server to exit, then stops it. Returns its status, and
/// whether the proxy had to stop it.
fn wait_or_stop(child: &Mutex<Child>) -> Result<(ExitStatus, bool), Failure> {
    let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
    let waited = |e: std::io::Error| Failure::usage(format!("cannot wait for the MCP server: {e}"));
    let deadline = Instant::now() + EXIT_GRACE;
    while Instant::now() < deadline {
        if let Some(status) = child.try_wait().map_err(waited)? {
            return Ok((status, false));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let _ = child.kill();
    Ok((child.wait().map_err(waited)?, true))
}

/// Runs the proxy until one side ends the session.
///
/// - The client closes its end (stdin): the proxy closes the server's input, relays what
///   the server still says, and exits 0 without a word when the server then exits 0
///   (within EXIT_GRACE; else it is stopped and the proxy exits 1 saying so, as it does
///   when the server exits with a failure status).
/// - The server closes its output first: the proxy exits quietly with 0 when the server
///   exited 0 with every request answered; a server that crashed, was killed or left
///   requests unanswered is reported on stderr (its status and the requests it left) and
///   the proxy exits 1. Either way the client sees its end close rather than waiting.
pub(crate) fn run(project: Option<&Path>, workflow: &str, server: &[OsString]) -> Outcome {
    let engine = open_engine(project)?;
    let Some((program, args)) = server.split_first() else {
        return Err(Failure::usage(
            "give the server command after --, e.g. heso mcp-proxy -- python server.py",
        ));
    };
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| {
            Failure::usage(format!(
                "cannot start the MCP server {}: {e}",
                program.to_string_lossy()
            ))
        })?;
    let (Some(mut to_server), Some(from_server)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(Failure::usage(
            "cannot connect to the MCP server's stdin/stdout",
        ));
    };
    let child = Arc::new(Mutex::new(child));
    let client = Arc::new(Mutex::new(std::io::stdout()));
    let state = Arc::new(AtomicU8::new(RUNNING));
    let in_flight = Arc::new(InFlight::default());
    let (relayed_all, server_output_closed) = mpsc::channel::<()>();

    // Server -> client, byte for byte, until the server closes its output.
    {
        let (to_client, state, in_flight, child) = (
            Arc::clone(&client),
            Arc::clone(&state),
            Arc::clone(&in_flight),
            Arc::clone(&child),
        );
        std::thread::spawn(move || {
            let mut reader = BufReader::new(from_server);
            let mut line = Vec::new();
            let mut client_gone = false;
            loop {
                line.clear();
                match reader.read_until(b'\n', &mut line) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        match serde_json::from_slice::<Value>(line.trim_ascii()) {
                            Ok(message) => in_flight.answered(&message),
                            Err(_) if line.trim_ascii().is_empty() => {}
                            Err(_) => eprintln!(
                                "heso mcp-proxy: warning: the server sent a line that is not JSON (passed on unchanged)"
                            ),
                        }
                        if send(&to_client, &line).is_err() {
                            client_gone = true;
                            break;
                        }
                    }
                }
            }
            let _ = relayed_all.send(());
            if state
                .compare_exchange(RUNNING, SERVER_ENDED, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return; // the client ended the session; the main thread finishes it
            }
            if client_gone {
                // The client stopped reading but its input is still open: nothing the server
                // says can reach it any more.
                let mut child = child.lock().unwrap_or_else(|p| p.into_inner());
                let _ = child.kill();
                let _ = child.wait();
                eprintln!(
                    "heso mcp-proxy: cannot write to the MCP client (its end is closed); stopped the MCP server"
                );
                std::process::exit(1);
            }
            // The server ended the session while the client was still there: exit now (the
            // main thread may be blocked reading the client), and the client sees its end
            // close instead of waiting for answers that will never come.
            let code = match wait_or_stop(&child) {
                Ok((status, false)) if status.success() && in_flight.describe().is_empty() => 0,
                Ok((status, stopped)) => {
                    let how = if stopped {
                        format!(
                            "closed its output but did not exit within {} s, so it was stopped",
                            EXIT_GRACE.as_secs()
                        )
                    } else {
                        format!("exited with {}", describe_status(status))
                    };
                    eprintln!(
                        "heso mcp-proxy: the MCP server {how} while the client was connected{}",
                        in_flight.describe()
                    );
                    1
                }
                Err(failure) => {
                    eprintln!("heso mcp-proxy: {}", failure.message);
                    1
                }
            };
            std::process::exit(code);
        });
    }

    let stdin = std::io::stdin();
    let mut reader = stdin.lock();
    let mut line = Vec::new();
    loop {
        line.clear();
        let read = reader
            .read_until(b'\n', &mut line)
            .map_err(|e| Failure::usage(format!("cannot read from the MCP client: {e}")))?;
        if read == 0 {
            break;
        }
        match route(&engine, workflow, &line) {
            Route::Forward => {
                in_flight.sent(&line);
                let sent = to_server.write_all(&line).and_then(|()| to_server.flush());
                if sent.is_err() {
                    // The server is gone: the other thread sees its output close and ends
                    // the session with the server's status.
                    loop {
                        std::thread::park();
                    }
                }
            }
            Route::Reply(reply) => {
                let mut bytes = reply.to_string().into_bytes();
                bytes.push(b'\n');
                send(&client, &bytes)
                    .map_err(|e| Failure::usage(format!("cannot write to the MCP client: {e}")))?;
            }
            Route::Drop(why) => eprintln!("heso mcp-proxy: dropped a message: {why}"),
        }
    }
    if state
        .compare_exchange(RUNNING, CLIENT_ENDED, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // The server ended first, at the same moment; the other thread is exiting.
        loop {
            std::thread::park();
        }
    }
    // The client is done: close the server's input (MCP's stdio shutdown), relay what it
    // still says (answers to requests sent just before the client closed), and wait for it.
    drop(to_server);
    let _ = server_output_closed.recv_timeout(EXIT_GRACE);
    let (status, stopped) = wait_or_stop(&child)?;
    if stopped {
        eprintln!(
            "heso mcp-proxy: the MCP server did not exit within {} s of its input closing, so it was stopped",
            EXIT_GRACE.as_secs()
        );
        return Ok(1);
    }
    if !status.success() {
        eprintln!(
            "heso mcp-proxy: the MCP server exited with {} after the client closed the session",
            describe_status(status)
        );
        return Ok(1);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_names_what_the_server_left_unanswered() {
        let open = InFlight::default();
        open.sent(br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#);
        open.sent(br#"{"jsonrpc":"2.0","id":"a","method":"tools/call","params":{"name":"crash"}}"#);
        open.sent(br#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#);
        open.sent(br#"[{"jsonrpc":"2.0","id":2,"method":"ping"}]"#);
        open.sent(b"not json");
        assert_eq!(
            open.describe(),
            "; 3 requests unanswered (tools/call crash, tools/list, ping)"
        );
        open.answered(&json!({"jsonrpc": "2.0", "id": 1, "result": {}}));
        open.answered(&json!([{"jsonrpc": "2.0", "id": 2, "error": {"code": 1, "message": "x"}}]));
        // A request from the server with the same id answers nothing.
        open.answered(&json!({"jsonrpc": "2.0", "id": "a", "method": "sampling/createMessage"}));
        assert_eq!(open.describe(), "; 1 request unanswered (tools/call crash)");
        open.answered(&json!({"jsonrpc": "2.0", "id": "a", "result": {}}));
        assert_eq!(open.describe(), "");
    }
}
