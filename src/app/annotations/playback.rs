//! Playback reports (OpenSubsonic `reportPlayback`): for each user and player, the song it
//! plays, its state, and a clock that runs only while it plays. From them the server knows where
//! a song is between reports (for `getNowPlaying`), and, when a song ends, how much of it was
//! really heard: wall time while playing, times the playback rate, never more than the song.
//!
//! The rules follow the extension's text: `starting` opens a session (even for the same song
//! again) and its clock waits for `playing`, so buffering is not counted; a song ends with
//! `stopped`, or when the player starts another one; a session nobody reported on for 30 minutes
//! past the song's planned end is dropped without counting, and the client is expected to
//! scrobble such plays itself.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long after a song's planned end a silent session is kept.
const GRACE: Duration = Duration::from_secs(30 * 60);

/// The fastest playback rate taken: audiobook players go to 3 or 4; more is a mistake.
pub const MAX_RATE: f64 = 16.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Starting,
    Playing,
    Paused,
    Stopped,
}

impl State {
    pub fn parse(text: &str) -> Option<State> {
        Some(match text {
            "starting" => State::Starting,
            "playing" => State::Playing,
            "paused" => State::Paused,
            "stopped" => State::Stopped,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            State::Starting => "starting",
            State::Playing => "playing",
            State::Paused => "paused",
            State::Stopped => "stopped",
        }
    }
}

/// What the media is, as far as play counting goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Media {
    Song(i64),
    /// Podcast episodes show where they are but count no plays.
    Episode(i64),
}

/// One report from a player.
#[derive(Debug, Clone, Copy)]
pub struct Report {
    pub media: Media,
    /// The song's length, from the library; 0 if unknown.
    pub duration_ms: i64,
    pub position_ms: i64,
    pub state: State,
    pub rate: f64,
    pub ignore_scrobble: bool,
}

/// A song a player has finished with: how much of it was heard.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    pub media: Media,
    /// When its session started (Unix seconds).
    pub started_at: i64,
    pub heard_ms: i64,
    pub duration_ms: i64,
    pub ignore_scrobble: bool,
}

/// What a report did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Outcome {
    /// The song it ended: the player's previous song, or this one on `stopped`.
    pub ended: Option<Ended>,
    /// Whether it began a new session (a new song, or the same one started again).
    pub started: bool,
}

/// Where a player is in its song now, estimated from its last report.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub media: Media,
    pub state: State,
    pub position_ms: i64,
    pub rate: f64,
}

struct Session {
    media: Media,
    duration_ms: i64,
    state: State,
    position_ms: i64,
    rate: f64,
    reported: Instant,
    heard_ms: i64,
    started_at: i64,
    ignore_scrobble: bool,
}

impl Session {
    /// Moves the clock to `now`: while playing, position and time heard advance.
    fn advance(&mut self, now: Instant) {
        if self.state == State::Playing {
            let ran = (now.saturating_duration_since(self.reported).as_millis() as f64 * self.rate)
                as i64;
            self.position_ms = self.capped(self.position_ms.saturating_add(ran));
            self.heard_ms = self.capped(self.heard_ms.saturating_add(ran));
        }
        self.reported = now;
    }

    fn capped(&self, ms: i64) -> i64 {
        if self.duration_ms > 0 {
            ms.min(self.duration_ms)
        } else {
            ms
        }
    }

    /// Whether nobody reported on it for [`GRACE`] past its planned end.
    fn abandoned(&self, now: Instant) -> bool {
        let left_ms = (self.duration_ms - self.position_ms).max(0);
        let rate = if self.rate > 0.0 { self.rate } else { 1.0 };
        let planned_end = Duration::from_millis((left_ms as f64 / rate) as u64);
        now.saturating_duration_since(self.reported) > planned_end + GRACE
    }

    fn ended(&self) -> Ended {
        Ended {
            media: self.media,
            started_at: self.started_at,
            heard_ms: self.heard_ms,
            duration_ms: self.duration_ms,
            ignore_scrobble: self.ignore_scrobble,
        }
    }
}

/// Every player's session, by (user id, player name).
#[derive(Default)]
pub struct Sessions {
    by_player: Mutex<HashMap<(i64, String), Session>>,
}

impl Sessions {
    /// Takes in a report made at `at` (Unix seconds); returns what it ended and started.
    pub fn report(&self, user: i64, player: &str, r: Report, at: i64) -> Outcome {
        let mut started = false;
        let ended = self.report_at(user, player, r, at, Instant::now(), &mut started);
        Outcome { ended, started }
    }

