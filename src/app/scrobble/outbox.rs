//! The outbox worker: one thread that sends waiting listens, per user and service, in batches
//! of [`BATCH`], oldest first. A row is marked sent only after the service accepted it (and
//! deleted [`KEEP_SENT`] later; till then the same listen queued again is ignored); a failure
//! to get an answer, a server error or a rate limit puts the user's listens for that service
//! off (doubling from 2 s to 30 min, or as long as the service asked); a refused token marks
//! the link and stops there, keeping the listens until the user links again; listens the
//! service refused as they are are kept, marked, and never sent again. So nothing spins, and
//! nothing the service took is sent twice by us (a crash between its answer and our update is
//! the one gap; the services drop a listen sent again with the same time).

use std::time::Duration;

use anyhow::Result;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::services::{Listen, Outcome, Service, BATCH};
use super::Scrobbling;
use crate::app::db::now;
use crate::app::db::schema::{scrobble_links, scrobble_outbox};

/// The first wait after a failure; each failure after it doubles it.
const FIRST_WAIT: i64 = 2;
const LONGEST_WAIT: i64 = 30 * 60;
/// How long sent listens are kept, against doubles.
pub const KEEP_SENT: i64 = 30 * 86400;
/// The longest the worker sleeps without looking (a listen queued by another process).
const IDLE: Duration = Duration::from_secs(60);

#[derive(QueryableByName)]
struct Due {
    #[diesel(sql_type = BigInt)]
    user_id: i64,
    #[diesel(sql_type = Text)]
    service: String,
}

#[derive(QueryableByName)]
struct Next {
    #[diesel(sql_type = diesel::sql_types::Nullable<BigInt>)]
    at: Option<i64>,
}

#[derive(Queryable)]
struct Row {
    id: i64,
    track_id: i64,
    listened_at: i64,
    artist: String,
    track: String,
    album: String,
    album_artist: String,
    duration_ms: i64,
    track_number: Option<i32>,
    recording_mbid: Option<String>,
    release_mbid: Option<String>,
    attempts: i32,
}

/// Waiting listens whose link is not refused.
const WAITING: &str = "FROM scrobble_outbox o JOIN scrobble_links l
      ON l.user_id = o.user_id AND l.service = o.service
    WHERE o.refused IS NULL AND o.sent_at IS NULL AND l.needs_attention IS NULL";

/// The worker's loop (never returns).
pub fn run(s: &Scrobbling) {
    let mut pruned_at = 0;
    loop {
        if now() - pruned_at > 3600 {
            pruned_at = now();
            let old = scrobble_outbox::table.filter(scrobble_outbox::sent_at.lt(now() - KEEP_SENT));
            if let Err(e) = diesel::delete(old).execute(&mut *s.db.write()) {
                tracing::warn!("scrobbling: cannot forget old sent listens: {e}");
            }
        }
        let sleep = match round(s) {
            Ok(sleep) => sleep,
            Err(e) => {
                tracing::warn!("scrobbling: {e:#}");
                Duration::from_secs(5)
            }
        };
        // Woken early by a new listen or a new link.
        let _ = s.woken.recv_timeout(sleep);
    }
}

/// Sends everything due; how long until the next is.
fn round(s: &Scrobbling) -> Result<Duration> {
    let due: Vec<Due> = diesel::sql_query(format!(
        "SELECT DISTINCT o.user_id, o.service {WAITING} AND o.next_try_at <= ?"
    ))
    .bind::<BigInt, _>(now())
    .load(&mut *s.db.read()?)?;
    for group in due {
        let Some(service) = Service::parse(&group.service) else {
            continue;
        };
        deliver(s, group.user_id, service)?;
    }
    let next: Next = diesel::sql_query(format!("SELECT MIN(o.next_try_at) AS at {WAITING}"))
        .get_result(&mut *s.db.read()?)?;
    Ok(match next.at {
        None => IDLE,
        Some(at) => Duration::from_secs((at - now()).clamp(0, IDLE.as_secs() as i64) as u64),
    })
}

