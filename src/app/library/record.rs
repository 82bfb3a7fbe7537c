//! The records the library passes between its parts: what the tag reader found in one file, and the
//! file facts the walker saw. This is the low module every other library module imports, and it
//! imports none of them, so dependencies flow one way (walker/tags -> record <- scanner/store).

use std::path::PathBuf;

/// A file the walker found: enough to decide whether it needs reading at all.
#[derive(Debug, Clone)]
pub struct FileFacts {
    pub path: PathBuf,
    pub size: i64,
    /// Modification time in nanoseconds since the epoch (whole seconds lose same-second edits).
    pub mtime: i64,
}

/// Credit roles, as stored in `track_artists.role` (the OpenSubsonic contributor role names).
pub mod role {
    pub const ARTIST: &str = "artist";
    pub const ALBUM_ARTIST: &str = "albumartist";
    pub const COMPOSER: &str = "composer";
    pub const CONDUCTOR: &str = "conductor";
    pub const LYRICIST: &str = "lyricist";
    pub const ARRANGER: &str = "arranger";
    pub const PRODUCER: &str = "producer";
    pub const REMIXER: &str = "remixer";
    pub const PERFORMER: &str = "performer";
    pub const MIXER: &str = "mixer";
    pub const ENGINEER: &str = "engineer";
    pub const DIRECTOR: &str = "director";
    pub const WRITER: &str = "writer";
}

/// One credited person or group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub role: &'static str,
    pub name: String,
    /// The instrument or part, e.g. "violin" for "Maria Solo (violin)" as performer.
    pub sub_role: Option<String>,
    pub sort_name: Option<String>,
    pub mbid: Option<String>,
}

/// Everything the scanner keeps from one audio file.
#[derive(Debug, Clone, Default)]
pub struct TrackRecord {
    pub format: String,
    pub suffix: String,
    pub content_type: String,
    pub duration_ms: i64,
    pub bit_rate: Option<i32>,
    pub sample_rate: Option<i32>,
    pub bit_depth: Option<i32>,
    pub channels: Option<i32>,

    pub title: String,
    pub sort_title: Option<String>,
    /// The artist as the tags spell it for display ("AC/DC feat. Bon Scott").
    pub artist_display: String,
    pub artist_sort: Option<String>,
    pub album: String,
    pub album_sort: Option<String>,
    pub album_artist_display: String,
    pub album_artist_sort: Option<String>,
    pub credits: Vec<Credit>,
    pub genres: Vec<String>,
    pub moods: Vec<String>,

    pub track_number: Option<i32>,
    pub track_total: Option<i32>,
    pub disc_number: Option<i32>,
    pub disc_total: Option<i32>,
    pub disc_subtitle: Option<String>,
    pub year: Option<i32>,
    pub date: Option<String>,
    pub original_date: Option<String>,
    pub release_date: Option<String>,
    pub bpm: Option<i32>,
    pub comment: Option<String>,
    pub isrc: Option<String>,
    pub label: Option<String>,
    pub release_types: Option<String>,
    pub compilation: bool,
    pub explicit: Option<bool>,
    pub rg_track_gain: Option<f64>,
    pub rg_track_peak: Option<f64>,
    pub rg_album_gain: Option<f64>,
    pub rg_album_peak: Option<f64>,
    pub mbz_recording_id: Option<String>,
    pub mbz_release_track_id: Option<String>,
    pub mbz_album_id: Option<String>,
    pub mbz_artist_ids: Vec<String>,
    pub mbz_album_artist_ids: Vec<String>,
    pub mbz_release_group_id: Option<String>,
    pub lyrics: Option<String>,
    pub has_cover: bool,

    /// Problems worked around while reading (a cut list, a bad number): recorded as scan warnings.
    pub warnings: Vec<String>,
}

impl TrackRecord {
    pub fn names<'a>(&'a self, role: &'a str) -> impl Iterator<Item = &'a Credit> + 'a {
        self.credits.iter().filter(move |c| c.role == role)
    }
}
