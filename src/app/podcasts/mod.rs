//! Podcasts: the channels the household subscribes to, their episodes, refreshing feeds
//! (`feed.rs`, by feed-rs) and downloading episodes into the podcast folder (`fetch.rs`, with
//! every limit a hostile server calls for).
//!
//! Channels and episodes are shared by the household, like radio stations. A refresh adds new
//! episodes and keeps old ones (an episode is known by its guid, else its enclosure URL); a feed
//! that cannot be read marks its channel `error` with the reason and changes nothing else.
//! Downloads run one at a time on their own thread, into `episode-<id>.part`, renamed to
//! `episode-<id>.<suffix>` once complete and checked to be audio: file names come from ids,
//! never from the feed, so no title or URL can choose where a file goes.

pub mod feed;
pub mod fetch;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use diesel::prelude::*;

use crate::app::db::schema::{podcast_channels as ch, podcast_episodes as ep};
use crate::app::db::{now, Db};
use crate::app::library::browse::SongRow;
use crate::app::queue::SongSummary;
pub use fetch::Limits;

/// A subscribed feed.
#[derive(Debug, Clone, Queryable)]
pub struct Channel {
    pub id: i64,
    pub url: String,
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    /// new, downloading (being refreshed), completed, error
    pub status: String,
    pub error_message: Option<String>,
    pub refreshed_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Debug, Clone, Queryable)]
pub struct Episode {
    pub id: i64,
    pub channel_id: i64,
    pub guid: String,
    pub url: String,
    pub title: String,
    pub description: Option<String>,
    pub published_at: Option<i64>,
    pub duration_s: Option<i64>,
    pub content_type: Option<String>,
    pub feed_size: Option<i64>,
    /// new, downloading, completed, error, deleted, skipped
    pub status: String,
    pub error_message: Option<String>,
    pub file_name: Option<String>,
    pub size: Option<i64>,
    pub suffix: Option<String>,
    pub bit_rate: Option<i32>,
    pub created_at: i64,
}

impl Episode {
    pub fn downloaded(&self) -> bool {
        self.status == "completed" && self.file_name.is_some()
    }
}

/// Why a podcast request was not done, in words for the user.
#[derive(Debug)]
pub enum PodcastError {
    NotFound(&'static str),
    Invalid(String),
    Failed(anyhow::Error),
}

impl std::fmt::Display for PodcastError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PodcastError::NotFound(what) => write!(f, "{what} not found"),
            PodcastError::Invalid(m) => f.write_str(m),
            PodcastError::Failed(e) => write!(f, "{e:#}"),
        }
    }
}

impl std::error::Error for PodcastError {}

impl From<anyhow::Error> for PodcastError {
    fn from(e: anyhow::Error) -> Self {
        PodcastError::Failed(e)
    }
}

impl From<diesel::result::Error> for PodcastError {
    fn from(e: diesel::result::Error) -> Self {
        PodcastError::Failed(e.into())
    }
}

/// The podcast settings.
#[derive(Debug, Clone)]
pub struct Config {
    pub folder: PathBuf,
    pub limits: Limits,
    /// Episodes downloaded by themselves per channel after a refresh (the newest ones).
    pub auto_download: u32,
}

/// The largest channel picture fetched.
const MAX_ART: u64 = 5 << 20;

/// The audio formats an episode file may be saved as; anything else is refused.
const AUDIO_SUFFIXES: &[&str] = &[
    "mp3", "m4a", "m4b", "aac", "mp4", "ogg", "oga", "opus", "flac", "wav",
];

pub struct Podcasts {
    db: Arc<Db>,
    config: Config,
    fetcher: fetch::Fetcher,
    /// Episodes waiting for the download thread (none until [`Podcasts::start`]).
    queue: Mutex<Option<crossbeam_channel::Sender<i64>>>,
    /// One refresh of a channel at a time (the scheduled one and a user's).
    refreshing: Mutex<()>,
}

impl Podcasts {
    pub fn new(db: Arc<Db>, config: Config) -> Podcasts {
        let fetcher = fetch::Fetcher::new(config.limits.clone());
        Podcasts {
            db,
            config,
            fetcher,
            queue: Mutex::new(None),
            refreshing: Mutex::new(()),
        }
    }

    pub fn folder(&self) -> &Path {
        &self.config.folder
    }

