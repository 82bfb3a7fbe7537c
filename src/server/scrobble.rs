//! `/api/scrobbling`: the logged-in user's scrobbling (issue 10): the status (links, last
//! error, listens waiting), the on/off switch, linking ListenBrainz with a token, and the
//! Last.fm web flow (start here, Last.fm sends the browser back to the callback). The work is in
//! `app::scrobble`; this only translates HTTP.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::app::scrobble::{LinkError, Service};
use crate::app::users::User;
use crate::app::App;
use crate::server::api::{json_body, with_user, Failure};
use crate::server::subsonic::auth::Brake;

/// Where Last.fm sends the browser back to.
const CALLBACK: &str = "/api/scrobbling/lastfm/callback";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/scrobbling", web::get().to(status))
        .route("/api/scrobbling", web::put().to(switch))
        .route(
            "/api/scrobbling/listenbrainz",
            web::put().to(link_listenbrainz),
        )
        .route("/api/scrobbling/lastfm", web::post().to(start_lastfm))
        .route(CALLBACK, web::get().to(lastfm_callback))
        .route(
            "/api/scrobbling/lastfm/finish",
            web::post().to(finish_lastfm),
        )
        .route("/api/scrobbling/{service}", web::delete().to(unlink));
}

fn failure(e: LinkError) -> Failure {
    let status = match e {
        LinkError::Refused(_) => StatusCode::BAD_REQUEST,
        LinkError::Unreachable(_) => StatusCode::BAD_GATEWAY,
        LinkError::NotConfigured(_) => StatusCode::CONFLICT,
        LinkError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    Failure::new(status, e.to_string())
}

/// `GET /api/scrobbling`.
async fn status(req: HttpRequest, app: web::Data<App>, brake: web::Data<Brake>) -> HttpResponse {
    with_user(&req, app, brake, |app, me| {
        Ok((StatusCode::OK, app.scrobbling.status(me.id)?))
    })
    .await
}

/// Reads the body as `T`, runs `change` for the caller, and answers their status after it.
async fn change<T: DeserializeOwned>(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
    change: impl FnOnce(&App, &User, T) -> Result<(), Failure> + Send + 'static,
) -> HttpResponse {
    with_user(&req, app, brake, move |app, me| {
        change(app, &me, json_body(&body)?)?;
        Ok((StatusCode::OK, app.scrobbling.status(me.id)?))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Switch {
    enabled: bool,
}

/// `PUT /api/scrobbling {"enabled": false}`: the caller's switch.
async fn switch(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    change(req, body, app, brake, |app, me, asked: Switch| {
        Ok(app.scrobbling.set_enabled(me.id, asked.enabled)?)
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Token {
    token: String,
}

/// `PUT /api/scrobbling/listenbrainz {"token": "..."}`: checked with ListenBrainz, then kept.
async fn link_listenbrainz(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    change(req, body, app, brake, |app, me, asked: Token| {
        app.scrobbling
            .link_listenbrainz(me.id, &asked.token)
            .map(drop)
            .map_err(failure)
    })
    .await
}

/// `POST /api/scrobbling/lastfm`: `{"url": ...}`, the Last.fm page to send the user to.
async fn start_lastfm(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let callback = format!("{}{CALLBACK}", crate::server::client::of(&req).base_url());
    with_user(&req, app, brake, move |app, me| {
        let url = app
            .scrobbling
            .lastfm_start(me.id, &callback)
            .map_err(failure)?;
        Ok((StatusCode::OK, serde_json::json!({ "url": url })))
    })
    .await
}

#[derive(Deserialize)]
struct Callback {
    state: Option<String>,
    token: Option<String>,
}

/// `GET /api/scrobbling/lastfm/callback?state=...&token=...`: Last.fm sends the browser here.
/// Nothing is linked yet: the browser may carry no login on a visit from another site (the
/// session cookie is SameSite=Strict), and a link must be finished by the user who started it.
/// So the web app is opened with the two, and finishes as the logged-in user.
async fn lastfm_callback(query: web::Query<Callback>) -> HttpResponse {
    let Callback { state, token } = query.into_inner();
    let enc = |s: Option<String>| {
        form_urlencoded::byte_serialize(s.unwrap_or_default().as_bytes()).collect::<String>()
    };
    HttpResponse::SeeOther()
        .insert_header((
            "Location",
            format!(
                "/?lastfm_state={}&lastfm_token={}#/settings/scrobbling",
                enc(state),
                enc(token)
            ),
        ))
        .finish()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Finish {
    state: String,
    token: String,
}

/// `POST /api/scrobbling/lastfm/finish {"state", "token"}`: the caller's Last.fm link, made
/// with what Last.fm sent back.
async fn finish_lastfm(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    change(req, body, app, brake, |app, me, asked: Finish| {
        app.scrobbling
            .lastfm_finish(me.id, &asked.state, &asked.token)
            .map_err(failure)
    })
    .await
}

/// `DELETE /api/scrobbling/listenbrainz` or `/lastfm`: the link and the listens waiting for it
/// are forgotten.
async fn unlink(
    req: HttpRequest,
    path: web::Path<String>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let asked = path.into_inner();
    with_user(&req, app, brake, move |app, me| {
        let service = Service::parse(&asked).ok_or_else(|| {
            Failure::new(
                StatusCode::NOT_FOUND,
                format!("no service {asked:?}: use listenbrainz or lastfm"),
            )
        })?;
        app.scrobbling.unlink(me.id, service)?;
        Ok((StatusCode::OK, app.scrobbling.status(me.id)?))
    })
    .await
}

/// This API's request bodies, read as its handlers read them (what the fuzz targets run).
pub(crate) fn read_bodies(body: &[u8]) -> Vec<Result<(), String>> {
    let message = |f: Failure| f.message().to_string();
    vec![
        json_body::<Switch>(body).map(drop).map_err(message),
        json_body::<Token>(body).map(drop).map_err(message),
        json_body::<Finish>(body).map(drop).map_err(message),
    ]
}
