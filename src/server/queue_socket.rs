//! `GET /api/queue/ws`: the household queue, live. The state on connect, then every change;
//! ops are accepted as text messages (a rejected one is answered `{"type": "error", "message":
//! ..., "state": ...}`); a socket may register as a browser player and then gets orders.
//!
//! The upgrade is taken over from actix-http with its connection (see `server::bind`), and the
//! protocol is spoken by [`super::websocket`], so an idle socket costs a few KB, not actix's
//! buffers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_codec::Framed;
use actix_http::{h1, HttpMessage, Request};
use actix_web::http::StatusCode;
use actix_web::web;
use tokio::net::TcpStream;

use super::api::{self, Failure};
use super::queue::run;
use super::websocket::{self as ws, Message, Reader};
use crate::app::queue::{Command, Published};
use crate::app::users::User;
use crate::app::App;
use crate::server::subsonic::auth::Brake;

/// Where the socket is.
pub const PATH: &str = "/api/queue/ws";
/// Heartbeat: a ping this often; a client silent for [`SILENT_LIMIT`] is dropped.
const PING_EVERY: Duration = Duration::from_secs(10);
const SILENT_LIMIT: Duration = Duration::from_secs(30);
/// A client that takes longer than this to accept a message (it is not reading) is dropped, so
/// it never holds anyone else up.
const SEND_LIMIT: Duration = Duration::from_secs(5);
/// Ops a socket may send: a burst of this many, refilled at [`OPS_PER_SECOND`].
const OPS_BURST: f64 = 40.0;
const OPS_PER_SECOND: f64 = 20.0;
/// Ops refused for the rate in a row before the socket is closed.
const FLOOD_LIMIT: u32 = 200;
/// The largest op a socket accepts (an add of many songs fits).
const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// Every `Upgrade: websocket` request lands here with its connection, whatever its path.
pub async fn upgrade(
    app: Arc<App>,
    brake: web::Data<Brake>,
    req: Request,
    framed: Framed<actix_rt::net::TcpStream, h1::Codec>,
) {
    // Keep the connection and the bytes read past the request (a client may send its first
    // frame at once); actix's buffers are freed here.
    let actix_codec::FramedParts {
        io: stream,
        read_buf,
        ..
    } = framed.into_parts();
    let already = read_buf.to_vec();
    drop(read_buf);
    let failure = |status: StatusCode, why: &str| Failure::new(status, why.to_string());
    let headers = req.headers();
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let refused = if req.path() != PATH {
        Some(failure(
            StatusCode::NOT_FOUND,
            "no WebSocket here: the queue's is /api/queue/ws",
        ))
    } else if req.method() != actix_web::http::Method::GET {
        Some(failure(
            StatusCode::METHOD_NOT_ALLOWED,
            "a WebSocket opens with GET",
        ))
    } else if header("sec-websocket-version").map(str::trim) != Some("13") {
        Some(failure(
            StatusCode::UPGRADE_REQUIRED,
            "WebSocket version 13 only",
        ))
    } else if header("sec-websocket-key").is_none() {
        Some(failure(StatusCode::BAD_REQUEST, "no Sec-WebSocket-Key"))
    } else {
        None
    };
    if let Some(f) = refused {
        return answer(&stream, &f).await;
    }
    let peer =
        crate::server::client::resolve(headers, req.peer_addr(), &app.settings.trusted_proxies, "")
            .ip;
    let user = match Box::pin(api::user_of(headers, peer, app.clone(), &brake)).await {
        Ok(user) => user,
        Err(f) => return answer(&stream, &f).await,
    };
    let accept = ws::accept_key(header("sec-websocket-key").unwrap_or(""));
    let hello = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
    );
    if !raw_write(&stream, hello.as_bytes()).await {
        return;
    }
    drop(req);
    // Boxed on its own: what the socket keeps while it lives is only this.
    let watcher = Watcher {
        app,
        user,
        stream,
        seen: -1,
        player: None,
        followed: None,
        heard: Instant::now(),
        tokens: OPS_BURST,
        refilled: Instant::now(),
        flooded: 0,
    };
    Box::pin(watcher.run(Reader::new(MAX_MESSAGE, &already))).await;
}

