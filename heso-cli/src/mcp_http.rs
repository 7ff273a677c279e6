//! `heso mcp-proxy --listen IP:PORT --upstream URL`: the MCP gateway over MCP's streamable
//! HTTP transport. The client talks HTTP to us; we talk HTTP to the upstream server.
//!
//! Every POST the proxy receives at the MCP endpoint (the upstream URL's path) is one
//! JSON-RPC message or batch, and goes through the same `route` as a stdio line: a
//! `tools/call` is gated before the upstream sees it; a refused call is answered here with
//! a tool result `isError: true`, as JSON or as a one-event SSE stream, whichever the
//! client's `Accept` names first. Everything else (GET streams, DELETE at session end, the
//! responses, whether `application/json` or `text/event-stream`) is relayed with its
//! headers (`Mcp-Session-Id`, `MCP-Protocol-Version`, `Last-Event-ID`, …) and streamed as
//! it arrives. A POST to another path is gated too when its body looks like JSON, so a
//! server that answers MCP on a second path cannot be used to step around the gate.
//!
//! Listening on loopback, the proxy accepts only a loopback `Host` (it rewrites `Host` for
//! the upstream, which would otherwise disarm the upstream's own DNS-rebinding check).

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use heso_engine::Engine;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt as _, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{self, HeaderMap, HeaderValue};
use hyper::http::uri::{Authority, Scheme};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use serde_json::Value;

use crate::commands::open_engine;
use crate::mcp_proxy::{Route, route, rpc_error};
use crate::{Failure, Outcome};

/// The largest request body the proxy reads (a JSON-RPC message; tool arguments included).
const MAX_BODY: usize = 16 * 1024 * 1024;
/// How long a client may take to send a request's headers, then its body.
const READ_TIMEOUT: Duration = Duration::from_secs(30);

type Body = BoxBody<Bytes, hyper::Error>;

/// Headers that belong to one hop, never forwarded (RFC 9110 section 7.6.1).
const HOP_BY_HOP: [&str; 8] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "te",
    "trailer",
    "upgrade",
    "proxy-authorization",
];

struct Proxy {
    engine: Engine,
    workflow: String,
    /// The upstream as given, for messages.
    upstream: String,
    scheme: Scheme,
    authority: Authority,
    /// The MCP endpoint's path (the upstream URL's path).
    endpoint: String,
    client: Client<HttpConnector, Full<Bytes>>,
    /// Refuse a `Host` that is not a loopback name (the proxy listens on loopback).
    loopback_host_only: bool,
}

