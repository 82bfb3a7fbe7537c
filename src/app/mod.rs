//! The application without HTTP: each domain behind one manager type. `server/` translates
//! requests into calls on these; nothing here knows about HTTP.

pub mod annotations;
pub mod bookmarks;
pub mod chat;
pub mod db;
pub mod lan;
pub mod library;
pub mod media;
pub mod outputs;
pub mod players;
pub mod playlists;
pub mod podcasts;
pub mod queue;
pub mod radio;
pub mod reco;
pub mod scrobble;
pub mod shares;
pub mod users;

use std::sync::Arc;

use anyhow::Result;
use diesel::Connection;

use crate::config::Settings;
use annotations::{playback, Annotations};
use bookmarks::Bookmarks;
use chat::Chat;
use db::Db;
use library::Library;
use media::Media;
use players::Players;
use playlists::Playlists;
use queue::Queues;
use radio::Radio;
use shares::Shares;
use users::Users;

/// The player name the household queue's songs are playing on, in `getNowPlaying`.
pub const QUEUE_PLAYER: &str = "Household queue";

pub struct App {
    pub settings: Settings,
    pub db: Arc<Db>,
    pub library: Arc<Library>,
    pub users: Arc<Users>,
    pub annotations: Annotations,
    pub playlists: Playlists,
    pub bookmarks: Bookmarks,
    pub radio: Radio,
    /// Podcast channels, episodes and their downloads.
    pub podcasts: Arc<podcasts::Podcasts>,
    pub chat: Chat,
    pub shares: Shares,
    pub media: Arc<Media>,
    pub players: Players,
    pub queues: Queues,
    pub outputs: Arc<outputs::Outputs>,
    /// UPnP event subscriptions to renderers (`lan`), reached by the server's event route.
    pub upnp_events: Arc<lan::gena::Events>,
    /// Recommendations and the listening history they learn from.
    pub reco: Arc<reco::Reco>,
    /// Each user's links to ListenBrainz and Last.fm, and the outbox of listens for them.
    pub scrobbling: Arc<scrobble::Scrobbling>,
    /// The live watch on the music folders, when `watch` is on (set once the server starts).
    pub watcher: std::sync::Mutex<Option<library::watcher::Watcher>>,
}

/// Runs a third-party parser on untrusted input, turning its panic (a bug in it on malformed
/// input: fuzzing found such in lofty and feed-rs) into `None`, so that one bad file or feed
/// costs only itself. The panic's message still reaches the log through the panic hook.
pub fn survive<T>(parse: impl FnOnce() -> T) -> Option<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(parse)).ok()
}

impl App {
    /// A song played through by `user` at `at` (a scrobble, the household queue): the play
    /// counts of the song, its album and its artists go up, and the listen is queued for the
    /// user's scrobbling services in the same transaction (a crash right after loses neither).
    /// A song no longer in the library counts nothing.
    pub fn count_play(&self, user: i64, song: i64, at: i64) -> Result<()> {
        use library::browse;
        let mut c = self.db.read()?;
        let Some(row) = browse::song(&mut c, song, &browse::Scope::all())? else {
            return Ok(());
        };
        let artists = browse::track_artist_ids(&mut c, song)?;
        let listen = scrobble::Scrobbling::listen_of(&mut c, song, at)?;
        drop(c);
        let mut w = self.db.write();
        let queued = w.transaction(|c| {
            annotations::Annotations::played_in(c, user, song, row.album_id, &artists, at)?;
            match &listen {
                Some(l) => scrobble::Scrobbling::enqueue(c, user, l),
                None => Ok(0),
            }
        })?;
        drop(w);
        if queued > 0 {
            self.scrobbling.queued();
        }
        Ok(())
    }

    /// `user` started playing `song` (a Subsonic "now playing", the household queue): sent on
    /// to their scrobbling services, best effort.
    pub fn now_playing(&self, user: i64, song: i64) {
        self.scrobbling.now_playing(user, song);
    }

    /// A player's playback report (OpenSubsonic `reportPlayback`): what `getNowPlaying` shows,
    /// now playing at the user's scrobbling services when a song starts, and when a song ends,
    /// its listen (or skip) and, if enough of it was heard, its play, counted once.
    pub fn report_playback(
        &self,
        user: i64,
        user_name: &str,
        player: &str,
        report: playback::Report,
    ) -> Result<()> {
        use playback::{Media, State};
        let at = db::now();
        let outcome = self.annotations.playback.report(user, player, report, at);
        if let Some(ended) = outcome.ended {
            self.playback_ended(user, ended)?;
        }
        let Media::Song(track) = report.media else {
            return Ok(());
        };
        if report.state == State::Stopped {
            self.annotations.not_playing(user, Some(player));
            return Ok(());
        }
        self.annotations
            .playing(user, user_name, track, Some(player));
        if outcome.started && !report.ignore_scrobble {
            self.now_playing(user, track);
        }
        Ok(())
    }

