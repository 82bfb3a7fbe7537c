//! Houseband's native JSON API under `/api/`.
//!
//! `/api/health` answers anyone. Everything else needs a user: HTTP Basic (name and password)
//! or `Authorization: Bearer <api key>`. Failed logins slow down as they do for Subsonic (the
//! same brake, per address). Errors are JSON `{"error": "..."}` with a fitting HTTP status.

use actix_web::http::header::HeaderMap;
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse, Responder};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::app::library::browse::{self, Scope};
use crate::app::library::ProgressView;
use crate::app::media::{art, MediaError};
use crate::app::users::{User, LINK_ART, LINK_STREAM};
use crate::app::App;
use crate::server::subsonic::auth::Brake;
use crate::server::subsonic::media;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/health", web::get().to(health))
        .route("/api/apikeys", web::get().to(list_keys))
        .route("/api/apikeys", web::post().to(create_key))
        .route("/api/apikeys/{id}", web::delete().to(delete_key))
        .route("/api/login", web::post().to(login))
        .route("/api/me", web::get().to(me))
        .route("/api/setup", web::get().to(setup_needed))
        .route("/api/setup", web::post().to(setup))
        .route("/api/logout", web::post().to(logout))
        .route("/api/players", web::get().to(list_players))
        .route("/api/players/{id}", web::put().to(set_player))
        .route("/api/players/{id}", web::delete().to(delete_player))
        .route("/api/preferences", web::get().to(get_preferences))
        .route("/api/preferences", web::put().to(set_preferences))
        .service(
            web::resource("/api/avatar")
                // Room for a phone photo; the picture is shrunk before it is kept.
                .app_data(web::PayloadConfig::new(
                    crate::app::media::avatar::MAX_UPLOAD + 1,
                ))
                .route(web::put().to(set_avatar))
                .route(web::delete().to(delete_avatar)),
        )
        .route("/api/art/{id}", web::get().to(art))
        .route(
            "/api/stream/{id}",
            web::route()
                .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
                .to(stream),
        );
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    version: &'static str,
    tracks: i64,
    scanning: bool,
    progress: Option<ProgressView>,
}

/// Answers as soon as the server listens: before, during and after a scan.
async fn health(app: web::Data<App>) -> impl Responder {
    let library = app.library.clone();
    let count = web::block(move || library.track_count()).await;
    match count {
        Ok(Ok(tracks)) => {
            let scanning = app.library.is_scanning();
            HttpResponse::Ok().json(Health {
                status: "ok",
                version: env!("CARGO_PKG_VERSION"),
                tracks,
                scanning,
                progress: scanning.then(|| app.library.progress()),
            })
        }
        Ok(Err(e)) => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "error",
            "version": env!("CARGO_PKG_VERSION"),
            "error": format!("{e:#}"),
        })),
        Err(e) => HttpResponse::ServiceUnavailable().json(serde_json::json!({
            "status": "error",
            "version": env!("CARGO_PKG_VERSION"),
            "error": e.to_string(),
        })),
    }
}

/// A failed call: an HTTP status and a message meant for people.
pub struct Failure {
    status: StatusCode,
    message: String,
    /// The queue's state, sent back with a queue command that no longer applies.
    state: Option<std::sync::Arc<str>>,
}

impl Failure {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Failure {
        Failure {
            status,
            message: message.into(),
            state: None,
        }
    }

    /// A queue command that does not apply to the current state: 409, with that state.
    pub fn with_state(message: String, current: crate::app::queue::Published) -> Failure {
        Failure {
            status: StatusCode::CONFLICT,
            message,
            state: Some(current.state),
        }
    }

    pub fn message(&self) -> &str {
        &self.message
    }

    /// The queue state a 409 carries, as a socket sends it.
    pub fn state_published(&self) -> Option<crate::app::queue::Published> {
        self.state
            .as_ref()
            .map(|s| crate::app::queue::Published::from_state_json(s.clone()))
    }

