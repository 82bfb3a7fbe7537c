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

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};

use anyhow::Result;

use crate::app::db::Db;
use crate::config::Settings;
pub use scanner::{Progress, ProgressView, ScanConfig, ScanReport, ScanRequest};
use tags::TagOptions;

pub struct Library {
    db: Arc<Db>,
    /// The scan's settings; its `roots` are the folders the configuration names.
    config: ScanConfig,
    /// Folders an admin added in the app (kept in the database), scanned beside the configured.
    added: RwLock<Vec<PathBuf>>,
    progress: Progress,
    /// Leading words the artist index ignores ("The", "Los"...).
    articles: Vec<String>,
    scan_lock: Mutex<()>,
    /// Answers that only a scan changes, made on first use and dropped by every scan.
    cache: Mutex<Cache>,
    /// Goes up by one when a scan starts and again when it ends: odd while one runs, twice the
    /// scans finished since start otherwise. Caches of what the library says compare it before
    /// and after their reads (see [`Library::version`]).
    version: std::sync::atomic::AtomicU64,
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
            added: RwLock::new(Vec::new()),
            progress: Progress::default(),
            articles: settings.ignored_articles.clone(),
            scan_lock: Mutex::new(()),
            cache: Mutex::new(Cache::default()),
            version: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Reads the folders added in the app (at start: the database is open, the scan not yet).
    pub fn load_added_folders(&self) -> Result<()> {
        let mut conn = self.db.read()?;
        let added = store::folders_added_in_app(&mut conn)?;
        *self.added.write().unwrap_or_else(|p| p.into_inner()) =
            added.into_iter().map(PathBuf::from).collect();
        Ok(())
    }

    /// Every music folder: the configured ones, then those added in the app.
    pub fn roots(&self) -> Vec<PathBuf> {
        let mut roots = self.config.roots.clone();
        for added in self.added.read().unwrap_or_else(|p| p.into_inner()).iter() {
            if !roots.contains(added) {
                roots.push(added.clone());
            }
        }
        roots
    }

    /// Adds a music folder (an admin's choice in the app): it must be an absolute path to a
    /// readable directory, apart from the data folder and from every music folder (neither
    /// inside one nor holding one, so no file is in two). Its id and its path as it will be
    /// scanned; the caller starts the scan.
    pub fn add_folder(&self, path: &Path, data: &Path) -> Result<(i64, PathBuf), FolderRefusal> {
        if !path.is_absolute() {
            return Err(FolderRefusal::NotAbsolute);
        }
        let root =
            std::fs::canonicalize(path).map_err(|e| FolderRefusal::Unusable(e.to_string()))?;
        if !root.is_dir() {
            return Err(FolderRefusal::Unusable("it is not a directory".into()));
        }
        std::fs::read_dir(&root).map_err(|e| FolderRefusal::Unusable(e.to_string()))?;
        let data = std::fs::canonicalize(data).unwrap_or_else(|_| data.to_path_buf());
        if root.starts_with(&data) || data.starts_with(&root) {
            return Err(FolderRefusal::Overlaps(data));
        }
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        for existing in self.config.roots.iter().chain(added.iter()) {
            let existing =
                std::fs::canonicalize(existing).unwrap_or_else(|_| scanner::absolute(existing));
            if existing == root {
                return Err(FolderRefusal::AlreadyThere);
            }
            if root.starts_with(&existing) || existing.starts_with(&root) {
                return Err(FolderRefusal::Overlaps(existing));
            }
        }
        let mut conn = self.db.write();
        let id = store::add_folder_in_app(&mut conn, &store::path_str(&root))
            .map_err(|e| FolderRefusal::Failed(store::explain(e, "cannot record the folder")))?;
        added.push(root.clone());
        Ok((id, root))
    }

    /// Takes back a folder added in the app: it is no longer scanned and its songs are hidden,
    /// with their stars, ratings, plays and playlist places kept for when it comes back. Its
    /// path; the caller starts a scan (which drops it from the answers' caches).
    pub fn remove_folder(&self, id: i64) -> Result<PathBuf, FolderRefusal> {
        let mut added = self.added.write().unwrap_or_else(|p| p.into_inner());
        let mut conn = self.db.write();
        let configured = self
            .config
            .roots
            .iter()
            .map(|r| store::path_str(&scanner::absolute(r)))
            .collect::<Vec<_>>();
        let path = store::folder_path(&mut conn, id)
            .map_err(|e| FolderRefusal::Failed(store::explain(e, "cannot read the folder")))?
            .ok_or(FolderRefusal::NoSuchFolder)?;
        if configured.contains(&path) {
            return Err(FolderRefusal::Configured);
        }
        let removed = store::remove_folder_in_app(&mut conn, id)
            .map_err(|e| FolderRefusal::Failed(store::explain(e, "cannot record the change")))?;
        if !removed {
            return Err(FolderRefusal::NoSuchFolder);
        }
        let path = PathBuf::from(path);
        added.retain(|p| *p != path);
        Ok(path)
    }

