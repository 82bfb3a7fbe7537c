//! `stream` and `download`: which bytes a client gets for a song (the file, or a transcode of
//! it, decided from `format`, `maxBitRate` and the user's cap). The HTTP side of sending them is
//! in `server::media`.

use super::browsing::{conn, db};
use super::error::{code, ApiError};
use super::ids;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;
use crate::app::library::browse::{self, SongRow};
use crate::app::media::{art, decision, transcode, Delivery, Format, Job, MediaError, SongFile};
use crate::app::players::Player;
use crate::app::users::User;
use crate::config::ReplayGain;

/// What a media method answers with (instead of a Subsonic document).
pub struct Answer {
    pub delivery: Delivery,
    /// The file name offered to the client.
    pub name: String,
    /// Offer it as a download (`Content-Disposition: attachment`).
    pub attachment: bool,
    /// Send `Content-Length` for a transcode from its estimate (`estimateContentLength`).
    pub estimate_length: bool,
    /// A song streamed from its start: sent to the end, it is a play for the listening
    /// history ([`crate::server::media::heard_to_the_end`]).
    pub heard: Option<Heard>,
}

/// Who streams which song, for the listening history.
pub struct Heard {
    pub user: i64,
    pub song: i64,
    pub duration_ms: i64,
}

impl From<MediaError> for ApiError {
    fn from(e: MediaError) -> ApiError {
        match e {
            MediaError::NotFound(m) => ApiError::new(code::NOT_FOUND, m),
            MediaError::Refused(m) => ApiError::new(code::NOT_AUTHORIZED, m),
            MediaError::Busy(m) | MediaError::Failed(m) => ApiError::new(code::GENERIC, m),
        }
    }
}

fn song_of(ctx: &Ctx<'_>, params: &Params) -> Result<SongRow, ApiError> {
    let id = ids::parse(ids::TRACK, params.required("id")?)?;
    db(browse::song(&mut *conn(ctx)?, id, &ctx.scope()))?.ok_or_else(|| ApiError::not_found("song"))
}

fn file_name(s: &SongRow, suffix: &str) -> String {
    let stem = std::path::Path::new(&s.path)
        .file_stem()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| s.title.clone());
    format!("{stem}.{suffix}")
}

/// What choosing a stream needs to know of a piece of audio: a library song or a downloaded
/// podcast episode.
pub struct Audio {
    pub file: SongFile,
    pub suffix: String,
    pub bit_rate: Option<i32>,
    pub duration_ms: i64,
    /// The ReplayGain the settings ask for, if the audio has it.
    pub gain: Option<(f32, Option<f32>)>,
}

impl Audio {
    pub fn of_song(song: &SongRow, replay_gain: ReplayGain) -> Audio {
        Audio {
            file: song.file(),
            suffix: song.suffix.clone(),
            bit_rate: song.bit_rate,
            duration_ms: song.duration_ms,
            gain: song.gain(replay_gain),
        }
    }
}

/// The transcode a request asks for, or `None` for the file as it is.
pub fn decide(
    song: &SongRow,
    format: Option<&str>,
    max_bit_rate: u32,
    offset: f64,
    replay_gain: ReplayGain,
) -> Result<Option<Job>, ApiError> {
    decide_audio(
        &Audio::of_song(song, replay_gain),
        format,
        max_bit_rate,
        offset,
    )
}