    pub fn internal(e: impl std::fmt::Display) -> Failure {
        Failure::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the server failed: {e}"),
        )
    }

    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The JSON body: `{"error": ...}`, with `"state"` when it carries one.
    pub fn body(&self) -> String {
        let error = serde_json::Value::String(self.message.clone());
        match &self.state {
            Some(state) => format!(r#"{{"error":{error},"state":{state}}}"#),
            None => format!(r#"{{"error":{error}}}"#),
        }
    }

    pub fn response(&self) -> HttpResponse {
        let mut r = HttpResponse::build(self.status);
        if self.status == StatusCode::UNAUTHORIZED {
            r.insert_header(("WWW-Authenticate", CHALLENGE));
        }
        r.content_type("application/json").body(self.body())
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Failure {
        Failure::internal(format!("{e:#}"))
    }
}

/// The credentials a request carries.
enum Credentials {
    Password(String, String),
    ApiKey(String),
    Session(String),
}

/// The cookie `POST /api/login` sets.
pub const SESSION_COOKIE: &str = "houseband_session";
/// The `WWW-Authenticate` header of a 401.
pub const CHALLENGE: &str = "Basic realm=\"Houseband\", charset=\"UTF-8\"";

/// The value of cookie `name` in `Cookie` headers.
fn cookie<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers
        .get_all("cookie")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// The session cookie of a browser request made by this server's own pages: one another site
/// made (`Sec-Fetch-Site: cross-site` or `same-site`, or an `Origin` or `Referer` of another
/// origin, which the Strict cookie should already have kept out) does not count. The second
/// check is for browsers that send no `Sec-Fetch-Site`.
pub fn browser_session(headers: &HeaderMap) -> Option<String> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let foreign = header("sec-fetch-site").is_some_and(|v| v == "cross-site" || v == "same-site");
    if foreign || !same_origin(headers) {
        return None;
    }
    cookie(headers, SESSION_COOKIE).map(str::to_string)
}

/// Whether the page that made the request is one of this server's: its `Origin` (else its
/// `Referer`), when the browser sends one, names the host the request went to (`Host`, or the
/// `X-Forwarded-Host` a proxy set: a page elsewhere cannot set that header without a CORS
/// preflight, which this server never grants). No `Origin` and no `Referer` is a client that
/// is not a browser, or a same-origin `GET`.
fn same_origin(headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let page = match (header("origin"), header("referer")) {
        (Some(origin), _) => origin,
        (None, Some(referer)) => referer,
        (None, None) => return true,
    };
    let Some(authority) = page
        .split_once("://")
        .map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or(""))
        .filter(|a| !a.is_empty())
    else {
        // `Origin: null` (a sandboxed frame, a file) or something unreadable.
        return false;
    };
    let forwarded_host = header("x-forwarded-host").map(|h| h.split(',').next().unwrap_or(""));
    [header("host"), forwarded_host]
        .into_iter()
        .flatten()
        .any(|h| h.trim().eq_ignore_ascii_case(authority))
}

fn credentials(headers: &HeaderMap) -> Result<Credentials, Failure> {
    let missing = || {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "log in: HTTP Basic with your user name and password, or `Authorization: Bearer <api key>`",
        )
    };
    let header = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(h) => h,
        // A browser sends its session as a cookie (it cannot set headers on a WebSocket).
        None => {
            return browser_session(headers)
                .map(Credentials::Session)
                .ok_or_else(missing)
        }
    };
    let (scheme, value) = header.trim().split_once(' ').ok_or_else(missing)?;
    let value = value.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Ok(if value.starts_with("hs_") {
            Credentials::Session(value.to_string())
        } else {
            Credentials::ApiKey(value.to_string())
        });
    }
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(missing());
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(value)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| {
            Failure::new(
                StatusCode::BAD_REQUEST,
                "the Basic credentials are not valid base64 UTF-8",
            )
        })?;
    let (name, password) = decoded.split_once(':').ok_or_else(missing)?;
    Ok(Credentials::Password(
        name.to_string(),
        password.to_string(),
    ))
}

/// The calling user, or a failure; blocking (password and database work).
fn authenticate(app: &App, credentials: Credentials) -> Result<User, Failure> {
    let wrong = || {
        Failure::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name, password or API key",
        )
    };
    match credentials {
        Credentials::ApiKey(key) => app.users.user_for_api_key(&key)?.ok_or_else(wrong),
        Credentials::Session(token) => app.users.user_for_session(&token)?.ok_or_else(|| {
            Failure::new(
                StatusCode::UNAUTHORIZED,
                "the session has ended: log in again",
            )
        }),
        Credentials::Password(name, password) => {
            if app.users.verify(&name, &password)? {
                app.users.find(&name)?.ok_or_else(wrong)
            } else {
                Err(wrong())
            }
        }
    }
}

