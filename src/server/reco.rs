//! Recommendations over HTTP (native JSON; the contract is in `docs/api.md`): radio from a song,
//! album or artist, similar songs, albums and artists, the user's mixes of the day, and the
//! household queue's autoplay switch. Each song says why it was picked.

use std::collections::HashSet;

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::app::library::browse::{self, Scope, SongRow};
use crate::app::reco::{Related, Seed, Suggestion};
use crate::app::users::User;
use crate::app::App;
use crate::server::api::{with_user, Failure};
use crate::server::subsonic::auth::Brake;

/// Most songs or items one call returns.
const MAX_COUNT: usize = 500;
/// Most songs a radio call may be told to leave out.
const MAX_EXCLUDED: usize = 5000;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/radio", web::get().to(radio))
        .route("/api/similar/songs", web::get().to(similar_songs))
        .route("/api/similar/albums", web::get().to(similar_albums))
        .route("/api/similar/artists", web::get().to(similar_artists))
        .route("/api/mixes", web::get().to(mixes))
        .route("/api/autoplay", web::get().to(get_autoplay))
        .route("/api/autoplay", web::put().to(set_autoplay));
}

fn bad(message: impl Into<String>) -> Failure {
    Failure::new(StatusCode::BAD_REQUEST, message)
}

fn not_found(what: &str) -> Failure {
    Failure::new(
        StatusCode::NOT_FOUND,
        format!(
            "no {what} with that id (it may have been removed, or be in a folder you cannot see)"
        ),
    )
}

fn scope_of(user: &User) -> Scope {
    Scope::new(user.allowed_folders(), None)
}

/// `tr-12`, `al-3` or `ar-7` to a seed the user can see.
fn seed(app: &App, user: &User, id: &str) -> Result<Seed, Failure> {
    let (kind, n) = id
        .split_once('-')
        .and_then(|(k, n)| Some((k, n.parse::<i64>().ok()?)))
        .ok_or_else(|| {
            bad(format!(
                "{id:?} is not a song (tr-), album (al-) or artist (ar-) id"
            ))
        })?;
    let scope = scope_of(user);
    let mut c = app.db.read()?;
    let found = match kind {
        "tr" => browse::song(&mut c, n, &scope).map(|s| s.map(|_| Seed::Song(n))),
        "al" => browse::album(&mut c, n, &scope).map(|s| s.map(|_| Seed::Album(n))),
        "ar" => browse::artist(&mut c, n, &scope).map(|s| s.map(|_| Seed::Artist(n))),
        _ => {
            return Err(bad(format!(
                "{id:?} is not a song (tr-), album (al-) or artist (ar-) id"
            )))
        }
    }
    .map_err(anyhow::Error::from)?;
    found.ok_or_else(|| not_found("song, album or artist"))
}

fn count(asked: Option<usize>, default: usize) -> Result<usize, Failure> {
    match asked.unwrap_or(default) {
        n if n > MAX_COUNT => Err(bad(format!("count is at most {MAX_COUNT}"))),
        n => Ok(n),
    }
}

/// A song as these answers show it.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SongOut {
    id: String,
    title: String,
    artist: String,
    album: String,
    album_id: String,
    duration: i64,
    cover_art: String,
    why: String,
}

fn songs_out(app: &App, user: &User, picks: &[Suggestion]) -> Result<Vec<SongOut>, Failure> {
    let ids: Vec<i64> = picks.iter().map(|p| p.song).collect();
    let rows: Vec<SongRow> = browse::songs_by_ids(&mut *app.db.read()?, &ids, &scope_of(user))
        .map_err(anyhow::Error::from)?;
    let why: std::collections::HashMap<i64, &str> =
        picks.iter().map(|p| (p.song, p.why.as_str())).collect();
    Ok(rows
        .into_iter()
        .map(|s| SongOut {
            id: format!("tr-{}", s.id),
            why: why.get(&s.id).copied().unwrap_or_default().to_string(),
            title: s.title,
            artist: s.artist_display,
            album: s.album_name,
            album_id: format!("al-{}", s.album_id),
            duration: (s.duration_ms + 500) / 1000,
            cover_art: format!("al-{}", s.album_id),
        })
        .collect())
}

