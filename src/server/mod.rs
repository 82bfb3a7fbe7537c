//! The HTTP server: actix-web routes that translate requests into calls on the app's managers.
//! Blocking database work runs on actix's blocking pool, never on the async workers.

pub mod api;
pub mod media;
pub mod queue;
pub mod share;
pub mod subsonic;

use std::sync::Arc;

use actix_web::{web, HttpServer};
use anyhow::{Context, Result};

use crate::app::App;

/// Binds the listening socket now (so the caller knows the server is reachable) and returns the
/// server future to run.
pub fn bind(app: Arc<App>) -> Result<actix_web::dev::Server> {
    let bind = app.settings.bind;
    let data = web::Data::from(app);
    let brake = web::Data::new(subsonic::auth::Brake::default());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    let server = HttpServer::new(move || {
        actix_web::App::new()
            .app_data(data.clone())
            .app_data(brake.clone())
            .configure(api::routes)
            .configure(queue::routes)
            .configure(share::routes)
            .configure(subsonic::routes)
    })
    .workers(workers)
    .bind(bind)
    .with_context(|| {
        format!("cannot listen on {bind}: is another server using that port? (setting `bind`)")
    })?
    .run();
    Ok(server)
}

/// The caller's address and `User-Agent`, for the player record.
pub fn caller(req: &actix_web::HttpRequest) -> (String, String) {
    let ip = req
        .peer_addr()
        .map(|p| p.ip().to_string())
        .unwrap_or_default();
    let agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (ip, agent)
}