    /// Runs a scan (blocking; waits for a scan already running to end first).
    pub fn scan(&self, request: &ScanRequest) -> Result<ScanReport> {
        let _guard = self.scan_lock.lock().unwrap_or_else(|p| p.into_inner());
        self.version.fetch_add(1, Ordering::SeqCst);
        self.progress.scanning.store(true, Ordering::SeqCst);
        let config = ScanConfig {
            roots: self.roots(),
            ..self.config.clone()
        };
        let result = scanner::scan(&self.db, &config, &self.progress, request);
        *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = Cache::default();
        self.progress.scanning.store(false, Ordering::SeqCst);
        self.version.fetch_add(1, Ordering::SeqCst);
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

    /// Starts a scan on a thread of its own, and waits (a moment at most) for it to say it runs,
    /// so an answer given right after shows it running (or done).
    pub fn scan_in_background(self: &Arc<Self>, full: bool) -> std::io::Result<()> {
        let done = self.scans_done();
        let library = self.clone();
        std::thread::Builder::new()
            .name("scan-now".into())
            .spawn(move || library.scan(&ScanRequest { full, paths: None }))?;
        for _ in 0..50 {
            if self.is_scanning() || self.scans_done() != done {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        Ok(())
    }

    /// Scans finished since the server started (whatever started them: a change goes up by one
    /// at least).
    pub fn scans_done(&self) -> u64 {
        self.version.load(Ordering::SeqCst) / 2
    }

    /// The library's version while no scan runs; `None` during a scan. Something read from the
    /// library between two equal versions (taken before the read and again after it) is what
    /// the library still says, so it may be kept until the version changes.
    pub fn version(&self) -> Option<u64> {
        let v = self.version.load(Ordering::SeqCst);
        v.is_multiple_of(2).then_some(v)
    }

    pub fn is_scanning(&self) -> bool {
        self.progress.scanning.load(Ordering::SeqCst)
    }

    pub fn progress(&self) -> ProgressView {
        self.progress.view()
    }

    /// A cached answer, or a fresh one (kept unless a scan is running: it would be stale at
    /// once).
    /// Made with the caller's own connection: a request holding a reader must never wait for a
    /// second one under this lock, or eight such requests take every reader while the ninth,
    /// holding the lock, waits for one (a deadlock the load test found).
    fn cached<T>(
        &self,
        conn: &mut diesel::SqliteConnection,
        slot: impl Fn(&mut Cache) -> &mut Option<Arc<T>>,
        make: impl FnOnce(&mut diesel::SqliteConnection) -> Result<T>,
    ) -> Result<Arc<T>> {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(hit) = slot(&mut cache).as_ref() {
            return Ok(hit.clone());
        }
        let fresh = Arc::new(make(conn)?);
        if !self.is_scanning() {
            *slot(&mut cache) = Some(fresh.clone());
        }
        Ok(fresh)
    }

    /// Every present song's id, in id order (blocking on first use after a scan).
    pub fn song_ids(&self, conn: &mut diesel::SqliteConnection) -> Result<Arc<Vec<i64>>> {
        self.cached(
            conn,
            |c| &mut c.song_ids,
            |conn| Ok(browse::present_song_ids(conn)?),
        )
    }

    /// Every album with present songs, by id (blocking on first use after a scan).
    pub fn album_ids(&self, conn: &mut diesel::SqliteConnection) -> Result<Arc<Vec<i64>>> {
        self.cached(
            conn,
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
    pub fn album_artists(
        &self,
        conn: &mut diesel::SqliteConnection,
    ) -> Result<Arc<Vec<index::Indexed<browse::ArtistRow>>>> {
        self.cached(
            conn,
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

    /// The enabled music folders with their songs, as the admin screens show them.
    pub fn folders(&self) -> Result<Vec<browse::FolderReport>> {
        let mut conn = self.db.read()?;
        Ok(browse::folder_reports(&mut conn)?)
    }

    /// The latest `limit` scan problems, and how many there are in all.
    pub fn problems(&self, limit: i64) -> Result<(Vec<browse::ScanProblem>, i64)> {
        let mut conn = self.db.read()?;
        Ok(browse::scan_problems(&mut conn, limit)?)
    }

    /// Tracks present in the library (missing ones not counted). Blocking.
    pub fn track_count(&self) -> Result<i64> {
        let mut conn = self.db.read()?;
        Ok(store::count_tracks(&mut conn)?)
    }
}

/// Why a music folder cannot be added or removed in the app.
#[derive(Debug, thiserror::Error)]
pub enum FolderRefusal {
    #[error("give the folder's full path, from / (as the server sees it)")]
    NotAbsolute,
    #[error("the server cannot use that folder: {0}")]
    Unusable(String),
    #[error("that folder is a music folder already")]
    AlreadyThere,
    #[error("that folder overlaps {0}: a music folder may neither hold nor be inside another music folder or the server's data folder")]
    Overlaps(PathBuf),
    #[error("that folder is named by the configuration (the `music` setting): remove it there")]
    Configured,
    #[error("no music folder with that id was added in the app")]
    NoSuchFolder,
    #[error(transparent)]
    Failed(anyhow::Error),
}