/// Runs the HTTP proxy until the process is stopped.
pub(crate) fn run(
    project: Option<&Path>,
    workflow: &str,
    listen: &str,
    upstream: &str,
    allow_non_loopback: bool,
) -> Outcome {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        Failure::usage(format!(
            "--listen wants IP:PORT, e.g. 127.0.0.1:8787 (got {listen:?})"
        ))
    })?;
    if !addr.ip().is_loopback() && !allow_non_loopback {
        return Err(Failure::usage(format!(
            "--listen {addr} is not a loopback address: anyone who can reach it could call the \
             upstream's tools through this proxy. Listen on 127.0.0.1 or [::1], or pass \
             --allow-non-loopback"
        )));
    }
    let (scheme, authority, endpoint) = parse_upstream(upstream)?;
    let engine = open_engine(project)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::usage(format!("cannot start the HTTP proxy's runtime: {e}")))?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
        let local = listener
            .local_addr()
            .map_err(|e| Failure::usage(format!("cannot listen on {addr}: {e}")))?;
        // Small messages both ways: no Nagle delay on the upstream side either.
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .build(connector);
        let proxy = Arc::new(Proxy {
            engine,
            workflow: workflow.to_owned(),
            upstream: upstream.to_owned(),
            scheme,
            authority,
            endpoint,
            client,
            loopback_host_only: local.ip().is_loopback(),
        });
        eprintln!(
            "heso mcp-proxy: listening on http://{local}{}, forwarding to {upstream}",
            proxy.endpoint
        );
        loop {
            let (stream, _) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors and the like: say so, breathe, go on.
                    eprintln!("heso mcp-proxy: cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);
            let proxy = Arc::clone(&proxy);
            tokio::spawn(async move {
                let service = service_fn(move |request| handle(Arc::clone(&proxy), request));
                // A client that sends garbage gets hyper's 400 and the connection closes;
                // one that stalls is dropped after READ_TIMEOUT. Neither is worth a line.
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .header_read_timeout(READ_TIMEOUT)
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    })
}

/// Checks `--upstream`: an absolute `http://` URL; returns its scheme, authority and path.
fn parse_upstream(upstream: &str) -> Result<(Scheme, Authority, String), Failure> {
    let bad = |why: &str| {
        Failure::usage(format!(
            "--upstream {upstream:?} {why}; give the MCP server's streamable HTTP endpoint, \
             e.g. http://127.0.0.1:8000/mcp"
        ))
    };
    let uri: Uri = upstream.parse().map_err(|_| bad("is not a URL"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(bad(
                "is https, which this proxy does not speak (run it beside the server, or put \
                 a TLS terminator in front of the upstream)",
            ));
        }
        _ => return Err(bad("is not an http:// URL")),
    }
    let authority = uri
        .authority()
        .cloned()
        .ok_or_else(|| bad("names no host"))?;
    if uri.query().is_some() {
        return Err(bad("has a query, which the proxy would not pass on"));
    }
    Ok((Scheme::HTTP, authority, uri.path().to_owned()))
}

async fn handle(
    proxy: Arc<Proxy>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    Ok(match serve(proxy, request).await {
        Ok(response) | Err(response) => response,
    })
}

/// Answers one request: the upstream's response, or the proxy's own.
async fn serve(
    proxy: Arc<Proxy>,
    request: Request<Incoming>,
) -> Result<Response<Body>, Response<Body>> {
    if proxy.loopback_host_only {
        let host = request
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| request.uri().authority().map(Authority::as_str));
        if !host.is_some_and(is_loopback_host) {
            return Err(error_response(
                StatusCode::FORBIDDEN,
                Value::Null,
                format!(
                    "heso mcp-proxy: Host {:?} is not a loopback name; the proxy listens on \
                     loopback and answers only requests addressed to it there",
                    host.unwrap_or("")
                ),
            ));
        }
    }
    let (parts, body) = request.into_parts();
    let bytes = read_body(body).await?;

    let gated = parts.method == Method::POST
        && (parts.uri.path() == proxy.endpoint
            || matches!(bytes.trim_ascii_start().first(), Some(b'{' | b'[')));
    if gated {
        let gate = Arc::clone(&proxy);
        let message = bytes.clone();
        // The gate appends to the log (and may fsync): off the async workers.
        let routed =
            tokio::task::spawn_blocking(move || route(&gate.engine, &gate.workflow, &message))
                .await
                .map_err(|e| {
                    error_response(
                        StatusCode::INTERNAL_SERVER_ERROR,
                        request_id(&bytes),
                        format!(
                            "heso mcp-proxy: the gate failed ({e}); the message was not forwarded"
                        ),
                    )
                })?;
        match routed {
            Route::Forward => {}
            Route::Reply(reply) => return Err(own_reply(&parts.headers, &reply)),
            Route::Drop(why) => {
                return Err(error_response(
                    StatusCode::BAD_REQUEST,
                    Value::Null,
                    format!("heso mcp-proxy: {why}; it was not forwarded"),
                ));
            }
        }
    }
    forward(&proxy, parts, bytes).await
}

/// Reads a request body whole, within MAX_BODY and READ_TIMEOUT.
async fn read_body(body: Incoming) -> Result<Bytes, Response<Body>> {
    let read = tokio::time::timeout(READ_TIMEOUT, Limited::new(body, MAX_BODY).collect()).await;
    match read {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(error_response(
            StatusCode::PAYLOAD_TOO_LARGE,
            Value::Null,
            format!(
                "heso mcp-proxy: the request body is over {MAX_BODY} bytes; it was not forwarded"
            ),
        )),
        Ok(Err(e)) => Err(error_response(
            StatusCode::BAD_REQUEST,
            Value::Null,
            format!("heso mcp-proxy: cannot read the request body: {e}"),
        )),
        Err(_) => Err(error_response(
            StatusCode::REQUEST_TIMEOUT,
            Value::Null,
            format!(
                "heso mcp-proxy: the request body did not arrive within {} s",
                READ_TIMEOUT.as_secs()
            ),
        )),
    }
}