/// Runs `work` for the authenticated caller on the blocking pool and answers its JSON; failed
/// logins are held back by the brake.
pub async fn with_user<T: Serialize + Send + 'static>(
    req: &HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
    work: impl FnOnce(&App, User) -> Result<(StatusCode, T), Failure> + Send + 'static,
) -> HttpResponse {
    match for_user(req, app, brake, work).await {
        Ok((status, body)) => HttpResponse::build(status).json(body),
        Err(response) => response,
    }
}

/// Runs `work` for the authenticated caller on the blocking pool; a failure comes back as the
/// response to send, after the brake held back a failed login.
pub async fn for_user<T: Send + 'static>(
    req: &HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
    work: impl FnOnce(&App, User) -> Result<T, Failure> + Send + 'static,
) -> Result<T, HttpResponse> {
    let peer = crate::server::client::of(req).ip;
    // The web app says so (`X-Requested-With`): a 401 then carries no Basic challenge, which
    // would make the browser ask for a password in a dialog of its own.
    let quiet = req.headers().contains_key("x-requested-with");
    as_user(req.headers(), peer, app.into_inner(), &brake, work)
        .await
        .map_err(|f| {
            let mut response = f.response();
            if quiet {
                response
                    .headers_mut()
                    .remove(actix_web::http::header::WWW_AUTHENTICATE);
            }
            response
        })
}

/// Logs in from the headers and runs `work` for that user, both in one trip to the blocking
/// pool; a failed login is held back by the brake, a good one clears it.
async fn as_user<T: Send + 'static>(
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    app: std::sync::Arc<App>,
    brake: &Brake,
    work: impl FnOnce(&App, User) -> Result<T, Failure> + Send + 'static,
) -> Result<T, Failure> {
    let credentials = credentials(headers)?;
    let result = web::block(move || {
        let user = authenticate(&app, credentials).map_err(|f| (true, f))?;
        work(&app, user).map_err(|f| (false, f))
    })
    .await;
    match result {
        Ok(Ok(answer)) => {
            if let Some(ip) = peer {
                brake.succeeded(ip);
            }
            Ok(answer)
        }
        Ok(Err((login_failed, f))) => {
            if login_failed && f.status == StatusCode::UNAUTHORIZED {
                held_back(brake, peer).await;
            }
            Err(f)
        }
        Err(e) => Err(Failure::internal(e)),
    }
}

/// The user a request's headers name (for requests that never reach a handler: the queue
/// socket's upgrade); failed logins are held back by the brake.
pub async fn user_of(
    headers: &HeaderMap,
    peer: Option<std::net::IpAddr>,
    app: std::sync::Arc<App>,
    brake: &Brake,
) -> Result<User, Failure> {
    as_user(headers, peer, app, brake, |_, user| Ok(user)).await
}

/// Counts a failed login from `peer` and waits as long as the brake says.
async fn held_back(brake: &Brake, peer: Option<std::net::IpAddr>) {
    if let Some(ip) = peer {
        let delay = brake.failed(ip);
        if !delay.is_zero() {
            tracing::warn!(client = %ip, ?delay, "repeated failed logins: slowing down");
            actix_web::rt::time::sleep(delay).await;
        }
    }
}

#[derive(Deserialize)]
struct StreamQuery {
    format: Option<String>,
    #[serde(rename = "maxBitRate")]
    max_bit_rate: Option<u32>,
    #[serde(rename = "timeOffset")]
    time_offset: Option<f64>,
    /// A signed link, for speakers that cannot log in: the user, until when, the signature.
    u: Option<String>,
    exp: Option<i64>,
    sig: Option<String>,
}

