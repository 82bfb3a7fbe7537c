//! Scrobbling (issue 10): each user's links to ListenBrainz and Last.fm, their on/off switch, and
//! getting their listens there. Every counted play ([`crate::app::App::count_play`]: Subsonic
//! scrobbles, the web app's player through them, the household queue) puts one row per linked
//! service in the outbox in the same transaction, so a crash right after loses nothing; the
//! [`outbox`] worker delivers them and marks a row sent only once the service took it (and the
//! same listen is never queued twice). "Now playing" goes out at once, best effort,
//! from a thread of its own and a short queue (dropped when full or when it fails).
//!
//! Tokens and session keys are sealed under `secret.key` like passwords ([`Users::seal`]). The
//! calls themselves are in [`services`]; no HTTP server code here.

pub mod outbox;
pub mod services;

use std::sync::{Arc, Mutex};

use anyhow::Result;
use crossbeam_channel::{Receiver, Sender};
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use serde::Serialize;

use crate::app::db::schema::{scrobble_links, scrobble_outbox, scrobble_prefs};
use crate::app::db::{now, Db};
use crate::app::library::browse;
use crate::app::users::Users;
use crate::config::ScrobbleSettings;
pub use services::{LinkError, Listen, Outcome, Service, Services};

/// "Now playing" calls waiting to go out; more are dropped (it is best effort).
const NOW_PLAYING_QUEUE: usize = 32;
/// How long the Last.fm link flow's `state` stays good.
const LINK_FLOW_SECONDS: i64 = 3600;

/// A user's scrobbling, as the API and the web app show it.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    /// The user's switch: off, no listen is queued and nothing is sent as playing.
    pub enabled: bool,
    pub listenbrainz: LinkStatus,
    pub lastfm: LinkStatus,
    /// Whether the server has a Last.fm API key and secret, so users can link Last.fm.
    pub lastfm_available: bool,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkStatus {
    pub linked: bool,
    /// The account's name on the service.
    pub account: Option<String>,
    pub linked_at: Option<i64>,
    /// Why the service refused the link: link again to send the waiting listens.
    pub needs_attention: Option<String>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub last_sent_at: Option<i64>,
    /// Listens waiting to go out.
    pub pending: i64,
    /// Listens the service refused as they were (kept, not sent again).
    pub refused: i64,
}

#[derive(Queryable)]
struct LinkRow {
    service: String,
    account: String,
    linked_at: i64,
    needs_attention: Option<String>,
    last_error: Option<String>,
    last_error_at: Option<i64>,
    last_sent_at: Option<i64>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    service: String,
    #[diesel(sql_type = diesel::sql_types::Bool)]
    waiting: bool,
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Scrobbling, behind one manager.
pub struct Scrobbling {
    db: Arc<Db>,
    users: Arc<Users>,
    services: Arc<Services>,
    wake: Sender<()>,
    woken: Receiver<()>,
    playing: Sender<(i64, Listen)>,
    playing_rx: Mutex<Option<Receiver<(i64, Listen)>>>,
}

impl Scrobbling {
    pub fn new(db: Arc<Db>, users: Arc<Users>, settings: ScrobbleSettings) -> Scrobbling {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let (playing, playing_rx) = crossbeam_channel::bounded(NOW_PLAYING_QUEUE);
        Scrobbling {
            db,
            users,
            services: Arc::new(Services::new(settings)),
            wake,
            woken,
            playing,
            playing_rx: Mutex::new(Some(playing_rx)),
        }
    }

    /// Starts delivering: the outbox worker and the "now playing" sender (once; `serve` only).
    pub fn start(self: &Arc<Self>) -> Result<()> {
        let Some(playing) = self
            .playing_rx
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        else {
            return Ok(());
        };
        let me = self.clone();
        std::thread::Builder::new()
            .name("scrobble-outbox".into())
            .spawn(move || outbox::run(&me))?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("scrobble-playing".into())
            .spawn(move || {
                for (user, listen) in playing {
                    me.send_now_playing(user, &listen);
                }
            })?;
        Ok(())
    }