/// `work`'s answer as `200` JSON (see [`with_user`]).
async fn answer<T: Serialize + Send + 'static>(
    req: &HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
    work: impl FnOnce(&App, User) -> Result<T, Failure> + Send + 'static,
) -> HttpResponse {
    with_user(req, app, brake, move |app, user| {
        work(app, user).map(|body| (StatusCode::OK, body))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RadioQuery {
    seed: String,
    count: Option<usize>,
    /// Song ids already given (comma-separated), left out of this page.
    exclude: Option<String>,
}

#[derive(Serialize)]
struct SongsOut {
    songs: Vec<SongOut>,
}

/// `GET /api/radio?seed=tr-1&count=20&exclude=tr-2,tr-3`: the next page of a radio.
async fn radio(
    req: HttpRequest,
    query: web::Query<RadioQuery>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let q = query.into_inner();
    answer(&req, app, brake, move |app, user| {
        let count = count(q.count, 20)?;
        let seed = seed(app, &user, &q.seed)?;
        let mut exclude = HashSet::new();
        for id in q
            .exclude
            .iter()
            .flat_map(|e| e.split(','))
            .filter(|s| !s.is_empty())
        {
            if exclude.len() >= MAX_EXCLUDED {
                return Err(bad(format!("exclude names at most {MAX_EXCLUDED} songs")));
            }
            let n = id
                .strip_prefix("tr-")
                .and_then(|n| n.parse::<i64>().ok())
                .ok_or_else(|| bad(format!("{id:?} in exclude is not a song id (tr-)")))?;
            exclude.insert(n);
        }
        let picks = app.reco.radio(
            Some(user.id),
            &seed,
            count,
            &exclude,
            &scope_of(&user),
            rand::random(),
        )?;
        Ok(SongsOut {
            songs: songs_out(app, &user, &picks)?,
        })
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SimilarQuery {
    id: String,
    count: Option<usize>,
}

/// `GET /api/similar/songs?id=tr-1|al-2|ar-3&count=20`.
async fn similar_songs(
    req: HttpRequest,
    query: web::Query<SimilarQuery>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let q = query.into_inner();
    answer(&req, app, brake, move |app, user| {
        let count = count(q.count, 20)?;
        let seed = seed(app, &user, &q.id)?;
        let picks = app
            .reco
            .similar_songs(Some(user.id), &seed, count, &scope_of(&user))?;
        Ok(SongsOut {
            songs: songs_out(app, &user, &picks)?,
        })
    })
    .await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AlbumOut {
    id: String,
    name: String,
    artist: String,
    year: Option<i32>,
    cover_art: String,
    why: String,
}

#[derive(Serialize)]
struct AlbumsOut {
    albums: Vec<AlbumOut>,
}

/// `GET /api/similar/albums?id=al-2`: "more like this album".
async fn similar_albums(
    req: HttpRequest,
    query: web::Query<SimilarQuery>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let q = query.into_inner();
    answer(&req, app, brake, move |app, user| {
        let count = count(q.count, 12)?;
        let Seed::Album(album) = seed(app, &user, &q.id)? else {
            return Err(bad("similar albums start from an album id (al-)"));
        };
        let scope = scope_of(&user);
        let related: Vec<Related> = app
            .reco
            .similar_albums(Some(user.id), album, count, &scope)?;
        let mut c = app.db.read()?;
        let mut albums = Vec::new();
        for r in related {
            if let Some(a) = browse::album(&mut c, r.id, &scope).map_err(anyhow::Error::from)? {
                albums.push(AlbumOut {
                    id: format!("al-{}", a.id),
                    name: a.name,
                    artist: a.artist_display,
                    year: a.year,
                    cover_art: format!("al-{}", a.id),
                    why: r.why,
                });
            }
        }
        Ok(AlbumsOut { albums })
    })
    .await
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ArtistOut {
    id: String,
    name: String,
    why: String,
}

#[derive(Serialize)]
struct ArtistsOut {
    artists: Vec<ArtistOut>,
}

/// `GET /api/similar/artists?id=ar-3`.
async fn similar_artists(
    req: HttpRequest,
    query: web::Query<SimilarQuery>,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    let q = query.into_inner();
    answer(&req, app, brake, move |app, user| {
        let count = count(q.count, 12)?;
        let Seed::Artist(artist) = seed(app, &user, &q.id)? else {
            return Err(bad("similar artists start from an artist id (ar-)"));
        };
        let scope = scope_of(&user);
        let related = app
            .reco
            .similar_artists(Some(user.id), artist, count, &scope)?;
        let mut c = app.db.read()?;
        let mut artists = Vec::new();
        for r in related {
            if let Some(a) = browse::artist(&mut c, r.id, &scope).map_err(anyhow::Error::from)? {
                artists.push(ArtistOut {
                    id: format!("ar-{}", a.id),
                    name: a.name,
                    why: r.why,
                });
            }
        }
        Ok(ArtistsOut { artists })
    })
    .await
}

#[derive(Serialize)]
struct MixOut {
    id: String,
    name: String,
    about: String,
    songs: Vec<SongOut>,
}

#[derive(Serialize)]
struct MixesOut {
    mixes: Vec<MixOut>,
}

/// `GET /api/mixes`: the caller's mixes of the day.
async fn mixes(req: HttpRequest, app: web::Data<App>, brake: web::Data<Brake>) -> HttpResponse {
    answer(&req, app, brake, move |app, user| {
        let made = app.reco.mixes(user.id, &scope_of(&user))?;
        let mut mixes = Vec::new();
        for m in made.iter() {
            mixes.push(MixOut {
                id: m.id.clone(),
                name: m.name.clone(),
                about: m.about.clone(),
                songs: songs_out(app, &user, &m.songs)?,
            });
        }
        Ok(MixesOut { mixes })
    })
    .await
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Autoplay {
    enabled: bool,
}

/// `GET /api/autoplay`: whether the household queue continues with radio at its end.
async fn get_autoplay(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    answer(&req, app, brake, |app, _| {
        Ok(Autoplay {
            enabled: app.reco.autoplay(),
        })
    })
    .await
}

/// `PUT /api/autoplay {"enabled": false}`: anyone at home may switch it (until the server
/// restarts, when the `autoplay` setting decides again).
async fn set_autoplay(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<Brake>,
) -> HttpResponse {
    answer(&req, app, brake, move |app, _| {
        let asked: Autoplay = serde_json::from_slice(&body)
            .map_err(|e| bad(format!("the body is not {{\"enabled\": true|false}}: {e}")))?;
        app.reco.set_autoplay(asked.enabled);
        Ok(asked)
    })
    .await
}
