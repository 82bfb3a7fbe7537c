//! Houseband's native JSON API under `/api/`.

use actix_web::{web, HttpResponse, Responder};
use serde::Serialize;

use crate::app::library::ProgressView;
use crate::app::App;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/health", web::get().to(health));
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