/// [`decide`] for any [`Audio`].
pub fn decide_audio(
    song: &Audio,
    format: Option<&str>,
    max_bit_rate: u32,
    offset: f64,
) -> Result<Option<Job>, ApiError> {
    let source_rate = song.bit_rate.unwrap_or(0).max(0) as u32;
    if offset > 0.0 && song.duration_ms > 0 && offset * 1000.0 >= song.duration_ms as f64 {
        return Err(ApiError::new(
            code::MISSING_PARAMETER,
            format!(
                "timeOffset {offset} s is beyond the end of the song ({:.0} s)",
                song.duration_ms as f64 / 1000.0
            ),
        ));
    }
    let target = match format.filter(|f| !f.is_empty()) {
        Some(f) if f.eq_ignore_ascii_case("raw") => return Ok(None),
        Some(f) => Some(Format::parse(f).ok_or_else(|| {
            ApiError::new(
                code::GENERIC,
                format!(
                    "cannot transcode to '{}': the formats are mp3, opus, ogg, flac, wav and raw",
                    f.chars().take(32).collect::<String>()
                ),
            )
        })?),
        None => None,
    };
    let too_big = max_bit_rate > 0 && (source_rate == 0 || source_rate > max_bit_rate);
    let format = match target {
        Some(f) => f,
        // Only a bit-rate cap: the file as it is if it fits, else the default lossy format.
        None if too_big => default_format(),
        None => return Ok(None),
    };
    let same_format = Format::parse(&song.suffix) == Some(format);
    if same_format && !too_big && offset == 0.0 {
        return Ok(None);
    }
    let mut bitrate = format.default_bitrate();
    if max_bit_rate > 0 {
        bitrate = bitrate
            .min(max_bit_rate)
            .max(if bitrate == 0 { 0 } else { 1 });
    }
    let gain = song.gain;
    Ok(Some(Job {
        format,
        bitrate: format.fit_bitrate(bitrate),
        offset,
        gain,
    }))
}

/// Opus when this machine has libopus (what Navidrome downsamples to), else MP3.
pub fn default_format() -> Format {
    if Format::Opus.available() {
        Format::Opus
    } else {
        Format::Mp3
    }
}

/// `timeOffset` in seconds: a finite number, not negative.
pub(super) fn offset_of(params: &Params) -> Result<f64, ApiError> {
    let offset = params.number::<f64>("timeOffset")?.unwrap_or(0.0);
    if !offset.is_finite() || !(0.0..=1e7).contains(&offset) {
        return Err(ApiError::invalid("timeOffset"));
    }
    Ok(offset)
}

/// The client's `maxBitRate` (0 = none given).
pub(super) fn max_bit_rate(params: &Params) -> Result<u32, ApiError> {
    let asked = params.number::<i64>("maxBitRate")?.unwrap_or(0);
    if asked < 0 {
        return Err(ApiError::invalid("maxBitRate"));
    }
    Ok(asked.min(u32::MAX as i64) as u32)
}

/// The format and bit-rate cap a stream gets: the request's where it gives them, else the
/// player's, else (format only) the user's default; the user's cap always holds.
pub fn preferred<'a>(
    format: Option<&'a str>,
    max_bit_rate: u32,
    player: &'a Player,
    user: &'a User,
) -> (Option<&'a str>, u32) {
    let format = format
        .filter(|f| !f.is_empty())
        .or(player.transcode_format.as_deref())
        .or(user.transcode_format.as_deref());
    let asked = if max_bit_rate > 0 {
        max_bit_rate
    } else {
        player.max_bit_rate.max(0) as u32
    };
    (format, capped(asked, user))
}

/// The smaller of a client's bit rate and the user's cap, where 0 means none (kbit/s).
pub fn capped(asked: u32, user: &User) -> u32 {
    match (asked, user.max_bit_rate.max(0) as u32) {
        (0, cap) => cap,
        (a, 0) => a,
        (a, cap) => a.min(cap),
    }
}

pub fn stream(ctx: &Ctx<'_>, params: &Params) -> Result<Answer, ApiError> {
    if !ctx.user.has_role("stream") {
        return Err(ApiError::not_authorized("stream"));
    }
    if is_episode(params) {
        return stream_episode(ctx, params);
    }
    let song = song_of(ctx, params)?;
    let asked = asked_of(ctx, params)?;
    let (delivery, suffix) = deliver(ctx.app, &ctx.user, &song, &asked)?;
    let from_start = asked.offset <= 0.0;
    Ok(Answer {
        delivery,
        name: file_name(&song, &suffix),
        attachment: false,
        estimate_length: params.bool("estimateContentLength")?.unwrap_or(false),
        heard: from_start.then_some(Heard {
            user: ctx.user.id,
            song: song.id,
            duration_ms: song.duration_ms,
        }),
    })
}

/// Whether `id` names a podcast episode (its `streamId`) rather than a song.
fn is_episode(params: &Params) -> bool {
    params
        .get("id")
        .and_then(ids::split)
        .is_some_and(|(kind, _)| kind == ids::PODCAST_EPISODE)
}

