//! `jukeboxControl`: Subsonic's jukebox drives the household queue, so DSub-style clients
//! control what the house is playing. Indexes are places in the queue's play order.

use super::browsing::{conn, db, song_nodes};
use super::error::{code, ApiError};
use super::ids;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, Scope};
use crate::app::queue::{Command, Place, Refusal, SongSummary, State};

fn status(node: Node, s: &State) -> Node {
    let index = s
        .current
        .as_deref()
        .and_then(|c| s.entries.iter().position(|e| e.id == c))
        .map_or(-1, |i| i as i64);
    node.attr("currentIndex", index)
        .attr("playing", s.playing)
        .attr("gain", s.volume as f64 / 100.0)
        .attr("position", s.position_ms / 1000)
}

fn run(ctx: &Ctx<'_>, command: Command) -> Result<(), ApiError> {
    ctx.app.queues.home().note_user(ctx.user.id);
    match ctx.app.queues.home().run(command, None) {
        Ok(_) => Ok(()),
        Err(Refusal::Rejected(why, _)) => Err(ApiError::new(code::GENERIC, why.to_string())),
        Err(Refusal::Failed(e)) => Err(ApiError::internal(&e)),
    }
}

/// Subsonic's jukebox is the server's own sound card: a queue that plays nowhere yet plays
/// there, when there is one. A queue already on an output stays on it.
fn on_the_sound_card(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    use crate::app::outputs::local;
    let queue = ctx.app.queues.home();
    let nowhere = queue.published().playback.output.is_none();
    if nowhere && ctx.app.outputs.get(local::ID).is_some_and(|o| o.available) {
        run(ctx, Command::SetOutput(Some(local::ID.into())))?;
    }
    Ok(())
}

/// The entry at `index` of the play order.
fn entry_at(ctx: &Ctx<'_>, params: &Params) -> Result<String, ApiError> {
    let index = params
        .number::<usize>("index")?
        .ok_or_else(|| ApiError::missing("index"))?;
    ctx.app
        .queues
        .home()
        .state()
        .entries
        .get(index)
        .map(|e| e.id.clone())
        .ok_or_else(|| ApiError::invalid("index"))
}

/// The songs of the `id` parameters, each one the user may see.
fn songs(ctx: &Ctx<'_>, params: &Params) -> Result<Vec<SongSummary>, ApiError> {
    let wanted = params
        .all("id")
        .into_iter()
        .filter(|v| !v.is_empty())
        .map(|v| ids::parse(ids::TRACK, v))
        .collect::<Result<Vec<_>, _>>()?;
    let found = db(browse::songs_by_ids(
        &mut *conn(ctx)?,
        &wanted,
        &Scope::new(ctx.user.allowed_folders(), None),
    ))?;
    if found.len() != wanted.len() {
        return Err(ApiError::not_found("song"));
    }
    Ok(found.iter().map(SongSummary::of).collect())
}

/// A Subsonic `Child` made from the queue's own summary of an entry.
fn summary_node(song: &SongSummary) -> Node {
    let episode = ids::split(&song.id).is_some_and(|(kind, _)| kind == ids::PODCAST_EPISODE);
    let mut node = Node::new()
        .attr("id", song.id.as_str())
        .attr("isDir", false)
        .attr("title", song.title.as_str())
        .attr("album", song.album.as_str())
        .attr("artist", song.artist.as_str())
        .attr("duration", song.duration)
        .attr("isVideo", false)
        .attr("type", if episode { "podcast" } else { "music" });
    if !song.cover_art.is_empty() {
        node = node.attr("coverArt", song.cover_art.as_str());
    }
    node
}

pub fn jukebox_control(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    if !ctx.user.has_role("jukebox") {
        return Err(ApiError::not_authorized("control the jukebox"));
    }
    match params.required("action")? {
        "get" => {
            let s = ctx.app.queues.home().state();
            let ids: Vec<i64> = s
                .entries
                .iter()
                .filter_map(|e| ids::split(&e.song.id))
                .filter(|(kind, _)| *kind == ids::TRACK)
                .map(|(_, n)| n)
                .collect();
            let mut c = conn(ctx)?;
            let rows = db(browse::songs_by_ids(&mut c, &ids, &Scope::new(None, None)))?;
            let mut found: std::collections::HashMap<String, Node> = rows
                .iter()
                .map(|r| ids::id(ids::TRACK, r.id))
                .zip(song_nodes(ctx, &mut c, &rows)?)
                .collect();
            // One element per entry, so `index` in skip and remove means the same place in
            // this list: podcast episodes, and songs gone from the library since they were
            // queued, are shown from what the queue knows of them.
            let entries = s
                .entries
                .iter()
                .map(|e| {
                    found
                        .remove(&e.song.id)
                        .unwrap_or_else(|| summary_node(&e.song))
                })
                .collect::<Vec<_>>();
            return Ok(Envelope::ok(
                "jukeboxPlaylist",
                status(Node::new(), &s).list("entry", entries),
            ));
        }
        "status" => {}
        "set" => {
            // Replaces the songs; the current one stays current if it is among the new ones.
            let new = songs(ctx, params)?;
            let s = ctx.app.queues.home().state();
            let current_song = s.current_entry().map(|e| e.song.id.clone());
            run(ctx, Command::Clear)?;
            run(
                ctx,
                Command::Add {
                    songs: new,
                    place: Place::End,
                },
            )?;
            if let Some(song) = current_song {
                let s = ctx.app.queues.home().state();
                if let Some(e) = s.entries.iter().find(|e| e.song.id == song) {
                    run(
                        ctx,
                        Command::Play {
                            entry: e.id.clone(),
                        },
                    )?;
                    if !s.playing {
                        run(ctx, Command::Pause)?;
                    }
                }
            }
        }
        "start" => {
            on_the_sound_card(ctx)?;
            run(ctx, Command::Resume)?
        }
        "stop" => run(ctx, Command::Pause)?,
        "skip" => {
            let entry = entry_at(ctx, params)?;
            on_the_sound_card(ctx)?;
            run(ctx, Command::Play { entry })?;
            if let Some(offset) = params.number::<i64>("offset")?.filter(|o| *o > 0) {
                run(
                    ctx,
                    Command::Seek {
                        position_ms: offset.saturating_mul(1000),
                    },
                )?;
            }
        }
        "add" => run(
            ctx,
            Command::Add {
                songs: songs(ctx, params)?,
                place: Place::End,
            },
        )?,
        "clear" => run(ctx, Command::Clear)?,
        "remove" => {
            let entry = entry_at(ctx, params)?;
            run(
                ctx,
                Command::Remove {
                    entries: vec![entry],
                },
            )?;
        }
        "shuffle" => {
            // A fresh shuffle each time, as Subsonic's jukebox does.
            run(ctx, Command::SetShuffle(false))?;
            run(ctx, Command::SetShuffle(true))?;
        }
        "setGain" => {
            let gain = params
                .number::<f64>("gain")?
                .filter(|g| (0.0..=1.0).contains(g))
                .ok_or_else(|| ApiError::invalid("gain"))?;
            run(ctx, Command::SetVolume((gain * 100.0).round() as u8))?;
        }
        _ => return Err(ApiError::invalid("action")),
    }
    let s = ctx.app.queues.home().state();
    Ok(Envelope::ok("jukeboxStatus", status(Node::new(), &s)))
}
