//! The read-only web viewer: an HTTP server (axum) that serves one page, under the read-only
//! token's path only, and streams rendered frames of the shared screen to it over a WebSocket.
//!
//! It depends on the hub (through [`render`]) and never on the SSH server. A viewer may also
//! ask for rows that scrolled off a pane since the share began ([`history`]); nothing it asks
//! changes what the host, guests or other viewers see. The read-write
//! token is never accepted here: every path but `/RO_TOKEN` and what lies under it gets the
//! same plain 404, decided by a constant-time comparison.

pub mod history;
pub mod render;

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use axum::body::Body;
use axum::extract::ws::{Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, FromRequestParts, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

use crate::admission::limiter::FailureLimiter;
use crate::admission::Admission;
use crate::registry::{wait_for_host, Arrival, Kind, Registration, Registry, Waited};
use crate::shutdown::{self, Shutdown};
use crate::tokens::{Login, Tokens};
use history::History;
use render::Frame;

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The page allows only its own script, style and WebSocket: nothing inline, nothing from
/// elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Bytes read from a viewer's socket at a time; viewers only send small requests for history
/// rows, pings and a close.
const WS_READ_BUFFER: usize = 4 * 1024;
/// The largest message a viewer may send; anything larger ends it.
const WS_MAX_INCOMING: usize = 16 * 1024;
/// Outgoing bytes gathered before a write to the socket: a full frame of a large screen is a
/// few tens of KiB.
const WS_WRITE_BUFFER: usize = 16 * 1024;

/// Time a client has to send a request's headers. A browser sends them in one packet; a client
/// that trickles them (slowloris) is cut off instead of holding a descriptor for good.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Open HTTP connections at most (viewers' WebSockets included), and from one address: each
/// is a descriptor. One address gets a classroom's worth behind a NAT; past a cap, the oldest
/// connection is closed, so a flood from one address only ever closes its own.
pub const MAX_CONNECTIONS: usize = 1024;
pub const MAX_CONNECTIONS_PER_ADDR: usize = 256;
/// Bytes of request headers read at most; more is refused (hyper's minimum buffer is 8 KiB).
const MAX_HEADER_BYTES: usize = 64 * 1024;

/// What the web server needs from the share.
pub struct WebShared {
    /// Checked on every request, so a rotated read-only token takes effect at once.
    pub tokens: Arc<Tokens>,
    /// Viewers register there, as SSH guests do.
    pub registry: Arc<Registry>,
    pub session: String,
    pub frames: watch::Receiver<Arc<Frame>>,
    /// The panes' scrollback, which viewers page through.
    pub history: Arc<History>,
    pub shutdown: Shutdown,
    /// Viewer tasks run here, so that `share` waits for their goodbyes.
    pub tasks: TaskTracker,
}

struct Web {
    shared: WebShared,
    /// The page with the session filled in; the token's path (`{{BASE}}`) is filled in per
    /// request, as the token may be rotated.
    page: String,
    limiter: FailureLimiter,
}

/// Serves the viewer on `listener` until the shutdown.
pub async fn serve(listener: TcpListener, shared: WebShared) {
    let page = PAGE.replace("{{SESSION}}", &html_escape(&shared.session));
    let mut shutdown = shared.shutdown.clone();
    let web = Arc::new(Web {
        shared,
        page,
        limiter: FailureLimiter::default(),
    });
    let tasks = web.shared.tasks.clone();
    let app = axum::Router::new().fallback(route).with_state(web);
    let admission = Admission::new(MAX_CONNECTIONS, MAX_CONNECTIONS_PER_ADDR);
    loop {
        let Some((tcp, peer)) = crate::shutdown::accept(&listener, &mut shutdown).await else {
            return;
        };
        let _ = tcp.set_nodelay(true);
        // Every open connection holds a place; past a cap, the oldest connection (of the same
        // address first) is closed, so idle or slow clients cannot use up npair's descriptors.
        let (ticket, pushed_out) = admission.admit(peer.ip());
        let app = app.clone();
        let mut shutdown = shutdown.clone();
        tasks.spawn(async move {
            let _ticket = ticket;
            let service = hyper::service::service_fn(
                move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(ConnectInfo(peer));
                    tower::ServiceExt::oneshot(app.clone(), req.map(Body::new))
                },
            );
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .max_buf_size(MAX_HEADER_BYTES)
                .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                .with_upgrades();
            tokio::select! {
                _ = conn => {}
                _ = pushed_out => {}
                // A viewer's WebSocket lives on in its own task, which says goodbye; this only
                // stops the HTTP side.
                _ = shutdown.wait() => {}
            }
        });
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Every response carries these.
fn secure(mut resp: Response) -> Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    resp
}

fn not_found() -> Response {
    secure(
        (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "Not Found\n",
        )
            .into_response(),
    )
}

fn asset(content_type: &'static str, body: impl Into<Body>) -> Response {
    secure(([(header::CONTENT_TYPE, content_type)], body.into()).into_response())
}

async fn route(
    State(web): State<Arc<Web>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    req: Request,
) -> Response {
    let path = req.uri().path();
    let rest = path.strip_prefix('/').unwrap_or(path);
    let (token, sub) = rest.split_once('/').unwrap_or((rest, ""));
    // Constant time, so a near-miss answers exactly like a far miss.
    let login = web.shared.tokens.check_ro(token);
    if !web.limiter.allowed(peer.ip()) {
        return not_found();
    }
    let Some(login) = login else {
        web.limiter.failed(peer.ip());
        return not_found();
    };
    match sub {
        "" => asset(
            "text/html; charset=utf-8",
            web.page.replace("{{BASE}}", &format!("/{token}")),
        ),
        "app.js" => asset("text/javascript; charset=utf-8", SCRIPT),
        "app.css" => asset("text/css; charset=utf-8", STYLE),
        "ws" => {
            let (mut parts, _) = req.into_parts();
            let client = parts
                .headers
                .get(header::USER_AGENT)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("a browser")
                .to_owned();
            match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
                Ok(upgrade) => {
                    // The page sends only small requests: small receive buffers and messages,
                    // and a write buffer that holds at most about one full frame.
                    let upgrade = upgrade
                        .read_buffer_size(WS_READ_BUFFER)
                        .max_message_size(WS_MAX_INCOMING)
                        .max_frame_size(WS_MAX_INCOMING)
                        .write_buffer_size(WS_WRITE_BUFFER);
                    let web = Arc::clone(&web);
                    let tasks = web.shared.tasks.clone();
                    secure(upgrade.on_upgrade(move |ws| async move {
                        // Tracked, so that the share waits for this viewer's goodbye.
                        let _ = tasks.spawn(view(ws, web, login, peer, client)).await;
                    }))
                }
                Err(e) => secure(e.into_response()),
            }
        }
        _ => not_found(),
    }
}