    /// Tells the worker there is something new.
    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    /// The listen of `song` started at `at`, as it goes out (`None`: no such song).
    pub fn listen_of(c: &mut SqliteConnection, song: i64, at: i64) -> Result<Option<Listen>> {
        use crate::app::db::schema::albums;
        let Some(row) = browse::song(c, song, &browse::Scope::all())? else {
            return Ok(None);
        };
        let release_mbid: Option<String> = albums::table
            .find(row.album_id)
            .select(albums::mbz_album_id)
            .first::<Option<String>>(c)
            .optional()?
            .flatten();
        Ok(Some(Listen {
            track_id: song,
            listened_at: at,
            artist: row.artist_display,
            track: row.title,
            album: row.album_name,
            album_artist: row.album_artist_display,
            duration_ms: row.duration_ms,
            track_number: row.track_number,
            recording_mbid: row.mbz_recording_id.filter(|m| !m.is_empty()),
            release_mbid: release_mbid.filter(|m| !m.is_empty()),
        }))
    }

    /// Queues `listen` of `user` for each service they linked (unless they switched scrobbling
    /// off), inside the caller's transaction. The same song at the same time is queued once.
    /// Call [`Scrobbling::queued`] once the transaction is committed.
    pub fn enqueue(c: &mut SqliteConnection, user: i64, l: &Listen) -> QueryResult<usize> {
        // A new listen waits as long as those already waiting for the same service do: a
        // service that asked us to slow down gets no new call before its time.
        diesel::sql_query(
            "INSERT OR IGNORE INTO scrobble_outbox (user_id, service, track_id, listened_at,
                 artist, track, album, album_artist, duration_ms, track_number, recording_mbid,
                 release_mbid, next_try_at)
             SELECT l.user_id, l.service, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?,
                 COALESCE((SELECT MAX(o.next_try_at) FROM scrobble_outbox o
                     WHERE o.user_id = l.user_id AND o.service = l.service
                       AND o.refused IS NULL AND o.sent_at IS NULL), 0)
             FROM scrobble_links l
             WHERE l.user_id = ?
               AND COALESCE((SELECT p.enabled FROM scrobble_prefs p
                   WHERE p.user_id = l.user_id), 1)",
        )
        .bind::<BigInt, _>(l.track_id)
        .bind::<BigInt, _>(l.listened_at)
        .bind::<Text, _>(&l.artist)
        .bind::<Text, _>(&l.track)
        .bind::<Text, _>(&l.album)
        .bind::<Text, _>(&l.album_artist)
        .bind::<BigInt, _>(l.duration_ms)
        .bind::<Nullable<Integer>, _>(l.track_number)
        .bind::<Nullable<Text>, _>(&l.recording_mbid)
        .bind::<Nullable<Text>, _>(&l.release_mbid)
        .bind::<BigInt, _>(user)
        .execute(c)
    }

    /// After [`Scrobbling::enqueue`] committed: the worker gets going.
    pub fn queued(&self) {
        self.wake();
    }