/// Sends the request on to the upstream and streams its response back.
async fn forward(
    proxy: &Proxy,
    parts: hyper::http::request::Parts,
    bytes: Bytes,
) -> Result<Response<Body>, Response<Body>> {
    let path = parts
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    let uri = Uri::builder()
        .scheme(proxy.scheme.clone())
        .authority(proxy.authority.clone())
        .path_and_query(path)
        .build()
        .map_err(|e| {
            error_response(
                StatusCode::BAD_REQUEST,
                request_id(&bytes),
                format!("heso mcp-proxy: cannot address the upstream for this request: {e}"),
            )
        })?;
    let mut headers = parts.headers;
    strip_hop_by_hop(&mut headers);
    headers.remove(header::CONTENT_LENGTH); // set again from the body
    if let Ok(host) = HeaderValue::from_str(proxy.authority.as_str()) {
        headers.insert(header::HOST, host);
    }
    let mut upstream_request = Request::new(Full::new(bytes.clone()));
    *upstream_request.method_mut() = parts.method;
    *upstream_request.uri_mut() = uri;
    *upstream_request.headers_mut() = headers;

    let response = proxy.client.request(upstream_request).await.map_err(|e| {
        error_response(
            StatusCode::BAD_GATEWAY,
            request_id(&bytes),
            format!(
                "heso mcp-proxy: the upstream MCP server at {} did not answer: {}",
                proxy.upstream,
                error_chain(&e)
            ),
        )
    })?;
    let (mut head, body) = response.into_parts();
    strip_hop_by_hop(&mut head.headers);
    let is_sse = head
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("text/event-stream")
        });
    let body = match awaited_id(&bytes) {
        Some(id) if is_sse => AnswerOnBreak {
            inner: body,
            id,
            upstream: proxy.upstream.clone(),
            event: Vec::new(),
            data: Vec::new(),
            answered: false,
            finished: false,
        }
        .boxed(),
        _ => body.boxed(),
    };
    Ok(Response::from_parts(head, body))
}

/// The id of the request a POST body carries (an object with a method and an id), whose
/// answer the client will wait for.
fn awaited_id(bytes: &[u8]) -> Option<Value> {
    let message = serde_json::from_slice::<Value>(bytes).ok()?;
    message.get("method")?;
    message.get("id").filter(|id| !id.is_null()).cloned()
}

/// The upstream's SSE answer to one request, relayed as it comes. If the upstream breaks
/// the stream off (it crashed) before the answer to the request came, the client gets a
/// last event with a JSON-RPC error for that request instead of a cut connection: some
/// clients (the `mcp` Python package 1.x) otherwise wait for the answer until their timeout.
/// A stream that ends cleanly is left as it is (the server may mean the client to resume it).
struct AnswerOnBreak {
    inner: Incoming,
    id: Value,
    upstream: String,
    /// The bytes of the current SSE line so far.
    event: Vec<u8>,
    /// The `data:` of the current SSE event so far.
    data: Vec<u8>,
    answered: bool,
    finished: bool,
}

impl AnswerOnBreak {
    /// Follows the SSE events in CHUNK, noting when one answers the request.
    fn scan(&mut self, chunk: &[u8]) {
        for &byte in chunk {
            if byte != b'\n' {
                self.event.push(byte);
                continue;
            }
            let line = std::mem::take(&mut self.event);
            let line = line.strip_suffix(b"\r").unwrap_or(&line);
            if line.is_empty() {
                let data = std::mem::take(&mut self.data);
                if let Ok(message) = serde_json::from_slice::<Value>(&data) {
                    let answers = |m: &Value| {
                        m.get("method").is_none()
                            && m.get("id") == Some(&self.id)
                            && (m.get("result").is_some() || m.get("error").is_some())
                    };
                    self.answered |= match &message {
                        Value::Array(batch) => batch.iter().any(answers),
                        one => answers(one),
                    };
                }
            } else if let Some(data) = line.strip_prefix(b"data:") {
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data
                    .extend_from_slice(data.strip_prefix(b" ").unwrap_or(data));
            }
        }
    }
}

impl hyper::body::Body for AnswerOnBreak {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, hyper::Error>>> {
        use std::task::Poll;
        if self.finished {
            return Poll::Ready(None);
        }
        match std::pin::Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(chunk) = frame.data_ref() {
                    let chunk = chunk.clone();
                    self.scan(&chunk);
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) if !self.answered => {
                self.finished = true;
                let error = rpc_error(
                    self.id.clone(),
                    -32000,
                    format!(
                        "heso mcp-proxy: the upstream MCP server at {} broke off its response \
                         before answering: {}",
                        self.upstream,
                        error_chain(&e)
                    ),
                );
                // A blank line first ends any event the upstream left half-sent.
                let event = format!("\n\nevent: message\ndata: {error}\n\n");
                Poll::Ready(Some(Ok(hyper::body::Frame::data(Bytes::from(event)))))
            }
            other => other,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.finished || self.inner.is_end_stream()
    }
}