    /// Starts the download thread (episodes left `downloading` by a stop are started again) and,
    /// unless `interval` is zero, the scheduled refresh of every channel.
    pub fn start(self: &Arc<Self>, interval: Duration) -> Result<()> {
        let (tx, rx) = crossbeam_channel::unbounded::<i64>();
        let pending: Vec<i64> = ep::table
            .filter(ep::status.eq("downloading"))
            .select(ep::id)
            .load(&mut self.db.read()?)?;
        for id in pending {
            let _ = tx.send(id);
        }
        *self.queue.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        let me = self.clone();
        std::thread::Builder::new()
            .name("podcast-downloads".into())
            .spawn(move || {
                for id in rx {
                    if let Err(e) = me.download_now(id) {
                        tracing::warn!(episode = id, "podcast download failed: {e}");
                    }
                }
            })
            .context("cannot start the podcast download thread")?;
        if !interval.is_zero() {
            let me = self.clone();
            std::thread::Builder::new()
                .name("podcast-refresh".into())
                .spawn(move || loop {
                    std::thread::sleep(interval.max(Duration::from_secs(1)));
                    me.refresh_all();
                })
                .context("cannot start the podcast refresh thread")?;
        }
        Ok(())
    }

    pub fn channels(&self) -> Result<Vec<Channel>> {
        Ok(ch::table
            .order((ch::title.asc(), ch::id.asc()))
            .load(&mut self.db.read()?)?)
    }

    pub fn channel(&self, id: i64) -> Result<Option<Channel>> {
        Ok(ch::table.find(id).first(&mut self.db.read()?).optional()?)
    }

    /// A channel's episodes, newest first.
    pub fn episodes(&self, channel: i64) -> Result<Vec<Episode>> {
        Ok(ep::table
            .filter(ep::channel_id.eq(channel))
            .order((ep::published_at.desc(), ep::id.desc()))
            .load(&mut self.db.read()?)?)
    }

    /// The newest episodes of every channel (deleted ones left out), newest first.
    pub fn newest(&self, count: i64) -> Result<Vec<Episode>> {
        Ok(ep::table
            .filter(ep::status.ne("deleted"))
            .order((ep::published_at.desc(), ep::id.desc()))
            .limit(count.clamp(0, 10_000))
            .load(&mut self.db.read()?)?)
    }

    pub fn episode(&self, id: i64) -> Result<Option<Episode>> {
        Ok(ep::table.find(id).first(&mut self.db.read()?).optional()?)
    }

    /// The file of a downloaded episode, checked to be a file inside the podcast folder.
    pub fn file_of(&self, e: &Episode) -> Option<PathBuf> {
        let name = e.file_name.as_deref().filter(|_| e.downloaded())?;
        let path = self.config.folder.join(name);
        path.is_file().then_some(path)
    }