/// `GET /api/stream/{id}`: a song for the web app and speakers, the file as it is or transcoded
/// (`format`, `maxBitRate`, `timeOffset` as in Subsonic's `stream`).
async fn stream(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<StreamQuery>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let id = path.into_inner();
    let q = query.into_inner();
    let (ip, user_agent) = crate::server::caller(&req);
    let signed = match (q.u.clone(), q.exp, q.sig.clone()) {
        (Some(u), Some(exp), Some(sig)) => Some((u, exp, sig)),
        _ => None,
    };
    let format = q.format.clone().unwrap_or_default();
    let song_id = id.clone();
    let work = move |app: &App, user: User| {
        if !user.has_role("stream") {
            return Err(Failure::new(
                StatusCode::FORBIDDEN,
                "this user may not stream",
            ));
        }
        let not_found = || Failure::new(StatusCode::NOT_FOUND, format!("no song {id:?}"));
        let offset = q.time_offset.unwrap_or(0.0);
        if !offset.is_finite() || offset < 0.0 {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "timeOffset must be a number of seconds, 0 or more",
            ));
        }
        let asked = media::Asked {
            client: "web",
            ip: &ip,
            user_agent: &user_agent,
            format: q.format.as_deref(),
            max_bit_rate: q.max_bit_rate.unwrap_or(0),
            offset,
        };
        let failed = |f| match f {
            media::StreamFailure::Request(e) => Failure::new(StatusCode::BAD_REQUEST, e.message),
            media::StreamFailure::Media(e) => media_failure(e),
            media::StreamFailure::Internal(e) => Failure::internal(format!("{e:#}")),
        };
        // A downloaded podcast episode plays like a song (not a play of a library song).
        if let Some(n) = id.strip_prefix("pe-") {
            let n: i64 = n.parse().map_err(|_| not_found())?;
            let (e, audio) = media::downloaded_episode(app, n)
                .map_err(|e| Failure::new(StatusCode::NOT_FOUND, e.message))?;
            let (delivery, suffix) =
                media::deliver_audio(app, &user, &audio, &asked).map_err(failed)?;
            return Ok((delivery, format!("episode-{}.{suffix}", e.id), None));
        }
        let n: i64 = id
            .strip_prefix("tr-")
            .unwrap_or(&id)
            .parse()
            .map_err(|_| not_found())?;
        let scope = Scope::new(user.allowed_folders(), None);
        let song = browse::song(&mut *app.db.read()?, n, &scope)
            .map_err(Failure::internal)?
            .ok_or_else(not_found)?;
        let (delivery, suffix) = media::deliver(app, &user, &song, &asked).map_err(failed)?;
        // Heard from its start by a logged-in user (a speaker's signed link is the queue's
        // play, recorded by the queue itself).
        let heard = (offset <= 0.0).then_some(media::Heard {
            user: user.id,
            song: song.id,
            duration_ms: song.duration_ms,
        });
        Ok((delivery, format!("{}.{suffix}", song.title), heard))
    };
    let listening = app.reco.listening.clone();
    let answer = match signed {
        Some((u, exp, sig)) => {
            let app = app.into_inner();
            let outcome = web::block(move || {
                let user = link_user(&app, LINK_STREAM, &song_id, &format, (&u, exp, &sig))?;
                work(&app, user).map(|(delivery, name, _)| (delivery, name, None))
            })
            .await;
            match outcome {
                Ok(r) => r.map_err(|f| f.response()),
                Err(e) => Err(Failure::internal(e).response()),
            }
        }
        None => for_user(&req, app, brake, work).await,
    };
    match answer {
        Ok((delivery, name, heard)) => {
            let response = crate::server::media::respond(&req, delivery, name, false, false);
            match heard {
                Some(h) => {
                    let asked_at = crate::app::db::now();
                    crate::server::media::heard_to_the_end(&req, response, move || {
                        listening.streamed(h.user, h.song, asked_at, h.duration_ms);
                    })
                }
                None => response,
            }
        }
        Err(response) => response,
    }
}

fn media_failure(e: MediaError) -> Failure {
    match e {
        MediaError::NotFound(m) => Failure::new(StatusCode::NOT_FOUND, m),
        MediaError::Refused(m) => Failure::new(StatusCode::FORBIDDEN, m),
        MediaError::Busy(m) => Failure::new(StatusCode::SERVICE_UNAVAILABLE, m),
        MediaError::Failed(m) => Failure::new(StatusCode::UNPROCESSABLE_ENTITY, m),
    }
}

/// The user a speaker's signed link (`u`, `exp`, `sig`) to `kind` of `song` stands for.
fn link_user(
    app: &App,
    kind: &str,
    song: &str,
    format: &str,
    (user, expires, sig): (&str, i64, &str),
) -> Result<User, Failure> {
    if !app
        .users
        .stream_link_valid(kind, song, user, format, expires, sig)
    {
        return Err(Failure::new(
            StatusCode::FORBIDDEN,
            "the link is not valid or has expired",
        ));
    }
    app.users
        .find(user)?
        .ok_or_else(|| Failure::new(StatusCode::FORBIDDEN, "the link's user is gone"))
}