    fn playback_ended(&self, user: i64, e: playback::Ended) -> Result<()> {
        let playback::Media::Song(track) = e.media else {
            // Podcast episodes count no plays and feed no recommendations.
            return Ok(());
        };
        if e.ignore_scrobble || e.heard_ms <= 0 {
            return Ok(());
        }
        self.reco.listening.record(
            user,
            track,
            e.started_at,
            e.heard_ms,
            e.duration_ms,
            reco::history::Source::Scrobble,
        )?;
        let heard_enough = !reco::history::is_skip(e.heard_ms, e.duration_ms);
        if heard_enough
            && self.annotations.count_once(
                user,
                track,
                e.started_at,
                e.duration_ms,
                annotations::CountedBy::Report,
            )
        {
            self.count_play(user, track, e.started_at)?;
        }
        Ok(())
    }

    /// The household queue started `song` for `user` (who last gave it a command): it is what
    /// they are playing, in Subsonic's `getNowPlaying` and at their scrobbling services.
    pub fn queue_started(&self, user: i64, song: i64) {
        if let Ok(Some(u)) = self.users.by_id(user) {
            self.annotations
                .playing(user, &u.name, song, Some(QUEUE_PLAYER));
        }
        self.now_playing(user, song);
    }

    /// Adds a music folder (see [`Library::add_folder`]), watches it, and scans in the
    /// background. Its id.
    pub fn add_music_folder(&self, path: &std::path::Path) -> Result<i64, library::FolderRefusal> {
        let (id, root) = self.library.add_folder(path, &self.settings.data)?;
        if self.settings.watch {
            if let Some(w) = self.watching().as_mut() {
                w.watch(&root);
            }
        }
        self.scan_now();
        Ok(id)
    }

    /// Takes back a folder added in the app (see [`Library::remove_folder`]) and scans, which
    /// hides its songs everywhere.
    pub fn remove_music_folder(&self, id: i64) -> Result<(), library::FolderRefusal> {
        let root = self.library.remove_folder(id)?;
        if let Some(w) = self.watching().as_mut() {
            w.unwatch(&root);
        }
        self.scan_now();
        Ok(())
    }

    fn watching(&self) -> std::sync::MutexGuard<'_, Option<library::watcher::Watcher>> {
        self.watcher.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A scan after the folders changed (the change itself is kept whatever happens here).
    fn scan_now(&self) {
        if let Err(e) = self.library.scan_in_background(false) {
            tracing::error!("cannot start a scan: {e}");
        }
    }

    pub fn open(settings: Settings) -> Result<App> {
        let db = Arc::new(Db::open(&settings.data)?);
        let library = Arc::new(Library::new(db.clone(), &settings));
        library.load_added_folders()?;
        let users = Arc::new(Users::new(db.clone(), &settings.data)?);
        let annotations = Annotations::new(db.clone());
        let playlists = Playlists::new(db.clone());
        let bookmarks = Bookmarks::new(db.clone());
        let radio = Radio::new(db.clone());
        let podcasts = Arc::new(podcasts::Podcasts::new(
            db.clone(),
            podcasts::Config {
                folder: settings.podcast_dir(),
                limits: podcasts::Limits {
                    allow_private: settings.podcast_allow_private_addresses,
                    ..podcasts::Limits::new(settings.podcast_max_episode_size)
                },
                auto_download: settings.podcast_auto_download,
            },
        ));
        let chat = Chat::new(db.clone());
        let shares = Shares::new(db.clone());
        let players = Players::new(db.clone());
        let queues = Queues::open(db.clone())?;
        let reco = Arc::new(reco::Reco::new(db.clone(), library.clone()));
        let scrobbling = Arc::new(scrobble::Scrobbling::new(
            db.clone(),
            users.clone(),
            settings.scrobble.clone(),
        ));
        reco.set_autoplay(settings.autoplay);
        let media = Arc::new(Media::new(
            &settings.data.join("cache"),
            &settings.data.join("avatars"),
            settings.transcode_cache,
            settings.transcode_slots,
            settings.allow_outside_links,
        ));
        Ok(App {
            settings,
            db,
            library,
            users,
            annotations,
            playlists,
            bookmarks,
            radio,
            podcasts,
            chat,
            shares,
            media,
            players,
            queues,
            outputs: Arc::default(),
            upnp_events: Arc::default(),
            reco,
            scrobbling,
            watcher: std::sync::Mutex::new(None),
        })
    }
}
