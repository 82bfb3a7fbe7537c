//! System methods: ping, licence, the OpenSubsonic extensions list, and scanning.

use super::error::ApiError;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;

pub fn ping(_: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    Ok(Envelope::empty())
}

/// Whose API key this is (OpenSubsonic apiKeyAuthentication).
pub fn token_info(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    if params.get("apiKey").is_none() {
        return Err(ApiError::new(
            super::error::code::AUTH_MECHANISM_UNSUPPORTED,
            "tokenInfo describes an API key; call it with apiKey",
        ));
    }
    Ok(Envelope::ok(
        "tokenInfo",
        Node::new().attr("username", &ctx.user.name),
    ))
}

pub fn get_license(_: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    Ok(Envelope::ok("license", Node::new().attr("valid", true)))
}

/// Only extensions that truly work are listed.
pub fn get_open_subsonic_extensions() -> Envelope {
    let ext = |name: &str, versions: &[i64]| {
        Node::new()
            .attr("name", name)
            .values("versions", versions.iter().map(|v| (*v).into()).collect())
    };
    Envelope::list(
        "openSubsonicExtensions",
        vec![
            ext("formPost", &[1]),
            ext("indexBasedQueue", &[1]),
            ext("songLyrics", &[1]),
            ext("apiKeyAuthentication", &[1]),
            ext("transcodeOffset", &[1]),
            ext("transcoding", &[1]),
            ext("sonicSimilarity", &[1]),
            ext("playbackReport", &[1]),
        ],
    )
}

fn scan_status(ctx: &Ctx<'_>) -> Result<Node, ApiError> {
    let library = &ctx.app.library;
    let count = if library.is_scanning() {
        library.progress().files_processed as i64
    } else {
        library.track_count()?
    };
    Ok(Node::new()
        .attr("scanning", library.is_scanning())
        .attr("count", count))
}

pub fn get_scan_status(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    Ok(Envelope::ok("scanStatus", scan_status(ctx)?))
}

pub fn start_scan(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    if !ctx.user.is_admin {
        return Err(ApiError::not_authorized("start a scan"));
    }
    let full = params.bool("fullScan")?.unwrap_or(false);
    if !ctx.app.library.is_scanning() {
        ctx.app
            .library
            .scan_in_background(full)
            .map_err(|e| ApiError::internal(&e.into()))?;
    }
    Ok(Envelope::ok("scanStatus", scan_status(ctx)?))
}

/// Houseband serves music, not video: the video methods answer as for an empty video library.
pub fn get_videos(_: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    Ok(Envelope::ok(
        "videos",
        Node::new().list("video", Vec::new()),
    ))
}

pub fn no_such_video(_: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    params.required("id")?;
    Err(ApiError::not_found("video (this server has no videos)"))
}