/// A downloaded episode's file as [`Audio`]: the file is checked to be inside the podcast
/// folder like a song inside its music folder.
fn episode_audio(
    ctx: &Ctx<'_>,
    params: &Params,
) -> Result<(crate::app::podcasts::Episode, Audio), ApiError> {
    let id = ids::parse(ids::PODCAST_EPISODE, params.required("id")?)?;
    downloaded_episode(ctx.app, id)
}

/// Episode `id` and its downloaded file as [`Audio`] (70 when it is not downloaded).
pub fn downloaded_episode(
    app: &crate::app::App,
    id: i64,
) -> Result<(crate::app::podcasts::Episode, Audio), ApiError> {
    let podcasts = &app.podcasts;
    let e = podcasts
        .episode(id)?
        .ok_or_else(|| ApiError::not_found("podcast episode"))?;
    let path = podcasts.file_of(&e).ok_or_else(|| {
        ApiError::not_found(
            "downloaded podcast episode (download it first with downloadPodcastEpisode)",
        )
    })?;
    let suffix = e.suffix.clone().unwrap_or_else(|| "mp3".into());
    let duration_ms = e.duration_s.unwrap_or(0) * 1000;
    let file = SongFile {
        id: e.id,
        path,
        folder: podcasts.folder().to_path_buf(),
        content_type: crate::app::podcasts::content_type(&suffix).to_string(),
        suffix: suffix.clone(),
        duration: duration_ms as f64 / 1000.0,
    };
    let audio = Audio {
        file,
        suffix,
        bit_rate: e.bit_rate,
        duration_ms,
        gain: None,
    };
    Ok((e, audio))
}

/// `stream` of a downloaded podcast episode: as a song, file or transcode, with ranges; not
/// a play of a library song, so no now-playing entry and no listening history.
fn stream_episode(ctx: &Ctx<'_>, params: &Params) -> Result<Answer, ApiError> {
    let (e, audio) = episode_audio(ctx, params)?;
    let asked = asked_of(ctx, params)?;
    let (delivery, suffix) = deliver_audio(ctx.app, &ctx.user, &audio, &asked)?;
    Ok(Answer {
        delivery,
        name: format!("episode-{}.{suffix}", e.id),
        attachment: false,
        estimate_length: params.bool("estimateContentLength")?.unwrap_or(false),
        heard: None,
    })
}

/// What the request asks for: format, bit rate, offset, and who asks.
fn asked_of<'a>(ctx: &'a Ctx<'_>, params: &'a Params) -> Result<Asked<'a>, ApiError> {
    Ok(Asked {
        client: params.get("c").unwrap_or(""),
        ip: &ctx.ip,
        user_agent: &ctx.user_agent,
        format: params.get("format"),
        max_bit_rate: max_bit_rate(params)?,
        offset: offset_of(params)?,
    })
}

impl From<StreamFailure> for ApiError {
    fn from(f: StreamFailure) -> ApiError {
        match f {
            StreamFailure::Request(e) => e,
            StreamFailure::Media(e) => e.into(),
            StreamFailure::Internal(e) => ApiError::internal(&e),
        }
    }
}

/// What a client asked for when it streams a song.
pub struct Asked<'a> {
    /// The client's name (Subsonic's `c`), for its player record.
    pub client: &'a str,
    pub ip: &'a str,
    pub user_agent: &'a str,
    pub format: Option<&'a str>,
    /// kbit/s; 0 = none given.
    pub max_bit_rate: u32,
    pub offset: f64,
}

/// Why a stream was not started.
pub enum StreamFailure {
    /// The request does not fit the song (a format or offset).
    Request(ApiError),
    /// The file cannot be sent or transcoded.
    Media(MediaError),
    Internal(anyhow::Error),
}

/// Starts sending `song` to `user`: records the client as a player, takes the request's
/// format and cap where it gives them, else the player's and the user's, then the file as it is
/// or a transcode, and marks the song as playing. Answers the delivery and its file suffix.
pub fn deliver(
    app: &crate::app::App,
    user: &User,
    song: &SongRow,
    asked: &Asked<'_>,
) -> Result<(Delivery, String), StreamFailure> {
    let audio = Audio::of_song(song, app.settings.replay_gain);
    let delivered = deliver_audio(app, user, &audio, asked)?;
    let client = Some(asked.client).filter(|c| !c.is_empty());
    app.annotations
        .playing(user.id, &user.name, song.id, client);
    Ok(delivered)
}

