//! The household queue's state and the commands that change it, without storage or I/O: easy
//! to reason about and to test. Entries have ids of their own, so the same song can be queued
//! twice and commands from two phones compose; a command built on an older version is applied
//! only when what it names still exists where it says.

use serde::{Deserialize, Serialize};

/// A song as the queue shows it (enough for a client to draw the list without asking).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SongSummary {
    pub id: String,
    pub title: String,
    pub artist: String,
    pub album: String,
    /// Seconds.
    pub duration: i64,
    #[serde(rename = "coverArt")]
    pub cover_art: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    pub song: SongSummary,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Repeat {
    Off,
    One,
    All,
}

impl Repeat {
    pub fn as_str(self) -> &'static str {
        match self {
            Repeat::Off => "off",
            Repeat::One => "one",
            Repeat::All => "all",
        }
    }
    pub fn parse(text: &str) -> Option<Repeat> {
        Some(match text {
            "off" => Repeat::Off,
            "one" => Repeat::One,
            "all" => Repeat::All,
            _ => return None,
        })
    }
}

/// The most entries a queue holds.
pub const MAX_ENTRIES: usize = 100_000;

/// The whole state, as clients see it (`GET /api/queue`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct State {
    pub version: i64,
    /// In play order (the shuffled order while shuffle is on).
    pub entries: Vec<Entry>,
    pub current: Option<String>,
    pub position_ms: i64,
    pub playing: bool,
    pub repeat: Repeat,
    pub shuffle: bool,
    pub volume: u8,
    /// Muted: the outputs play silently, and the volume is kept for when it is not.
    #[serde(default)]
    pub muted: bool,
    pub output: Option<String>,
    /// Entry ids in the order they had before shuffling, to return to.
    #[serde(skip)]
    pub unshuffled: Option<Vec<String>>,
    /// The next entry id's number.
    #[serde(skip)]
    pub next_entry: i64,
    /// Counts jumps in playback (play, seek, next, previous...): an output is told to move
    /// when it changes, not when the position merely advances.
    #[serde(skip)]
    pub jumps: i64,
}

impl Default for State {
    fn default() -> State {
        State {
            version: 0,
            entries: Vec::new(),
            current: None,
            position_ms: 0,
            playing: false,
            repeat: Repeat::Off,
            shuffle: false,
            volume: 100,
            muted: false,
            output: None,
            unshuffled: None,
            next_entry: 1,
            jumps: 0,
        }
    }
}

/// Where `add` puts songs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    End,
    Next,
    Index(usize),
}

/// A command, with the songs of an `add` already looked up.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Add {
        songs: Vec<SongSummary>,
        place: Place,
    },
    Remove {
        entries: Vec<String>,
    },
    Move {
        entry: String,
        to: usize,
    },
    Clear,
    Play {
        entry: String,
    },
    Pause,
    Resume,
    Seek {
        position_ms: i64,
    },
    Next,
    Previous,
    SetRepeat(Repeat),
    SetShuffle(bool),
    SetVolume(u8),
    SetMuted(bool),
    SetOutput(Option<String>),
    /// An output reports where it is (not a user command: no version bump of its own). With
    /// `jumps`, the report is about the playback as of that jump count, and is dropped if the
    /// queue jumped since (a report racing the user's pick of another song).
    Position {
        position_ms: i64,
        jumps: Option<i64>,
    },
    /// The output finished the current song (as of `jumps`, as for `Position`).
    Ended {
        jumps: Option<i64>,
    },
}

/// Why a command was not applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("no entry {0} in the queue (it was removed, or the view is out of date)")]
    NoEntry(String),
    #[error("the queue changed since version {0}: an index from that view may point elsewhere")]
    Stale(i64),
    #[error("{0}")]
    Invalid(String),
}

/// What changed, so the owner knows what to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Nothing to store or tell anyone.
    None,
    /// The playing position only (stored now and then, sent to clients).
    Position,
    /// Settings or the current entry, not the list.
    Settings,
    /// The list of entries.
    Entries,
}

/// How far into a song `previous` restarts it instead of going back.
const RESTART_AFTER_MS: i64 = 3000;