/// One batch of one user's listens for one service.
fn deliver(s: &Scrobbling, user: i64, service: Service) -> Result<()> {
    let Some(secret) = s.usable_secret(user, service)? else {
        return Ok(());
    };
    let rows: Vec<Row> = scrobble_outbox::table
        .filter(scrobble_outbox::user_id.eq(user))
        .filter(scrobble_outbox::service.eq(service.key()))
        .filter(scrobble_outbox::refused.is_null())
        .filter(scrobble_outbox::sent_at.is_null())
        .filter(scrobble_outbox::next_try_at.le(now()))
        .order((scrobble_outbox::listened_at, scrobble_outbox::id))
        .limit(BATCH as i64)
        .select((
            scrobble_outbox::id,
            scrobble_outbox::track_id,
            scrobble_outbox::listened_at,
            scrobble_outbox::artist,
            scrobble_outbox::track,
            scrobble_outbox::album,
            scrobble_outbox::album_artist,
            scrobble_outbox::duration_ms,
            scrobble_outbox::track_number,
            scrobble_outbox::recording_mbid,
            scrobble_outbox::release_mbid,
            scrobble_outbox::attempts,
        ))
        .load(&mut *s.db.read()?)?;
    if rows.is_empty() {
        return Ok(());
    }
    let outcome = send(s, service, &secret, &rows);
    if matches!(outcome, Outcome::Refused(_)) && rows.len() > 1 {
        // One listen the service will not take must not hold the others back: one at a time,
        // so only the one refused is set aside.
        for row in rows.chunks(1) {
            let one = send(s, service, &secret, row);
            let stop = matches!(one, Outcome::Later { .. } | Outcome::Unlinked(_));
            settle(s, user, service, row, one)?;
            if stop {
                break;
            }
        }
        return Ok(());
    }
    settle(s, user, service, &rows, outcome)
}

fn send(s: &Scrobbling, service: Service, secret: &str, rows: &[Row]) -> Outcome {
    let listens: Vec<Listen> = rows
        .iter()
        .map(|r| Listen {
            track_id: r.track_id,
            listened_at: r.listened_at,
            artist: r.artist.clone(),
            track: r.track.clone(),
            album: r.album.clone(),
            album_artist: r.album_artist.clone(),
            duration_ms: r.duration_ms,
            track_number: r.track_number,
            recording_mbid: r.recording_mbid.clone(),
            release_mbid: r.release_mbid.clone(),
        })
        .collect();
    match service {
        Service::ListenBrainz => s.services.listenbrainz_submit(secret, &listens, false),
        Service::LastFm => s.services.lastfm_scrobble(secret, &listens),
    }
}

/// Records what the service made of `rows`.
fn settle(
    s: &Scrobbling,
    user: i64,
    service: Service,
    rows: &[Row],
    outcome: Outcome,
) -> Result<()> {
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    let t = now();
    let mut c = s.db.write();
    match outcome {
        Outcome::Accepted => {
            c.transaction(|c| {
                diesel::update(scrobble_outbox::table.filter(scrobble_outbox::id.eq_any(&ids)))
                    .set(scrobble_outbox::sent_at.eq(t))
                    .execute(c)?;
                diesel::update(scrobble_links::table.find((user, service.key())))
                    .set((
                        scrobble_links::last_sent_at.eq(t),
                        scrobble_links::last_error.eq(None::<String>),
                        scrobble_links::last_error_at.eq(None::<i64>),
                    ))
                    .execute(c)?;
                Ok::<_, diesel::result::Error>(())
            })?;
            tracing::debug!(
                user,
                service = service.key(),
                listens = ids.len(),
                "scrobbled"
            );
        }
        Outcome::Later { why, wait } => {
            let attempts = rows.iter().map(|r| r.attempts).max().unwrap_or(0);
            let backoff = FIRST_WAIT
                .saturating_mul(1i64 << attempts.clamp(0, 20))
                .min(LONGEST_WAIT);
            let wait = wait.map_or(backoff, |w| w.as_secs() as i64).max(1);
            tracing::info!(
                user,
                service = service.key(),
                "scrobbling again in {wait} s: {why}"
            );
            c.transaction(|c| {
                diesel::update(scrobble_outbox::table.filter(scrobble_outbox::id.eq_any(&ids)))
                    .set(scrobble_outbox::attempts.eq(scrobble_outbox::attempts + 1))
                    .execute(c)?;
                // Every listen for this service waits, not only this batch.
                diesel::update(
                    scrobble_outbox::table
                        .filter(scrobble_outbox::user_id.eq(user))
                        .filter(scrobble_outbox::service.eq(service.key()))
                        .filter(scrobble_outbox::refused.is_null())
                        .filter(scrobble_outbox::sent_at.is_null()),
                )
                .set(scrobble_outbox::next_try_at.eq(t + wait))
                .execute(c)?;
                note(c, user, service, &why)
            })?;
        }
        Outcome::Refused(why) => {
            tracing::warn!(user, service = service.key(), "listens refused: {why}");
            c.transaction(|c| {
                diesel::update(scrobble_outbox::table.filter(scrobble_outbox::id.eq_any(&ids)))
                    .set(scrobble_outbox::refused.eq(&why))
                    .execute(c)?;
                note(c, user, service, &why)
            })?;
        }
        Outcome::Unlinked(why) => {
            drop(c);
            s.mark_unlinked(user, service, &why)?;
        }
    }
    Ok(())
}

/// The link's last problem, for the user's status.
fn note(c: &mut SqliteConnection, user: i64, service: Service, why: &str) -> QueryResult<()> {
    diesel::update(scrobble_links::table.find((user, service.key())))
        .set((
            scrobble_links::last_error.eq(why),
            scrobble_links::last_error_at.eq(now()),
        ))
        .execute(c)?;
    Ok(())
}