/// Removes the hop-by-hop headers, including those the `Connection` header names.
fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|name| name.trim().to_ascii_lowercase())
        .filter(|name| !name.is_empty())
        .collect();
    for name in HOP_BY_HOP
        .iter()
        .copied()
        .chain(named.iter().map(String::as_str))
    {
        headers.remove(name);
    }
}

/// The proxy's own answer to a message (a refusal or a JSON-RPC error), as JSON or as an
/// SSE stream of one event, whichever the client's Accept header prefers.
fn own_reply(request_headers: &HeaderMap, reply: &Value) -> Response<Body> {
    let failed_unaddressed =
        reply.get("error").is_some() && reply.get("id").is_none_or(Value::is_null);
    let status = if failed_unaddressed {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let json = reply.to_string();
    let mut response = if wants_sse(request_headers) && status == StatusCode::OK {
        let mut response = Response::new(full(format!("event: message\ndata: {json}\n\n")));
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/event-stream"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        response
    } else {
        json_response(json)
    };
    *response.status_mut() = status;
    if let Some(session) = request_headers.get("mcp-session-id") {
        response
            .headers_mut()
            .insert("mcp-session-id", session.clone());
    }
    response
}

/// Whether the client's Accept names `text/event-stream` and not JSON (a client that takes
/// both gets JSON, the simpler of the two).
fn wants_sse(headers: &HeaderMap) -> bool {
    let accept: Vec<String> = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
        .collect();
    let json = accept
        .iter()
        .any(|t| t == "application/json" || t == "application/*" || t == "*/*");
    !json && accept.iter().any(|t| t == "text/event-stream")
}

fn full(text: String) -> Body {
    Full::new(Bytes::from(text))
        .map_err(|never| match never {})
        .boxed()
}

fn json_response(json: String) -> Response<Body> {
    let mut response = Response::new(full(json));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A JSON-RPC error the proxy answers with itself, under an HTTP status.
fn error_response(status: StatusCode, id: Value, message: String) -> Response<Body> {
    let mut response = json_response(rpc_error(id, -32000, message).to_string());
    *response.status_mut() = status;
    response
}

/// The id of a JSON-RPC request, when the body is one (for error responses only).
fn request_id(bytes: &[u8]) -> Value {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|m| m.get("id").cloned())
        .unwrap_or(Value::Null)
}

/// An error and its causes, `outer: inner: …` (hyper's client says only "client error
/// (Connect)" at the top).
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// Whether a Host header value names this machine: `localhost`, a loopback IP, with or
/// without a port.
fn is_loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(bracketed) => bracketed.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(name, _port)| name),
    };
    name.eq_ignore_ascii_case("localhost")
        || name.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts() {
        for host in [
            "127.0.0.1:8080",
            "localhost",
            "LOCALHOST:1",
            "[::1]:9",
            "127.1.2.3",
        ] {
            assert!(is_loopback_host(host), "{host}");
        }
        for host in [
            "evil.example:8080",
            "10.0.0.1",
            "[fe80::1]:80",
            "localhost.evil.example",
            "",
        ] {
            assert!(!is_loopback_host(host), "{host}");
        }
    }

    #[test]
    fn upstream_urls() {
        let (_, authority, path) = parse_upstream("http://127.0.0.1:8000/mcp").unwrap();
        assert_eq!(
            (authority.as_str(), path.as_str()),
            ("127.0.0.1:8000", "/mcp")
        );
        for bad in [
            "https://example.com/mcp",
            "127.0.0.1:8000",
            "ftp://x/y",
            "not a url",
            "http://h/mcp?x=1",
        ] {
            let failure = parse_upstream(bad).unwrap_err();
            assert!(
                failure.message.contains("--upstream"),
                "{bad}: {}",
                failure.message
            );
        }
    }

    #[test]
    fn accept_header_picks_the_reply_format() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("text/event-stream"),
        );
        assert!(wants_sse(&headers));
        headers.insert(
            header::ACCEPT,
            HeaderValue::from_static("application/json, text/event-stream"),
        );
        assert!(!wants_sse(&headers));
        assert!(!wants_sse(&HeaderMap::new()));
    }

    #[test]
    fn connection_named_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::CONNECTION,
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("mcp-session-id", HeaderValue::from_static("abc"));
        strip_hop_by_hop(&mut headers);
        assert!(headers.get("x-secret").is_none() && headers.get(header::CONNECTION).is_none());
        assert_eq!(headers.get("mcp-session-id").unwrap(), "abc");
    }
}
