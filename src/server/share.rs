//! The public side of shares: `/share/{token}` is a page anyone with the link can open, and
//! `/share/{token}/{song}` plays (or downloads) one of its songs, with byte ranges so browsers
//! can seek. No login: the unguessable token is the key. An expired or deleted share answers
//! 410 or 404 with a page that says so, and a song outside the share is never served.

use std::path::PathBuf;

use actix_files::NamedFile;
use actix_web::http::header::{ContentDisposition, DispositionParam, DispositionType};
use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::db::now;
use crate::app::library::browse::{self, Scope, SongRow};
use crate::app::shares::Share;
use crate::app::App;
use crate::server::subsonic::response::escape;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/share/{token}", web::get().to(page))
        .route("/share/{token}/{song}", web::get().to(song))
        .route("/share/{token}/{song}", web::head().to(song));
}

/// Why a share cannot be opened, as the visitor should read it.
enum Closed {
    Unknown,
    Expired,
    Failed(String),
}

impl Closed {
    fn response(&self) -> HttpResponse {
        let (status, text) = match self {
            Closed::Unknown => (
                StatusCode::NOT_FOUND,
                "There is no share at this address. It may have been deleted; ask the person who sent you the link.".to_string(),
            ),
            Closed::Expired => (
                StatusCode::GONE,
                "This share has expired. Ask the person who sent you the link for a new one.".to_string(),
            ),
            Closed::Failed(e) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("The server could not open this share: {e}"),
            ),
        };
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .body(html_page("Houseband", &format!("<p>{}</p>", escape(&text))))
    }
}

impl From<anyhow::Error> for Closed {
    fn from(e: anyhow::Error) -> Closed {
        Closed::Failed(format!("{e:#}"))
    }
}

impl From<diesel::result::Error> for Closed {
    fn from(e: diesel::result::Error) -> Closed {
        Closed::Failed(e.to_string())
    }
}

/// An open share and its songs that are present and visible to its owner today.
fn open(app: &App, token: &str) -> Result<(Share, Vec<SongRow>), Closed> {
    // Tokens are letters and digits; anything else names nothing (and never reaches SQL).
    if token.is_empty() || token.len() > 64 || !token.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Closed::Unknown);
    }
    let share = app.shares.by_token(token)?.ok_or(Closed::Unknown)?;
    if share.expired(now()) {
        return Err(Closed::Expired);
    }
    let owner = app.users.find(&share.owner)?.ok_or(Closed::Unknown)?;
    let scope = Scope::new(owner.allowed_folders(), None);
    let tracks = app.shares.tracks(share.id)?;
    let songs = browse::songs_by_ids(&mut *app.db.read()?, &tracks, &scope)?;
    Ok((share, songs))
}

async fn page(app: web::Data<App>, path: web::Path<String>) -> HttpResponse {
    let token = path.into_inner();
    let app = app.into_inner();
    let result = web::block(move || {
        let (share, songs) = open(&app, &token)?;
        app.shares.visited(share.id)?;
        Ok::<_, Closed>((share, songs))
    })
    .await;
    match result {
        Ok(Ok((share, songs))) => HttpResponse::Ok()
            .content_type("text/html; charset=utf-8")
            .insert_header(("Cache-Control", "no-store"))
            .insert_header(("Referrer-Policy", "no-referrer"))
            .insert_header(("X-Content-Type-Options", "nosniff"))
            // The page runs no script at all; its one style is inline.
            .insert_header((
                "Content-Security-Policy",
                "default-src 'none'; style-src 'unsafe-inline'; media-src 'self'; \
                 base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            ))
            .body(render(&share, &songs)),
        Ok(Err(closed)) => closed.response(),
        Err(e) => Closed::Failed(e.to_string()).response(),
    }
}

async fn song(
    req: HttpRequest,
    app: web::Data<App>,
    path: web::Path<(String, String)>,
) -> HttpResponse {
    let (token, song) = path.into_inner();
    let app = app.into_inner();
    let found = web::block(move || {
        let (_, songs) = open(&app, &token)?;
        let id: i64 = song
            .strip_prefix("tr-")
            .and_then(|n| n.parse().ok())
            .ok_or(Closed::Unknown)?;
        let s = songs
            .into_iter()
            .find(|s| s.id == id)
            .ok_or(Closed::Unknown)?;
        // Checked like every song streamed: a link out of the music folder is not followed.
        let real = app
            .media
            .inside_folder(&PathBuf::from(&s.path), &PathBuf::from(&s.folder_path))
            .ok_or(Closed::Unknown)?;
        let file = NamedFile::open(real).map_err(|_| Closed::Unknown)?;
        Ok::<_, Closed>((s, file))
    })
    .await;
    match found {
        Ok(Ok((s, file))) => {
            let name = std::path::Path::new(&s.path)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| format!("{}.{}", s.title, s.suffix));
            let mime = s
                .content_type
                .parse()
                .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM);
            file.set_content_type(mime)
                .set_content_disposition(ContentDisposition {
                    disposition: DispositionType::Inline,
                    parameters: vec![DispositionParam::Filename(name)],
                })
                .into_response(&req)
        }
        Ok(Err(closed)) => closed.response(),
        Err(e) => Closed::Failed(e.to_string()).response(),
    }
}

fn html_page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html>
<html lang=\"en\"><head><meta charset=\"utf-8\">
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">
<meta name=\"robots\" content=\"noindex\">
<title>{}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 42rem; margin: 2rem auto; padding: 0 1rem; color-scheme: light dark; }}
li {{ margin: 0 0 1.2rem; list-style: none; }}
.meta {{ opacity: .7; font-size: .9rem; }}
audio {{ width: 100%; margin-top: .3rem; }}
ol {{ padding: 0; }}
</style></head>
<body>{body}</body></html>
",
        escape(title)
    )
}

fn render(share: &Share, songs: &[SongRow]) -> String {
    let title = share
        .description
        .as_deref()
        .filter(|d| !d.is_empty())
        .unwrap_or("Shared music");
    let mut body = format!(
        "<h1>{}</h1><p class=\"meta\">Shared by {} from their Houseband.</p><ol>",
        escape(title),
        escape(&share.owner)
    );
    for s in songs {
        let url = format!("/share/{}/tr-{}", share.token, s.id);
        let secs = (s.duration_ms + 500) / 1000;
        body.push_str(&format!(
            "<li><strong>{}</strong><div class=\"meta\">{} · {} · {}:{:02}</div>\
             <audio controls preload=\"none\" src=\"{url}\"></audio>\
             <div class=\"meta\"><a href=\"{url}\" download>Download</a></div></li>",
            escape(&s.title),
            escape(&s.artist_display),
            escape(&s.album_name),
            secs / 60,
            secs % 60,
        ));
    }
    if songs.is_empty() {
        body.push_str("<li>None of the songs of this share are in the library right now.</li>");
    }
    body.push_str("</ol>");
    html_page(title, &body)
}
