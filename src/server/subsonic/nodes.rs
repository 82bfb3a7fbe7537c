//! Library records as Subsonic elements: `Child` (songs), `AlbumID3`, `ArtistID3`, with the
//! OpenSubsonic fields the data has. Shared by every endpoint that returns them.

use std::collections::HashMap;

use super::ids;
use super::response::{Node, Scalar};
use crate::app::annotations::Annotation;
use crate::app::library::browse::{AlbumRow, ArtistRow, CreditRow, SongRow};

/// Related data loaded in bulk for a set of songs or albums.
#[derive(Default)]
pub struct Extras {
    pub credits: HashMap<i64, Vec<CreditRow>>,
    pub genres: HashMap<i64, Vec<String>>,
    pub disc_titles: HashMap<i64, Vec<(i32, String)>>,
    /// The calling user's stars, ratings and plays.
    pub annotations: HashMap<i64, Annotation>,
}

/// The calling user's view of an item: starred, userRating, playCount, played.
pub(super) fn annotate(node: Node, a: Option<&Annotation>) -> Node {
    let Some(a) = a else { return node };
    node.opt("starred", a.starred_at.map(Scalar::Time))
        .opt("userRating", a.rating)
        .opt("playCount", (a.play_count > 0).then_some(a.play_count))
        .opt("played", a.last_played_at.map(Scalar::Time))
}

/// Seconds since the epoch as ISO 8601 UTC (`2026-11-28T00:05:01Z`).
pub fn iso8601(secs: i64) -> String {
    let mut out = String::with_capacity(20);
    super::response::write_iso8601(secs, &mut out);
    out
}

fn artist_refs(credits: &[CreditRow], role: &str) -> Vec<Node> {
    credits
        .iter()
        .filter(|c| c.role == role)
        .map(|c| {
            Node::new()
                .attr("id", Scalar::Id(ids::ARTIST, c.artist_id))
                .attr("name", &c.name)
        })
        .collect()
}

fn split_list(text: Option<&str>) -> Vec<Scalar> {
    text.map(|t| {
        t.split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(Scalar::from)
            .collect()
    })
    .unwrap_or_default()
}

fn explicit_status(explicit: Option<bool>) -> &'static str {
    match explicit {
        Some(true) => "explicit",
        Some(false) => "clean",
        None => "",
    }
}

/// An ItemDate from "YYYY[-MM[-DD]]".
fn item_date(text: Option<&str>) -> Option<Node> {
    let text = text?;
    let mut parts = text.split('-').map(|p| p.parse::<i64>().ok());
    let year = parts.next().flatten()?;
    let mut node = Node::new().attr("year", year);
    if let Some(Some(month)) = parts.next() {
        node = node.attr("month", month);
        if let Some(Some(day)) = parts.next() {
            node = node.attr("day", day);
        }
    }
    Some(node)
}