/// [`deliver`] for any [`Audio`] (a podcast episode too), without marking it as playing.
pub fn deliver_audio(
    app: &crate::app::App,
    user: &User,
    audio: &Audio,
    asked: &Asked<'_>,
) -> Result<(Delivery, String), StreamFailure> {
    let player = app
        .players
        .seen(user.id, asked.client, asked.user_agent, asked.ip)
        .map_err(StreamFailure::Internal)?;
    let (format, max) = preferred(asked.format, asked.max_bit_rate, &player, user);
    let job = decide_audio(audio, format, max, asked.offset).map_err(StreamFailure::Request)?;
    match job {
        None => app
            .media
            .raw(&audio.file)
            .map(|d| (d, audio.suffix.clone())),
        Some(job) => {
            let suffix = job.format.suffix().to_string();
            app.media.transcode(&audio.file, job).map(|d| (d, suffix))
        }
    }
    .map_err(StreamFailure::Media)
}

/// The original file, offered as a download.
pub fn download(ctx: &Ctx<'_>, params: &Params) -> Result<Answer, ApiError> {
    if !ctx.user.has_role("download") {
        return Err(ApiError::not_authorized("download"));
    }
    if is_episode(params) {
        let (e, audio) = episode_audio(ctx, params)?;
        return Ok(Answer {
            delivery: ctx.app.media.raw(&audio.file)?,
            name: format!("episode-{}.{}", e.id, audio.suffix),
            attachment: true,
            estimate_length: false,
            heard: None,
        });
    }
    let song = song_of(ctx, params)?;
    let file = song.file();
    Ok(Answer {
        delivery: ctx.app.media.raw(&file)?,
        name: file_name(&song, &song.suffix),
        attachment: true,
        estimate_length: false,
        heard: None,
    })
}

/// `getCoverArt`: the picture of a song, album, artist, folder or playlist (`id` as the
/// `coverArt` attributes give it), the original or resized to `size`. `format=webp` (a
/// Houseband extension) asks for WebP instead of JPEG when resizing.
pub fn get_cover_art(ctx: &Ctx<'_>, params: &Params) -> Result<Answer, ApiError> {
    let text = params.required("id")?;
    let size = match params.number::<i64>("size")? {
        None | Some(0) => None,
        Some(s) if s < 0 => return Err(ApiError::invalid("size")),
        Some(s) => Some(s.min(art::MAX_SIZE as i64) as u32),
    };
    let output = match params.get("format") {
        Some(f) if f.eq_ignore_ascii_case("webp") => art::Output::WebP,
        _ => art::Output::Jpeg,
    };
    let (kind, id) = ids::split(text).ok_or_else(|| ApiError::not_found("cover art"))?;
    if kind == ids::PODCAST_CHANNEL {
        let path = ctx
            .app
            .podcasts
            .art_of(id)
            .ok_or_else(|| ApiError::not_found("cover art"))?;
        let folder = ctx.app.podcasts.folder().to_path_buf();
        let delivery = ctx
            .app
            .media
            .art(&art::Source::File(path), size, output, &[folder])?;
        return Ok(Answer {
            delivery,
            name: format!("{text}.{}", if size.is_some() { "jpg" } else { "img" }),
            attachment: false,
            estimate_length: false,
            heard: None,
        });
    }
    let scope = ctx.scope();
    let mut c = conn(ctx)?;
    let source = match kind {
        ids::PLAYLIST => {
            let visible = ctx
                .app
                .playlists
                .get(id)?
                .is_some_and(|p| super::playlists::may_see(ctx, &p));
            let parts = if visible {
                db(browse::playlist_art(&mut c, id, &scope))?
            } else {
                Vec::new()
            };
            (!parts.is_empty())
                .then(|| art::Source::Mosaic(parts.into_iter().map(art::Source::from).collect()))
        }
        _ => art_of(&mut c, kind, id, &scope)?,
    }
    .ok_or_else(|| ApiError::not_found("cover art"))?;
    picture(ctx.app, &mut c, text, &source, size, output)
}

