//! The Subsonic API (1.16.1) with OpenSubsonic extensions, under `/rest/`.
//!
//! Every method answers at `/rest/<name>` and `/rest/<name>.view`, by GET or by form POST, in XML,
//! JSON or JSONP, always with HTTP 200 (errors travel inside the document, as the protocol
//! wants). Handlers are thin: they read parameters, call the app, and build [`response::Node`]s.

mod annotation;
pub mod auth;
mod browsing;
mod discovery;
pub mod error;
mod folders;
pub mod ids;
mod jukebox;
mod lists;
pub mod media;
mod nodes;
pub mod params;
mod playlists;
mod podcasts;
mod queue;
pub mod response;
pub mod shares;
mod social;
pub mod song_cache;
mod system;
mod users;

use std::sync::Arc;

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::library::browse::Scope;
use crate::app::users::User;
use crate::app::App;
use error::{code, ApiError};
use params::Params;
use response::{Envelope, Format};

/// The largest form body accepted; a bigger one is refused before it is read.
const MAX_FORM_BODY: usize = 2 * 1024 * 1024;

/// Registers `/rest/`. The login brake (`web::Data<auth::Brake>`) is app data shared by every
/// worker and by the native API, made once by `server::bind`.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.app_data(web::PayloadConfig::new(MAX_FORM_BODY))
        .route("/rest/{method}", web::route().to(handle))
        .route(
            "/art/{id}",
            web::route()
                .guard(actix_web::guard::Any(actix_web::guard::Get()).or(actix_web::guard::Head()))
                .to(public_art),
        );
}

/// What a handler gets: the app and the authenticated user.
pub struct Ctx<'a> {
    pub app: &'a App,
    pub user: User,
    /// How the client reached the server (`http://host:port`), for links it hands out.
    pub base_url: String,
    /// The request body when it is not a form (getTranscodeDecision's JSON).
    pub body: &'a [u8],
    /// Who is asking, for the player record: the client's address and `User-Agent`.
    pub ip: String,
    pub user_agent: String,
    /// The answer's format, which song elements are written out in.
    pub format: Format,
    /// Songs already written out, and the library version this request started at (`None`
    /// during a scan): only what was read between it and an equal version after may be kept.
    pub songs: &'a song_cache::SongCache,
    pub library_version: Option<u64>,
}

impl Ctx<'_> {
    /// Every music folder the user may see.
    pub fn scope(&self) -> Scope {
        Scope::new(self.user.allowed_folders(), None)
    }

    /// The user's folders narrowed to `musicFolderId`, when the client gives one (a folder the
    /// user may not see gives an empty scope, as if it did not exist).
    pub fn scope_in(&self, params: &Params) -> Result<Scope, ApiError> {
        Ok(Scope::new(
            self.user.allowed_folders(),
            params.number::<i64>("musicFolderId")?,
        ))
    }
}