pub fn song(s: &SongRow, extras: &Extras) -> Node {
    let no_credits = Vec::new();
    let credits = extras.credits.get(&s.id).unwrap_or(&no_credits);
    let genres: &[String] = extras.genres.get(&s.id).map_or(&[], Vec::as_slice);
    let first_artist = credits
        .iter()
        .find(|c| c.role == "artist")
        .map(|c| c.artist_id);
    let relative = s
        .path
        .strip_prefix(&s.folder_path)
        .map(|p| p.trim_start_matches('/'))
        .unwrap_or(&s.path);
    let composers: Vec<&str> = credits
        .iter()
        .filter(|c| c.role == "composer")
        .map(|c| c.name.as_str())
        .collect();
    let contributors: Vec<Node> = credits
        .iter()
        .filter(|c| c.role != "artist" && c.role != "albumartist")
        .map(|c| {
            Node::new()
                .attr("role", &c.role)
                .opt("subRole", c.sub_role.as_deref())
                .child(
                    "artist",
                    Node::new()
                        .attr("id", Scalar::Id(ids::ARTIST, c.artist_id))
                        .attr("name", &c.name),
                )
        })
        .collect();
    let mut replay_gain = Node::new()
        .opt("trackGain", s.rg_track_gain)
        .opt("albumGain", s.rg_album_gain)
        .opt("trackPeak", s.rg_track_peak)
        .opt("albumPeak", s.rg_album_peak);
    let has_gain = [
        s.rg_track_gain,
        s.rg_album_gain,
        s.rg_track_peak,
        s.rg_album_peak,
    ]
    .iter()
    .any(Option::is_some);
    if !has_gain {
        replay_gain = Node::new();
    }
    let mut node = Node::new()
        .attr("id", Scalar::Id(ids::TRACK, s.id))
        .attr("parent", Scalar::Id(ids::DIRECTORY, s.directory_id))
        .attr("isDir", false)
        .attr("title", &s.title)
        .attr("album", &s.album_name)
        .attr("artist", &s.artist_display)
        .opt("track", s.track_number)
        .opt("year", s.year)
        .opt("genre", genres.first().cloned())
        .attr("coverArt", Scalar::Id(ids::ALBUM, s.album_id))
        .attr("size", s.size)
        .attr("contentType", &s.content_type)
        .attr("suffix", &s.suffix)
        .attr("duration", (s.duration_ms + 500) / 1000)
        .opt("bitRate", s.bit_rate)
        .opt("bitDepth", s.bit_depth)
        .opt("samplingRate", s.sample_rate)
        .opt("channelCount", s.channels)
        .attr("path", relative)
        .attr("isVideo", false)
        .opt("discNumber", s.disc_number)
        .attr("created", Scalar::Time(s.created_at))
        .attr("albumId", Scalar::Id(ids::ALBUM, s.album_id))
        .opt("artistId", first_artist.map(|a| Scalar::Id(ids::ARTIST, a)))
        .attr("type", "music")
        .attr("mediaType", "song")
        .opt("bpm", s.bpm)
        .opt("comment", s.comment.as_deref())
        .opt("sortName", s.sort_title.as_deref())
        .opt("musicBrainzId", s.mbz_recording_id.as_deref())
        .attr("displayArtist", &s.artist_display)
        .attr("displayAlbumArtist", &s.album_artist_display)
        .opt(
            "displayComposer",
            (!composers.is_empty()).then(|| composers.join(", ")),
        )
        .attr("explicitStatus", explicit_status(s.explicit))
        .values("isrc", split_list(s.isrc.as_deref()))
        .list(
            "genres",
            genres.iter().map(|g| Node::new().attr("name", g)).collect(),
        )
        .list("artists", artist_refs(credits, "artist"))
        .list("albumArtists", artist_refs(credits, "albumartist"))
        .list("contributors", contributors)
        .values("moods", split_list(s.moods.as_deref()));
    node = annotate(node, extras.annotations.get(&s.id));
    if has_gain {
        node = node.child("replayGain", replay_gain);
    }
    node
}