#[derive(Deserialize)]
struct ArtQuery {
    size: Option<u32>,
    u: String,
    exp: i64,
    sig: String,
}

/// `GET /api/art/{id}`: a song's picture for speakers (which cannot log in), by a signed link;
/// `size` in pixels, else the original.
async fn art(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ArtQuery>,
    app: web::Data<App>,
) -> HttpResponse {
    let id = path.into_inner();
    let name = format!("{id}.jpg");
    let app = app.into_inner();
    let outcome = web::block(move || {
        let q = query.into_inner();
        let user = link_user(&app, LINK_ART, &id, "", (&q.u, q.exp, &q.sig))?;
        let not_found = || Failure::new(StatusCode::NOT_FOUND, format!("no picture for {id:?}"));
        let size = q.size.map(|s| s.clamp(16, art::MAX_SIZE));
        // A podcast episode's picture is its channel's.
        if let Some(n) = id.strip_prefix("pe-") {
            let podcasts = &app.podcasts;
            let episode = n.parse().ok().map(|n| podcasts.episode(n)).transpose()?;
            let path = episode
                .flatten()
                .and_then(|e| podcasts.art_of(e.channel_id))
                .ok_or_else(not_found)?;
            let folder = podcasts.folder().to_path_buf();
            return app
                .media
                .art(&art::Source::File(path), size, art::Output::Jpeg, &[folder])
                .map_err(media_failure);
        }
        let n: i64 = id
            .strip_prefix("tr-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(not_found)?;
        let scope = Scope::new(user.allowed_folders(), None);
        let mut c = app.db.read()?;
        let row = browse::track_art(&mut c, n, &scope)
            .map_err(Failure::internal)?
            .ok_or_else(not_found)?;
        let folders: Vec<std::path::PathBuf> = browse::folder_paths(&mut c)
            .map_err(Failure::internal)?
            .into_iter()
            .map(Into::into)
            .collect();
        app.media
            .art(&row.into(), size, art::Output::Jpeg, &folders)
            .map_err(media_failure)
    })
    .await;
    match outcome {
        Ok(Ok(delivery)) => crate::server::media::respond(&req, delivery, name, false, false),
        Ok(Err(f)) => f.response(),
        Err(e) => Failure::internal(e).response(),
    }
}

#[derive(Deserialize)]
struct KeyOwner {
    /// Another user's name, for admins.
    user: Option<String>,
}

/// Whose keys a call is about: the caller's, or (admins only) the named user's.
fn key_owner(app: &App, caller: &User, asked: Option<&str>) -> Result<String, Failure> {
    match asked.filter(|n| !n.is_empty() && *n != caller.name) {
        None => Ok(caller.name.clone()),
        Some(_) if !caller.is_admin => Err(Failure::new(
            StatusCode::FORBIDDEN,
            "only an admin manages another user's API keys",
        )),
        Some(name) => match app.users.find(name)? {
            Some(u) => Ok(u.name),
            None => Err(Failure::new(
                StatusCode::NOT_FOUND,
                format!("no user named {name:?}"),
            )),
        },
    }
}

#[derive(Serialize)]
struct KeyInfo {
    id: i64,
    label: String,
    /// Seconds since 1970.
    created: i64,
    last_used: Option<i64>,
}

async fn list_keys(
    req: HttpRequest,
    query: web::Query<KeyOwner>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = query.into_inner().user;
    with_user(&req, app, brake, move |app, me| {
        let owner = key_owner(app, &me, asked.as_deref())?;
        let keys: Vec<KeyInfo> = app
            .users
            .api_keys(&owner)?
            .into_iter()
            .map(|k| KeyInfo {
                id: k.id,
                label: k.label,
                created: k.created_at,
                last_used: k.last_used_at,
            })
            .collect();
        Ok((StatusCode::OK, keys))
    })
    .await
}

#[derive(Deserialize, Default)]
struct NewKey {
    label: Option<String>,
}

/// An API key's request body: empty, or `{"label": ...}`.
fn new_key(body: &[u8]) -> Result<NewKey, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(NewKey::default());
    }
    serde_json::from_slice(body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("the body must be JSON like {{\"label\": \"my phone\"}}: {e}"),
        )
    })
}

#[derive(Serialize)]
struct CreatedKey {
    id: i64,
    label: String,
    /// The key itself: shown this once, only its hash is kept.
    key: String,
}

