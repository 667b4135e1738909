//! The read-only web viewer: an HTTP server (axum) that serves one page, under the read-only
//! token's path only, and streams rendered frames of the shared screen to it over a WebSocket.
//!
//! It depends on the hub (through [`render`]) and never on the SSH server. A viewer may also
//! ask for rows that scrolled off a pane since the share began ([`history`]); nothing it asks
//! changes what the host, guests or other viewers see. Who is typing comes from the registry,
//! as a small message beside the frames. The read-write
//! token is never accepted here: every path but `/RO_TOKEN` and what lies under it gets the
//! same plain 404, decided by a constant-time comparison.

pub mod history;
pub mod outlet;
pub mod render;
pub mod tls;

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio_util::task::TaskTracker;
use tungstenite::Message;

use crate::admission::limiter::FailureLimiter;
use crate::admission::Admission;
use crate::registry::{wait_for_host, Arrival, Kind, Registry, Typing, Waited};
use crate::shutdown::{self, Shutdown};
use crate::tokens::{Login, Tokens};
use history::History;
use outlet::{Inbound, Outlet, Room, Wire};
use render::Frame;
use tls::Tls;

const PAGE: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/app.js");
const STYLE: &str = include_str!("page/app.css");

/// The page allows only its own script, style and WebSocket: nothing inline, nothing from
/// elsewhere, no framing.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                   img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

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
    /// HTTPS only, with this certificate (`--tls-cert`); `None`: plain HTTP.
    pub tls: Option<Arc<Tls>>,
}

struct Web {
    shared: WebShared,
    /// The page with the session filled in; the token's path (`{{BASE}}`) is filled in per
    /// request, as the token may be rotated.
    page: String,
    limiter: FailureLimiter,
    /// The seated viewers, to whom every frame is written.
    room: Arc<Room>,
}

/// Serves the viewer on `listener` until the shutdown.
pub async fn serve(listener: TcpListener, shared: WebShared) {
    let page = PAGE.replace("{{SESSION}}", &html_escape(&shared.session));
    let mut shutdown = shared.shutdown.clone();
    let room = Room::start(shared.frames.clone(), &shared.shutdown, &shared.tasks);
    let web = Arc::new(Web {
        shared,
        page,
        limiter: FailureLimiter::default(),
        room,
    });
    let tasks = web.shared.tasks.clone();
    let tls = web.shared.tls.clone();
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
        let tls = tls.clone();
        tasks.spawn(async move {
            let _ticket = ticket;
            let conn = async move {
                match tls {
                    None => http(tcp, peer, app, false).await,
                    // The handshake holds the ticket too: it is a connection not yet a viewer.
                    // Boxed, so that a plain connection's task is not the size of a TLS one.
                    Some(tls) => {
                        Box::pin(async move {
                            if let Some(stream) = tls.accept(tcp).await {
                                http(stream, peer, app, true).await;
                            }
                        })
                        .await
                    }
                }
            };
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

/// Serves HTTP on one connection (plain, or over TLS: `https`) until it ends or is upgraded.
async fn http<I>(io: I, peer: SocketAddr, app: axum::Router, https: bool)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let hsts = https.then(|| tls::hsts(&req)).flatten();
            let resp = tower::ServiceExt::oneshot(app.clone(), req.map(Body::new));
            async move {
                let mut resp = resp.await?;
                if let Some(v) = hsts {
                    resp.headers_mut()
                        .insert(header::STRICT_TRANSPORT_SECURITY, v);
                }
                Ok::<_, std::convert::Infallible>(resp)
            }
        });
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .max_buf_size(MAX_HEADER_BYTES)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
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
        "ws" => upgrade(web, req, login, peer),
        _ => not_found(),
    }
}

/// Answers a WebSocket handshake (RFC 6455, section 4.2) and hands the socket itself to the
/// viewer's task: its frames are written to the socket directly ([`outlet`]).
fn upgrade(web: Arc<Web>, mut req: Request, login: Login, peer: SocketAddr) -> Response {
    let headers = req.headers();
    let has = |name: header::HeaderName, token: &str| {
        headers.get_all(name).iter().any(|v| {
            v.to_str()
                .is_ok_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
        })
    };
    let key = headers.get(header::SEC_WEBSOCKET_KEY);
    let version = headers.get(header::SEC_WEBSOCKET_VERSION);
    let (Some(key), true) = (
        key,
        req.method() == Method::GET
            && has(header::CONNECTION, "upgrade")
            && has(header::UPGRADE, "websocket")
            && version.is_some_and(|v| v == "13"),
    ) else {
        return secure(
            (
                StatusCode::BAD_REQUEST,
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                "This is the viewer's WebSocket: open the page instead.\n",
            )
                .into_response(),
        );
    };
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let client = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("a browser")
        .to_owned();
    let upgraded = hyper::upgrade::on(&mut req);
    // Tracked, so that the share waits for this viewer's goodbye.
    web.shared.tasks.clone().spawn(async move {
        // The connection is the server's own TCP stream (see `serve`), and its TLS connection
        // over HTTPS, with whatever the viewer sent after its request.
        let Some(socket) = upgraded.await.ok().and_then(tls::reclaim) else {
            return;
        };
        view(socket, web, login, peer, client).await;
    });
    let mut resp = Response::new(Body::empty());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
    if let Ok(accept) = HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, accept);
    }
    secure(resp)
}

