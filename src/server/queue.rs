//! The household queue over HTTP: `GET /api/queue` (the state), `POST /api/queue` (one command,
//! answered with the new state). The JSON contract is in `docs/api.md`; the rules are in
//! `app::queue`.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use crate::app::library::browse::{self, Scope, SongRow};
use crate::app::queue::{Command, Place, Published, Refusal, Rejected, Repeat, SongSummary};
use crate::app::users::User;
use crate::app::App;
use crate::server::api::{for_user, Failure};
use crate::server::subsonic::auth::Brake;

/// A command as clients send it: `{"op": "...", ..., "version": n}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Op {
    pub op: String,
    pub version: Option<i64>,
    pub songs: Option<Vec<String>>,
    pub album: Option<String>,
    pub artist: Option<String>,
    pub playlist: Option<String>,
    pub position: Option<serde_json::Value>,
    pub entries: Option<Vec<String>>,
    pub entry: Option<String>,
    pub to: Option<usize>,
    pub position_ms: Option<i64>,
    pub repeat: Option<String>,
    pub shuffle: Option<bool>,
    pub volume: Option<i64>,
    pub output: Option<Option<String>>,
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, message)
}

fn id_of(text: &str, kind: &str) -> Result<i64, Failure> {
    text.strip_prefix(kind)
        .and_then(|n| n.strip_prefix('-'))
        .unwrap_or(text)
        .parse()
        .map_err(|_| bad(format!("{text:?} is not a {kind}- id")))
}

fn summary(s: &SongRow) -> SongSummary {
    SongSummary {
        id: format!("tr-{}", s.id),
        title: s.title.clone(),
        artist: s.artist_display.clone(),
        album: s.album_name.clone(),
        duration: (s.duration_ms + 500) / 1000,
        cover_art: format!("al-{}", s.album_id),
    }
}

/// The songs an `add` names, in order, among those the user may see.
fn songs_to_add(app: &App, user: &User, op: &Op) -> Result<Vec<SongSummary>, Failure> {
    let scope = Scope::new(user.allowed_folders(), None);
    let mut c = app.db.read()?;
    let rows: Vec<SongRow> = match (&op.songs, &op.album, &op.artist, &op.playlist) {
        (Some(songs), None, None, None) => {
            if songs.len() > crate::app::queue::state::MAX_ENTRIES {
                return Err(bad(format!(
                    "at most {} songs at once",
                    crate::app::queue::state::MAX_ENTRIES
                )));
            }
            let ids = songs
                .iter()
                .map(|s| id_of(s, "tr"))
                .collect::<Result<Vec<_>, _>>()?;
            let found = browse::songs_by_ids(&mut c, &ids, &scope).map_err(Failure::internal)?;
            if found.len() != ids.len() {
                return Err(Failure::new(
                    StatusCode::NOT_FOUND,
                    "some of those songs do not exist",
                ));
            }
            found
        }
        (None, Some(album), None, None) => {
            let id = id_of(album, "al")?;
            browse::album(&mut c, id, &scope)
                .map_err(Failure::internal)?
                .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no such album"))?;
            browse::songs_of_album(&mut c, id, &scope).map_err(Failure::internal)?
        }
        (None, None, Some(artist), None) => {
            let id = id_of(artist, "ar")?;
            let albums = browse::albums_of_artist(&mut c, id, &scope).map_err(Failure::internal)?;
            if albums.is_empty() {
                return Err(Failure::new(StatusCode::NOT_FOUND, "no such artist"));
            }
            let mut songs = Vec::new();
            for album in albums {
                songs.extend(
                    browse::songs_of_album(&mut c, album.id, &scope).map_err(Failure::internal)?,
                );
            }
            songs
        }
        (None, None, None, Some(playlist)) => {
            let id = id_of(playlist, "pl")?;
            let p = app
                .playlists
                .get(id)?
                .filter(|p| p.public || p.owner_id == user.id || user.is_admin)
                .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, "no such playlist"))?;
            browse::playlist_songs(&mut c, p.id, &scope).map_err(Failure::internal)?
        }
        _ => {
            return Err(bad(
                "add takes exactly one of \"songs\", \"album\", \"artist\", \"playlist\"",
            ))
        }
    };
    Ok(rows.iter().map(summary).collect())
}

