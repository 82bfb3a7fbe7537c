//! Sending a song over HTTP: files through actix-files (byte ranges, `HEAD`, `ETag`,
//! `Last-Modified` and the conditional headers, read from disk as they are sent), transcodes as
//! a chunked stream of what the encoder has made so far. Shared by Subsonic's `stream` and
//! `download` and by the native `/api/stream/{id}`.

use actix_files::NamedFile;
use std::os::unix::fs::MetadataExt;

use actix_web::http::header::{
    self, ContentDisposition, DispositionParam, DispositionType, HeaderValue, HttpDate,
};
use actix_web::http::StatusCode;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse};
use futures_util::stream;

use crate::app::media::{Delivery, Live};

/// Calls `done` once the response's body has been sent to its end, if it is the song to its
/// end: the whole file (200), or a range that runs to the last byte from no later than half
/// way (206: players that fetch a file in pieces). A client that hangs up first, or a range
/// from the middle (a seek, the tail a player reads first), does not count.
pub fn heard_to_the_end(
    req: &HttpRequest,
    response: HttpResponse,
    done: impl FnOnce() + Send + 'static,
) -> HttpResponse {
    // A HEAD is answered with no body, but actix still reads the file's body to its end.
    if req.method() == actix_web::http::Method::HEAD {
        return response;
    }
    let counts = match response.status() {
        StatusCode::OK => true,
        StatusCode::PARTIAL_CONTENT => response
            .headers()
            .get(header::CONTENT_RANGE)
            .and_then(|v| v.to_str().ok())
            .and_then(range_to_the_end)
            .unwrap_or(false),
        _ => false,
    };
    if !counts {
        return response;
    }
    response.map_body(|_, body| {
        actix_web::body::BoxBody::new(WhenSent {
            body,
            done: Some(Box::new(done)),
        })
    })
}

/// `bytes a-b/total`: true when `b` is the last byte and `a` is in the first half.
fn range_to_the_end(value: &str) -> Option<bool> {
    let (range, total) = value.strip_prefix("bytes ")?.split_once('/')?;
    let (a, b) = range.split_once('-')?;
    let (a, b, total): (u64, u64, u64) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    Some(b + 1 == total && a <= total / 2)
}

/// A body that calls `done` when it has given its last byte.
struct WhenSent {
    body: actix_web::body::BoxBody,
    done: Option<Box<dyn FnOnce() + Send>>,
}

impl actix_web::body::MessageBody for WhenSent {
    type Error = Box<dyn std::error::Error>;

    fn size(&self) -> actix_web::body::BodySize {
        self.body.size()
    }

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Bytes, Self::Error>>> {
        let next = std::pin::Pin::new(&mut self.body).poll_next(cx);
        if let std::task::Poll::Ready(None) = next {
            if let Some(done) = self.done.take() {
                done();
            }
        }
        next
    }
}

pub fn respond(
    req: &HttpRequest,
    delivery: Delivery,
    name: String,
    attachment: bool,
    estimate_length: bool,
) -> HttpResponse {
    let disposition = ContentDisposition {
        disposition: if attachment {
            DispositionType::Attachment
        } else {
            DispositionType::Inline
        },
        parameters: vec![DispositionParam::Filename(name)],
    };
    match delivery {
        Delivery::File { path, content_type } => match NamedFile::open(&path) {
            Ok(file) => {
                let file = file
                    .set_content_type(
                        content_type
                            .parse()
                            .unwrap_or(actix_web::mime::APPLICATION_OCTET_STREAM),
                    )
                    .set_content_disposition(disposition);
                match stale_if_range(req, &file) {
                    Some(validators) => whole_file(req, file, validators),
                    None => file.into_response(req),
                }
            }
            Err(e) => {
                tracing::warn!(path = %path.display(), "cannot open a song to send it: {e}");
                HttpResponse::NotFound().body("the file is gone")
            }
        },
        Delivery::Live(live) => live_response(live, disposition, estimate_length),
    }
}