/// Streams frames to one viewer until it leaves, is kicked, or the share ends. A viewer that
/// must wait for the host (`--approve`) gets no frame until it is let in.
async fn view(mut ws: WebSocket, web: Arc<Web>, login: Login, peer: SocketAddr, client: String) {
    let (kick, _) = shutdown::channel();
    let arrival = Arrival {
        kind: Kind::Web,
        login,
        addr: peer,
        client,
        term: None,
        kick,
    };
    let (reg, waiting) = match web.shared.registry.register(arrival) {
        Ok(r) => r,
        Err(refusal) => return goodbye(ws, &refusal.to_string()).await,
    };
    let mut frames = web.shared.frames.clone();
    let mut shutdown = web.shared.shutdown.or_kick(reg.kicked());
    let hello = serde_json::json!({ "type": "hello", "session": web.shared.session }).to_string();
    if !send(&mut ws, &reg, hello).await {
        return;
    }
    if let Some(admitted) = waiting {
        let msg = serde_json::json!({ "type": "waiting", "id": reg.id() }).to_string();
        if !send(&mut ws, &reg, msg).await {
            return;
        }
        // A viewer that closes its page while waiting leaves.
        match wait_for_host(admitted, &mut shutdown, ws.recv()).await {
            Waited::In => {}
            Waited::Gone => return,
            Waited::Ended(reason) => return goodbye(ws, &reason).await,
        }
    }
    let mut last: Option<u64> = None;
    loop {
        let frame = Arc::clone(&frames.borrow_and_update());
        let msg = frame.message_after(last);
        last = Some(frame.seq);
        // While this waits on a slow viewer, newer frames replace older ones in the watch
        // channel: the viewer skips to the latest, and nothing queues up for it.
        let sent = tokio::select! {
            r = send(&mut ws, &reg, msg) => r,
            reason = shutdown.wait() => return goodbye(ws, &reason).await,
        };
        if !sent {
            return;
        }
        loop {
            tokio::select! {
                // The shutdown first: the renderer stops with it, and its closing must not
                // end this viewer without a goodbye.
                biased;
                reason = shutdown.wait() => return goodbye(ws, &reason).await,
                r = frames.changed() => if r.is_err() {
                    return goodbye(ws, "the share has ended").await;
                } else {
                    break;
                },
                m = ws.recv() => match m {
                    // A close or an error ends the viewer; a request for history rows is
                    // answered (one at a time: a viewer asking in a loop waits for each
                    // answer to be sent); anything else is ignored (it never causes a resend).
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return,
                    Some(Ok(Message::Text(t))) => {
                        let Some(req) = history_request(&t) else {
                            continue;
                        };
                        let history = &web.shared.history;
                        let answer = async {
                            // The newest rows must reach the screen this viewer sees.
                            if req.before.is_none() {
                                history.catch_up().await;
                            }
                            send(&mut ws, &reg, history.page(&req)).await
                        };
                        let sent = tokio::select! {
                            r = answer => r,
                            reason = shutdown.wait() => return goodbye(ws, &reason).await,
                        };
                        if !sent {
                            return;
                        }
                    }
                    Some(Ok(_)) => {}
                },
            }
        }
    }
}

/// A viewer's message, when it is a request for history rows (`{"type":"history",..}`, see
/// [`history::Request`]).
fn history_request(msg: &str) -> Option<history::Request> {
    let req: history::Request = serde_json::from_str(msg).ok()?;
    (req.kind == "history").then_some(req)
}

/// Sends a message, counting its bytes for `npair status`; false when the viewer is gone.
async fn send(ws: &mut WebSocket, reg: &Registration, msg: impl Into<Utf8Bytes>) -> bool {
    let msg = msg.into();
    let n = msg.len();
    let ok = ws.send(Message::Text(msg)).await.is_ok();
    if ok {
        reg.sent(n);
    }
    ok
}

async fn goodbye(mut ws: WebSocket, reason: &str) {
    let msg = serde_json::json!({ "type": "ended", "reason": reason }).to_string();
    let _ = tokio::time::timeout(crate::shutdown::FAREWELL_TIMEOUT, async {
        let _ = ws.send(Message::Text(msg.into())).await;
        let _ = ws.send(Message::Close(None)).await;
    })
    .await;
}