    fn report_at(
        &self,
        user: i64,
        player: &str,
        r: Report,
        at: i64,
        now: Instant,
        started: &mut bool,
    ) -> Option<Ended> {
        let mut map = self.by_player.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, s| !s.abandoned(now));
        let key = (user, player.to_string());
        let mut ended = None;
        if let Some(s) = map.get_mut(&key) {
            s.advance(now);
            let same = s.media == r.media;
            // Another song started, or this one started again or stopped. A stop that names
            // another song than the one playing changes nothing.
            let ends = if same {
                matches!(r.state, State::Starting | State::Stopped)
            } else {
                r.state != State::Stopped
            };
            if ends {
                ended = map.remove(&key).map(|done| done.ended());
            }
        }
        if r.state == State::Stopped {
            return ended;
        }
        let s = map.entry(key).or_insert_with(|| {
            *started = true;
            Session {
                media: r.media,
                duration_ms: r.duration_ms.max(0),
                state: r.state,
                position_ms: 0,
                rate: r.rate,
                reported: now,
                heard_ms: 0,
                started_at: at,
                ignore_scrobble: r.ignore_scrobble,
            }
        });
        s.state = r.state;
        s.position_ms = s.capped(r.position_ms.max(0));
        s.rate = r.rate;
        s.reported = now;
        s.ignore_scrobble |= r.ignore_scrobble;
        ended
    }

    /// Where `user`'s `player` is now, if it reported on a song lately.
    pub fn timeline(&self, user: i64, player: &str) -> Option<Timeline> {
        let map = self.by_player.lock().unwrap_or_else(|p| p.into_inner());
        let s = map.get(&(user, player.to_string()))?;
        let now = Instant::now();
        if s.abandoned(now) {
            return None;
        }
        let mut position_ms = s.position_ms;
        if s.state == State::Playing {
            let ran =
                (now.saturating_duration_since(s.reported).as_millis() as f64 * s.rate) as i64;
            position_ms = s.capped(position_ms.saturating_add(ran));
        }
        Some(Timeline {
            media: s.media,
            state: s.state,
            position_ms,
            rate: s.rate,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SONG: Media = Media::Song(7);

    impl Sessions {
        fn at(&self, user: i64, player: &str, r: Report, at: i64, now: Instant) -> Option<Ended> {
            self.report_at(user, player, r, at, now, &mut false)
        }
    }

    fn report(state: State, position_ms: i64) -> Report {
        Report {
            media: SONG,
            duration_ms: 200_000,
            position_ms,
            state,
            rate: 1.0,
            ignore_scrobble: false,
        }
    }

    #[test]
    fn only_time_spent_playing_is_heard() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let at = |secs: u64| t0 + Duration::from_secs(secs);
        assert_eq!(s.at(1, "app", report(State::Starting, 0), 100, at(0)), None);
        // Ten seconds of buffering do not count.
        s.at(1, "app", report(State::Playing, 0), 100, at(10));
        s.at(1, "app", report(State::Paused, 30_000), 100, at(40));
        // A long pause does not count either.
        s.at(1, "app", report(State::Playing, 30_000), 100, at(400));
        let ended = s
            .at(1, "app", report(State::Stopped, 90_000), 100, at(460))
            .unwrap();
        assert_eq!(ended.heard_ms, 90_000);
        assert_eq!(ended.started_at, 100);
        assert_eq!(ended.media, SONG);
        // Stopped twice: nothing more to end.
        assert_eq!(
            s.at(1, "app", report(State::Stopped, 0), 100, at(461)),
            None
        );
    }

    #[test]
    fn a_new_song_ends_the_last_one_and_a_rate_speeds_the_clock() {
        let s = Sessions::default();
        let t0 = Instant::now();
        let mut fast = report(State::Playing, 0);
        fast.rate = 2.0;
        s.at(1, "app", fast, 100, t0);
        let mut next = report(State::Starting, 0);
        next.media = Media::Song(8);
        let ended = s
            .at(1, "app", next, 130, t0 + Duration::from_secs(30))
            .unwrap();
        assert_eq!(ended.heard_ms, 60_000);
        // Heard never exceeds the song, however long the report says it ran.
        let t1 = t0 + Duration::from_secs(31);
        s.at(1, "app", report(State::Playing, 0), 200, t1);
        let ended = s
            .at(
                1,
                "app",
                report(State::Stopped, 0),
                200,
                t1 + Duration::from_secs(1000),
            )
            .unwrap();
        assert_eq!(ended.heard_ms, 200_000);
    }

    #[test]
    fn players_and_users_are_apart_and_silence_ends_a_session_uncounted() {
        let s = Sessions::default();
        let t0 = Instant::now();
        s.at(1, "phone", report(State::Playing, 0), 100, t0);
        s.at(2, "phone", report(State::Paused, 5_000), 100, t0);
        assert_eq!(s.timeline(2, "phone").unwrap().position_ms, 5_000);
        assert_eq!(s.timeline(1, "laptop"), None);
        // Far past the planned end with no news: dropped, and its stop ends nothing.
        let late = t0 + Duration::from_secs(200 + 30 * 60 + 1);
        assert_eq!(s.at(1, "phone", report(State::Stopped, 0), 100, late), None);
    }
}
