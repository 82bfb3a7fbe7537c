//! The HTTP server: actix-web routes that translate requests into calls on the app's managers.
//! Blocking database work runs on actix's blocking pool, never on the async workers.

pub mod admin;
pub mod api;
pub mod client;
pub mod media;
pub mod queue;
pub mod queue_socket;
pub mod reco;
pub mod scrobble;
pub mod share;
pub mod subsonic;
pub mod upnp_events;
pub mod webapp;
pub mod websocket;

use std::sync::Arc;

use actix_web::web;
use anyhow::{Context, Result};

use crate::app::App;

/// Binds the listening socket now (so the caller knows the server is reachable) and returns the
/// server future to run.
pub fn bind(app: Arc<App>) -> Result<actix_web::dev::Server> {
    let bind = app.settings.bind;
    let songs = web::Data::new(subsonic::song_cache::SongCache::new(
        app.settings.song_cache,
    ));
    let data = web::Data::from(app);
    let brake = web::Data::new(subsonic::auth::Brake::default());
    let workers = std::thread::available_parallelism()
        .map(|n| n.get().min(4))
        .unwrap_or(2);
    // actix-web's `HttpServer` does this with its defaults (keep-alive, timeouts), minus one
    // thing: it gives no way to take over a connection. The queue socket needs that, to speak
    // WebSocket without actix's per-connection buffers (see `queue_socket`).
    let server = actix_server::Server::build()
        .workers(workers)
        .backlog(1024)
        // Long enough for requests under way; open sockets and streams are then cut.
        .shutdown_timeout(5)
        .bind("houseband", bind, move || {
            let app = actix_web::App::new()
                // No answer is ever run as a script or style it was not sent as: a JSON or
                // XML document, a song or a picture pointed at by a `<script>` elsewhere.
                .wrap(
                    actix_web::middleware::DefaultHeaders::new()
                        .add((actix_web::http::header::X_CONTENT_TYPE_OPTIONS, "nosniff")),
                )
                .app_data(data.clone())
                .app_data(brake.clone())
                .app_data(songs.clone())
                // A query string that does not fit a native API call: 400 with a message in
                // the API's JSON, like its other errors.
                .app_data(web::QueryConfig::default().error_handler(unfit("the query string")))
                // The same for a JSON body that does not fit (a wrong type, a missing field).
                .app_data(web::JsonConfig::default().error_handler(unfit("the JSON body")))
                .configure(admin::routes)
                .configure(api::routes)
                .configure(queue::routes)
                .configure(reco::routes)
                .configure(scrobble::routes)
                .configure(share::routes)
                .configure(subsonic::routes)
                .configure(upnp_events::routes)
                .configure(webapp::routes);
            let (state, brake) = (data.clone().into_inner(), brake.clone());
            let upgrade =
                actix_service::fn_service(move |(req, framed): (actix_http::Request, _)| {
                    let work = queue_socket::upgrade(state.clone(), brake.clone(), req, framed);
                    // Boxed, so the connection's task is no bigger for the sockets.
                    let work: futures_util::future::LocalBoxFuture<'static, ()> = Box::pin(work);
                    async move {
                        work.await;
                        Ok::<_, actix_http::Error>(())
                    }
                });
            actix_http::HttpService::build()
                .client_disconnect_timeout(std::time::Duration::from_secs(1))
                .h1_allow_half_closed(true)
                .local_addr(bind)
                .upgrade(upgrade)
                .finish(actix_service::map_config(app, |_| {
                    actix_web::dev::AppConfig::default()
                }))
                .tcp()
        })
        .with_context(|| {
            format!("cannot listen on {bind}: is another server using that port? (setting `bind`)")
        })?
        .run();
    Ok(server)
}

/// The caller's address and `User-Agent`, for the player record.
pub fn caller(req: &actix_web::HttpRequest) -> (String, String) {
    let ip = client::of(req).ip_text();
    let agent = req
        .headers()
        .get("user-agent")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (ip, agent)
}

/// A part of a request that does not fit a native API call: 400 with a message in the API's
/// JSON, like its other errors.
fn unfit<E>(what: &'static str) -> impl Fn(E, &actix_web::HttpRequest) -> actix_web::Error
where
    E: std::fmt::Debug + std::fmt::Display + 'static,
{
    move |e, _| {
        let message = format!("{what} does not fit this call: {e}");
        actix_web::error::InternalError::from_response(
            e,
            api::Failure::new(actix_web::http::StatusCode::BAD_REQUEST, message).response(),
        )
        .into()
    }
}