/// The picture of a song, album, artist or folder the scope shows.
fn art_of(
    c: &mut diesel::SqliteConnection,
    kind: &str,
    id: i64,
    scope: &browse::Scope,
) -> Result<Option<art::Source>, ApiError> {
    Ok(match kind {
        ids::ALBUM => db(browse::album_art(c, id, scope))?.map(art::Source::from),
        ids::TRACK => db(browse::track_art(c, id, scope))?.map(art::Source::from),
        ids::ARTIST => db(browse::artist_art(c, id, scope))?.map(art::Source::from),
        ids::DIRECTORY => db(browse::directory_art(c, id, scope))?.map(art::Source::from),
        _ => None,
    })
}

fn picture(
    app: &crate::app::App,
    c: &mut diesel::SqliteConnection,
    name: &str,
    source: &art::Source,
    size: Option<u32>,
    output: art::Output,
) -> Result<Answer, ApiError> {
    let folders: Vec<std::path::PathBuf> = db(browse::folder_paths(c))?
        .into_iter()
        .map(Into::into)
        .collect();
    let delivery = app.media.art(source, size, output, &folders)?;
    Ok(Answer {
        delivery,
        name: format!("{name}.{}", if size.is_some() { "jpg" } else { "img" }),
        attachment: false,
        estimate_length: false,
        heard: None,
    })
}

/// A public link to an artist's or album's picture at `size`, for `getArtistInfo`'s and
/// `getAlbumInfo`'s image URLs (clients load them without logging in): signed, so only links
/// this server handed out work. `None` when the item has no picture the user may see.
pub fn image_url(ctx: &Ctx<'_>, item: &str, size: u32) -> Result<Option<String>, ApiError> {
    let (kind, id) = ids::split(item).ok_or_else(|| ApiError::not_found("cover art"))?;
    let found = art_of(&mut *conn(ctx)?, kind, id, &ctx.scope())?;
    Ok(found.map(|_| {
        format!(
            "{}/art/{item}?size={size}&sig={}",
            ctx.base_url,
            ctx.app.users.sign(item)
        )
    }))
}

/// `GET /art/{id}?size=&sig=`: the picture behind a link from [`image_url`].
pub fn public_art(
    app: &crate::app::App,
    item: &str,
    size: Option<u32>,
    signature: &str,
) -> Result<Answer, ApiError> {
    if !app.users.signed(item, signature) {
        return Err(ApiError::not_found("picture"));
    }
    let (kind, id) = ids::split(item).ok_or_else(|| ApiError::not_found("picture"))?;
    let mut c = app.db.read().map_err(|e| ApiError::internal(&e))?;
    let everything = browse::Scope::new(None, None);
    let source =
        art_of(&mut c, kind, id, &everything)?.ok_or_else(|| ApiError::not_found("picture"))?;
    let size = size.map(|s| s.clamp(1, art::MAX_SIZE));
    picture(app, &mut c, item, &source, size, art::Output::Jpeg)
}

/// The song a transcoding-extension call names (`mediaId`, `mediaType`): a library song, or a
/// downloaded podcast episode as a song row.
fn media_song(ctx: &Ctx<'_>, params: &Params) -> Result<SongRow, ApiError> {
    match params.required("mediaType")? {
        "song" => {}
        "podcast" => {
            let id = ids::parse(ids::PODCAST_EPISODE, params.required("mediaId")?)?;
            return ctx
                .app
                .podcasts
                .queued(&ids::id(ids::PODCAST_EPISODE, id))
                .map_err(|e| ApiError::not_found(&format!("{e:#}: downloaded podcast episode")));
        }
        _ => return Err(ApiError::invalid("mediaType")),
    }
    let id = ids::parse(ids::TRACK, params.required("mediaId")?)?;
    db(browse::song(&mut *conn(ctx)?, id, &ctx.scope()))?.ok_or_else(|| ApiError::not_found("song"))
}

fn details_node(d: &decision::StreamDetails) -> Node {
    Node::new()
        .attr("protocol", "http")
        .attr("container", d.container.as_str())
        .attr("codec", d.codec.as_str())
        .attr("audioChannels", d.channels)
        .attr("audioBitrate", d.bitrate)
        .attr("audioProfile", "")
        .attr("audioSamplerate", d.samplerate)
        .attr("audioBitdepth", d.bitdepth)
}