    /// `user` started playing `song`: sent as "now playing" to their services, best effort.
    pub fn now_playing(&self, user: i64, song: i64) {
        let listen = (|| -> Result<Option<Listen>> {
            if !self.enabled(user)? || !self.has_links(user)? {
                return Ok(None);
            }
            let mut c = self.db.read()?;
            Scrobbling::listen_of(&mut c, song, now())
        })();
        match listen {
            Ok(Some(l)) => {
                if self.playing.try_send((user, l)).is_err() {
                    tracing::debug!("now playing dropped: too many waiting");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::debug!("now playing not sent: {e:#}"),
        }
    }

    fn send_now_playing(&self, user: i64, listen: &Listen) {
        for service in Service::ALL {
            let Ok(Some(secret)) = self.usable_secret(user, service) else {
                continue;
            };
            let outcome = match service {
                Service::ListenBrainz => {
                    self.services
                        .listenbrainz_submit(&secret, std::slice::from_ref(listen), true)
                }
                Service::LastFm => self.services.lastfm_now_playing(&secret, listen),
            };
            match outcome {
                Outcome::Accepted => {}
                Outcome::Unlinked(why) => {
                    if let Err(e) = self.mark_unlinked(user, service, &why) {
                        tracing::warn!("cannot mark a link as refused: {e:#}");
                    }
                }
                Outcome::Later { why, .. } | Outcome::Refused(why) => {
                    tracing::debug!(service = service.key(), "now playing not taken: {why}");
                }
            }
        }
    }

    /// The token or session key of a link that is not refused.
    fn usable_secret(&self, user: i64, service: Service) -> Result<Option<String>> {
        let mut c = self.db.read()?;
        let sealed: Option<Vec<u8>> = scrobble_links::table
            .find((user, service.key()))
            .filter(scrobble_links::needs_attention.is_null())
            .select(scrobble_links::secret)
            .first(&mut c)
            .optional()?;
        sealed.map(|s| self.users.open(&s)).transpose()
    }

    fn has_links(&self, user: i64) -> Result<bool> {
        let mut c = self.db.read()?;
        let n: i64 = scrobble_links::table
            .filter(scrobble_links::user_id.eq(user))
            .count()
            .get_result(&mut c)?;
        Ok(n > 0)
    }

    /// The user's switch (on unless they turned it off).
    pub fn enabled(&self, user: i64) -> Result<bool> {
        let mut c = self.db.read()?;
        let on: Option<bool> = scrobble_prefs::table
            .find(user)
            .select(scrobble_prefs::enabled)
            .first(&mut c)
            .optional()?;
        Ok(on.unwrap_or(true))
    }

    /// Whether the user's plays go anywhere: switched on, and linked to a service (Subsonic's
    /// `scrobblingEnabled`).
    pub fn active(&self, user: i64) -> Result<bool> {
        Ok(self.enabled(user)? && self.has_links(user)?)
    }

    pub fn set_enabled(&self, user: i64, enabled: bool) -> Result<()> {
        let mut c = self.db.write();
        diesel::replace_into(scrobble_prefs::table)
            .values((
                scrobble_prefs::user_id.eq(user),
                scrobble_prefs::enabled.eq(enabled),
            ))
            .execute(&mut *c)?;
        Ok(())
    }

    pub fn status(&self, user: i64) -> Result<Status> {
        let enabled = self.enabled(user)?;
        let mut c = self.db.read()?;
        let links: Vec<LinkRow> = scrobble_links::table
            .filter(scrobble_links::user_id.eq(user))
            .select((
                scrobble_links::service,
                scrobble_links::account,
                scrobble_links::linked_at,
                scrobble_links::needs_attention,
                scrobble_links::last_error,
                scrobble_links::last_error_at,
                scrobble_links::last_sent_at,
            ))
            .load(&mut c)?;
        let counts: Vec<Count> = diesel::sql_query(
            "SELECT service, refused IS NULL AS waiting, COUNT(*) AS n FROM scrobble_outbox
             WHERE user_id = ? AND sent_at IS NULL GROUP BY service, refused IS NULL",
        )
        .bind::<BigInt, _>(user)
        .load(&mut c)?;
        let of = |service: Service| {
            let mut s = LinkStatus::default();
            if let Some(l) = links.iter().find(|l| l.service == service.key()) {
                s.linked = true;
                s.account = Some(l.account.clone());
                s.linked_at = Some(l.linked_at);
                s.needs_attention = l.needs_attention.clone();
                s.last_error = l.last_error.clone();
                s.last_error_at = l.last_error_at;
                s.last_sent_at = l.last_sent_at;
            }
            for n in counts.iter().filter(|n| n.service == service.key()) {
                if n.waiting {
                    s.pending += n.n;
                } else {
                    s.refused += n.n;
                }
            }
            s
        };
        Ok(Status {
            enabled,
            listenbrainz: of(Service::ListenBrainz),
            lastfm: of(Service::LastFm),
            lastfm_available: self.services.lastfm_ready(),
        })
    }

    /// Links (or links again) `service` for `user`: the secret is sealed, a refusal is
    /// forgotten, and what waited goes out.
    fn store_link(&self, user: i64, service: Service, account: &str, secret: &str) -> Result<()> {
        let sealed = self.users.seal(secret)?;
        let mut c = self.db.write();
        c.transaction(|c| {
            diesel::replace_into(scrobble_links::table)
                .values((
                    scrobble_links::user_id.eq(user),
                    scrobble_links::service.eq(service.key()),
                    scrobble_links::secret.eq(&sealed),
                    scrobble_links::account.eq(account),
                    scrobble_links::linked_at.eq(now()),
                ))
                .execute(c)?;
            // Waiting listens go out now, to the account as linked again.
            diesel::update(
                scrobble_outbox::table
                    .filter(scrobble_outbox::user_id.eq(user))
                    .filter(scrobble_outbox::service.eq(service.key()))
                    .filter(scrobble_outbox::sent_at.is_null()),
            )
            .set((
                scrobble_outbox::next_try_at.eq(0),
                scrobble_outbox::attempts.eq(0),
            ))
            .execute(c)?;
            Ok::<_, diesel::result::Error>(())
        })?;
        drop(c);
        self.wake();
        Ok(())
    }

    /// Links ListenBrainz with the user's token, once ListenBrainz says whose it is.
    pub fn link_listenbrainz(&self, user: i64, token: &str) -> Result<String, LinkError> {
        let token = token.trim();
        if token.is_empty() || token.len() > 200 || token.contains(char::is_whitespace) {
            return Err(LinkError::Refused(
                "that is not a ListenBrainz user token: copy it from https://listenbrainz.org/settings/"
                    .into(),
            ));
        }
        let account = self.services.listenbrainz_account(token)?;
        self.store_link(user, Service::ListenBrainz, &account, token)?;
        Ok(account)
    }

    /// Forgets the link and the listens still waiting for it (they would go to whichever
    /// account is linked next).
    pub fn unlink(&self, user: i64, service: Service) -> Result<bool> {
        let mut c = self.db.write();
        let gone = c.transaction(|c| {
            diesel::delete(
                scrobble_outbox::table
                    .filter(scrobble_outbox::user_id.eq(user))
                    .filter(scrobble_outbox::service.eq(service.key())),
            )
            .execute(c)?;
            diesel::delete(scrobble_links::table.find((user, service.key()))).execute(c)
        })?;
        Ok(gone > 0)
    }

    /// The first step of linking Last.fm: the Last.fm page to send the user to. Last.fm sends
    /// them back to `callback` (this server's callback address) with `state` and a token.
    pub fn lastfm_start(&self, user: i64, callback: &str) -> Result<String, LinkError> {
        let settings = self.services.settings();
        let Some(key) = settings
            .lastfm_api_key
            .as_ref()
            .filter(|_| self.services.lastfm_ready())
        else {
            return Err(LinkError::NotConfigured(
                "Last.fm is not set up on this server: an admin sets lastfm_api_key and \
                 lastfm_secret (see docs/configuration.md)"
                    .into(),
            ));
        };
        let expires = now() + LINK_FLOW_SECONDS;
        let sig = self.users.sign(&link_message(user, expires));
        let state = format!("{user}.{expires}.{sig}");
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        let cb = format!("{callback}?state={}", enc(&state));
        Ok(format!(
            "{}?api_key={}&cb={}",
            settings.lastfm_auth_url,
            enc(key),
            enc(&cb)
        ))
    }

    /// The last step: Last.fm sent `user` back with `token`; the session key it is worth is
    /// kept for them. `state` must be the one made for `user` when they started: Last.fm's
    /// page could otherwise be used to link someone's Last.fm account to another Houseband
    /// user (who started the flow and sent them the link).
    pub fn lastfm_finish(&self, user: i64, state: &str, token: &str) -> Result<(), LinkError> {
        let expired = || {
            LinkError::Refused(
                "this Last.fm link has expired or is not from this server: start linking again from Settings"
                    .into(),
            )
        };
        let mut parts = state.splitn(3, '.');
        let (Some(starter), Some(expires), Some(sig)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(expired());
        };
        let (Ok(starter), Ok(expires)) = (starter.parse::<i64>(), expires.parse::<i64>()) else {
            return Err(expired());
        };
        if expires < now() || !self.users.signed(&link_message(starter, expires), sig) {
            return Err(expired());
        }
        if starter != user {
            return Err(LinkError::Refused(
                "this Last.fm link was started by another Houseband user: nothing was linked. \
                 To link your own Last.fm account, start from your Settings > Scrobbling"
                    .into(),
            ));
        }
        let token = token.trim();
        if token.is_empty() || token.len() > 200 {
            return Err(LinkError::Refused(
                "Last.fm sent no token back: start linking again and allow access".into(),
            ));
        }
        let (account, session_key) = self.services.lastfm_session(token)?;
        self.store_link(user, Service::LastFm, &account, &session_key)?;
        Ok(())
    }

    /// The service refused the link: nothing more goes out for it until the user links again.
    fn mark_unlinked(&self, user: i64, service: Service, why: &str) -> Result<()> {
        tracing::warn!(
            user,
            service = service.key(),
            "scrobbling link refused: {why}"
        );
        let mut c = self.db.write();
        diesel::update(scrobble_links::table.find((user, service.key())))
            .set((
                scrobble_links::needs_attention.eq(why),
                scrobble_links::last_error.eq(why),
                scrobble_links::last_error_at.eq(now()),
            ))
            .execute(&mut *c)?;
        Ok(())
    }
}

fn link_message(user: i64, expires: i64) -> String {
    format!("lastfm-link {user} {expires}")
}