/// The longest label kept.
const MAX_LABEL: usize = 200;

async fn create_key(
    req: HttpRequest,
    query: web::Query<KeyOwner>,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = query.into_inner().user;
    let new = match new_key(&body) {
        Ok(n) => n,
        Err(f) => return f.response(),
    };
    with_user(&req, app, brake, move |app, me| {
        let owner = key_owner(app, &me, asked.as_deref())?;
        let label: String = new
            .label
            .unwrap_or_default()
            .chars()
            .filter(|c| !c.is_control())
            .take(MAX_LABEL)
            .collect();
        let label = if label.trim().is_empty() {
            "API key".to_string()
        } else {
            label.trim().to_string()
        };
        let (id, key) = app.users.create_api_key(&owner, &label)?;
        Ok((StatusCode::CREATED, CreatedKey { id, label, key }))
    })
    .await
}

async fn delete_key(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<KeyOwner>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = query.into_inner().user;
    let Ok(id) = path.into_inner().parse::<i64>() else {
        return Failure::new(StatusCode::NOT_FOUND, "no such API key").response();
    };
    with_user(&req, app, brake, move |app, me| {
        let owner = key_owner(app, &me, asked.as_deref())?;
        if !app.users.api_keys(&owner)?.iter().any(|k| k.id == id) {
            return Err(Failure::new(StatusCode::NOT_FOUND, "no such API key"));
        }
        app.users.delete_api_key(&owner, id)?;
        Ok((StatusCode::OK, serde_json::json!({ "deleted": id })))
    })
    .await
}

/// Formats a player or a user may choose: the Subsonic names, `raw` for never transcoding.
fn checked_format(format: Option<String>) -> Result<Option<String>, Failure> {
    match format.map(|f| f.trim().to_ascii_lowercase()) {
        None => Ok(None),
        Some(f) if f.is_empty() => Ok(None),
        Some(f) if f == "raw" || crate::app::media::Format::parse(&f).is_some() => Ok(Some(f)),
        Some(f) => Err(Failure::new(
            StatusCode::BAD_REQUEST,
            format!("unknown format {f:?}: use mp3, opus, ogg, flac, wav, raw or null"),
        )),
    }
}

pub fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Failure> {
    serde_json::from_slice(body).map_err(|e| {
        Failure::new(
            StatusCode::BAD_REQUEST,
            format!("the body is not the JSON this call takes: {e}"),
        )
    })
}

/// The user whose players a call is about (the caller, or for admins `?user=`).
fn players_owner(app: &App, me: &User, asked: Option<&str>) -> Result<User, Failure> {
    let name = key_owner(app, me, asked)?;
    app.users
        .find(&name)?
        .ok_or_else(|| Failure::new(StatusCode::NOT_FOUND, format!("no user named {name:?}")))
}

/// A player the caller may manage: their own, or any for an admin (others' look absent).
fn my_player(app: &App, me: &User, id: &str) -> Result<crate::app::players::Player, Failure> {
    let missing = || Failure::new(StatusCode::NOT_FOUND, "no such player");
    let id: i64 = id.parse().map_err(|_| missing())?;
    app.players
        .get(id)?
        .filter(|p| p.user_id == me.id || me.is_admin)
        .ok_or_else(missing)
}