/// Turns a client's op into a command (looking up the songs of an `add`).
pub fn command(app: &App, user: &User, op: &Op) -> Result<Command, Failure> {
    let need = |what: &str| bad(format!("\"{}\" needs \"{what}\"", op.op));
    Ok(match op.op.as_str() {
        "add" => {
            let place = match &op.position {
                None => Place::End,
                Some(serde_json::Value::String(s)) if s == "end" => Place::End,
                Some(serde_json::Value::String(s)) if s == "next" => Place::Next,
                Some(serde_json::Value::Number(n)) => Place::Index(
                    n.as_u64()
                        .ok_or_else(|| bad("position is \"end\", \"next\" or an index from 0"))?
                        as usize,
                ),
                Some(_) => return Err(bad("position is \"end\", \"next\" or an index from 0")),
            };
            Command::Add {
                songs: songs_to_add(app, user, op)?,
                place,
            }
        }
        "remove" => Command::Remove {
            entries: op.entries.clone().ok_or_else(|| need("entries"))?,
        },
        "move" => Command::Move {
            entry: op.entry.clone().ok_or_else(|| need("entry"))?,
            to: op.to.ok_or_else(|| need("to"))?,
        },
        "clear" => Command::Clear,
        "play" => Command::Play {
            entry: op.entry.clone().ok_or_else(|| need("entry"))?,
        },
        "pause" => Command::Pause,
        "resume" => Command::Resume,
        "seek" => Command::Seek {
            position_ms: op.position_ms.ok_or_else(|| need("position_ms"))?,
        },
        "next" => Command::Next,
        "previous" => Command::Previous,
        "set_repeat" => Command::SetRepeat(
            op.repeat
                .as_deref()
                .and_then(Repeat::parse)
                .ok_or_else(|| bad("repeat is \"off\", \"one\" or \"all\""))?,
        ),
        "set_shuffle" => Command::SetShuffle(op.shuffle.ok_or_else(|| need("shuffle"))?),
        "set_volume" => {
            let v = op.volume.ok_or_else(|| need("volume"))?;
            if !(0..=100).contains(&v) {
                return Err(bad("volume is 0 to 100"));
            }
            Command::SetVolume(v as u8)
        }
        "set_output" => {
            let output = op.output.clone().ok_or_else(|| need("output"))?;
            if let Some(id) = &output {
                match app.outputs.get(id) {
                    None => {
                        return Err(Failure::new(
                            StatusCode::NOT_FOUND,
                            format!("no output {id:?}; GET /api/outputs lists them"),
                        ))
                    }
                    Some(o) if !o.available => {
                        return Err(Failure::new(
                            StatusCode::CONFLICT,
                            format!(
                                "output {id:?} is unavailable: {}",
                                o.problem.as_deref().unwrap_or("unknown reason")
                            ),
                        ))
                    }
                    Some(_) => {}
                }
            }
            Command::SetOutput(output)
        }
        other => {
            return Err(bad(format!(
                "unknown op {:?}; see docs/api.md for the list",
                other.chars().take(40).collect::<String>()
            )))
        }
    })
}

/// Runs a client's op (JSON text) on the home queue.
pub fn run(app: &App, user: &User, body: &[u8]) -> Result<Published, Failure> {
    let op: Op = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the body is not a queue op: {e}")))?;
    let command = command(app, user, &op)?;
    app.queues
        .home()
        .run(command, op.version)
        .map_err(|r| match r {
            Refusal::Rejected(Rejected::Invalid(why), _) => bad(why),
            Refusal::Rejected(why, current) => Failure::with_state(why.to_string(), *current),
            Refusal::Failed(e) => Failure::internal(format!("{e:#}")),
        })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/outputs", web::get().to(get_outputs))
        .route("/api/queue", web::get().to(get_queue))
        .route("/api/queue", web::post().to(post_queue))
        .route("/api/queue/ws", web::get().to(socket));
}

