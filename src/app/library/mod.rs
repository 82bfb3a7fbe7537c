//! The music library: scanning folders into the database, keeping up with changes live, and the
//! browse and search queries the APIs answer from.
//!
//! [`Library`] is the one type the rest of the program uses. It owns the scan lock, so a periodic
//! scan, a watcher batch and a `houseband scan` never run at once in one process.

pub mod browse;
pub mod fold;
pub mod head_tail;
pub mod index;
pub mod lyrics;
pub mod playlist_files;
pub mod record;
pub mod scanner;
pub mod store;
pub mod tags;
pub mod walk;
pub mod watcher;

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use anyhow::Result;

use crate::app::db::Db;
use crate::config::Settings;
pub use scanner::{Progress, ProgressView, ScanConfig, ScanReport, ScanRequest};
use tags::TagOptions;

pub struct Library {
    db: Arc<Db>,
    config: ScanConfig,
    progress: Progress,
    /// Leading words the artist index ignores ("The", "Los"...).
    articles: Vec<String>,
    scan_lock: Mutex<()>,
    /// Answers that only a scan changes, made on first use and dropped by every scan.
    cache: Mutex<Cache>,
    /// Scans finished since start, for those who follow the library's changes.
    scans_done: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Cache {
    /// Ids of every present song in id order: clients page through the whole library by
    /// offset, and an offset into this list costs nothing, where SQLite would skip that many
    /// rows for every page.
    song_ids: Option<Arc<Vec<i64>>>,
    /// The album artists of every folder in index order (getArtists, the first thing clients
    /// ask for).
    album_artists: Option<Arc<Vec<index::Indexed<browse::ArtistRow>>>>,
    /// Ids of every album with present songs: random albums are picked from it, where SQLite
    /// would read and shuffle them all.
    album_ids: Option<Arc<Vec<i64>>>,
}

impl Library {
    pub fn new(db: Arc<Db>, settings: &Settings) -> Library {
        Library {
            db,
            config: ScanConfig {
                roots: settings
                    .music
                    .iter()
                    .map(|p| scanner::absolute(p))
                    .collect(),
                tags: TagOptions {
                    separators: settings.tag_separators.clone(),
                },
                threads: settings.scan_threads,
                missing_grace: settings.missing_grace,
            },
            progress: Progress::default(),
            articles: settings.ignored_articles.clone(),
            scan_lock: Mutex::new(()),
            cache: Mutex::new(Cache::default()),
            scans_done: std::sync::atomic::AtomicU64::new(0),
        }
    }

    pub fn roots(&self) -> &[std::path::PathBuf] {
        &self.config.roots
    }

    /// Runs a scan (blocking; waits for a scan already running to end first).
    pub fn scan(&self, request: &ScanRequest) -> Result<ScanReport> {
        let _guard = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.progress.scanning.store(true, Ordering::SeqCst);
        let result = scanner::scan(&self.db, &self.config, &self.progress, request);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Cache::default();
        self.progress.scanning.store(false, Ordering::SeqCst);
        self.scans_done.fetch_add(1, Ordering::SeqCst);
        // A big scan leaves freed memory in the allocator's arenas; hand it back to the system.
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        unsafe {
            libc::malloc_trim(0);
        }
        if let Err(e) = &result {
            tracing::error!("scan failed: {e:#}");
        }
        result
    }

    /// Scans finished since the server started (whatever started them: a change goes up by one
    /// at least).
    pub fn scans_done(&self) -> u64 {
        self.scans_done.load(Ordering::SeqCst)
    }

    pub fn is_scanning(&self) -> bool {
        self.progress.scanning.load(Ordering::SeqCst)
    }

    pub fn progress(&self) -> ProgressView {
        self.progress.view()
    }

    /// A cached answer, or a fresh one (kept unless a scan is running: it would be stale at
    /// once).
    fn cached<T>(
        &self,
        slot: impl Fn(&mut Cache) -> &mut Option<Arc<T>>,
        make: impl FnOnce(&mut crate::app::db::ReadConn) -> Result<T>,
    ) -> Result<Arc<T>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = slot(&mut cache).as_ref() {
            return Ok(hit.clone());
        }
        let mut conn = self.db.read()?;
        let fresh = Arc::new(make(&mut conn)?);
        if !self.is_scanning() {
            *slot(&mut cache) = Some(fresh.clone());
        }
        Ok(fresh)
    }

    /// Every present song's id, in id order (blocking on first use after a scan).
    pub fn song_ids(&self) -> Result<Arc<Vec<i64>>> {
        self.cached(
            |c| &mut c.song_ids,
            |conn| Ok(browse::present_song_ids(conn)?),
        )
    }

    /// Every album with present songs, by id (blocking on first use after a scan).
    pub fn album_ids(&self) -> Result<Arc<Vec<i64>>> {
        self.cached(
            |c| &mut c.album_ids,
            |conn| Ok(browse::present_album_ids(conn)?),
        )
    }

    /// `n` different ids picked at random from `ids` (all of them, shuffled, if there are fewer).
    pub fn pick_random(ids: &[i64], n: usize) -> Vec<i64> {
        use rand::seq::IndexedRandom;
        ids.choose_multiple(&mut rand::rng(), n).copied().collect()
    }

    /// Album artists of every folder, in index order (blocking on first use after a scan).
    pub fn album_artists(&self) -> Result<Arc<Vec<index::Indexed<browse::ArtistRow>>>> {
        self.cached(
            |c| &mut c.album_artists,
            |conn| Ok(self.index_artists(browse::album_artists(conn, &browse::Scope::all())?)),
        )
    }

    /// Artists in index order.
    pub fn index_artists(
        &self,
        artists: Vec<browse::ArtistRow>,
    ) -> Vec<index::Indexed<browse::ArtistRow>> {
        index::sorted(
            artists,
            |a| (&a.name, a.sort_name.as_deref()),
            &self.articles,
        )
    }

    /// Leading words the index ignores.
    pub fn ignored_articles(&self) -> &[String] {
        &self.articles
    }

    /// Tracks present in the library (missing ones not counted). Blocking.
    pub fn track_count(&self) -> Result<i64> {
        let mut conn = self.db.read()?;
        Ok(store::count_tracks(&mut conn)?)
    }
}
