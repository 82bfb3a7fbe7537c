//! `NOTIFY /upnp/events/<token>`: where renderers send the events the server subscribed to
//! (UPnP GENA). Renderers cannot log in; the random token and the subscription's SID stand in
//! for that, and anything else is refused with 412, as UPnP says.

use actix_web::http::Method;
use actix_web::{web, HttpRequest, HttpResponse};

use crate::app::lan::gena::{Delivery, MAX_EVENT};
use crate::app::App;

pub fn routes(cfg: &mut web::ServiceConfig) {
    let notify = Method::from_bytes(b"NOTIFY").expect("NOTIFY is a method name");
    cfg.service(
        web::resource("/upnp/events/{token}")
            .app_data(web::PayloadConfig::new(MAX_EVENT))
            .route(web::method(notify).to(event)),
    );
}

async fn event(
    req: HttpRequest,
    app: web::Data<App>,
    token: web::Path<String>,
    body: web::Bytes,
) -> HttpResponse {
    let sid = req
        .headers()
        .get("SID")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match app.upnp_events.deliver(&token, sid, &body) {
        Delivery::Taken => HttpResponse::Ok().finish(),
        Delivery::Unknown => HttpResponse::PreconditionFailed().finish(),
        Delivery::Invalid(why) => {
            tracing::debug!("a renderer's event was refused: {why}");
            HttpResponse::BadRequest().finish()
        }
    }
}
