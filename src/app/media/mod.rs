//! Media: the songs' bytes on their way to a client. Serving files as they are, transcoding on
//! the fly (symphonia and libopus decode; LAME, libopus, libvorbis, flacenc encode), the disk
//! cache of finished transcodes, the bound on transcodes running at once, and the streams in
//! progress (for "now playing"). No HTTP here: `server/` turns a [`Delivery`] into a response.

pub mod art;
pub mod avatar;
pub mod cache;
pub mod decision;
pub mod decode;
pub mod encode;
pub mod native;
pub mod opus;
pub mod transcode;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use xxhash_rust::xxh3::xxh3_64;

pub use transcode::Job;

/// The formats Houseband encodes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    Mp3,
    Opus,
    Vorbis,
    Flac,
    Wav,
}

impl Format {
    /// A format from a client's name for it (`format=`, a file suffix).
    pub fn parse(name: &str) -> Option<Format> {
        Some(match name.to_ascii_lowercase().as_str() {
            "mp3" => Format::Mp3,
            "opus" => Format::Opus,
            "ogg" | "oga" | "vorbis" => Format::Vorbis,
            "flac" => Format::Flac,
            "wav" => Format::Wav,
            _ => return None,
        })
    }

    pub fn suffix(self) -> &'static str {
        match self {
            Format::Mp3 => "mp3",
            Format::Opus => "opus",
            Format::Vorbis => "ogg",
            Format::Flac => "flac",
            Format::Wav => "wav",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Format::Mp3 => "audio/mpeg",
            Format::Opus => "audio/ogg; codecs=opus",
            Format::Vorbis => "audio/ogg",
            Format::Flac => "audio/flac",
            Format::Wav => "audio/wav",
        }
    }

    pub fn lossless(self) -> bool {
        matches!(self, Format::Flac | Format::Wav)
    }

    /// The bit rate used when a client names the format but not the rate (kbit/s).
    pub fn default_bitrate(self) -> u32 {
        match self {
            Format::Mp3 => 192,
            Format::Opus => 128,
            Format::Vorbis => 160,
            Format::Flac | Format::Wav => 0,
        }
    }

    /// The bit rate of this format closest to `kbps` that its encoder can make.
    pub fn fit_bitrate(self, kbps: u32) -> u32 {
        match self {
            Format::Mp3 => kbps.clamp(32, 320),
            Format::Opus => kbps.clamp(6, 510),
            Format::Vorbis => kbps.clamp(45, 500),
            Format::Flac | Format::Wav => 0,
        }
    }

    /// Whether this machine can encode the format (Opus needs the system's libopus).
    pub fn available(self) -> bool {
        self != Format::Opus || opus::available()
    }
}

/// Why a song cannot be delivered.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Refused(String),
    #[error("{0}")]
    Busy(String),
    #[error("{0}")]
    Failed(String),
}

/// A song file as the scan recorded it.
#[derive(Debug, Clone)]
pub struct SongFile {
    pub id: i64,
    pub path: PathBuf,
    /// The music folder it belongs to.
    pub folder: PathBuf,
    pub suffix: String,
    pub content_type: String,
    /// Length in seconds.
    pub duration: f64,
}

/// How a song goes out.
pub enum Delivery {
    /// A file on disk, served with byte ranges: the song itself or a cached transcode.
    File { path: PathBuf, content_type: String },
    /// A transcode in progress: its output arrives on `chunks` as it is made.
    Live(Live),
}

pub struct Live {
    pub chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    pub content_type: &'static str,
    /// An estimate of the whole length, from the bit rate and duration (lossy formats only).
    pub estimate: Option<u64>,
}

/// A stream being sent, for "now playing".
#[derive(Debug, Clone)]
pub struct Streaming {
    pub user: String,
    pub player: String,
    pub song: i64,
    pub started: i64,
}

/// Output chunks buffered between the transcoder and a slow client (about a second of audio).
const LIVE_CHUNKS: usize = 8;
/// The first bytes go out at once; after that output is sent in pieces of this size.
const CHUNK_BYTES: usize = 32 * 1024;

pub struct Media {
    art: art::Art,
    pub avatars: avatar::Avatars,
    cache: Arc<cache::Cache>,
    running: Arc<AtomicUsize>,
    max_running: usize,
    allow_outside: bool,
    streaming: Mutex<Vec<(u64, Streaming)>>,
    next_stream: AtomicUsize,
}

