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
    pub muted: Option<bool>,
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
            if songs.iter().any(|s| s.starts_with("pe-")) {
                return songs_and_episodes(app, &mut c, songs, &scope);
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
    Ok(rows.iter().map(SongSummary::of).collect())
}

/// A list that names downloaded podcast episodes (`pe-3`), maybe among songs: each in turn.
fn songs_and_episodes(
    app: &App,
    c: &mut diesel::SqliteConnection,
    ids: &[String],
    scope: &Scope,
) -> Result<Vec<SongSummary>, Failure> {
    let gone = || Failure::new(StatusCode::NOT_FOUND, "some of those songs do not exist");
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        if id.starts_with("pe-") {
            let n = id_of(id, "pe")?;
            let episode = app.podcasts.episode(n)?.ok_or_else(gone)?;
            out.push(app.podcasts.summary(&episode)?.ok_or_else(|| {
                Failure::new(
                    StatusCode::CONFLICT,
                    format!("podcast episode {id} is not downloaded: download it first"),
                )
            })?);
        } else {
            let found =
                browse::songs_by_ids(c, &[id_of(id, "tr")?], scope).map_err(Failure::internal)?;
            out.push(SongSummary::of(found.first().ok_or_else(gone)?));
        }
    }
    Ok(out)
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
        "set_muted" => Command::SetMuted(op.muted.ok_or_else(|| need("muted"))?),
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
    app.queues.home().note_user(user.id);
    app.queues
        .home()
        .run(command, op.version)
        .map_err(|r| match r {
            Refusal::Rejected(Rejected::Invalid(why), _) => bad(why),
            Refusal::Rejected(why, current) => Failure::with_state(why.to_string(), *current),
            Refusal::Failed(e) if crate::app::db::is_disk_full(&e) => {
                tracing::error!("the disk holding the data folder is full: a queue change was refused ({e:#}); free some space on it");
                Failure::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    crate::app::db::DISK_FULL,
                )
            }
            Refusal::Failed(e) => Failure::internal(format!("{e:#}")),
        })
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/outputs", web::get().to(get_outputs))
        .route("/api/queue", web::get().to(get_queue))
        .route("/api/queue", web::post().to(post_queue))
        .route(super::queue_socket::PATH, web::get().to(not_upgraded));
}

/// The socket's path asked without `Upgrade: websocket` (the upgrade never reaches routing).
async fn not_upgraded() -> HttpResponse {
    Failure::new(
        StatusCode::UPGRADE_REQUIRED,
        "this is the queue's WebSocket: open it with a WebSocket client",
    )
    .response()
}

async fn get_outputs(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let list = |app: &App, _| {
        let mut list = app.outputs.list();
        // The output the queue plays on plays at the queue's volume.
        let playback = app.queues.home().published().playback;
        if let Some(o) = list
            .iter_mut()
            .find(|o| Some(&o.id) == playback.output.as_ref())
        {
            o.volume = playback.volume;
        }
        Ok(list)
    };
    match for_user(&req, app, brake, list).await {
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

/// A queue op's body as `POST /api/queue` reads it, up to the command it names (a look-up of
/// the songs of an `add` included): what the fuzz targets run, without running the command.
pub(crate) fn read_op(app: &App, user: &User, body: &[u8]) -> Result<(), String> {
    let op: Op =
        serde_json::from_slice(body).map_err(|e| format!("the body is not a queue op: {e}"))?;
    command(app, user, &op)
        .map(drop)
        .map_err(|f| f.message().to_string())
}