type Handler = fn(&Ctx<'_>, &Params) -> Result<Envelope, ApiError>;
type MediaHandler = fn(&Ctx<'_>, &Params) -> Result<media::Answer, ApiError>;

/// The methods that answer with audio or images instead of a Subsonic document.
fn media_handler(method: &str) -> Option<MediaHandler> {
    Some(match method {
        "stream" => media::stream,
        "download" => media::download,
        "getCoverArt" => media::get_cover_art,
        "getAvatar" => media::get_avatar,
        "getTranscodeStream" => media::get_transcode_stream,
        _ => return None,
    })
}

/// The methods this server implements. Everything else is answered with a clean error.
fn handler(method: &str) -> Option<Handler> {
    Some(match method {
        "ping" => system::ping,
        "getLicense" => system::get_license,
        "tokenInfo" => system::token_info,
        "getScanStatus" => system::get_scan_status,
        "startScan" => system::start_scan,
        "getMusicFolders" => browsing::get_music_folders,
        "getArtists" => browsing::get_artists,
        "getArtist" => browsing::get_artist,
        "getAlbum" => browsing::get_album,
        "getSong" => browsing::get_song,
        "getGenres" => browsing::get_genres,
        "getIndexes" => folders::get_indexes,
        "getMusicDirectory" => folders::get_music_directory,
        "search3" => lists::search3,
        "search2" => lists::search2,
        "search" => lists::search1,
        "getVideos" => system::get_videos,
        "getVideoInfo" => system::no_such_video,
        "getCaptions" => system::no_such_video,
        "hls.m3u8" => system::no_such_video,
        "getAlbumList" => lists::get_album_list,
        "getStarred" => annotation::get_starred,
        "getArtistInfo" => discovery::get_artist_info,
        "getAlbumInfo" => discovery::get_album_info2,
        "getAlbumList2" => lists::get_album_list2,
        "getRandomSongs" => lists::get_random_songs,
        "star" => annotation::star,
        "unstar" => annotation::unstar,
        "setRating" => annotation::set_rating,
        "scrobble" => annotation::scrobble,
        "getStarred2" => annotation::get_starred2,
        "getNowPlaying" => annotation::get_now_playing,
        "reportPlayback" => annotation::report_playback,
        "getPlaylists" => playlists::get_playlists,
        "getPlaylist" => playlists::get_playlist,
        "createPlaylist" => playlists::create_playlist,
        "updatePlaylist" => playlists::update_playlist,
        "deletePlaylist" => playlists::delete_playlist,
        "getBookmarks" => queue::get_bookmarks,
        "createBookmark" => queue::create_bookmark,
        "deleteBookmark" => queue::delete_bookmark,
        "getPlayQueue" => queue::get_play_queue,
        "savePlayQueue" => queue::save_play_queue,
        "getPlayQueueByIndex" => queue::get_play_queue_by_index,
        "savePlayQueueByIndex" => queue::save_play_queue_by_index,
        "getSongsByGenre" => discovery::get_songs_by_genre,
        "getTopSongs" => discovery::get_top_songs,
        "getSimilarSongs" => discovery::get_similar_songs,
        "getSimilarSongs2" => discovery::get_similar_songs2,
        "getSonicSimilarTracks" => discovery::get_sonic_similar_tracks,
        "findSonicPath" => discovery::find_sonic_path,
        "getArtistInfo2" => discovery::get_artist_info2,
        "getAlbumInfo2" => discovery::get_album_info2,
        "getLyrics" => discovery::get_lyrics,
        "getLyricsBySongId" => discovery::get_lyrics_by_song_id,
        "getInternetRadioStations" => social::get_internet_radio_stations,
        "createInternetRadioStation" => social::create_internet_radio_station,
        "updateInternetRadioStation" => social::update_internet_radio_station,
        "deleteInternetRadioStation" => social::delete_internet_radio_station,
        "getChatMessages" => social::get_chat_messages,
        "addChatMessage" => social::add_chat_message,
        "getUser" => users::get_user,
        "getUsers" => users::get_users,
        "createUser" => users::create_user,
        "updateUser" => users::update_user,
        "deleteUser" => users::delete_user,
        "changePassword" => users::change_password,
        "getShares" => shares::get_shares,
        "createShare" => shares::create_share,
        "updateShare" => shares::update_share,
        "deleteShare" => shares::delete_share,
        "getTranscodeDecision" => media::get_transcode_decision,
        "jukeboxControl" => jukebox::jukebox_control,
        "getPodcasts" => podcasts::get_podcasts,
        "getNewestPodcasts" => podcasts::get_newest_podcasts,
        "getPodcastEpisode" => podcasts::get_podcast_episode,
        "refreshPodcasts" => podcasts::refresh_podcasts,
        "createPodcastChannel" => podcasts::create_podcast_channel,
        "deletePodcastChannel" => podcasts::delete_podcast_channel,
        "deletePodcastEpisode" => podcasts::delete_podcast_episode,
        "downloadPodcastEpisode" => podcasts::download_podcast_episode,
        _ => return None,
    })
}

async fn handle(
    req: HttpRequest,
    body: web::Bytes,
    app: web::Data<App>,
    brake: web::Data<auth::Brake>,
    songs: web::Data<song_cache::SongCache>,
) -> HttpResponse {
    let method = req
        .match_info()
        .get("method")
        .unwrap_or("")
        .trim_end_matches(".view")
        .to_string();
    let is_form = req.method() == Method::POST
        && req
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let params = Params::parse(req.query_string(), is_form.then_some(&body[..]));
    let format = Format::from_params(params.get("f"), params.get("callback"));
    let app: Arc<App> = app.into_inner();
    let (ip, user_agent) = crate::server::caller(&req);
    // JSONP is read by a `<script>` tag, which any page can point here: the browser's cookie
    // never logs it in (the web app asks for JSON).
    let session = crate::server::api::browser_session(req.headers())
        .filter(|_| !matches!(format, Format::Jsonp(_)));
    if let Some(h) = media_handler(&method) {
        let session = session.clone();
        let history = app.clone();
        let asked_at = crate::app::db::now();
        let block_format = format.clone();
        let answer = web::block(move || {
            let library_version = app.library.version();
            let user = auth::authenticate(&app.users, &params, session.as_deref())?;
            let ctx = Ctx {
                app: &app,
                user,
                base_url: String::new(),
                body: &[],
                ip,
                user_agent,
                format: block_format,
                songs: &songs,
                library_version,
            };
            h(&ctx, &params)
        })
        .await;
        return match answer {
            Ok(Ok(a)) => {
                if let Some(ip) = crate::server::client::of(&req).ip {
                    brake.succeeded(ip);
                }
                let response = crate::server::media::respond(
                    &req,
                    a.delivery,
                    a.name,
                    a.attachment,
                    a.estimate_length,
                );
                match a.heard {
                    Some(h) => crate::server::media::heard_to_the_end(&req, response, move || {
                        let listening = &history.reco.listening;
                        listening.streamed(h.user, h.song, asked_at, h.duration_ms);
                    }),
                    None => response,
                }
            }
            // The transcoding extension wants HTTP errors from its stream, not a document.
            Ok(Err(e)) if method == "getTranscodeStream" && e.code != code::WRONG_CREDENTIALS => {
                let status = match e.code {
                    code::NOT_FOUND => actix_web::http::StatusCode::NOT_FOUND,
                    code::NOT_AUTHORIZED => actix_web::http::StatusCode::FORBIDDEN,
                    code::GENERIC => actix_web::http::StatusCode::SERVICE_UNAVAILABLE,
                    _ => actix_web::http::StatusCode::BAD_REQUEST,
                };
                HttpResponse::build(status)
                    .content_type("text/plain; charset=utf-8")
                    .body(e.message)
            }
            Ok(Err(e)) => error_response(&req, &brake, e, &format).await,
            Err(e) => {
                error_response(
                    &req,
                    &brake,
                    ApiError::new(code::GENERIC, format!("the server could not answer: {e}")),
                    &format,
                )
                .await
            }
        };
    }
    let base_url = crate::server::client::of(&req).base_url();
    // A big answer (a 1,000-song playlist) takes milliseconds to write out: do it on the
    // blocking pool too, never on the async workers.
    let render_format = format.clone();
    let body = if is_form { web::Bytes::new() } else { body };
    let answer = web::block(move || {
        let who = (base_url, ip, user_agent);
        let how = (render_format.clone(), songs.get_ref());
        dispatch(
            &app,
            &method,
            &params,
            who,
            how,
            (&body, session.as_deref()),
        )
        .map(|e| e.render(&render_format))
    })
    .await;
    let (body, content_type) = match answer {
        Ok(Ok(rendered)) => {
            if let Some(ip) = crate::server::client::of(&req).ip {
                brake.succeeded(ip);
            }
            rendered
        }
        Ok(Err(e)) => return error_response(&req, &brake, e, &format).await,
        Err(e) => Envelope::error(code::GENERIC, &format!("the server could not answer: {e}"))
            .render(&format),
    };
    HttpResponse::Ok().content_type(content_type).body(body)
}

#[derive(serde::Deserialize)]
struct ArtQuery {
    size: Option<u32>,
    #[serde(default)]
    sig: String,
}

/// `/art/{id}`: the public, signed picture links of `getArtistInfo` and `getAlbumInfo`.
async fn public_art(
    req: HttpRequest,
    path: web::Path<String>,
    query: web::Query<ArtQuery>,
    app: web::Data<App>,
) -> HttpResponse {
    let item = path.into_inner();
    let q = query.into_inner();
    let app = app.into_inner();
    match web::block(move || media::public_art(&app, &item, q.size, &q.sig)).await {
        Ok(Ok(a)) => crate::server::media::respond(&req, a.delivery, a.name, false, false),
        Ok(Err(e)) if e.code == code::NOT_FOUND => HttpResponse::NotFound().body(e.message),
        Ok(Err(e)) => HttpResponse::InternalServerError().body(e.message),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

/// An error as a Subsonic document (HTTP 200, as the protocol wants), after slowing down an
/// address that keeps failing to log in.
async fn error_response(
    req: &HttpRequest,
    brake: &auth::Brake,
    e: ApiError,
    format: &Format,
) -> HttpResponse {
    if e.code == code::WRONG_CREDENTIALS || e.code == code::INVALID_API_KEY {
        if let Some(ip) = crate::server::client::of(req).ip {
            let delay = brake.failed(ip);
            if !delay.is_zero() {
                tracing::warn!(client = %ip, ?delay, "repeated failed logins: slowing down");
                actix_web::rt::time::sleep(delay).await;
            }
        }
    }
    let (body, content_type) = Envelope::error(e.code, &e.message).render(format);
    HttpResponse::Ok().content_type(content_type).body(body)
}

fn dispatch(
    app: &App,
    method: &str,
    params: &Params,
    (base_url, ip, user_agent): (String, String, String),
    (format, songs): (Format, &song_cache::SongCache),
    (body, session): (&[u8], Option<&str>),
) -> Result<Envelope, ApiError> {
    // Answers without authentication, so that clients can discover the server first.
    if method == "getOpenSubsonicExtensions" {
        return Ok(system::get_open_subsonic_extensions());
    }
    let library_version = app.library.version();
    let user = auth::authenticate(&app.users, params, session)?;
    let ctx = Ctx {
        app,
        user,
        base_url,
        body,
        ip,
        user_agent,
        format,
        songs,
        library_version,
    };
    match handler(method) {
        Some(h) => h(&ctx, params),
        None => Err(ApiError::new(
            code::GENERIC,
            format!(
                "'{}' is not implemented by this server yet",
                method.chars().take(64).collect::<String>()
            ),
        )),
    }
}

/// A request's parameters as the Subsonic handlers read them, without a user or the database
/// (what the fuzz targets run): the query string up to the first line break, the rest as a
/// form body and, as `getTranscodeDecision` reads it, as the client's JSON; then every typed
/// getter on every name given, ids, the password, the protocol version, paging, stream offsets
/// and bit rates, and `transcodeParams`. The first error, as the client would get it.
pub(crate) fn read_request(bytes: &[u8]) -> Result<(), String> {
    use crate::app::media::{decision, transcode};
    let (query, body) = match bytes.iter().position(|b| *b == b'\n') {
        Some(at) => (&bytes[..at], Some(&bytes[at + 1..])),
        None => (bytes, None),
    };
    let params = Params::parse(&String::from_utf8_lossy(query), body);
    let mut first_error = None;
    let mut note = |r: Result<(), ApiError>| {
        if let Err(e) = r {
            first_error.get_or_insert(e.message);
        }
    };
    let names: Vec<String> = form_urlencoded::parse(query)
        .chain(form_urlencoded::parse(body.unwrap_or_default()))
        .map(|(k, _)| k.into_owned())
        .take(64)
        .collect();
    for name in &names {
        note(params.required(name).map(drop));
        note(params.number::<i64>(name).map(drop));
        note(params.number::<u32>(name).map(drop));
        note(params.number::<f64>(name).map(drop));
        note(params.bool(name).map(drop));
        for value in params.all(name) {
            if let Some((kind, _)) = ids::split(value) {
                note(ids::parse(kind, value).map(drop));
            }
        }
    }
    if let Some(p) = params.get("p") {
        let _ = auth::decode_password(p);
    }
    note(auth::check_version(&params));
    note(lists::page(&params, "size", "offset", 10).map(drop));
    note(media::max_bit_rate(&params).map(drop));
    let offset = media::offset_of(&params);
    if let (Ok(offset), Some(t)) = (&offset, params.get("transcodeParams")) {
        let _ = decision::job_of(t, *offset);
    }
    note(offset.map(drop));
    if let Ok(client) = serde_json::from_slice::<decision::ClientInfo>(body.unwrap_or_default()) {
        for suffix in ["flac", "mp3", "opus"] {
            let source = decision::source_details(suffix, 900_000, 44_100, 16, 2);
            let _ = decision::decide(&client, &source, transcode::decodable(suffix));
        }
    }
    first_error.map_or(Ok(()), Err)
}
