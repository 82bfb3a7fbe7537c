//! Tools for tests and benchmarks, not used by the server: a virtual LAN (`lan`), a sound card
//! (`sound_card`), and a generator of realistic synthetic libraries. The generator encodes
//! nothing: it copies a few small real files (the committed fixtures) and retags each copy with
//! lofty, so a 50k-track library takes seconds to make.

pub mod client;
pub mod crash_rounds;
pub mod lan;
pub mod listening;
pub mod soak;
pub mod sound_card;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use lofty::config::WriteOptions;
use lofty::file::TaggedFileExt;
use lofty::prelude::{Accessor, TagExt};
use lofty::tag::{ItemKey, Tag};
use rayon::prelude::*;

/// The files copied into a generated library, relative to the fixtures' demo library, and how
/// many of every 20 tracks use each (a NAS library is mostly MP3 and FLAC).
const BASES: &[(&str, usize)] = &[
    ("The Testers/Tag Soup/01 - Four.mp3", 10),
    (
        "Aurora Fields/Northern Lights (2019)/01 - Polar Night.flac",
        5,
    ),
    ("The Testers/Tag Soup/05 - Apple.m4a", 3),
    ("Aurora Fields/Northern Lights (2019)/02 - Ice Road.ogg", 2),
];
const COVER: &str = "Aurora Fields/Northern Lights (2019)/cover.jpg";
const GENRES: &[&str] = &[
    "Rock",
    "Pop",
    "Jazz",
    "Classical",
    "Electronic",
    "Hip-Hop",
    "Folk",
    "Blues",
    "Metal",
    "Soul",
    "Reggae",
    "Country",
    "Ambient",
    "Punk",
    "Funk",
    "Latin",
    "World",
    "Indie",
    "R&B",
    "Soundtrack",
];

/// The demo library committed with the tests: a default base for generated libraries.
pub fn fixtures_library() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/library")
}

#[derive(Debug, Clone)]
pub struct GenOptions {
    pub tracks: usize,
    pub tracks_per_album: usize,
    pub albums_per_artist: usize,
    /// Folder with the base files (see [`BASES`]).
    pub base: PathBuf,
}

impl GenOptions {
    pub fn new(tracks: usize) -> GenOptions {
        GenOptions {
            tracks,
            tracks_per_album: 10,
            albums_per_artist: 4,
            base: fixtures_library(),
        }
    }
}

/// Where track `i` of a generated library lives, and its tags.
pub struct GenTrack {
    pub index: usize,
    pub path: PathBuf,
    pub title: String,
    pub artist: String,
    pub album: String,
    pub year: u32,
}

fn plan(out: &Path, opts: &GenOptions, i: usize) -> (GenTrack, usize) {
    let album_no = i / opts.tracks_per_album;
    let artist_no = album_no / opts.albums_per_artist;
    let n = i % opts.tracks_per_album + 1;
    let year = 1960 + (album_no % 60) as u32;
    let slot = i % 20;
    let mut acc = 0;
    let base = BASES
        .iter()
        .position(|(_, share)| {
            acc += share;
            slot < acc
        })
        .unwrap_or(0);
    let ext = Path::new(BASES[base].0)
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("mp3");
    let artist = format!("Artist {artist_no:05}");
    let album = format!("Album {album_no:05}");
    let title = format!("Song {i:06}");
    let path = out
        .join(&artist)
        .join(format!("{album} ({year})"))
        .join(format!("{n:02} - {title}.{ext}"));
    (
        GenTrack {
            index: i,
            path,
            title,
            artist,
            album,
            year,
        },
        base,
    )
}

/// Writes a library of `opts.tracks` tracks under `out`, in parallel. Returns the tracks made.
pub fn generate(out: &Path, opts: &GenOptions) -> Result<Vec<GenTrack>> {
    let bases: Vec<Vec<u8>> = BASES
        .iter()
        .map(|(p, _)| {
            let path = opts.base.join(p);
            std::fs::read(&path)
                .with_context(|| format!("cannot read base file {}", path.display()))
        })
        .collect::<Result<_>>()?;
    let cover = std::fs::read(opts.base.join(COVER)).context("cannot read the base cover")?;
    let planned: Vec<(GenTrack, usize)> = (0..opts.tracks).map(|i| plan(out, opts, i)).collect();
    planned
        .par_iter()
        .try_for_each(|(track, base)| -> Result<()> {
            let dir = track.path.parent().expect("generated paths have a folder");
            std::fs::create_dir_all(dir)?;
            if track.index.is_multiple_of(opts.tracks_per_album) {
                std::fs::write(dir.join("cover.jpg"), &cover)?;
            }
            std::fs::write(&track.path, &bases[*base])?;
            retag(&track.path, track, opts)
        })?;
    Ok(planned.into_iter().map(|(t, _)| t).collect())
}