    /// A downloaded episode named as the household queue names it (`pe-12`), as a song row
    /// for the outputs that play the queue (the sound card, speakers): its file in the podcast
    /// folder, its channel as artist and album. Not a library song: no album, no directory.
    pub fn queued(&self, id: &str) -> Result<SongRow> {
        let n: i64 = id
            .strip_prefix("pe-")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| anyhow!("{id:?} is not a podcast episode id"))?;
        let e = self
            .episode(n)?
            .ok_or_else(|| anyhow!("podcast episode {id} is gone"))?;
        let path = self
            .file_of(&e)
            .ok_or_else(|| anyhow!("podcast episode {id} is not downloaded (any more)"))?;
        let channel = self
            .channel(e.channel_id)?
            .and_then(|c| c.title)
            .unwrap_or_default();
        let suffix = e.suffix.clone().unwrap_or_else(|| "mp3".into());
        // The format's details are not kept with the episode: its header tells them, for
        // transcode decisions and the speakers that need them.
        let probed = probe(&path).ok();
        let detail = |f: fn(&Probed) -> Option<i32>| probed.as_ref().and_then(f);
        Ok(SongRow {
            id: e.id,
            album_id: 0,
            directory_id: 0,
            path: path.to_string_lossy().into_owned(),
            folder_path: self.config.folder.to_string_lossy().into_owned(),
            size: e.size.unwrap_or(0),
            content_type: content_type(&suffix).to_string(),
            suffix,
            duration_ms: e.duration_s.unwrap_or(0) * 1000,
            bit_rate: e.bit_rate,
            sample_rate: detail(|p| p.sample_rate),
            bit_depth: detail(|p| p.bit_depth),
            channels: detail(|p| p.channels),
            title: e.title,
            sort_title: None,
            artist_display: channel.clone(),
            album_name: channel.clone(),
            album_artist_display: channel,
            moods: None,
            track_number: None,
            disc_number: None,
            disc_subtitle: None,
            year: None,
            bpm: None,
            comment: None,
            isrc: None,
            explicit: None,
            rg_track_gain: None,
            rg_track_peak: None,
            rg_album_gain: None,
            rg_album_peak: None,
            mbz_recording_id: None,
            created_at: e.created_at,
        })
    }

    /// What the household queue shows of a downloaded episode (`None` when it is not
    /// downloaded: only files can be queued).
    pub fn summary(&self, e: &Episode) -> Result<Option<SongSummary>> {
        if !e.downloaded() {
            return Ok(None);
        }
        let channel = self
            .channel(e.channel_id)?
            .and_then(|c| c.title)
            .unwrap_or_default();
        Ok(Some(SongSummary {
            id: format!("pe-{}", e.id),
            title: e.title.clone(),
            artist: channel.clone(),
            album: channel,
            duration: e.duration_s.unwrap_or(0),
            cover_art: format!("pc-{}", e.channel_id),
        }))
    }

    /// The channel's picture, when its feed named one that could be fetched.
    pub fn art_of(&self, channel: i64) -> Option<PathBuf> {
        let path = self.config.folder.join(format!("channel-{channel}.img"));
        path.is_file().then_some(path)
    }

    /// Fetches the channel's picture (at most [`MAX_ART`], an image or nothing) unless the one
    /// kept came from the same address.
    fn fetch_art(&self, channel: &Channel, url: &str) -> Result<()> {
        if channel.image_url.as_deref() == Some(url) && self.art_of(channel.id).is_some() {
            return Ok(());
        }
        let (body, _) = self.fetcher.get_small(url, MAX_ART)?;
        image::guess_format(&body).context("the channel's picture is not an image")?;
        std::fs::create_dir_all(&self.config.folder)?;
        let part = self
            .config
            .folder
            .join(format!("channel-{}.part", channel.id));
        std::fs::write(&part, &body)?;
        std::fs::rename(
            &part,
            self.config
                .folder
                .join(format!("channel-{}.img", channel.id)),
        )?;
        Ok(())
    }

    /// Subscribes to the feed at `url` and reads it. The new channel's id; a feed that cannot be
    /// read still gives a channel, marked `error` with the reason, to refresh later. Subscribing
    /// twice to one feed answers the existing channel.
    pub fn subscribe(&self, url: &str) -> Result<i64, PodcastError> {
        let url = fetch::web_url(url).map_err(|e| PodcastError::Invalid(format!("{e:#}")))?;
        let existing: Option<i64> = ch::table
            .filter(ch::url.eq(url.as_str()))
            .select(ch::id)
            .first(&mut self.db.read()?)
            .optional()?;
        if let Some(id) = existing {
            return Ok(id);
        }
        // In a transaction, so a failed commit is reported (see "RETURNING" in app/db/mod.rs).
        let id = self.db.write().transaction(|c| {
            diesel::insert_into(ch::table)
                .values((
                    ch::url.eq(url.as_str()),
                    ch::status.eq("new"),
                    ch::created_at.eq(now()),
                ))
                .returning(ch::id)
                .get_result::<i64>(c)
        })?;
        if let Err(e) = self.refresh(id) {
            tracing::warn!(channel = id, "a new podcast could not be read: {e}");
        }
        Ok(id)
    }

    /// Refreshes every channel (a failing one does not stop the others), then queues the newest
    /// episodes for download where the settings ask for it.
    pub fn refresh_all(&self) {
        let ids: Vec<i64> = match self.channels() {
            Ok(c) => c.into_iter().map(|c| c.id).collect(),
            Err(e) => {
                tracing::warn!("cannot list podcasts to refresh: {e:#}");
                return;
            }
        };
        for id in ids {
            if let Err(e) = self.refresh(id) {
                tracing::warn!(channel = id, "podcast refresh failed: {e}");
            }
        }
    }

    /// Reads the channel's feed again: new episodes added, known ones kept, the channel's title,
    /// description and picture updated. A feed that cannot be read marks the channel `error` and
    /// changes nothing else.
    pub fn refresh(&self, id: i64) -> Result<(), PodcastError> {
        let _one = self.refreshing.lock().unwrap_or_else(|p| p.into_inner());
        let channel = self
            .channel(id)?
            .ok_or(PodcastError::NotFound("podcast channel"))?;
        self.set_channel_status(id, "downloading", None)?;
        let read = self
            .fetcher
            .get_small(&channel.url, self.config.limits.max_feed)
            .and_then(|(body, _)| feed::parse(&body));
        let parsed = match read {
            Ok(f) => f,
            Err(e) => {
                let message = format!("{e:#}");
                self.set_channel_status(id, "error", Some(&message))?;
                return Err(PodcastError::Failed(e));
            }
        };
        if let Some(url) = &parsed.image_url {
            if let Err(e) = self.fetch_art(&channel, url) {
                tracing::warn!(channel = id, "cannot fetch the podcast's picture: {e:#}");
            }
        }
        let added = self.store(id, &parsed)?;
        tracing::info!(channel = id, added, "podcast refreshed");
        if self.config.auto_download > 0 {
            self.download_newest(id)?;
        }
        Ok(())
    }

    fn store(&self, id: i64, parsed: &feed::Feed) -> Result<usize> {
        let mut c = self.db.write();
        c.transaction(|c| {
            diesel::update(ch::table.find(id))
                .set((
                    parsed.title.as_ref().map(|t| ch::title.eq(t)),
                    parsed.description.as_ref().map(|d| ch::description.eq(d)),
                    parsed.image_url.as_ref().map(|u| ch::image_url.eq(u)),
                    ch::status.eq("completed"),
                    ch::error_message.eq(None::<String>),
                    ch::refreshed_at.eq(now()),
                ))
                .execute(c)?;
            let mut added = 0;
            let t = now();
            for item in &parsed.episodes {
                added += diesel::insert_into(ep::table)
                    .values((
                        ep::channel_id.eq(id),
                        ep::guid.eq(&item.key),
                        ep::url.eq(&item.url),
                        ep::title.eq(&item.title),
                        ep::description.eq(&item.description),
                        ep::published_at.eq(item.published),
                        ep::duration_s.eq(item.duration_s),
                        ep::content_type.eq(&item.content_type),
                        ep::feed_size.eq(item.size),
                        ep::status.eq("new"),
                        ep::created_at.eq(t),
                    ))
                    .on_conflict((ep::channel_id, ep::guid))
                    .do_nothing()
                    .execute(c)?;
                // A known episode keeps its status and file; its title and notes follow the feed.
                diesel::update(
                    ep::table
                        .filter(ep::channel_id.eq(id))
                        .filter(ep::guid.eq(&item.key)),
                )
                .set((
                    ep::title.eq(&item.title),
                    ep::description.eq(&item.description),
                ))
                .execute(c)?;
            }
            Ok::<_, diesel::result::Error>(added)
        })
        .map_err(|e| crate::app::db::explain(e, "cannot keep the podcast's episodes"))
    }

    /// Queues the channel's newest `auto_download` episodes that were never downloaded.
    fn download_newest(&self, channel: i64) -> Result<()> {
        let newest: Vec<Episode> = ep::table
            .filter(ep::channel_id.eq(channel))
            .order((ep::published_at.desc(), ep::id.desc()))
            .limit(self.config.auto_download as i64)
            .load(&mut self.db.read()?)?;
        for e in newest.into_iter().filter(|e| e.status == "new") {
            self.download(e.id)?;
        }
        Ok(())
    }

    fn set_channel_status(&self, id: i64, status: &str, error: Option<&str>) -> Result<()> {
        diesel::update(ch::table.find(id))
            .set((ch::status.eq(status), ch::error_message.eq(error)))
            .execute(&mut *self.db.write())?;
        Ok(())
    }

    fn set_episode_status(&self, id: i64, status: &str, error: Option<&str>) -> Result<()> {
        diesel::update(ep::table.find(id))
            .set((ep::status.eq(status), ep::error_message.eq(error)))
            .execute(&mut *self.db.write())?;
        Ok(())
    }

    /// Asks for the episode to be downloaded in the background (a downloaded one is left as
    /// it is). Without the download thread (tools, tests) it is downloaded now.
    pub fn download(&self, id: i64) -> Result<(), PodcastError> {
        let e = self
            .episode(id)?
            .ok_or(PodcastError::NotFound("podcast episode"))?;
        if e.downloaded() && self.file_of(&e).is_some() {
            return Ok(());
        }
        let queue = self.queue.lock().unwrap_or_else(|p| p.into_inner()).clone();
        // Asked twice while it waits or downloads: once is enough.
        if e.status == "downloading" && queue.is_some() {
            return Ok(());
        }
        self.set_episode_status(id, "downloading", None)?;
        match queue {
            Some(tx) => {
                tx.send(id)
                    .map_err(|_| anyhow!("the podcast download thread has stopped"))?;
                Ok(())
            }
            None => self.download_now(id),
        }
    }

    /// Downloads the episode now, on this thread. On failure the episode is marked `error`
    /// with the reason and no partial file is left.
    pub fn download_now(&self, id: i64) -> Result<(), PodcastError> {
        let e = self
            .episode(id)?
            .ok_or(PodcastError::NotFound("podcast episode"))?;
        std::fs::create_dir_all(&self.config.folder).with_context(|| {
            format!(
                "cannot create the podcast folder {}; check the podcast_folder setting and its permissions",
                self.config.folder.display()
            )
        })?;
        let part = self.config.folder.join(format!("episode-{id}.part"));
        match self.fetch_episode(&e, &part) {
            Ok(done) => {
                let name = format!("episode-{id}.{}", done.suffix);
                let old = e.file_name.clone().filter(|n| *n != name);
                std::fs::rename(&part, self.config.folder.join(&name))
                    .context("cannot move the finished download into the podcast folder")?;
                if let Some(old) = old {
                    let _ = std::fs::remove_file(self.config.folder.join(old));
                }
                let kept = diesel::update(ep::table.find(id))
                    .set((
                        ep::status.eq("completed"),
                        ep::error_message.eq(None::<String>),
                        ep::file_name.eq(&name),
                        ep::size.eq(done.size as i64),
                        ep::suffix.eq(done.suffix),
                        ep::bit_rate.eq(done.bit_rate),
                        done.duration_s.map(|d| ep::duration_s.eq(d)),
                    ))
                    .execute(&mut *self.db.write())?;
                // Unsubscribed while it downloaded: no file without its episode.
                if kept == 0 {
                    let _ = std::fs::remove_file(self.config.folder.join(&name));
                    return Err(PodcastError::NotFound("podcast episode"));
                }
                Ok(())
            }
            Err(err) => {
                let _ = std::fs::remove_file(&part);
                let message = format!("{err:#}");
                self.set_episode_status(id, "error", Some(&message))?;
                Err(PodcastError::Failed(err))
            }
        }
    }

    fn fetch_episode(&self, e: &Episode, part: &Path) -> Result<Downloaded> {
        let limits = &self.config.limits;
        let opened = self.fetcher.open(&e.url, limits.episode_timeout)?;
        let served_type = opened.response.header("content-type").map(|t| {
            t.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
        if let Some(t) = served_type.as_deref() {
            if t.starts_with("text/")
                || t.contains("html")
                || t.contains("xml")
                || t.contains("json")
            {
                anyhow::bail!(
                    "{} sent {t}, not audio; the feed's enclosure does not lead to an episode",
                    opened.url
                );
            }
        }
        let path_suffix = opened
            .url
            .path_segments()
            .and_then(|mut s| s.next_back())
            .and_then(|name| name.rsplit_once('.'))
            .map(|(_, s)| s.to_ascii_lowercase());
        let mut file = std::fs::File::create(part).with_context(|| {
            format!(
                "cannot write into the podcast folder {}",
                self.config.folder.display()
            )
        })?;
        let size = fetch::copy_capped(opened, &mut file, limits.max_episode).map_err(|e| {
            anyhow!("{e:#} (the podcast_max_episode_size setting is the limit; the partial file was removed)")
        })?;
        file.sync_all().context("cannot save the download")?;
        drop(file);
        let probed = probe(part).map_err(|err| {
            anyhow!(
                "the download from {} is not audio that can be played ({err})",
                e.url
            )
        })?;
        let suffix = [
            probed.suffix.as_deref(),
            path_suffix.as_deref(),
            suffix_of_type(served_type.as_deref()),
        ]
        .into_iter()
        .flatten()
        .find(|s| AUDIO_SUFFIXES.contains(s))
        .unwrap_or("mp3")
        .to_string();
        Ok(Downloaded {
            size,
            suffix,
            bit_rate: probed.bit_rate,
            duration_s: probed.duration_s,
        })
    }

    /// Deletes a downloaded episode's file; the episode stays, marked `deleted`, so a refresh
    /// does not bring it back and it can be downloaded again.
    pub fn delete_episode(&self, id: i64) -> Result<(), PodcastError> {
        let e = self
            .episode(id)?
            .ok_or(PodcastError::NotFound("podcast episode"))?;
        self.remove_files(&e);
        diesel::update(ep::table.find(id))
            .set((
                ep::status.eq("deleted"),
                ep::error_message.eq(None::<String>),
                ep::file_name.eq(None::<String>),
                ep::size.eq(None::<i64>),
            ))
            .execute(&mut *self.db.write())?;
        Ok(())
    }

    /// Unsubscribes: the channel, its episodes and their files are gone.
    pub fn delete_channel(&self, id: i64) -> Result<(), PodcastError> {
        self.channel(id)?
            .ok_or(PodcastError::NotFound("podcast channel"))?;
        for e in self.episodes(id)? {
            self.remove_files(&e);
        }
        diesel::delete(ch::table.find(id)).execute(&mut *self.db.write())?;
        let _ = std::fs::remove_file(self.config.folder.join(format!("channel-{id}.img")));
        Ok(())
    }

    fn remove_files(&self, e: &Episode) {
        if let Some(name) = &e.file_name {
            let _ = std::fs::remove_file(self.config.folder.join(name));
        }
        let _ = std::fs::remove_file(self.config.folder.join(format!("episode-{}.part", e.id)));
    }
}

struct Downloaded {
    size: u64,
    suffix: String,
    bit_rate: Option<i32>,
    duration_s: Option<i64>,
}

struct Probed {
    suffix: Option<String>,
    bit_rate: Option<i32>,
    duration_s: Option<i64>,
    sample_rate: Option<i32>,
    bit_depth: Option<i32>,
    channels: Option<i32>,
}

/// Reads the file's audio properties: a file that is not audio is refused.
fn probe(path: &Path) -> Result<Probed> {
    use lofty::file::{AudioFile, FileType, TaggedFileExt};
    let tagged = lofty::probe::Probe::open(path)?.guess_file_type()?.read()?;
    let props = tagged.properties();
    let suffix = match tagged.file_type() {
        FileType::Mpeg => Some("mp3"),
        FileType::Mp4 => Some("m4a"),
        FileType::Aac => Some("aac"),
        FileType::Flac => Some("flac"),
        FileType::Opus => Some("opus"),
        FileType::Vorbis => Some("ogg"),
        FileType::Wav => Some("wav"),
        _ => None,
    };
    let secs = props.duration().as_secs();
    Ok(Probed {
        suffix: suffix.map(str::to_string),
        bit_rate: props.audio_bitrate().map(|b| b as i32),
        duration_s: (secs > 0).then_some(secs as i64),
        sample_rate: props.sample_rate().map(|r| r as i32),
        bit_depth: props.bit_depth().map(|d| d as i32),
        channels: props.channels().map(|c| c as i32),
    })
}

fn suffix_of_type(t: Option<&str>) -> Option<&'static str> {
    Some(match t? {
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/mp4" | "audio/x-m4a" | "audio/m4a" => "m4a",
        "audio/aac" => "aac",
        "audio/ogg" => "ogg",
        "audio/opus" => "opus",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/wav" | "audio/x-wav" => "wav",
        _ => return None,
    })
}

/// The content type of an episode file by its suffix.
pub fn content_type(suffix: &str) -> &'static str {
    match suffix {
        "mp3" => "audio/mpeg",
        "m4a" | "m4b" | "mp4" => "audio/mp4",
        "aac" => "audio/aac",
        "ogg" | "oga" => "audio/ogg",
        "opus" => "audio/ogg",
        "flac" => "audio/flac",
        "wav" => "audio/wav",
        _ => "application/octet-stream",
    }
}
