//! Stars, ratings, scrobbles, the starred lists and who is playing what.

use super::browsing::{conn, db, song_nodes, Items, Songs};
use super::error::ApiError;
use super::ids;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::annotations::{CountedBy, Kind};
use crate::app::db::now;
use crate::app::library::browse;
use crate::app::reco::history::Source;
use diesel::sqlite::SqliteConnection;

/// The items named by `id` (songs, or albums/artists by their ids), `albumId` and `artistId`;
/// every one must exist.
fn items(ctx: &Ctx<'_>, params: &Params) -> Result<Vec<(Kind, i64)>, ApiError> {
    let mut out = Vec::new();
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let named = params
        .all("id")
        .into_iter()
        .chain(params.all("albumId"))
        .chain(params.all("artistId"));
    for raw in named.filter(|v| !v.is_empty()) {
        let not_found = || {
            ApiError::not_found(&format!(
                "item '{}'",
                raw.chars().take(40).collect::<String>()
            ))
        };
        let (kind, n) = ids::split(raw).ok_or_else(not_found)?;
        let (kind, exists) = match kind {
            ids::TRACK => (Kind::Track, db(browse::song(&mut c, n, &scope))?.is_some()),
            ids::ALBUM => (Kind::Album, db(browse::album(&mut c, n, &scope))?.is_some()),
            ids::ARTIST => (
                Kind::Artist,
                db(browse::artist(&mut c, n, &scope))?.is_some(),
            ),
            _ => return Err(not_found()),
        };
        if !exists {
            return Err(not_found());
        }
        out.push((kind, n));
    }
    if out.is_empty() {
        return Err(ApiError::missing("id"));
    }
    Ok(out)
}

pub fn star(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let items = items(ctx, params)?;
    ctx.app.annotations.set_starred(ctx.user.id, &items, true)?;
    ctx.app.reco.listening.annotations_changed(ctx.user.id);
    Ok(Envelope::empty())
}

pub fn unstar(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let items = items(ctx, params)?;
    ctx.app
        .annotations
        .set_starred(ctx.user.id, &items, false)?;
    ctx.app.reco.listening.annotations_changed(ctx.user.id);
    Ok(Envelope::empty())
}

