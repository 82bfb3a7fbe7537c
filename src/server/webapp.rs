//! The web app (`web/`), embedded in the binary by `build.rs` and served at `/` (the page) and
//! `/app/...` (its scripts, styles and libraries, as they are in `web/`: there is no build
//! step). Every answer carries a content security policy that lets only this server's own
//! scripts run, plus the page's one inline script, its import map, by hash.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use sha2::{Digest, Sha256};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// Gzipped on the way out when the browser accepts it (the whole app is about 16 KB so).
pub fn routes(cfg: &mut web::ServiceConfig) {
    use actix_web::middleware::Compress;
    cfg.service(
        web::resource("/")
            .wrap(Compress::default())
            .route(web::get().to(page)),
    )
    .service(
        web::scope("/app")
            .wrap(Compress::default())
            .route("/{path:.*}", web::get().to(asset)),
    );
}

fn find(path: &str) -> Option<&'static [u8]> {
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "json" => "application/json",
        _ => "application/octet-stream",
    }
}

/// The policy, with the hash of the page's import map (the one inline script allowed).
fn policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        use base64::Engine;
        let page = std::str::from_utf8(find("index.html").unwrap_or_default()).unwrap_or("");
        let map = page
            .split_once(r#"<script type="importmap">"#)
            .and_then(|(_, rest)| rest.split_once("</script>"))
            .map(|(map, _)| map)
            .unwrap_or("");
        let hash = base64::engine::general_purpose::STANDARD.encode(Sha256::digest(map));
        format!(
            "default-src 'self'; script-src 'self' 'sha256-{hash}'; style-src 'self'; \
             img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; \
             object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
        )
    })
}

fn serve(req: &HttpRequest, path: &str, bytes: &'static [u8]) -> HttpResponse {
    let etag = format!("\"{:x}\"", xxhash_rust::xxh3::xxh3_64(bytes));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag))
        // Checked on every use (cheap, by ETag): a new release is seen at once.
        .insert_header((header::CACHE_CONTROL, "no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, policy()))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"));
    if fresh {
        return response.finish();
    }
    response.content_type(content_type(path)).body(bytes)
}

async fn page(req: HttpRequest) -> HttpResponse {
    match find("index.html") {
        Some(bytes) => serve(&req, "index.html", bytes),
        None => HttpResponse::NotFound().body("this build has no web app"),
    }
}

async fn asset(req: HttpRequest, path: web::Path<String>) -> HttpResponse {
    let path = path.into_inner();
    match find(&path).filter(|_| path != "index.html") {
        Some(bytes) => serve(&req, &path, bytes),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .body(format!("no file {path:?} in the web app")),
    }
}