async fn get_outputs(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    match for_user(&req, app, brake, |app, _| Ok(app.outputs.list())).await {
        Ok(list) => HttpResponse::Ok().json(list),
        Err(r) => r,
    }
}

async fn get_queue(req: HttpRequest, app: web::Data<App>, brake: web::Data<Brake>) -> HttpResponse {
    match for_user(&req, app, brake, |app, _| Ok(app.queues.home().published())).await {
        Ok(p) => state_response(StatusCode::OK, &p),
        Err(r) => r,
    }
}

async fn post_queue(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    match for_user(&req, app, brake, move |app, user| run(app, &user, &body)).await {
        Ok(p) => state_response(StatusCode::OK, &p),
        Err(r) => r,
    }
}

fn state_response(status: StatusCode, p: &Published) -> HttpResponse {
    HttpResponse::build(status)
        .content_type("application/json")
        .body(p.state.to_string())
}

/// Heartbeat: a ping this often; a client silent for [`SILENT_LIMIT`] is dropped.
const PING_EVERY: std::time::Duration = std::time::Duration::from_secs(10);
const SILENT_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);
/// A client that takes longer than this to accept a message (it is not reading) is dropped, so
/// it never holds anyone else up.
const SEND_LIMIT: std::time::Duration = std::time::Duration::from_secs(5);
/// Ops a socket may send: a burst of this many, refilled at [`OPS_PER_SECOND`].
const OPS_BURST: f64 = 40.0;
const OPS_PER_SECOND: f64 = 20.0;
/// Ops refused for the rate in a row before the socket is closed.
const FLOOD_LIMIT: u32 = 200;
/// The largest op a socket accepts (an add of many songs fits).
const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// `GET /api/queue/ws`: the state on connect, then every change; ops are accepted as text
/// messages; a rejected op is answered `{"type": "error", "message": ..., "state": ...}`.
async fn socket(
    req: HttpRequest,
    body: web::Payload,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let user = match for_user(&req, app.clone(), brake, |_, user| Ok(user)).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let (response, session, messages) = match actix_ws::handle(&req, body) {
        Ok(parts) => parts,
        Err(e) => return HttpResponse::BadRequest().body(e.to_string()),
    };
    let messages = messages.max_frame_size(MAX_MESSAGE);
    actix_web::rt::spawn(watch(app.into_inner(), user, session, messages));
    response
}