pub fn album(a: &AlbumRow, extras: &Extras) -> Node {
    let genres: &[String] = extras.genres.get(&a.id).map_or(&[], Vec::as_slice);
    let no_credits = Vec::new();
    let credits = extras.credits.get(&a.id).unwrap_or(&no_credits);
    let mut node = Node::new()
        .attr("id", Scalar::Id(ids::ALBUM, a.id))
        .attr("name", &a.name)
        .attr("artist", &a.artist_display)
        .opt("artistId", a.artist_id.map(|i| Scalar::Id(ids::ARTIST, i)))
        .opt(
            "coverArt",
            a.has_cover.then_some(Scalar::Id(ids::ALBUM, a.id)),
        )
        .attr("songCount", a.track_count)
        .attr("duration", (a.duration_ms + 500) / 1000)
        .attr("created", Scalar::Time(a.created_at))
        .opt("year", a.year)
        .opt("genre", genres.first().cloned())
        .opt("musicBrainzId", a.mbz_album_id.as_deref())
        .attr("displayArtist", &a.artist_display)
        .opt("sortName", a.sort_name.as_deref())
        .attr("isCompilation", a.compilation)
        .attr("explicitStatus", explicit_status(a.explicit))
        .list(
            "recordLabels",
            a.label
                .iter()
                .map(|l| Node::new().attr("name", l))
                .collect(),
        )
        .list(
            "genres",
            genres.iter().map(|g| Node::new().attr("name", g)).collect(),
        )
        .list("artists", artist_refs(credits, "albumartist"))
        .values("releaseTypes", split_list(a.release_types.as_deref()))
        .values("moods", Vec::new());
    node = annotate(node, extras.annotations.get(&a.id));
    // XML fixes the order of these children: dates come before the disc titles.
    if let Some(d) = item_date(a.original_date.as_deref()) {
        node = node.child("originalReleaseDate", d);
    }
    if let Some(d) = item_date(a.release_date.as_deref()) {
        node = node.child("releaseDate", d);
    }
    node.list(
        "discTitles",
        extras
            .disc_titles
            .get(&a.id)
            .map(|d| {
                d.iter()
                    .map(|(disc, title)| Node::new().attr("disc", *disc).attr("title", title))
                    .collect()
            })
            .unwrap_or_default(),
    )
}

pub fn artist(a: &ArtistRow, annotation: Option<&Annotation>) -> Node {
    let node = Node::new()
        .attr("id", Scalar::Id(ids::ARTIST, a.id))
        .attr("name", &a.name)
        .opt(
            "coverArt",
            a.has_image.then_some(Scalar::Id(ids::ARTIST, a.id)),
        )
        .attr("albumCount", a.album_count)
        .opt("musicBrainzId", a.mbid.as_deref())
        .opt("sortName", a.sort_name.as_deref())
        .values("roles", vec![Scalar::from("albumartist")]);
    // ArtistID3 carries only the star of what a user can say about an artist.
    node.opt(
        "starred",
        annotation.and_then(|a| a.starred_at).map(Scalar::Time),
    )
}

/// An album as a folder-style `Child` (getAlbumList, search2, getStarred).
pub fn album_as_child(a: &AlbumRow, extras: &Extras) -> Node {
    let genres: &[String] = extras.genres.get(&a.id).map_or(&[], Vec::as_slice);
    let node = Node::new()
        .attr("id", Scalar::Id(ids::ALBUM, a.id))
        .opt("parent", a.artist_id.map(|i| Scalar::Id(ids::ARTIST, i)))
        .attr("isDir", true)
        .attr("title", &a.name)
        .attr("album", &a.name)
        .attr("artist", &a.artist_display)
        .opt("year", a.year)
        .opt("genre", genres.first().cloned())
        .opt(
            "coverArt",
            a.has_cover.then_some(Scalar::Id(ids::ALBUM, a.id)),
        )
        .attr("duration", (a.duration_ms + 500) / 1000)
        .attr("created", Scalar::Time(a.created_at))
        .attr("albumId", Scalar::Id(ids::ALBUM, a.id))
        .opt("artistId", a.artist_id.map(|i| Scalar::Id(ids::ARTIST, i)))
        .attr("mediaType", "album");
    annotate(node, extras.annotations.get(&a.id))
}

/// An artist in the older, folder-style `Artist` form.
pub fn artist_plain(a: &ArtistRow, annotation: Option<&Annotation>) -> Node {
    Node::new()
        .attr("id", Scalar::Id(ids::ARTIST, a.id))
        .attr("name", &a.name)
        .opt(
            "starred",
            annotation.and_then(|n| n.starred_at).map(Scalar::Time),
        )
        .opt("userRating", annotation.and_then(|n| n.rating))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_dates() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(iso8601(1_795_824_301), "2026-11-28T00:05:01Z");
    }
}