/// Serves one viewer until it leaves, is kicked, or the share ends: it gets frames from the
/// room once seated, and its requests for history rows are answered here. A viewer that must
/// wait for the host (`--approve`) gets no frame until it is let in.
async fn view(
    socket: tls::Reclaimed,
    web: Arc<Web>,
    login: Login,
    peer: SocketAddr,
    client: String,
) {
    let (kick, _) = shutdown::channel();
    let arrival = Arrival {
        kind: Kind::Web,
        login,
        addr: peer,
        client,
        term: None,
        kick,
        name: None,
    };
    let registered = web.shared.registry.register(arrival);
    let meter = registered.as_ref().ok().map(|(reg, _)| reg.meter());
    let stream = Arc::new(socket.stream);
    let outlet = Arc::new(Outlet::new(
        Arc::clone(&stream),
        socket.link,
        web.shared.frames.clone(),
        meter,
    ));
    let (reg, waiting) = match registered {
        Ok(r) => r,
        Err(refusal) => return goodbye(&outlet, &refusal.to_string()).await,
    };
    let mut inbound = Inbound::new(stream, Arc::clone(&outlet), socket.read);
    let mut shutdown = web.shared.shutdown.or_kick(reg.kicked());
    let hello = serde_json::json!({ "type": "hello", "session": web.shared.session });
    if !outlet.send(&Wire::text(hello.to_string())).await {
        return;
    }
    if let Some(admitted) = waiting {
        let msg = serde_json::json!({ "type": "waiting", "id": reg.id() });
        if !outlet.send(&Wire::text(msg.to_string())).await {
            return;
        }
        // A viewer that closes its page while waiting leaves.
        match wait_for_host(admitted, &mut shutdown, inbound.next()).await {
            Waited::In => {}
            Waited::Gone => return,
            Waited::Ended(reason) => return goodbye(&outlet, &reason).await,
        }
    }
    // Frames come until the goodbye (which stops them) or until the seat is dropped.
    let _seat = web.room.seat(&outlet);
    // Who is typing as the viewer arrives (unless nobody is), then each change.
    let mut typing = web.shared.registry.watch_typing();
    if !typing.borrow_and_update().0.is_empty() {
        typing.mark_changed();
    }
    loop {
        tokio::select! {
            // The shutdown first: the renderer stops with it, and the viewer gets a goodbye.
            biased;
            reason = shutdown.wait() => return goodbye(&outlet, &reason).await,
            // A change of who is typing: rare (a spell starts or ends), so told per viewer.
            Ok(()) = typing.changed() => {
                let msg = typing_message(&typing.borrow_and_update());
                let sent = tokio::select! {
                    r = outlet.send(&msg) => r,
                    reason = shutdown.wait() => return goodbye(&outlet, &reason).await,
                };
                if !sent {
                    return;
                }
            }
            // The socket did not take all of a frame at once: finish it as it drains.
            _ = outlet.backlogged.notified() => {
                let drained = tokio::select! {
                    r = outlet.drain() => r,
                    reason = shutdown.wait() => return goodbye(&outlet, &reason).await,
                };
                if !drained {
                    return;
                }
            }
            m = inbound.next() => match m {
                // A close or an error ends the viewer; a request for history rows is answered
                // (one at a time: a viewer asking in a loop waits for each answer to be
                // written); anything else is ignored (it never causes a resend).
                Some(Message::Close(_)) | None => return,
                Some(Message::Text(t)) => {
                    let Some(req) = history_request(&t) else {
                        continue;
                    };
                    let history = &web.shared.history;
                    let answer = async {
                        // The newest rows must reach the screen this viewer sees.
                        if req.before.is_none() {
                            history.catch_up().await;
                        }
                        outlet.send(&Wire::text(history.page(&req))).await
                    };
                    let sent = tokio::select! {
                        r = answer => r,
                        reason = shutdown.wait() => return goodbye(&outlet, &reason).await,
                    };
                    if !sent {
                        return;
                    }
                }
                Some(_) => {}
            },
        }
    }
}

/// Who is typing, for the page's bar: `{"type":"typing","names":[..],"line":"alice typing"}`
/// (`line` empty when nobody is).
fn typing_message(typing: &Typing) -> Wire {
    let names: Vec<&str> = typing.0.iter().map(|t| t.name.as_ref()).collect();
    let line = typing.line().unwrap_or_default();
    Wire::text(serde_json::json!({ "type": "typing", "names": names, "line": line }).to_string())
}

/// A viewer's message, when it is a request for history rows (`{"type":"history",..}`, see
/// [`history::Request`]).
fn history_request(msg: &str) -> Option<history::Request> {
    let req: history::Request = serde_json::from_str(msg).ok()?;
    (req.kind == "history").then_some(req)
}

/// Tells the viewer why it is ended and closes, waiting a little for the socket to take it.
async fn goodbye(outlet: &Outlet, reason: &str) {
    let msg = serde_json::json!({ "type": "ended", "reason": reason }).to_string();
    outlet.close_with(&Wire::text(msg)).await;
}