fn retag(path: &Path, t: &GenTrack, opts: &GenOptions) -> Result<()> {
    let mut file = lofty::read_from_path(path)?;
    let tag_type = file.primary_tag_type();
    if file.primary_tag().is_none() {
        file.insert_tag(Tag::new(tag_type));
    }
    let tag = file.primary_tag_mut().expect("inserted above");
    // Drop everything the base file said; a generated track says only what it is.
    let pictures = tag.picture_count();
    for _ in 0..pictures {
        tag.remove_picture(0);
    }
    tag.clear();
    tag.set_title(t.title.clone());
    tag.set_artist(t.artist.clone());
    tag.set_album(t.album.clone());
    tag.insert_text(ItemKey::AlbumArtist, t.artist.clone());
    tag.set_track((t.index % opts.tracks_per_album + 1) as u32);
    tag.set_track_total(opts.tracks_per_album as u32);
    tag.set_disk(1);
    tag.set_genre(GENRES[(t.index / opts.tracks_per_album) % GENRES.len()].to_string());
    tag.insert_text(ItemKey::Year, t.year.to_string());
    tag.insert_text(ItemKey::RecordingDate, t.year.to_string());
    if t.index.is_multiple_of(3) {
        tag.insert_text(
            ItemKey::MusicBrainzRecordingId,
            format!("00000000-0000-4000-9000-{:012}", t.index),
        );
    }
    tag.save_to_path(path, WriteOptions::default())?;
    Ok(())
}

/// Changes the title of a generated track (a tag edit, as a tagger would make).
pub fn retitle(path: &Path, title: &str) -> Result<()> {
    let mut file = lofty::read_from_path(path)?;
    let tag = file
        .primary_tag_mut()
        .with_context(|| format!("{} has no tag", path.display()))?;
    tag.set_title(title.to_string());
    tag.save_to_path(path, WriteOptions::default())?;
    Ok(())
}

#[derive(diesel::QueryableByName)]
struct JsonRow {
    #[diesel(sql_type = diesel::sql_types::Text)]
    j: String,
}

/// Reads rows from a database file for assertions: `rows(db, "title, year", "FROM tracks")`
/// returns each row as a JSON array of the listed columns.
pub fn rows(db: &Path, columns: &str, rest: &str) -> Result<Vec<serde_json::Value>> {
    use diesel::{Connection, RunQueryDsl};
    let url = db.to_str().context("database path is not UTF-8")?;
    let mut conn = diesel::SqliteConnection::establish(url)?;
    // A connection that just closed may still be checkpointing the WAL: wait, do not fail.
    diesel::connection::SimpleConnection::batch_execute(&mut conn, "PRAGMA busy_timeout = 10000;")?;
    let sql = format!("SELECT json_array({columns}) AS j {rest}");
    let found: Vec<JsonRow> = diesel::sql_query(&sql)
        .load(&mut conn)
        .with_context(|| format!("query failed: {sql}"))?;
    found
        .into_iter()
        .map(|r| Ok(serde_json::from_str(&r.j)?))
        .collect()
}

/// Runs statements against a database file (for tests that plant user data).
pub fn exec(db: &Path, sql: &str) -> Result<()> {
    use diesel::connection::SimpleConnection;
    use diesel::Connection;
    let url = db.to_str().context("database path is not UTF-8")?;
    let mut conn = diesel::SqliteConnection::establish(url)?;
    conn.batch_execute(&format!("PRAGMA busy_timeout = 10000; {sql}"))?;
    Ok(())
}

/// `<bin> serve` on `127.0.0.1:<port>` for benchmarks and reliability runs: no watcher, no
/// periodic scan, no sound card, no background analysis, no autoplay, no multicast; warnings only.
pub fn serve_command(bin: &Path, music: &Path, data: &Path, port: u16) -> std::process::Command {
    let mut c = std::process::Command::new(bin);
    c.arg("serve")
        .arg("--music")
        .arg(music)
        .arg("--data")
        .arg(data)
        .args(["--bind", &format!("127.0.0.1:{port}")])
        .args([
            "--watch",
            "off",
            "--scan-interval",
            "0",
            "--local-output",
            "false",
            // Measured alone: no analysis decoding in the background.
            "--sound-analysis",
            "false",
            // Benches drive the queue themselves: nothing added behind their back.
            "--autoplay",
            "false",
            // Benches run on the host: no multicast.
            "--lan",
            "off",
        ])
        .env("HOUSEBAND_LOG", "warn");
    c
}

/// For benchmarks: adds the admin `bench` (password `bench-pw`) to `data`, then starts
/// `<bin> serve` on a free loopback port with `extra` flags (watching off, no periodic scan,
/// warnings only). Returns the server and its port; waiting until it answers is the caller's.
pub fn bench_server(
    bin: &str,
    music: &Path,
    data: &Path,
    extra: &[&str],
) -> Result<(std::process::Child, u16)> {
    use std::process::{Command, Stdio};
    let added = Command::new(bin)
        .args([
            "user",
            "add",
            "bench",
            "--admin",
            "--password",
            "bench-pw",
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::null())
        .status()?;
    anyhow::ensure!(added.success(), "`houseband user add` failed");
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let server = serve_command(bin.as_ref(), music, data, port)
        .args(extra)
        .env("HOUSEBAND_LOG", "warn")
        .spawn()?;
    Ok((server, port))
}

/// Writes a 16-bit PCM WAV file of `channels` interleaved channels at `rate`, from `samples`.
pub fn write_wav(path: &Path, rate: u32, channels: u16, samples: impl IntoIterator<Item = i16>) {
    let data: Vec<u8> = samples.into_iter().flat_map(i16::to_le_bytes).collect();
    let block = channels * 2;
    let mut wav = Vec::with_capacity(44 + data.len());
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    wav.extend_from_slice(&1u16.to_le_bytes());
    wav.extend_from_slice(&channels.to_le_bytes());
    wav.extend_from_slice(&rate.to_le_bytes());
    wav.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    wav.extend_from_slice(&block.to_le_bytes());
    wav.extend_from_slice(&16u16.to_le_bytes());
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
    wav.extend_from_slice(&data);
    std::fs::write(path, wav).expect("the WAV file is written");
}