/// Gives a transcode slot back when the transcode ends, however it ends.
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Media {
    pub fn new(
        cache_dir: &Path,
        avatars_dir: &Path,
        cache_bytes: u64,
        max_running: usize,
        allow_outside: bool,
    ) -> Media {
        Media {
            art: art::Art::new(cache_dir.join("art")),
            avatars: avatar::Avatars::new(avatars_dir.to_path_buf()),
            cache: Arc::new(cache::Cache::open(
                cache_dir.join("transcodes"),
                cache_bytes,
            )),
            running: Arc::new(AtomicUsize::new(0)),
            max_running,
            allow_outside,
            streaming: Mutex::new(Vec::new()),
            next_stream: AtomicUsize::new(0),
        }
    }

    /// Transcodes running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::SeqCst)
    }

    pub fn cache(&self) -> &cache::Cache {
        &self.cache
    }

    /// The song's file, checked by [`Media::checked`] against its own music folder.
    pub fn file_of(&self, song: &SongFile) -> Result<PathBuf, MediaError> {
        self.checked(&song.path, std::slice::from_ref(&song.folder))
    }

    /// A song's file or a file beside it (its `.lrc`), made real and checked against the song's
    /// music folder like every song streamed; `None` when it is gone or leads out of the folder.
    pub fn inside_folder(&self, path: &Path, folder: &Path) -> Option<PathBuf> {
        self.checked(path, &[folder.to_path_buf()]).ok()
    }

    /// `path` made real, checked: it still exists, is a file, and (unless configured
    /// otherwise) its real path, symlinks followed, is inside one of `folders`.
    fn checked(&self, path: &Path, folders: &[PathBuf]) -> Result<PathBuf, MediaError> {
        let real = path.canonicalize().map_err(|_| {
            tracing::warn!(path = %path.display(), "a file is gone since the last scan");
            MediaError::NotFound("the file is gone since the last scan; rescan the library".into())
        })?;
        if !self.allow_outside
            && !folders
                .iter()
                .filter_map(|f| f.canonicalize().ok())
                .any(|f| real.starts_with(f))
        {
            tracing::warn!(path = %path.display(), real = %real.display(),
                "refused a file that leads out of its music folder (allow_outside_links is off)");
            return Err(MediaError::Refused(
                "the file leads outside its music folder".into(),
            ));
        }
        if !real.is_file() {
            return Err(MediaError::NotFound("the path is not a file".into()));
        }
        Ok(real)
    }

    /// A picture, the original or resized to `size`, from files checked to be inside
    /// `folders`.
    pub fn art(
        &self,
        source: &art::Source,
        size: Option<u32>,
        output: art::Output,
        folders: &[PathBuf],
    ) -> Result<Delivery, MediaError> {
        let source = self.checked_art(source, folders)?;
        let (path, content_type) = self.art.get(&source, size, output).map_err(|e| {
            tracing::warn!("cannot make a picture: {e:#}");
            MediaError::Failed(format!("{e:#}"))
        })?;
        Ok(Delivery::File { path, content_type })
    }

    fn checked_art(
        &self,
        source: &art::Source,
        folders: &[PathBuf],
    ) -> Result<art::Source, MediaError> {
        Ok(match source {
            art::Source::File(p) => art::Source::File(self.checked(p, folders)?),
            art::Source::Embedded(p) => art::Source::Embedded(self.checked(p, folders)?),
            art::Source::Mosaic(parts) => art::Source::Mosaic(
                parts
                    .iter()
                    .filter_map(|p| self.checked_art(p, folders).ok())
                    .collect(),
            ),
        })
    }

    /// The song as it is on disk.
    pub fn raw(&self, song: &SongFile) -> Result<Delivery, MediaError> {
        Ok(Delivery::File {
            path: self.file_of(song)?,
            content_type: song.content_type.clone(),
        })
    }

    /// The song transcoded by `job`: from the cache when it was made before, else made now.
    pub fn transcode(&self, song: &SongFile, job: Job) -> Result<Delivery, MediaError> {
        let path = self.file_of(song)?;
        if !job.format.available() {
            return Err(MediaError::Failed(format!(
                "cannot encode {}: libopus is not installed (package libopus0)",
                job.format.suffix()
            )));
        }
        if job.offset > 0.0 && song.duration > 0.0 && job.offset >= song.duration {
            return Err(MediaError::Failed(format!(
                "timeOffset {} s is beyond the end of the song ({:.0} s)",
                job.offset, song.duration
            )));
        }
        // Only whole songs are cached; a stream that starts mid-song is made for the one client.
        let key = (job.offset == 0.0 && self.cache.enabled()).then(|| cache_name(&path, &job));
        if let Some(hit) = key.as_deref().and_then(|k| self.cache.get(k)) {
            return Ok(Delivery::File {
                path: hit,
                content_type: job.format.content_type().to_string(),
            });
        }
        let source = transcode::open(&path, &job).map_err(|e| {
            tracing::warn!(path = %path.display(), "cannot transcode: {e:#}");
            MediaError::Failed(format!("{e:#}"))
        })?;
        let taken = self.running.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.running.clone());
        if taken >= self.max_running {
            return Err(MediaError::Busy(format!(
                "the server is already transcoding {} streams (transcode_slots); try again later or stream the original",
                self.max_running
            )));
        }
        let estimate = (!job.format.lossless()).then(|| {
            let seconds = (song.duration - job.offset).max(0.0);
            (seconds * job.bitrate as f64 * 1000.0 / 8.0) as u64
        });
        let (tx, rx) = tokio::sync::mpsc::channel(LIVE_CHUNKS);
        let part = key.map(|k| {
            let p = self.cache.part_path(&k);
            (k, p)
        });
        let content_type = job.format.content_type();
        let cache = self.cache.clone();
        std::thread::Builder::new()
            .name("transcode".into())
            .spawn(move || {
                let _slot = slot;
                run_live(source, &path, &job, &tx, part, &cache);
            })
            .map_err(|e| MediaError::Failed(format!("cannot start a transcode: {e}")))?;
        Ok(Delivery::Live(Live {
            chunks: rx,
            content_type,
            estimate,
        }))
    }

    /// Records a stream as started; the returned id ends it with [`Media::ended`].
    pub fn started(&self, s: Streaming) -> u64 {
        let id = self.next_stream.fetch_add(1, Ordering::SeqCst) as u64;
        self.lock_streaming().push((id, s));
        id
    }

    pub fn ended(&self, id: u64) {
        self.lock_streaming().retain(|(i, _)| *i != id);
    }

    /// Streams being sent now, newest first.
    pub fn streaming(&self) -> Vec<Streaming> {
        let mut list: Vec<Streaming> = self
            .lock_streaming()
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        list.sort_by_key(|s| std::cmp::Reverse(s.started));
        list
    }

    fn lock_streaming(&self) -> std::sync::MutexGuard<'_, Vec<(u64, Streaming)>> {
        self.streaming.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The cache file name of a transcode: the source (path, size, change time) and the job.