async fn send(session: &mut actix_ws::Session, text: &str) -> bool {
    matches!(
        tokio::time::timeout(SEND_LIMIT, session.text(text.to_string())).await,
        Ok(Ok(()))
    )
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

/// One watcher: forwards changes, runs its ops, keeps the connection alive.
async fn watch(
    app: std::sync::Arc<App>,
    user: User,
    mut session: actix_ws::Session,
    mut messages: actix_ws::MessageStream,
) {
    use actix_ws::Message;
    use tokio::sync::broadcast::error::RecvError;
    let (now, mut changes) = app.queues.home().watch();
    if !send(&mut session, &now.message).await {
        return;
    }
    let mut seen = now.version;
    // Set when this socket registers as a browser player: its output id, and the last order
    // it was given (entry, playing, jumps), so it is told only what changed.
    let mut player: Option<String> = None;
    let mut followed: Option<FollowKey> = None;
    let mut ping = tokio::time::interval(PING_EVERY);
    let mut heard = std::time::Instant::now();
    let (mut tokens, mut refilled, mut flooded) = (OPS_BURST, std::time::Instant::now(), 0u32);
    loop {
        tokio::select! {
            change = changes.recv() => {
                let message = match change {
                    Ok(p) if p.version <= seen => continue,
                    Ok(p) => p,
                    // Fell behind: the newest state says everything the skipped ones did.
                    Err(RecvError::Lagged(_)) => app.queues.home().published(),
                    Err(RecvError::Closed) => break,
                };
                seen = message.version;
                if !send(&mut session, &message.message).await {
                    break;
                }
                if let Some(me) = &player {
                    if let Some(order) = order_for(&message.playback, me, &mut followed) {
                        if !send(&mut session, &order).await {
                            break;
                        }
                    }
                }
            }
            incoming = messages.recv() => {
                heard = std::time::Instant::now();
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Binary(_))) => {
                        if !send(&mut session, &error_message("ops are JSON text messages", None)).await {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(Message::Ping(p))) => {
                        if session.pong(&p).await.is_err() {
                            break;
                        }
                        continue;
                    }
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                // The rate limit: a token per op.
                tokens = (tokens + refilled.elapsed().as_secs_f64() * OPS_PER_SECOND).min(OPS_BURST);
                refilled = std::time::Instant::now();
                if tokens < 1.0 {
                    flooded += 1;
                    if flooded > FLOOD_LIMIT {
                        let _ = session.clone().close(None).await;
                        break;
                    }
                    if !send(&mut session, &error_message("too many ops: slow down", None)).await {
                        break;
                    }
                    continue;
                }
                tokens -= 1.0;
                flooded = 0;
                if let Some(report) = player_message(&text) {
                    let reply = match report {
                        PlayerMessage::Register(name) if player.is_none() => {
                            let id = app.outputs.add_browser(&name);
                            let hello = format!(r#"{{"type":"registered","output":{}}}"#, serde_json::Value::String(id.clone()));
                            let current = app.queues.home().published();
                            let order = order_for(&current.playback, &id, &mut followed);
                            player = Some(id);
                            if !send(&mut session, &hello).await {
                                break;
                            }
                            order
                        }
                        PlayerMessage::Register(_) => Some(error_message("this socket is a player already", None)),
                        PlayerMessage::Report(command) => {
                            let active = player.as_ref().is_some_and(|me| {
                                app.queues.home().published().playback.output.as_deref() == Some(me.as_str())
                            });
                            if active {
                                let app2 = app.clone();
                                let _ = web::block(move || app2.queues.home().run(command, None)).await;
                                None
                            } else {
                                Some(error_message("reports come from the output the queue plays on", None))
                            }
                        }
                        PlayerMessage::Bad(why) => Some(error_message(&why, None)),
                    };
                    if let Some(reply) = reply {
                        if !send(&mut session, &reply).await {
                            break;
                        }
                    }
                    continue;
                }
                let (app2, user2) = (app.clone(), user.clone());
                let outcome = web::block(move || run(&app2, &user2, text.as_bytes())).await;
                let reply = match outcome {
                    // The change reaches this socket through `changes`, like everyone else's.
                    Ok(Ok(_)) => continue,
                    Ok(Err(f)) => error_message(f.message(), f.state_published().as_ref()),
                    Err(e) => error_message(&e.to_string(), None),
                };
                if !send(&mut session, &reply).await {
                    break;
                }
            }
            _ = ping.tick() => {
                if heard.elapsed() > SILENT_LIMIT || session.ping(b"").await.is_err() {
                    break;
                }
            }
        }
    }
    if let Some(me) = player {
        app.outputs.remove(&me);
        // The queue stops where it was when its output goes away.
        if app.queues.home().published().playback.output.as_deref() == Some(me.as_str()) {
            let app2 = app.clone();
            let _ = web::block(move || {
                let q = app2.queues.home();
                let _ = q.run(Command::Pause, None);
                q.run(Command::SetOutput(None), None)
            })
            .await;
        }
    }
    let _ = session.close(None).await;
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
            Some(ms) => PlayerMessage::Report(Command::Position { position_ms: ms }),
            None => PlayerMessage::Bad("\"position\" needs \"position_ms\"".into()),
        },
        "ended" => PlayerMessage::Report(Command::Ended),
        other => PlayerMessage::Bad(format!(
            "unknown message type {:?}: players send register_player, position, ended",
            other.chars().take(40).collect::<String>()
        )),
    })
}