/// Ratings need the comment role ("create and edit comments and ratings", as Subsonic defines it).
pub fn set_rating(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    if !ctx.user.has_role("comment") {
        return Err(ApiError::not_authorized("rate music"));
    }
    let rating = params
        .number::<i32>("rating")?
        .ok_or_else(|| ApiError::missing("rating"))?;
    if !(0..=5).contains(&rating) {
        return Err(ApiError::invalid("rating"));
    }
    let target = params.required("id")?;
    let single = Params::parse(&format!("id={}", urlencode(target)), None);
    let (kind, id) = items(ctx, &single)?[0];
    ctx.app
        .annotations
        .set_rating(ctx.user.id, kind, id, rating)?;
    ctx.app.reco.listening.annotations_changed(ctx.user.id);
    Ok(Envelope::empty())
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// `submission=true` (the default) counts a play; `false` says "now playing". Both feed the
/// listening history: a song reported as playing and never submitted was skipped.
pub fn scrobble(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let songs = params.all("id");
    if songs.is_empty() {
        return Err(ApiError::missing("id"));
    }
    let times = params.all("time");
    let submission = params.bool("submission")?.unwrap_or(true);
    for (i, raw) in songs.iter().enumerate() {
        let id = ids::parse(ids::TRACK, raw)?;
        // The reader is given back before counting the play, which takes one of its own:
        // holding one while waiting for another deadlocks the pool under load.
        let song = db(browse::song(&mut *conn(ctx)?, id, &ctx.scope()))?
            .ok_or_else(|| ApiError::not_found("song"))?;
        if submission {
            // `time` is in milliseconds; a missing or absurd one means now.
            let at = match times.get(i) {
                Some(t) => t.parse::<i64>().map_err(|_| ApiError::invalid("time"))? / 1000,
                None => now(),
            };
            let at = if at <= 0 || at > now() + 86_400 {
                now()
            } else {
                at
            };
            // A client that also reported this play through reportPlayback had it counted there.
            let first = ctx.app.annotations.count_once(
                ctx.user.id,
                id,
                at,
                song.duration_ms,
                CountedBy::Scrobble,
            );
            if first {
                ctx.app.count_play(ctx.user.id, id, at)?;
            }
            let listening = &ctx.app.reco.listening;
            listening.submitted(ctx.user.id, params.get("c").unwrap_or(""), id);
            listening.record(
                ctx.user.id,
                id,
                at,
                song.duration_ms,
                song.duration_ms,
                Source::Scrobble,
            )?;
        } else {
            ctx.app
                .annotations
                .playing(ctx.user.id, &ctx.user.name, id, params.get("c"));
            ctx.app.now_playing(ctx.user.id, id);
            ctx.app.reco.listening.now_playing(
                ctx.user.id,
                params.get("c").unwrap_or(""),
                id,
                song.duration_ms,
            )?;
        }
    }
    Ok(Envelope::empty())
}

/// `reportPlayback` (OpenSubsonic `playbackReport`): a player tells where it is in a song or
/// a downloaded podcast episode; the app keeps the clock and counts the play when it ends.
pub fn report_playback(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    use crate::app::annotations::playback::{Media, Report, State, MAX_RATE};
    let state =
        State::parse(params.required("state")?).ok_or_else(|| ApiError::invalid("state"))?;
    let position_ms = params
        .number::<i64>("positionMs")?
        .ok_or_else(|| ApiError::missing("positionMs"))?;
    if position_ms < 0 {
        return Err(ApiError::invalid("positionMs"));
    }
    let rate = params.number::<f64>("playbackRate")?.unwrap_or(1.0);
    if !(0.0..=MAX_RATE).contains(&rate) {
        return Err(ApiError::invalid("playbackRate"));
    }
    let ignore_scrobble = params.bool("ignoreScrobble")?.unwrap_or(false);
    let id = params.required("mediaId")?;
    let (media, duration_ms) = match params.required("mediaType")? {
        "song" => {
            let track = ids::parse(ids::TRACK, id)?;
            let song = db(browse::song(&mut *conn(ctx)?, track, &ctx.scope()))?
                .ok_or_else(|| ApiError::not_found("song"))?;
            (Media::Song(track), song.duration_ms)
        }
        "podcast" => {
            let episode = ids::parse(ids::PODCAST_EPISODE, id)?;
            let row = ctx
                .app
                .podcasts
                .queued(&ids::id(ids::PODCAST_EPISODE, episode))
                .map_err(|e| ApiError::not_found(&format!("{e:#}: downloaded podcast episode")))?;
            (Media::Episode(episode), row.duration_ms)
        }
        _ => return Err(ApiError::invalid("mediaType")),
    };
    let player = params.get("c").unwrap_or("");
    ctx.app.report_playback(
        ctx.user.id,
        &ctx.user.name,
        player,
        Report {
            media,
            duration_ms,
            position_ms,
            state,
            rate,
            ignore_scrobble,
        },
    )?;
    Ok(Envelope::empty())
}

/// What the user starred (in `musicFolderId`, if given), newest first.
fn starred(ctx: &Ctx<'_>, params: &Params, c: &mut SqliteConnection) -> Result<Items, ApiError> {
    let notes = &ctx.app.annotations;
    let user = ctx.user.id;
    let scope = ctx.scope_in(params)?;
    Ok(Items {
        artists: db(browse::artists_by_ids(
            c,
            &notes.starred(user, Kind::Artist)?,
            &scope,
        ))?,
        albums: db(browse::albums_by_ids(
            c,
            &notes.starred(user, Kind::Album)?,
            &scope,
        ))?,
        songs: Songs::Ids(db(browse::present_among(
            c,
            &notes.starred(user, Kind::Track)?,
            &scope,
        ))?),
    })
}

pub fn get_starred2(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let mut c = conn(ctx)?;
    let items = starred(ctx, params, &mut c)?;
    Ok(Envelope::ok("starred2", items.id3(ctx, &mut c)?))
}

/// The folder-style starred list.
pub fn get_starred(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let mut c = conn(ctx)?;
    let items = starred(ctx, params, &mut c)?;
    Ok(Envelope::ok("starred", items.folders(ctx, &mut c)?))
}

pub fn get_now_playing(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let playing = ctx.app.annotations.now_playing();
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let mut entries = Vec::new();
    for p in playing {
        let Some(song) = db(browse::song(&mut c, p.track_id, &scope))? else {
            continue;
        };
        let node = song_nodes(ctx, &mut c, std::slice::from_ref(&song))?
            .pop()
            .expect("one song in, one out")
            .attr("username", p.user)
            .attr("minutesAgo", (now() - p.since) / 60)
            .attr("playerId", 0);
        // Players that send playback reports: where they are now, by the server's clock.
        let timeline = ctx
            .app
            .annotations
            .playback
            .timeline(p.user_id, p.player.as_deref().unwrap_or(""))
            .filter(|t| t.media == crate::app::annotations::playback::Media::Song(p.track_id));
        let mut node = node.opt("playerName", p.player);
        if let Some(t) = timeline {
            node = node
                .attr("state", t.state.as_str())
                .attr("positionMs", t.position_ms)
                .attr("playbackRate", t.rate);
        }
        entries.push(node);
    }
    Ok(Envelope::ok(
        "nowPlaying",
        Node::new().list("entry", entries),
    ))
}