/// Bytes straight to the client, within [`SEND_LIMIT`].
async fn raw_write(stream: &TcpStream, bytes: &[u8]) -> bool {
    let writing = ws::write_all(stream, bytes, &[]);
    matches!(tokio::time::timeout(SEND_LIMIT, writing).await, Ok(Ok(())))
}

/// A refused upgrade: an HTTP answer with the JSON error, and the connection closes.
async fn answer(stream: &TcpStream, f: &Failure) {
    let body = f.body();
    let status = f.status();
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
        status.as_u16(),
        status.canonical_reason().unwrap_or(""),
        body.len()
    );
    if status == StatusCode::UNAUTHORIZED {
        head.push_str(&format!("WWW-Authenticate: {}\r\n", api::CHALLENGE));
    }
    if status == StatusCode::UPGRADE_REQUIRED {
        head.push_str("Sec-WebSocket-Version: 13\r\n");
    }
    head.push_str("\r\n");
    head.push_str(&body);
    raw_write(stream, head.as_bytes()).await;
}

fn error_message(message: &str, state: Option<&Published>) -> String {
    let message = serde_json::Value::String(message.to_string());
    match state {
        Some(s) => format!(
            r#"{{"type":"error","message":{message},"state":{}}}"#,
            s.state
        ),
        None => format!(r#"{{"type":"error","message":{message}}}"#),
    }
}

/// Whether to go on after a message.
enum Flow {
    Go,
    Stop,
}

/// One socket: forwards changes, runs its ops, keeps the connection alive.
struct Watcher {
    app: Arc<App>,
    user: User,
    stream: TcpStream,
    /// The newest version sent.
    seen: i64,
    /// Set when this socket registers as a browser player: its output id, and the last order
    /// it was given, so it is told only what changed.
    player: Option<String>,
    followed: Option<FollowKey>,
    heard: Instant,
    /// The rate limit: a token per op.
    tokens: f64,
    refilled: Instant,
    flooded: u32,
}

impl Watcher {
    async fn send(&self, opcode: u8, payload: &[u8]) -> bool {
        // Boxed: sends are brief, and an idle socket's task then keeps no room for one.
        let sending = Box::pin(tokio::time::timeout(
            SEND_LIMIT,
            ws::write(&self.stream, opcode, payload),
        ));
        matches!(sending.await, Ok(Ok(())))
    }

    async fn text(&self, text: &str) -> Flow {
        if self.send(ws::TEXT, text.as_bytes()).await {
            Flow::Go
        } else {
            Flow::Stop
        }
    }

    async fn close(&self, code: u16) -> Flow {
        self.send(ws::CLOSE, &ws::close_payload(code)).await;
        Flow::Stop
    }

    async fn run(mut self, mut reader: Reader) {
        use tokio::sync::broadcast::error::RecvError;
        let (now, mut changes) = self.app.queues.home().watch();
        self.seen = now.version;
        if let Flow::Stop = self.text(&now.message).await {
            return;
        }
        let mut ping =
            tokio::time::interval_at(tokio::time::Instant::now() + PING_EVERY, PING_EVERY);
        // The handshake's bytes may hold messages already.
        let mut flow = self.take_messages(&mut reader).await;
        while let Flow::Go = flow {
            flow = tokio::select! {
                change = changes.recv() => match change {
                    Ok(p) if p.version <= self.seen => Flow::Go,
                    Ok(p) => Box::pin(self.changed(&p)).await,
                    // Fell behind: the newest state says everything the skipped ones did.
                    Err(RecvError::Lagged(_)) => {
                        let p = self.app.queues.home().published();
                        Box::pin(self.changed(&p)).await
                    }
                    Err(RecvError::Closed) => Flow::Stop,
                },
                ready = self.stream.readable() => match ready.and_then(|_| reader.fill(&self.stream)) {
                    Ok(true) => {
                        self.heard = Instant::now();
                        Box::pin(self.take_messages(&mut reader)).await
                    }
                    Ok(false) | Err(_) => Flow::Stop,
                },
                _ = ping.tick() => {
                    if self.heard.elapsed() > SILENT_LIMIT || !self.send(ws::PING, b"").await {
                        Flow::Stop
                    } else {
                        Flow::Go
                    }
                }
            };
        }
        self.linger().await;
        self.leave().await;
    }

    /// Ends the connection gently: no more writes, and what the client still sends is read
    /// and dropped until it closes too (at most 2 s). Closing with unread bytes would reset the
    /// connection, and the client would lose the messages it had not read yet.
    async fn linger(&self) {
        let _ = socket2::SockRef::from(&self.stream).shutdown(std::net::Shutdown::Write);
        let drain = async {
            let mut sink = [0u8; 1024];
            loop {
                if self.stream.readable().await.is_err() {
                    return;
                }
                match self.stream.try_read(&mut sink) {
                    Ok(0) => return,
                    Ok(_) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(_) => return,
                }
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), drain).await;
    }

    /// A new state: sent, and an order if this socket is the queue's player.
    async fn changed(&mut self, p: &Published) -> Flow {
        self.seen = p.version;
        if let Flow::Stop = self.text(&p.message).await {
            return Flow::Stop;
        }
        if let Some(me) = &self.player {
            if let Some(order) = order_for(&p.playback, me, &mut self.followed) {
                return self.text(&order).await;
            }
        }
        Flow::Go
    }

    async fn take_messages(&mut self, reader: &mut Reader) -> Flow {
        loop {
            match reader.message() {
                Ok(None) => return Flow::Go,
                Ok(Some(m)) => {
                    // Boxed, like every step that awaits more than the socket: an idle
                    // socket's task keeps room only for waiting.
                    if let Flow::Stop = Box::pin(self.handle(m)).await {
                        return Flow::Stop;
                    }
                }
                Err(v) => {
                    tracing::debug!("queue socket closed: {v}");
                    return self.close(v.code).await;
                }
            }
        }
    }

    async fn handle(&mut self, m: Message) -> Flow {
        match m {
            Message::Text(t) => self.op(t).await,
            Message::Binary(_) => {
                self.text(&error_message("ops are JSON text messages", None))
                    .await
            }
            Message::Ping(p) => {
                if self.send(ws::PONG, &p).await {
                    Flow::Go
                } else {
                    Flow::Stop
                }
            }
            Message::Pong => Flow::Go,
            Message::Close(_) => self.close(ws::NORMAL).await,
        }
    }

    /// A text message: a queue op, or a player's message.
    async fn op(&mut self, text: String) -> Flow {
        self.tokens =
            (self.tokens + self.refilled.elapsed().as_secs_f64() * OPS_PER_SECOND).min(OPS_BURST);
        self.refilled = Instant::now();
        if self.tokens < 1.0 {
            self.flooded += 1;
            if self.flooded > FLOOD_LIMIT {
                return self.close(ws::POLICY).await;
            }
            return self
                .text(&error_message("too many ops: slow down", None))
                .await;
        }
        self.tokens -= 1.0;
        self.flooded = 0;
        let app = self.app.clone();
        if let Some(report) = player_message(&text) {
            let reply = match report {
                PlayerMessage::Register(name) if self.player.is_none() => {
                    let id = app.outputs.add_browser(&name);
                    let hello = format!(
                        r#"{{"type":"registered","output":{}}}"#,
                        serde_json::Value::String(id.clone())
                    );
                    let current = app.queues.home().published();
                    let order = order_for(&current.playback, &id, &mut self.followed);
                    self.player = Some(id);
                    if let Flow::Stop = self.text(&hello).await {
                        return Flow::Stop;
                    }
                    order
                }
                PlayerMessage::Register(_) => {
                    Some(error_message("this socket is a player already", None))
                }
                PlayerMessage::Report(command) => {
                    let active = self.player.as_ref().is_some_and(|me| {
                        app.queues.home().published().playback.output.as_deref()
                            == Some(me.as_str())
                    });
                    if active {
                        let _ = web::block(move || app.queues.home().run(command, None)).await;
                        None
                    } else {
                        Some(error_message(
                            "reports come from the output the queue plays on",
                            None,
                        ))
                    }
                }
                PlayerMessage::Bad(why) => Some(error_message(&why, None)),
            };
            return match reply {
                Some(reply) => self.text(&reply).await,
                None => Flow::Go,
            };
        }
        let user = self.user.clone();
        let outcome = web::block(move || run(&app, &user, text.as_bytes())).await;
        let reply = match outcome {
            // The change reaches this socket through the queue's news, like everyone else's.
            Ok(Ok(_)) => return Flow::Go,
            Ok(Err(f)) => error_message(f.message(), f.state_published().as_ref()),
            Err(e) => error_message(&e.to_string(), None),
        };
        self.text(&reply).await
    }

    /// The socket is closing: a player leaves the outputs, and a queue playing on it pauses.
    async fn leave(self) {
        let Some(me) = self.player else {
            return;
        };
        self.app.outputs.remove(&me);
        if self
            .app
            .queues
            .home()
            .published()
            .playback
            .output
            .as_deref()
            == Some(me.as_str())
        {
            let _ = web::block(move || {
                let q = self.app.queues.home();
                let _ = q.run(Command::Pause, None);
                q.run(Command::SetOutput(None), None)
            })
            .await;
        }
    }
}

/// What a player was last told: (current entry, upcoming entry, playing, jumps).
type FollowKey = (
    Option<(String, String)>,
    Option<(String, String)>,
    bool,
    i64,
);

/// The order for player `me` after a change, if it has something new to do.
fn order_for(
    p: &crate::app::queue::Playback,
    me: &str,
    last: &mut Option<FollowKey>,
) -> Option<String> {
    if p.output.as_deref() != Some(me) {
        // No longer the output: stop, once.
        return last
            .take()
            .map(|_| r#"{"type":"order","action":"stop"}"#.to_string());
    }
    let key = (p.entry.clone(), p.upcoming.clone(), p.playing, p.jumps);
    if last.as_ref() == Some(&key) {
        return None;
    }
    *last = Some(key);
    Some(match &p.entry {
        None => r#"{"type":"order","action":"stop"}"#.to_string(),
        Some((entry, song)) => serde_json::json!({
            "type": "order",
            "action": if p.playing { "play" } else { "pause" },
            "entry": entry,
            "song": song,
            "url": format!("/api/stream/{song}"),
            "position_ms": p.position_ms,
            // Prepared ahead by the player, so the gap between songs is short.
            "next": p.upcoming.as_ref().map(|(entry, song)| serde_json::json!({
                "entry": entry,
                "song": song,
                "url": format!("/api/stream/{song}"),
            })),
        })
        .to_string(),
    })
}

/// A message from a browser player (anything with a `"type"`), as opposed to a queue op.
enum PlayerMessage {
    Register(String),
    Report(Command),
    Bad(String),
}

fn player_message(text: &str) -> Option<PlayerMessage> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let kind = v.get("type")?.as_str().unwrap_or("").to_string();
    Some(match kind.as_str() {
        "register_player" => PlayerMessage::Register(
            v.get("name")
                .and_then(|n| n.as_str())
                .unwrap_or("")
                .to_string(),
        ),
        "position" => match v.get("position_ms").and_then(|p| p.as_i64()) {
            Some(ms) => PlayerMessage::Report(Command::Position {
                position_ms: ms,
                jumps: None,
            }),
            None => PlayerMessage::Bad("\"position\" needs \"position_ms\"".into()),
        },
        "ended" => PlayerMessage::Report(Command::Ended { jumps: None }),
        other => PlayerMessage::Bad(format!(
            "unknown message type {:?}: players send register_player, position, ended",
            other.chars().take(40).collect::<String>()
        )),
    })
}

/// The bytes a client sends on the queue socket after the upgrade, read as a [`Watcher`] reads
/// them: frames into messages, each text message as a player's message or else a queue op
/// (its command is looked up, not run, so the queue is left as it was). The first protocol
/// breach ends the reading, as it closes a socket.
pub(crate) fn read_messages(app: &App, user: &User, bytes: &[u8]) -> Result<usize, String> {
    let mut reader = Reader::new(MAX_MESSAGE, bytes);
    let mut read = 0;
    loop {
        match reader.message() {
            Ok(None) => return Ok(read),
            Ok(Some(Message::Text(text))) => {
                read += 1;
                match player_message(&text) {
                    Some(PlayerMessage::Bad(why)) => drop(error_message(&why, None)),
                    Some(PlayerMessage::Register(_) | PlayerMessage::Report(_)) => {}
                    None => {
                        if let Err(why) = super::queue::read_op(app, user, text.as_bytes()) {
                            drop(error_message(&why, None));
                        }
                    }
                }
            }
            Ok(Some(_)) => read += 1,
            Err(v) => return Err(format!("{} (close code {})", v.why, v.code)),
        }
    }
}
