//! Podcasts: everyone lists channels and episodes and streams downloaded episodes; subscribing,
//! refreshing, downloading and deleting need the podcast role (or admin), as the Subsonic spec
//! asks. Channels are `pc-N`, episodes `pe-N` (also their `streamId` once downloaded).

use super::error::{code, ApiError};
use super::ids;
use super::params::Params;
use super::response::{Envelope, Node, Scalar};
use super::Ctx;
use crate::app::podcasts::{Channel, Episode, PodcastError};

impl From<PodcastError> for ApiError {
    fn from(e: PodcastError) -> ApiError {
        match e {
            PodcastError::NotFound(what) => ApiError::not_found(what),
            PodcastError::Invalid(m) => ApiError::new(code::MISSING_PARAMETER, m),
            PodcastError::Failed(e) => ApiError::new(code::GENERIC, format!("{e:#}")),
        }
    }
}

fn may_change(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.user.has_role("podcast") {
        Ok(())
    } else {
        Err(ApiError::not_authorized("manage podcasts"))
    }
}

/// A channel as a `channel` element, with its episodes when given.
fn channel_node(ctx: &Ctx<'_>, c: &Channel, episodes: Option<&[Episode]>) -> Node {
    let node = Node::new()
        .attr("id", Scalar::Id(ids::PODCAST_CHANNEL, c.id))
        .attr("url", &c.url)
        .opt("title", c.title.as_deref())
        .opt("description", c.description.as_deref())
        .opt(
            "coverArt",
            ctx.app
                .podcasts
                .art_of(c.id)
                .map(|_| Scalar::Id(ids::PODCAST_CHANNEL, c.id)),
        )
        .opt("originalImageUrl", c.image_url.as_deref())
        .attr("status", channel_status(&c.status))
        .opt("errorMessage", c.error_message.as_deref());
    match episodes {
        Some(list) => node.list(
            "episode",
            list.iter().map(|e| episode_node(ctx, e, Some(c))).collect(),
        ),
        None => node,
    }
}

/// The channel statuses the schema knows (a refresh in progress is `downloading`).
fn channel_status(status: &str) -> &str {
    match status {
        "new" | "downloading" | "completed" | "error" => status,
        _ => "completed",
    }
}

/// An episode as a `PodcastEpisode` (a `Child` of type podcast).
pub fn episode_node(ctx: &Ctx<'_>, e: &Episode, channel: Option<&Channel>) -> Node {
    let owned;
    let channel = match channel {
        Some(c) => Some(c),
        None => {
            owned = ctx.app.podcasts.channel(e.channel_id).ok().flatten();
            owned.as_ref()
        }
    };
    let channel_title = channel.and_then(|c| c.title.clone());
    let downloaded = e.downloaded();
    let has_art = ctx.app.podcasts.art_of(e.channel_id).is_some();
    let suffix = e.suffix.clone().filter(|_| downloaded);
    Node::new()
        .attr("id", Scalar::Id(ids::PODCAST_EPISODE, e.id))
        .attr("parent", Scalar::Id(ids::PODCAST_CHANNEL, e.channel_id))
        .attr("isDir", false)
        .attr("title", &e.title)
        .opt("album", channel_title.as_deref())
        .opt("artist", channel_title.as_deref())
        .attr("genre", "Podcast")
        .opt(
            "coverArt",
            has_art.then_some(Scalar::Id(ids::PODCAST_CHANNEL, e.channel_id)),
        )
        .opt("size", e.size.filter(|_| downloaded).or(e.feed_size))
        .opt(
            "contentType",
            suffix
                .as_deref()
                .map(crate::app::podcasts::content_type)
                .or(e.content_type.as_deref()),
        )
        .opt("suffix", suffix.as_deref())
        .opt("duration", e.duration_s)
        .opt("bitRate", e.bit_rate)
        .attr("isVideo", false)
        .attr("created", Scalar::Time(e.created_at))
        .attr("type", "podcast")
        .opt(
            "streamId",
            downloaded.then_some(Scalar::Id(ids::PODCAST_EPISODE, e.id)),
        )
        .attr("channelId", Scalar::Id(ids::PODCAST_CHANNEL, e.channel_id))
        .opt("description", e.description.as_deref())
        .attr("status", &e.status)
        .opt("publishDate", e.published_at.map(Scalar::Time))
}

/// `getPodcasts` (`includeEpisodes`, default true; `id` for one channel).
pub fn get_podcasts(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let with_episodes = params.bool("includeEpisodes")?.unwrap_or(true);
    let channels = match params.get("id") {
        Some(id) => {
            let id = ids::parse(ids::PODCAST_CHANNEL, id)?;
            vec![ctx
                .app
                .podcasts
                .channel(id)?
                .ok_or_else(|| ApiError::not_found("podcast channel"))?]
        }
        None => ctx.app.podcasts.channels()?,
    };
    let mut nodes = Vec::with_capacity(channels.len());
    for c in &channels {
        let episodes = if with_episodes {
            Some(ctx.app.podcasts.episodes(c.id)?)
        } else {
            None
        };
        nodes.push(channel_node(ctx, c, episodes.as_deref()));
    }
    Ok(Envelope::ok("podcasts", Node::new().list("channel", nodes)))
}

/// `getNewestPodcasts` (`count`, default 20).
pub fn get_newest_podcasts(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let count = params.number::<i64>("count")?.unwrap_or(20);
    if count < 0 {
        return Err(ApiError::invalid("count"));
    }
    let episodes = ctx.app.podcasts.newest(count)?;
    Ok(Envelope::ok(
        "newestPodcasts",
        Node::new().list(
            "episode",
            episodes
                .iter()
                .map(|e| episode_node(ctx, e, None))
                .collect(),
        ),
    ))
}

/// OpenSubsonic `getPodcastEpisode`.
pub fn get_podcast_episode(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let e = episode_of(ctx, params)?;
    Ok(Envelope::ok("podcastEpisode", episode_node(ctx, &e, None)))
}

fn episode_of(ctx: &Ctx<'_>, params: &Params) -> Result<Episode, ApiError> {
    let id = ids::parse(ids::PODCAST_EPISODE, params.required("id")?)?;
    ctx.app
        .podcasts
        .episode(id)?
        .ok_or_else(|| ApiError::not_found("podcast episode"))
}

/// `refreshPodcasts`: every channel, now (the answer waits for the feeds).
pub fn refresh_podcasts(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    may_change(ctx)?;
    ctx.app.podcasts.refresh_all();
    Ok(Envelope::empty())
}

/// `createPodcastChannel` (`url`): subscribes and reads the feed; a feed that cannot be read
/// still makes the channel, with status `error` and the reason.
pub fn create_podcast_channel(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    may_change(ctx)?;
    ctx.app.podcasts.subscribe(params.required("url")?)?;
    Ok(Envelope::empty())
}

pub fn delete_podcast_channel(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    may_change(ctx)?;
    let id = ids::parse(ids::PODCAST_CHANNEL, params.required("id")?)?;
    ctx.app.podcasts.delete_channel(id)?;
    Ok(Envelope::empty())
}

pub fn delete_podcast_episode(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    may_change(ctx)?;
    let e = episode_of(ctx, params)?;
    ctx.app.podcasts.delete_episode(e.id)?;
    Ok(Envelope::empty())
}

/// `downloadPodcastEpisode`: starts the download in the background (the episode is
/// `downloading`, then `completed` or `error`).
pub fn download_podcast_episode(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    may_change(ctx)?;
    let e = episode_of(ctx, params)?;
    ctx.app.podcasts.download(e.id)?;
    Ok(Envelope::empty())
}