fn cache_name(path: &Path, job: &Job) -> String {
    let meta = std::fs::metadata(path).ok();
    let size = meta.as_ref().map_or(0, |m| m.len());
    let changed = meta
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let what = format!(
        "{}\0{size}\0{changed}\0{:?}\0{}\0{:?}",
        path.display(),
        job.format,
        job.bitrate,
        job.gain
    );
    format!("{:016x}.{}", xxh3_64(what.as_bytes()), job.format.suffix())
}

/// The transcode thread: sends output to the client as it comes and, for a whole song, writes
/// it to the cache too (a cache write that fails, as on a full disk, only stops the caching).
fn run_live(
    source: decode::Source,
    path: &Path,
    job: &Job,
    tx: &tokio::sync::mpsc::Sender<Vec<u8>>,
    part: Option<(String, PathBuf)>,
    cache: &cache::Cache,
) {
    let mut file = part.as_ref().and_then(|(_, p)| {
        std::fs::File::create(p)
            .map(std::io::BufWriter::new)
            .map_err(
                |e| tracing::warn!(path = %p.display(), "cannot write to the transcode cache: {e}"),
            )
            .ok()
    });
    let mut pending: Vec<u8> = Vec::new();
    let mut sent_any = false;
    let result = transcode::run(source, job, |bytes| {
        if let Some(f) = &mut file {
            if let Err(e) = f.write_all(&bytes) {
                tracing::warn!("transcode cache write failed, not caching this one: {e}");
                file = None;
            }
        }
        pending.extend_from_slice(&bytes);
        if !sent_any || pending.len() >= CHUNK_BYTES {
            sent_any = true;
            tx.blocking_send(std::mem::take(&mut pending)).is_ok()
        } else {
            true
        }
    });
    let delivered = (pending.is_empty() || tx.blocking_send(pending).is_ok())
        && matches!(result, Ok(transcode::Ended::Complete));
    if let Err(e) = &result {
        tracing::warn!(path = %path.display(), "transcoding stopped: {e:#}");
    }
    if let Some((name, part_path)) = part {
        let flushed = file.take().is_some_and(|mut f| f.flush().is_ok());
        drop(file);
        if delivered && flushed {
            cache.insert(&name, &part_path);
        } else {
            let _ = std::fs::remove_file(&part_path);
        }
    }
}