impl State {
    fn index_of(&self, entry: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.id == entry)
    }

    fn current_index(&self) -> Option<usize> {
        self.current.as_deref().and_then(|c| self.index_of(c))
    }

    fn new_entry(&mut self, song: SongSummary) -> Entry {
        let id = format!("q{}", self.next_entry);
        self.next_entry += 1;
        Entry { id, song }
    }

    fn go_to(&mut self, index: Option<usize>) {
        self.current = index.map(|i| self.entries[i].id.clone());
        self.position_ms = 0;
        self.jumps += 1;
        if self.current.is_none() {
            self.playing = false;
        }
    }

    /// Applies `command`, built on `seen` (the version the client saw, if it says).
    pub fn apply(&mut self, command: Command, seen: Option<i64>) -> Result<Change, Rejected> {
        let stale = seen.is_some_and(|v| v != self.version);
        let change = match command {
            Command::Add { songs, place } => {
                if songs.is_empty() {
                    return Ok(Change::None);
                }
                if self.entries.len() + songs.len() > MAX_ENTRIES {
                    return Err(Rejected::Invalid(format!(
                        "the queue holds at most {MAX_ENTRIES} songs ({} now)",
                        self.entries.len()
                    )));
                }
                let at = match place {
                    Place::End => self.entries.len(),
                    Place::Next => self.current_index().map_or(0, |i| i + 1),
                    Place::Index(_) if stale => return Err(Rejected::Stale(seen.unwrap_or(0))),
                    Place::Index(i) => i.min(self.entries.len()),
                };
                let new: Vec<Entry> = songs.into_iter().map(|s| self.new_entry(s)).collect();
                if let Some(order) = &mut self.unshuffled {
                    order.extend(new.iter().map(|e| e.id.clone()));
                }
                self.entries.splice(at..at, new);
                if self.current.is_none() {
                    self.go_to(Some(0));
                }
                Change::Entries
            }
            Command::Remove { entries } => {
                if let Some(missing) = entries.iter().find(|e| self.index_of(e).is_none()) {
                    return Err(Rejected::NoEntry(missing.clone()));
                }
                let current = self.current_index();
                let removed_current = self.current.as_ref().is_some_and(|c| entries.contains(c));
                // The entry that follows the current one and stays, if the current one goes.
                let successor = current.and_then(|i| {
                    self.entries[i..]
                        .iter()
                        .find(|e| !entries.contains(&e.id))
                        .map(|e| e.id.clone())
                });
                self.entries.retain(|e| !entries.contains(&e.id));
                if let Some(order) = &mut self.unshuffled {
                    order.retain(|e| !entries.contains(e));
                }
                if removed_current {
                    self.current = successor;
                    self.position_ms = 0;
                    if self.current.is_none() {
                        self.playing = false;
                    }
                }
                Change::Entries
            }
            Command::Move { entry, to } => {
                if stale {
                    return Err(Rejected::Stale(seen.unwrap_or(0)));
                }
                let from = self
                    .index_of(&entry)
                    .ok_or_else(|| Rejected::NoEntry(entry.clone()))?;
                let e = self.entries.remove(from);
                let to = to.min(self.entries.len());
                self.entries.insert(to, e);
                Change::Entries
            }
            Command::Clear => {
                self.entries.clear();
                self.unshuffled = self.shuffle.then(Vec::new);
                self.go_to(None);
                Change::Entries
            }
            Command::Play { entry } => {
                let i = self
                    .index_of(&entry)
                    .ok_or_else(|| Rejected::NoEntry(entry.clone()))?;
                self.go_to(Some(i));
                self.playing = true;
                Change::Settings
            }
            Command::Pause if !self.playing => return Ok(Change::None),
            Command::Pause => {
                self.playing = false;
                Change::Settings
            }
            Command::Resume => {
                if self.current.is_none() && !self.entries.is_empty() {
                    self.go_to(Some(0));
                }
                self.playing = self.current.is_some();
                Change::Settings
            }
            Command::Seek { position_ms } => {
                if self.current.is_none() {
                    return Err(Rejected::Invalid("nothing is current to seek in".into()));
                }
                let length = self
                    .current_index()
                    .map_or(0, |i| self.entries[i].song.duration * 1000);
                self.position_ms = position_ms.clamp(0, length.max(0));
                self.jumps += 1;
                Change::Settings
            }
            Command::Next => {
                let next = self.following(true);
                self.go_to(next);
                Change::Settings
            }
            Command::Previous => {
                if self.position_ms > RESTART_AFTER_MS {
                    self.position_ms = 0;
                    self.jumps += 1;
                } else {
                    let prev = match self.current_index() {
                        Some(0) if self.repeat == Repeat::All => self.entries.len().checked_sub(1),
                        Some(0) => Some(0),
                        Some(i) => Some(i - 1),
                        None => None,
                    };
                    self.go_to(prev);
                }
                Change::Settings
            }
            Command::SetRepeat(r) => {
                self.repeat = r;
                Change::Settings
            }
            Command::SetShuffle(on) => {
                if on == self.shuffle {
                    return Ok(Change::None);
                }
                self.set_shuffle(on);
                Change::Entries
            }
            Command::SetMuted(m) => {
                if self.muted == m {
                    return Ok(Change::None);
                }
                self.muted = m;
                Change::Settings
            }
            Command::SetVolume(v) => {
                self.volume = v.min(100);
                Change::Settings
            }
            Command::SetOutput(o) => {
                if o != self.output {
                    // What the old output still reports is about playback it no longer has.
                    self.jumps += 1;
                }
                self.output = o;
                Change::Settings
            }
            Command::Position { jumps, .. } | Command::Ended { jumps }
                if jumps.is_some_and(|j| j != self.jumps) =>
            {
                return Ok(Change::None);
            }
            Command::Position { position_ms, .. } => {
                self.position_ms = position_ms.max(0);
                return Ok(Change::Position);
            }
            Command::Ended { .. } => {
                // Repeat one plays the same entry again; otherwise the next, or stop at the end.
                let next = self.following(false);
                let keep_playing = next.is_some();
                self.go_to(next);
                self.playing = keep_playing;
                Change::Settings
            }
        };
        if change != Change::None {
            self.version += 1;
        }
        Ok(change)
    }

    /// The entry after the current one. `skip` is a user's "next", which leaves repeat-one.
    fn following(&self, skip: bool) -> Option<usize> {
        let i = self.current_index()?;
        if self.repeat == Repeat::One && !skip {
            return Some(i);
        }
        if i + 1 < self.entries.len() {
            Some(i + 1)
        } else if self.repeat == Repeat::All && !self.entries.is_empty() {
            Some(0)
        } else {
            None
        }
    }

    /// Shuffles the entries after the current one (the current stays first), remembering the
    /// order to return to; turning it off restores that order.
    fn set_shuffle(&mut self, on: bool) {
        self.shuffle = on;
        if on {
            self.unshuffled = Some(self.entries.iter().map(|e| e.id.clone()).collect());
            use rand::seq::SliceRandom;
            let mut rng = rand::rng();
            match self.current_index() {
                Some(i) => {
                    let current = self.entries.remove(i);
                    self.entries.shuffle(&mut rng);
                    self.entries.insert(0, current);
                }
                None => self.entries.shuffle(&mut rng),
            }
        } else if let Some(order) = self.unshuffled.take() {
            let rank: std::collections::HashMap<&str, usize> = order
                .iter()
                .enumerate()
                .map(|(i, id)| (id.as_str(), i))
                .collect();
            self.entries
                .sort_by_key(|e| rank.get(e.id.as_str()).copied().unwrap_or(usize::MAX));
        }
    }

    /// The entry that plays after the current one, for outputs to prepare ahead.
    pub fn upcoming(&self) -> Option<&Entry> {
        self.following(false).map(|i| &self.entries[i])
    }

    /// The current entry.
    pub fn current_entry(&self) -> Option<&Entry> {
        self.current_index().map(|i| &self.entries[i])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn song(n: i64) -> SongSummary {
        SongSummary {
            id: format!("tr-{n}"),
            title: format!("Song {n}"),
            artist: "A".into(),
            album: "B".into(),
            duration: 180,
            cover_art: "al-1".into(),
        }
    }

    fn queue(n: i64) -> State {
        let mut s = State::default();
        s.apply(
            Command::Add {
                songs: (1..=n).map(song).collect(),
                place: Place::End,
            },
            None,
        )
        .unwrap();
        s
    }

    fn ids(s: &State) -> Vec<&str> {
        s.entries.iter().map(|e| e.song.id.as_str()).collect()
    }

    #[test]
    fn the_same_song_twice_gets_two_entries_and_edits_by_entry_compose() {
        let mut s = queue(3);
        s.apply(
            Command::Add {
                songs: vec![song(1)],
                place: Place::End,
            },
            None,
        )
        .unwrap();
        assert_eq!(ids(&s), ["tr-1", "tr-2", "tr-3", "tr-1"]);
        let v = s.version;
        let (a, b) = (s.entries[1].id.clone(), s.entries[3].id.clone());
        // Two phones on the same version: one removes an entry, the other moves another.
        s.apply(
            Command::Remove {
                entries: vec![a.clone()],
            },
            Some(v),
        )
        .unwrap();
        s.apply(Command::Play { entry: b.clone() }, Some(v))
            .unwrap();
        assert_eq!(s.current.as_deref(), Some(b.as_str()));
        // Stale views: an entry that is gone, or an index that may point elsewhere.
        assert_eq!(
            s.apply(Command::Play { entry: a.clone() }, Some(v)),
            Err(Rejected::NoEntry(a))
        );
        assert!(matches!(
            s.apply(Command::Move { entry: b, to: 0 }, Some(v)),
            Err(Rejected::Stale(_))
        ));
    }

    #[test]
    fn pausing_a_paused_queue_changes_nothing() {
        let mut s = queue(1);
        assert_eq!(s.apply(Command::Pause, None), Ok(Change::None));
        s.apply(Command::Resume, None).unwrap();
        assert_eq!(s.apply(Command::Pause, None), Ok(Change::Settings));
        let v = s.version;
        assert_eq!(s.apply(Command::Pause, None), Ok(Change::None));
        assert_eq!(s.version, v);
    }

    #[test]
    fn an_outputs_report_about_a_song_the_queue_left_is_dropped() {
        let mut s = queue(3);
        s.apply(Command::Resume, None).unwrap();
        let then = s.jumps;
        // The user picks the third song while the output reports on the first.
        let third = s.entries[2].id.clone();
        s.apply(
            Command::Play {
                entry: third.clone(),
            },
            None,
        )
        .unwrap();
        let late = Command::Position {
            position_ms: 4000,
            jumps: Some(then),
        };
        assert_eq!(s.apply(late, None), Ok(Change::None));
        assert_eq!(
            s.apply(Command::Ended { jumps: Some(then) }, None),
            Ok(Change::None)
        );
        assert_eq!(
            (s.current.as_deref(), s.position_ms),
            (Some(third.as_str()), 0)
        );
        // Reports about what plays now are taken.
        let now = Command::Position {
            position_ms: 1500,
            jumps: Some(s.jumps),
        };
        assert_eq!(s.apply(now, None), Ok(Change::Position));
        assert_eq!(s.position_ms, 1500);
    }

    #[test]
    fn next_previous_repeat_and_the_end_of_the_queue() {
        let mut s = queue(3);
        s.apply(Command::Resume, None).unwrap();
        s.apply(Command::Ended { jumps: None }, None).unwrap();
        assert_eq!(s.current_entry().unwrap().song.id, "tr-2");
        s.apply(Command::SetRepeat(Repeat::One), None).unwrap();
        s.apply(Command::Ended { jumps: None }, None).unwrap();
        assert_eq!(s.current_entry().unwrap().song.id, "tr-2");
        s.apply(Command::Next, None).unwrap();
        assert_eq!(s.current_entry().unwrap().song.id, "tr-3");
        s.apply(Command::SetRepeat(Repeat::Off), None).unwrap();
        s.apply(Command::Ended { jumps: None }, None).unwrap();
        assert!(s.current.is_none() && !s.playing);
        let mut s = queue(2);
        s.apply(Command::SetRepeat(Repeat::All), None).unwrap();
        s.apply(Command::Next, None).unwrap();
        s.apply(Command::Next, None).unwrap();
        assert_eq!(s.current_entry().unwrap().song.id, "tr-1");
        s.apply(
            Command::Seek {
                position_ms: 10_000,
            },
            None,
        )
        .unwrap();
        s.apply(Command::Previous, None).unwrap();
        assert_eq!(
            (s.current_entry().unwrap().song.id.as_str(), s.position_ms),
            ("tr-1", 0)
        );
    }

    #[test]
    fn shuffle_keeps_the_current_song_and_returns_to_the_original_order() {
        let mut s = queue(50);
        let third = s.entries[2].id.clone();
        s.apply(
            Command::Play {
                entry: third.clone(),
            },
            None,
        )
        .unwrap();
        let before = ids(&s).join(",");
        s.apply(Command::SetShuffle(true), None).unwrap();
        assert_eq!(s.entries[0].id, third);
        assert_ne!(ids(&s).join(","), before);
        s.apply(
            Command::Add {
                songs: vec![song(99)],
                place: Place::Next,
            },
            None,
        )
        .unwrap();
        s.apply(Command::SetShuffle(false), None).unwrap();
        let mut want: Vec<String> = before.split(',').map(String::from).collect();
        want.push("tr-99".into());
        assert_eq!(ids(&s), want);
    }

    #[test]
    fn removing_the_current_entry_moves_on_and_limits_hold() {
        let mut s = queue(3);
        let first = s.entries[0].id.clone();
        s.apply(
            Command::Remove {
                entries: vec![first],
            },
            None,
        )
        .unwrap();
        assert_eq!(s.current_entry().unwrap().song.id, "tr-2");
        let too_many = Command::Add {
            songs: vec![song(1); MAX_ENTRIES],
            place: Place::End,
        };
        assert!(matches!(s.apply(too_many, None), Err(Rejected::Invalid(_))));
        assert_eq!(s.entries.len(), 2);
    }
}