/// `getTranscodeDecision` (POST, the client's abilities as JSON in the body): plays as it is,
/// or what it would be transcoded to, with the `transcodeParams` for `getTranscodeStream`.
pub fn get_transcode_decision(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let song = media_song(ctx, params)?;
    let client: decision::ClientInfo = if ctx.body.iter().all(u8::is_ascii_whitespace) {
        decision::ClientInfo::default()
    } else {
        serde_json::from_slice(ctx.body).map_err(|e| {
            ApiError::new(
                code::MISSING_PARAMETER,
                format!("the request body is not a ClientInfo JSON object: {e}"),
            )
        })?
    };
    let source = decision::source_details(
        &song.suffix,
        song.bit_rate.unwrap_or(0) as i64,
        song.sample_rate.unwrap_or(0) as i64,
        song.bit_depth.unwrap_or(0) as i64,
        song.channels.unwrap_or(0) as i64,
    );
    let d = decision::decide(&client, &source, transcode::decodable(&song.suffix));
    let mut node = Node::new()
        .attr("canDirectPlay", d.can_direct_play)
        .attr("canTranscode", d.can_transcode)
        .attr("errorReason", d.error.as_str())
        .opt("transcodeParams", d.params.as_deref())
        .values(
            "transcodeReason",
            d.reasons.iter().map(|r| r.as_str().into()).collect(),
        )
        .child("sourceStream", details_node(&d.source));
    if let Some(t) = &d.target {
        node = node.child("transcodeStream", details_node(t));
    }
    Ok(Envelope::ok("transcodeDecision", node))
}

/// `getTranscodeStream`: the stream a decision's `transcodeParams` describe, from `offset`
/// seconds. Errors are HTTP statuses with a message, as the extension asks.
pub fn get_transcode_stream(ctx: &Ctx<'_>, params: &Params) -> Result<Answer, ApiError> {
    if !ctx.user.has_role("stream") {
        return Err(ApiError::not_authorized("stream"));
    }
    let song = media_song(ctx, params)?;
    let offset = params.number::<f64>("offset")?.unwrap_or(0.0);
    if !offset.is_finite() || !(0.0..=1e7).contains(&offset) {
        return Err(ApiError::invalid("offset"));
    }
    let mut job = decision::job_of(params.required("transcodeParams")?, offset)
        .ok_or_else(|| ApiError::invalid("transcodeParams"))?;
    // The user's cap holds here too.
    job.bitrate = match capped(job.bitrate, &ctx.user) {
        0 => job.bitrate,
        b => job.format.fit_bitrate(b),
    };
    if job.format.lossless() {
        job.bitrate = 0;
    }
    let file = song.file();
    if offset > 0.0 && file.duration > 0.0 && offset >= file.duration {
        return Err(ApiError::new(
            code::MISSING_PARAMETER,
            format!("offset {offset} s is beyond the end of the song"),
        ));
    }
    job.gain = decide(
        &song,
        Some(job.format.suffix()),
        0,
        0.0,
        ctx.app.settings.replay_gain,
    )?
    .and_then(|j| j.gain);
    let suffix = job.format.suffix();
    let delivery = ctx.app.media.transcode(&file, job)?;
    // An episode is not a library song: it is not shown as one playing.
    if params.get("mediaType") == Some("song") {
        ctx.app
            .annotations
            .playing(ctx.user.id, &ctx.user.name, song.id, params.get("c"));
    }
    Ok(Answer {
        delivery,
        name: file_name(&song, suffix),
        attachment: false,
        estimate_length: false,
        heard: None,
    })
}

/// `getAvatar`: the user's uploaded picture (PNG), or a default made from the name.
pub fn get_avatar(ctx: &Ctx<'_>, params: &Params) -> Result<Answer, ApiError> {
    let name = params.required("username")?;
    let user = ctx
        .app
        .users
        .find(name)?
        .ok_or_else(|| ApiError::not_found("user"))?;
    let path = ctx
        .app
        .media
        .avatars
        .get(user.id, &user.name)
        .map_err(|e| ApiError::internal(&e))?;
    Ok(Answer {
        delivery: Delivery::File {
            path,
            content_type: "image/png".into(),
        },
        name: format!("{}.png", user.name),
        attachment: false,
        estimate_length: false,
        heard: None,
    })
}
