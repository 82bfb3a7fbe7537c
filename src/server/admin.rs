//! `GET /api/server` (admins only): what the web app's admin screens show about the server
//! itself: its version and uptime, the settings that shape it, the music folders with their
//! songs, the scan's progress, and the files the scanner could not read; and the music folders
//! an admin adds and removes while it runs (`/api/server/folders`). The contract is in
//! `docs/api.md`.

use std::sync::OnceLock;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

use crate::app::library::browse::{FolderReport, ScanProblem};
use crate::app::library::scanner::ProgressView;
use crate::app::library::FolderRefusal;
use crate::app::users::User;
use crate::app::App;
use crate::config::ReplayGain;
use crate::server::api::{with_user, Failure};
use crate::server::subsonic::auth::Brake;

/// Scan problems listed at most (the total is given too).
const PROBLEMS_SHOWN: i64 = 200;

pub fn routes(cfg: &mut web::ServiceConfig) {
    started();
    cfg.route("/api/server", web::get().to(server))
        .route("/api/server/folders", web::post().to(add_folder))
        .route("/api/server/folders/{id}", web::delete().to(remove_folder));
}

fn admin_only(user: &User, what: &str) -> Result<(), Failure> {
    if user.is_admin {
        Ok(())
    } else {
        Err(Failure::new(
            StatusCode::FORBIDDEN,
            format!("only an admin may {what}"),
        ))
    }
}

fn refused(why: FolderRefusal) -> Failure {
    let status = match why {
        FolderRefusal::NotAbsolute | FolderRefusal::Unusable(_) | FolderRefusal::Overlaps(_) => {
            StatusCode::BAD_REQUEST
        }
        FolderRefusal::AlreadyThere | FolderRefusal::Configured => StatusCode::CONFLICT,
        FolderRefusal::NoSuchFolder => StatusCode::NOT_FOUND,
        FolderRefusal::Failed(e) => return Failure::from(e),
    };
    Failure::new(status, why.to_string())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewFolder {
    path: String,
}

/// `POST /api/server/folders {"path": "/srv/music"}`: a new music folder, scanned at once.
async fn add_folder(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
    body: web::Json<NewFolder>,
) -> HttpResponse {
    let path = body.into_inner().path;
    with_user(&req, app, brake, move |app, user| {
        admin_only(&user, "add music folders")?;
        let id = app
            .add_music_folder(std::path::Path::new(&path))
            .map_err(refused)?;
        let folder = app
            .library
            .folders()?
            .into_iter()
            .find(|f| f.id == id)
            .ok_or_else(|| Failure::internal("the folder added is not in the list"))?;
        Ok((StatusCode::CREATED, folder))
    })
    .await
}

/// `DELETE /api/server/folders/{id}`: takes back a folder added in the app.
async fn remove_folder(
    req: HttpRequest,
    app: web::Data<App>,
    brake: web::Data<Brake>,
    id: web::Path<i64>,
) -> HttpResponse {
    let id = id.into_inner();
    with_user(&req, app, brake, move |app, user| {
        admin_only(&user, "remove music folders")?;
        app.remove_music_folder(id).map_err(refused)?;
        Ok((StatusCode::OK, serde_json::json!({"removed": id})))
    })
    .await
}

/// When this process started serving (the first call sets it, at route set-up).
fn started() -> (Instant, u64) {
    static STARTED: OnceLock<(Instant, u64)> = OnceLock::new();
    *STARTED.get_or_init(|| {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        (Instant::now(), unix)
    })
}

#[derive(Serialize)]
struct ServerReport {
    version: &'static str,
    started_at: u64,
    uptime_s: u64,
    data_dir: String,
    settings: SettingsReport,
    scanning: bool,
    progress: Option<ProgressView>,
    scans_done: u64,
    folders: Vec<FolderReport>,
    problems: Vec<ScanProblem>,
    problems_total: i64,
}

/// The settings an admin asks about first (the configuration reference has them all).
#[derive(Serialize)]
struct SettingsReport {
    watch: bool,
    scan_interval_s: u64,
    transcode_slots: usize,
    transcode_cache_bytes: u64,
    replay_gain: &'static str,
    lan: bool,
    local_output: bool,
    sound_analysis: bool,
    autoplay: bool,
}

async fn server(req: HttpRequest, app: web::Data<App>, brake: web::Data<Brake>) -> HttpResponse {
    with_user(&req, app, brake, |app, user| {
        admin_only(&user, "see the server's settings and scan problems")?;
        let folders = app.library.folders()?;
        let (problems, problems_total) = app.library.problems(PROBLEMS_SHOWN)?;
        let s = &app.settings;
        let scanning = app.library.is_scanning();
        let (since, started_at) = started();
        Ok((
            StatusCode::OK,
            ServerReport {
                version: env!("CARGO_PKG_VERSION"),
                started_at,
                uptime_s: since.elapsed().as_secs(),
                data_dir: s.data.display().to_string(),
                settings: SettingsReport {
                    watch: s.watch,
                    scan_interval_s: s.scan_interval.as_secs(),
                    transcode_slots: s.transcode_slots,
                    transcode_cache_bytes: s.transcode_cache,
                    replay_gain: match s.replay_gain {
                        ReplayGain::Off => "off",
                        ReplayGain::Track => "track",
                        ReplayGain::Album => "album",
                    },
                    lan: s.lan,
                    local_output: s.local_output,
                    sound_analysis: s.sound_analysis,
                    autoplay: s.autoplay,
                },
                scanning,
                progress: scanning.then(|| app.library.progress()),
                scans_done: app.library.scans_done(),
                folders,
                problems,
                problems_total,
            },
        ))
    })
    .await
}

/// This API's request body, read as actix's JSON extractor reads it (serde_json; what the fuzz
/// targets run).
pub(crate) fn read_bodies(body: &[u8]) -> Vec<Result<(), String>> {
    vec![serde_json::from_slice::<NewFolder>(body)
        .map(drop)
        .map_err(|e| e.to_string())]
}
