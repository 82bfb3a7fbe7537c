//! Subsonic ids: strings with a kind prefix (`ar-12`, `al-5`, `tr-9`, `dir-3`, `pl-2`, `ir-1`,
//! `sh-4`, podcast channels `pc-7` and episodes `pe-8`), so that one id
//! names one thing whatever endpoint it is sent to (getCoverArt takes all of them).

use super::error::ApiError;

pub const ARTIST: &str = "ar";
pub const ALBUM: &str = "al";
pub const TRACK: &str = "tr";
pub const DIRECTORY: &str = "dir";
pub const PLAYLIST: &str = "pl";
pub const RADIO: &str = "ir";
pub const SHARE: &str = "sh";
pub const PODCAST_CHANNEL: &str = "pc";
pub const PODCAST_EPISODE: &str = "pe";

pub fn id(kind: &str, n: i64) -> String {
    format!("{kind}-{n}")
}

/// The number in an id of the given kind. A malformed id or one of another kind names nothing.
pub fn parse(kind: &str, text: &str) -> Result<i64, ApiError> {
    split(text)
        .filter(|(k, _)| *k == kind)
        .map(|(_, n)| n)
        .ok_or_else(|| ApiError::not_found(&format!("{} '{}'", kind_name(kind), shorten(text))))
}

/// Kind and number of any id.
pub fn split(text: &str) -> Option<(&str, i64)> {
    let (kind, n) = text.split_once('-')?;
    let n: i64 = n.parse().ok().filter(|n| *n > 0)?;
    [
        ARTIST,
        ALBUM,
        TRACK,
        DIRECTORY,
        PLAYLIST,
        RADIO,
        SHARE,
        PODCAST_CHANNEL,
        PODCAST_EPISODE,
    ]
    .into_iter()
    .find(|k| *k == kind)
    .map(|k| (k, n))
}

fn kind_name(kind: &str) -> &'static str {
    match kind {
        ARTIST => "artist",
        ALBUM => "album",
        TRACK => "song",
        PLAYLIST => "playlist",
        RADIO => "radio station",
        SHARE => "share",
        PODCAST_CHANNEL => "podcast channel",
        PODCAST_EPISODE => "podcast episode",
        _ => "directory",
    }
}

fn shorten(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_and_reject_junk() {
        assert_eq!(parse(ALBUM, &id(ALBUM, 5)).unwrap(), 5);
        for bad in [
            "",
            "al",
            "al-",
            "al-x",
            "al--1",
            "al-0",
            "ar-5",
            "5",
            "al-5'; DROP TABLE",
            "../al-5",
        ] {
            assert_eq!(parse(ALBUM, bad).unwrap_err().code, 70, "{bad}");
        }
    }
}
