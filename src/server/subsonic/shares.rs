//! Sharing: getShares, createShare, updateShare, deleteShare. A share is a public link to some
//! songs (served by `server::share`, no login needed) that works until it expires. Making one
//! needs the share role; only its owner (or an admin) changes or deletes it.

use super::browsing::{conn, db, song_nodes};
use super::error::ApiError;
use super::ids;
use super::nodes::iso8601;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, SongRow};
use crate::app::shares::{Changes, Share};

/// The longest description kept.
const MAX_DESCRIPTION: usize = 1000;

/// The public page of a share, for people without an account.
pub fn share_url(base: &str, share: &Share) -> String {
    format!("{base}/share/{}", share.token)
}

fn share_node(ctx: &Ctx<'_>, s: &Share) -> Result<Node, ApiError> {
    let tracks = ctx.app.shares.tracks(s.id)?;
    let mut c = conn(ctx)?;
    let songs = db(browse::songs_by_ids(&mut c, &tracks, &ctx.scope()))?;
    Ok(Node::new()
        .attr("id", ids::id(ids::SHARE, s.id))
        .attr("url", share_url(&ctx.base_url, s))
        .opt("description", s.description.as_deref())
        .attr("username", &s.owner)
        .attr("created", iso8601(s.created_at))
        .opt("expires", s.expires_at.map(iso8601))
        .opt("lastVisited", s.last_visited_at.map(iso8601))
        .attr("visitCount", s.visit_count)
        .list("entry", song_nodes(ctx, &mut c, &songs)?))
}

fn shares_envelope(ctx: &Ctx<'_>, list: &[Share]) -> Result<Envelope, ApiError> {
    let nodes = list
        .iter()
        .map(|s| share_node(ctx, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Envelope::ok("shares", Node::new().list("share", nodes)))
}

pub fn get_shares(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    shares_envelope(ctx, &ctx.app.shares.of_user(ctx.user.id)?)
}

/// The songs an id stands for: a song, an album's, a directory's, an artist's or a playlist's
/// (which the user must be able to see).
fn songs_for(ctx: &Ctx<'_>, raw: &str) -> Result<Vec<i64>, ApiError> {
    let not_found = || {
        ApiError::not_found(&format!(
            "item '{}'",
            raw.chars().take(40).collect::<String>()
        ))
    };
    let (kind, n) = ids::split(raw).ok_or_else(not_found)?;
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let ids_of = |rows: Vec<SongRow>| rows.into_iter().map(|s| s.id).collect::<Vec<_>>();
    let songs: Vec<i64> = match kind {
        ids::TRACK => ids_of(db(browse::song(&mut c, n, &scope))?.into_iter().collect()),
        ids::ALBUM => ids_of(db(browse::songs_of_album(&mut c, n, &scope))?),
        ids::DIRECTORY => match db(browse::dir(&mut c, n, &scope))? {
            Some(d) => ids_of(db(browse::songs_in_dir(&mut c, d.id, &scope))?),
            None => Vec::new(),
        },
        ids::ARTIST => db(browse::song_ids_of(&mut c, None, Some(n), &scope))?,
        ids::PLAYLIST => match ctx.app.playlists.get(n)? {
            Some(p) if super::playlists::may_see(ctx, &p) => {
                let entries = ctx.app.playlists.entries(p.id)?;
                ids_of(db(browse::songs_by_ids(&mut c, &entries, &scope))?)
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if songs.is_empty() {
        return Err(not_found());
    }
    Ok(songs)
}

/// `expires` in milliseconds since 1970, as seconds; 0 means never.
fn expires(params: &Params) -> Result<Option<Option<i64>>, ApiError> {
    match params.number::<i64>("expires")? {
        None => Ok(None),
        Some(0) => Ok(Some(None)),
        Some(ms) if ms > 0 && ms / 1000 <= i64::from(i32::MAX) * 4 => Ok(Some(Some(ms / 1000))),
        Some(_) => Err(ApiError::invalid("expires")),
    }
}

fn description(params: &Params) -> Option<String> {
    params.get("description").map(|d| {
        d.chars()
            .filter(|c| !c.is_control())
            .take(MAX_DESCRIPTION)
            .collect()
    })
}

pub fn create_share(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    if !ctx.user.has_role("share") {
        return Err(ApiError::not_authorized("share music"));
    }
    let given: Vec<&str> = params
        .all("id")
        .into_iter()
        .filter(|v| !v.is_empty())
        .collect();
    if given.is_empty() {
        return Err(ApiError::missing("id"));
    }
    let mut songs = Vec::new();
    for raw in given {
        songs.extend(songs_for(ctx, raw)?);
    }
    let expires_at = expires(params)?.flatten();
    let share = ctx.app.shares.create(
        ctx.user.id,
        description(params).as_deref(),
        expires_at,
        &songs,
    )?;
    shares_envelope(ctx, &[share])
}

/// A share the user may change: their own, or anyone's for an admin (someone else's share is
/// "not found" to everyone else).
fn own_share(ctx: &Ctx<'_>, params: &Params) -> Result<Share, ApiError> {
    let id = ids::parse(ids::SHARE, params.required("id")?)?;
    match ctx.app.shares.get(id)? {
        Some(s) if s.owner_id == ctx.user.id || ctx.user.is_admin => Ok(s),
        _ => Err(ApiError::not_found("share")),
    }
}

pub fn update_share(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let share = own_share(ctx, params)?;
    let changes = Changes {
        description: description(params),
        expires_at: expires(params)?,
    };
    ctx.app.shares.update(share.id, &changes)?;
    Ok(Envelope::empty())
}

pub fn delete_share(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let share = own_share(ctx, params)?;
    ctx.app.shares.delete(share.id)?;
    Ok(Envelope::empty())
}
