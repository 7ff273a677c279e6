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

use std::ffi::OsString;
use std::io::{BufRead as _, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

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

/// Runs the proxy until the client closes its end (then the server is closed and waited
/// for) or the server exits (then the proxy exits with an error).
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
    let client = Arc::new(Mutex::new(std::io::stdout()));

    // Server -> client, byte for byte. When the server goes away, so does the proxy: the
    // client sees its end close instead of waiting for answers that will never come.
    let to_client = Arc::clone(&client);
    std::thread::spawn(move || {
        let mut reader = BufReader::new(from_server);
        let mut line = Vec::new();
        loop {
            line.clear();
            match reader.read_until(b'\n', &mut line) {
                Ok(0) | Err(_) => break,
                Ok(_) => {
                    if serde_json::from_slice::<Value>(line.trim_ascii()).is_err()
                        && !line.trim_ascii().is_empty()
                    {
                        eprintln!(
                            "heso mcp-proxy: warning: the server sent a line that is not JSON (passed on unchanged)"
                        );
                    }
                    if send(&to_client, &line).is_err() {
                        break;
                    }
                }
            }
        }
        eprintln!("heso mcp-proxy: the MCP server closed its output; stopping");
        std::process::exit(1);
    });

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
                let sent = to_server.write_all(&line).and_then(|()| to_server.flush());
                if sent.is_err() {
                    break; // the server is gone; the reader thread reports it
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
    drop(to_server);
    let status = child
        .wait()
        .map_err(|e| Failure::usage(format!("cannot wait for the MCP server: {e}")))?;
    Ok(if status.success() { 0 } else { 1 })
}