/// The validators actix-files sends for a file: its strong ETag (inode, size and change time
/// in hex, as Apache makes them) and Last-Modified.
struct Validators {
    etag: String,
    last_modified: HttpDate,
}

/// When a request has `Range` and an `If-Range` that no longer matches the file, the range must
/// be ignored and the whole file sent (RFC 9110 13.1.5); actix-files does not check `If-Range`.
/// Returns the file's validators in that case.
fn stale_if_range(req: &HttpRequest, file: &NamedFile) -> Option<Validators> {
    let if_range = req.headers().get(header::IF_RANGE)?.to_str().ok()?.trim();
    req.headers().get(header::RANGE)?;
    let meta = file.metadata();
    let modified = meta.modified().ok()?;
    let since = modified.duration_since(std::time::UNIX_EPOCH).ok()?;
    let etag = format!(
        "\"{:x}:{:x}:{:x}:{:x}\"",
        meta.ino(),
        meta.len(),
        since.as_secs(),
        since.subsec_nanos()
    );
    let last_modified = HttpDate::from(modified);
    let matches = if if_range.starts_with('"') {
        if_range == etag
    } else if if_range.starts_with("W/") {
        // A weak validator never matches for If-Range.
        false
    } else {
        if_range.parse::<HttpDate>().ok() == Some(last_modified)
    };
    (!matches).then_some(Validators {
        etag,
        last_modified,
    })
}

/// The whole file with status 200 whatever the request's `Range`.
fn whole_file(req: &HttpRequest, file: NamedFile, v: Validators) -> HttpResponse {
    // actix-files streams the whole file without looking at ranges when given a status other
    // than 200; the status is then set back. (`customize()`, which the deprecation points to,
    // changes the status after the ranges were applied, so it cannot do this.)
    #[allow(deprecated)]
    let mut response = file
        .set_status_code(StatusCode::NON_AUTHORITATIVE_INFORMATION)
        .into_response(req);
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    if let Ok(etag) = HeaderValue::from_str(&v.etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(date) = HeaderValue::from_str(&v.last_modified.to_string()) {
        headers.insert(header::LAST_MODIFIED, date);
    }
    headers.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    response
}

fn live_response(live: Live, disposition: ContentDisposition, estimate: bool) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .content_type(live.content_type)
        .insert_header(disposition)
        // A transcode cannot seek by bytes; clients seek with timeOffset instead.
        .insert_header(("Accept-Ranges", "none"))
        .insert_header(("Cache-Control", "no-store"));
    let chunks = live.chunks;
    match live.estimate.filter(|_| estimate) {
        Some(length) => {
            // The promised length is kept exactly: output beyond it is cut, and a shorter
            // output is padded with zero bytes (decoders skip them as trailing junk).
            let body = stream::unfold((chunks, length), |(mut rx, left)| async move {
                if left == 0 {
                    return None;
                }
                let chunk = match rx.recv().await {
                    Some(mut c) => {
                        c.truncate(left.min(c.len() as u64) as usize);
                        c
                    }
                    None => vec![0u8; left.min(64 * 1024) as usize],
                };
                let left = left - chunk.len() as u64;
                Some((Ok::<_, std::io::Error>(Bytes::from(chunk)), (rx, left)))
            });
            response.no_chunking(length).streaming(body)
        }
        None => {
            let body = stream::unfold(chunks, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|c| (Ok::<_, std::io::Error>(Bytes::from(c)), rx))
            });
            response.streaming(body)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::range_to_the_end;

    #[test]
    fn a_range_is_a_play_when_it_runs_to_the_end_from_the_first_half() {
        assert_eq!(range_to_the_end("bytes 0-999/1000"), Some(true));
        assert_eq!(range_to_the_end("bytes 500-999/1000"), Some(true));
        assert_eq!(range_to_the_end("bytes 501-999/1000"), Some(false));
        assert_eq!(range_to_the_end("bytes 0-499/1000"), Some(false));
        assert_eq!(range_to_the_end("bytes */1000"), None);
        assert_eq!(range_to_the_end("junk"), None);
    }
}