async fn list_players(
    req: HttpRequest,
    query: web::Query<KeyOwner>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = query.into_inner().user;
    with_user(&req, app, brake, move |app, me| {
        let owner = players_owner(app, &me, asked.as_deref())?;
        Ok((StatusCode::OK, app.players.of(owner.id)?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PlayerChoice {
    transcode_format: Option<String>,
    #[serde(default)]
    max_bit_rate: i32,
}

/// A player's transcoding choice from a request body: the format and the bit rate cap, checked.
fn player_choice(body: &[u8]) -> Result<(Option<String>, i32), Failure> {
    let choice: PlayerChoice = json_body(body)?;
    let format = checked_format(choice.transcode_format)?;
    if !(0..=10_000).contains(&choice.max_bit_rate) {
        return Err(Failure::new(
            StatusCode::BAD_REQUEST,
            "maxBitRate is kbit/s from 0 (no cap) to 10000",
        ));
    }
    Ok((format, choice.max_bit_rate))
}

async fn set_player(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let id = path.into_inner();
    with_user(&req, app, brake, move |app, me| {
        let player = my_player(app, &me, &id)?;
        let (format, max_bit_rate) = player_choice(&body)?;
        app.players
            .set(player.id, format.as_deref(), max_bit_rate)?;
        Ok((StatusCode::OK, app.players.get(player.id)?))
    })
    .await
}

async fn delete_player(
    req: HttpRequest,
    path: web::Path<String>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let id = path.into_inner();
    with_user(&req, app, brake, move |app, me| {
        let player = my_player(app, &me, &id)?;
        app.players.delete(player.id)?;
        Ok((StatusCode::OK, serde_json::json!({ "deleted": player.id })))
    })
    .await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Preferences {
    transcode_format: Option<String>,
    /// The cap an admin set (kbit/s, 0 = none); read-only here.
    max_bit_rate: i32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct PreferencesChange {
    transcode_format: Option<String>,
}

async fn get_preferences(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    with_user(&req, app, brake, move |_, me| {
        Ok((
            StatusCode::OK,
            Preferences {
                transcode_format: me.transcode_format,
                max_bit_rate: me.max_bit_rate,
            },
        ))
    })
    .await
}

async fn set_preferences(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    with_user(&req, app, brake, move |app, me| {
        let change: PreferencesChange = json_body(&body)?;
        let format = checked_format(change.transcode_format)?;
        app.users.set_transcode_format(me.id, format.as_deref())?;
        Ok((
            StatusCode::OK,
            Preferences {
                transcode_format: format,
                max_bit_rate: me.max_bit_rate,
            },
        ))
    })
    .await
}

/// `PUT /api/avatar`: the body (a JPEG, PNG, WebP or GIF picture) becomes the caller's avatar,
/// or with `?user=` (admins) someone else's.
async fn set_avatar(
    req: HttpRequest,
    query: web::Query<KeyOwner>,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = query.into_inner().user;
    with_user(&req, app, brake, move |app, me| {
        let owner = players_owner(app, &me, asked.as_deref())?;
        app.media
            .avatars
            .set(owner.id, &body)
            .map_err(|e| Failure::new(StatusCode::BAD_REQUEST, format!("{e:#}")))?;
        Ok((StatusCode::OK, serde_json::json!({ "user": owner.name })))
    })
    .await
}

/// `DELETE /api/avatar`: back to the default picture.
async fn delete_avatar(
    req: HttpRequest,
    query: web::Query<KeyOwner>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = query.into_inner().user;
    with_user(&req, app, brake, move |app, me| {
        let owner = players_owner(app, &me, asked.as_deref())?;
        app.media.avatars.remove(owner.id)?;
        Ok((StatusCode::OK, serde_json::json!({ "user": owner.name })))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Login {
    username: String,
    password: String,
}

/// Strict: a browser never sends it with a request another site started (a link, a form, a
/// script), so the web app's calls cannot be forged from elsewhere (CSRF), `GET`s that change
/// something (Subsonic's `star`...) included.
fn session_cookie(token: &str, max_age_days: i64) -> actix_web::cookie::Cookie<'static> {
    actix_web::cookie::Cookie::build(SESSION_COOKIE, token.to_string())
        .path("/")
        .http_only(true)
        .same_site(actix_web::cookie::SameSite::Strict)
        .max_age(actix_web::cookie::time::Duration::days(max_age_days))
        .finish()
}

/// The answer to a login (or the first run's): the session as a cookie and as a token.
fn logged_in(user: &User, token: &str) -> HttpResponse {
    HttpResponse::Ok()
        .cookie(session_cookie(
            token,
            crate::app::users::SESSION_IDLE / 86_400,
        ))
        .json(serde_json::json!({ "token": token, "user": user.name, "admin": user.is_admin }))
}

/// `POST /api/login` `{"username", "password"}`: a session, as a cookie (for browsers) and as a
/// token (`Authorization: Bearer <token>` for everything else). Failed logins slow down.
async fn login(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let login: Login = match json_body(&body) {
        Ok(l) => l,
        Err(f) => return f.response(),
    };
    let app = app.into_inner();
    let peer = crate::server::client::of(&req).ip;
    let outcome = web::block(move || -> Result<Option<(User, String)>, Failure> {
        if !app.users.verify(&login.username, &login.password)? {
            return Ok(None);
        }
        let Some(user) = app.users.find(&login.username)? else {
            return Ok(None);
        };
        let token = app.users.create_session(user.id)?;
        Ok(Some((user, token)))
    })
    .await;
    match outcome {
        Ok(Ok(Some((user, token)))) => {
            if let Some(ip) = peer {
                brake.succeeded(ip);
            }
            logged_in(&user, &token)
        }
        Ok(Ok(None)) => {
            held_back(&brake, peer).await;
            let mut response =
                Failure::new(StatusCode::UNAUTHORIZED, "wrong user name or password").response();
            // Not a challenge to answer with Basic: the body of this call is the login. (A
            // challenge would make a browser open its own password dialog over the app.)
            response
                .headers_mut()
                .remove(actix_web::http::header::WWW_AUTHENTICATE);
            response
        }
        Ok(Err(f)) => f.response(),
        Err(e) => Failure::internal(e).response(),
    }
}

/// `GET /api/me`: who is logged in (the web app asks at start).
async fn me(req: HttpRequest, app: web::Data<App>, brake: web::Data<Brake>) -> HttpResponse {
    with_user(&req, app, brake, |_, user| {
        Ok((
            StatusCode::OK,
            serde_json::json!({
                "user": user.name,
                "admin": user.is_admin,
                "roles": user.roles.split(',').filter(|r| !r.is_empty()).collect::<Vec<_>>(),
            }),
        ))
    })
    .await
}

/// `GET /api/setup`: `{"needed": true}` while the server has no user at all (the web app then
/// offers to create the first admin).
async fn setup_needed(app: web::Data<App>) -> HttpResponse {
    match web::block(move || app.users.count()).await {
        Ok(Ok(n)) => HttpResponse::Ok().json(serde_json::json!({ "needed": n == 0 })),
        Ok(Err(e)) => Failure::from(e).response(),
        Err(e) => Failure::internal(e).response(),
    }
}

/// `POST /api/setup {"username", "password"}`: creates the first user, an admin, and logs them
/// in; only while there is no user at all (then `409`).
async fn setup(body: web::Bytes, app: web::Data<App>) -> HttpResponse {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let login: Login = match json_body(&body) {
        Ok(l) => l,
        Err(f) => return f.response(),
    };
    let made = web::block(move || -> Result<(User, String), Failure> {
        let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        if app.users.count()? > 0 {
            return Err(Failure::new(
                StatusCode::CONFLICT,
                "this server has its admin already: log in",
            ));
        }
        let name = login.username.trim();
        if name.is_empty() || login.password.len() < 8 {
            return Err(Failure::new(
                StatusCode::BAD_REQUEST,
                "give a user name and a password of at least 8 characters",
            ));
        }
        let user = app.users.add(name, &login.password, true)?;
        let token = app.users.create_session(user.id)?;
        Ok((user, token))
    })
    .await;
    match made {
        Ok(Ok((user, token))) => logged_in(&user, &token),
        Ok(Err(f)) => f.response(),
        Err(e) => Failure::internal(e).response(),
    }
}

/// `POST /api/logout`: ends the session the request carries and clears its cookie.
async fn logout(req: HttpRequest, app: web::Data<App>) -> HttpResponse {
    let token = match credentials(req.headers()) {
        Ok(Credentials::Session(t)) => t,
        _ => {
            return Failure::new(
                StatusCode::BAD_REQUEST,
                "no session to end (log out is for sessions from /api/login)",
            )
            .response()
        }
    };
    let app = app.into_inner();
    match web::block(move || app.users.end_session(&token)).await {
        Ok(Ok(())) => HttpResponse::Ok()
            .cookie(session_cookie("", 0))
            .json(serde_json::json!({ "ended": true })),
        Ok(Err(e)) => Failure::internal(format!("{e:#}")).response(),
        Err(e) => Failure::internal(e).response(),
    }
}

/// Every request body of this API, read and checked as its handler does before it needs a
/// user or the database (what the fuzz targets run): each parse's outcome, as text.
pub(crate) fn read_bodies(body: &[u8]) -> Vec<Result<(), String>> {
    let message = |f: Failure| f.message;
    vec![
        player_choice(body).map(drop).map_err(message),
        json_body::<PreferencesChange>(body)
            .and_then(|c| checked_format(c.transcode_format))
            .map(drop)
            .map_err(message),
        json_body::<Login>(body).map(drop).map_err(message),
        new_key(body).map(drop).map_err(message),
    ]
}
