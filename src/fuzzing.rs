//! Entry points for fuzzing: one function per parser of untrusted input, each taking raw bytes
//! and running the server's real parser on them (not a copy), for the cargo-fuzz targets in
//! `fuzz/` and for `tests/fuzz_corpus.rs`, which replays their corpora and crash reproducers on
//! every `cargo test`. Each returns `Ok` or the clean error the server would give; a panic, a
//! hang or a huge allocation is the bug fuzzing looks for.
//!
//! Hidden from the documentation and not an API: the functions are here so that the parsers
//! stay private to their modules. None of them touches the network; `tags` writes its input to
//! a file in the temporary folder, and `queue_socket` uses a database in a temporary folder.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::app::library::{lyrics, playlist_files, tags};
use crate::app::users::User;
use crate::app::App;

/// An entry point: `Ok`, or the clean error the server gives for the input.
pub type Entry = fn(&[u8]) -> Result<(), String>;

/// Every target: its name (the fuzz target's and the corpus folder's) and its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("tags", tags),
    ("m3u", m3u),
    ("lrc", lrc),
    ("subsonic_params", subsonic_params),
    ("api_json", api_json),
    ("queue_socket", queue_socket),
    ("ssdp", ssdp),
    ("upnp_description", upnp_description),
    ("mdns_txt", mdns_txt),
    ("gena_event", gena_event),
    ("podcast_feed", podcast_feed),
    ("raop_answer", raop_answer),
    ("cast_message", cast_message),
    ("scrobble_answer", scrobble_answer),
];

/// A speaker on the LAN, as the sender of what the LAN targets read.
const SPEAKER: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 20));

/// A song file: the first byte picks the extension (among the audio extensions the scanner
/// reads), the rest is the file. Read as the scanner reads it (lofty, our tag mapping, the
/// truncation checks), then its embedded picture taken out, decoded and shrunk as cover art is.
pub fn tags(data: &[u8]) -> Result<(), String> {
    let Some((&pick, file)) = data.split_first() else {
        return Err("empty input".into());
    };
    let ext = tags::AUDIO_EXTENSIONS[usize::from(pick) % tags::AUDIO_EXTENSIONS.len()];
    static FILES: AtomicU64 = AtomicU64::new(0);
    let n = FILES.fetch_add(1, Ordering::Relaxed);
    let path = scratch_dir().join(format!("song-{n}.{ext}"));
    std::fs::write(&path, file).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    let read = tags::read_track(&path, &tags::TagOptions::default());
    let picture = crate::app::media::art::embedded_picture(&path);
    let _ = std::fs::remove_file(&path);
    read?;
    picture.map(drop).map_err(|e| format!("{e:#}"))
}

/// An `.m3u`/`.m3u8` file's bytes, as the scan reads playlist files.
pub fn m3u(data: &[u8]) -> Result<(), String> {
    let list = playlist_files::from_bytes(data, Path::new("/music/Playlists/mix.m3u"));
    if list.name.is_empty() {
        return Err("a playlist without a name".into());
    }
    Ok(())
}

/// An `.lrc` file's bytes (or lyrics from a tag), as lyrics are read.
pub fn lrc(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    let _ = lyrics::parse(&text).plain_text();
    Ok(())
}

/// A Subsonic request: query string, a line break, then a form body (or getTranscodeDecision's
/// JSON).
pub fn subsonic_params(data: &[u8]) -> Result<(), String> {
    crate::server::subsonic::read_request(data)
}

/// A request body of the native JSON API: every body type is read from it.
pub fn api_json(data: &[u8]) -> Result<(), String> {
    let outcomes = crate::server::api::read_bodies(data)
        .into_iter()
        .chain(crate::server::scrobble::read_bodies(data))
        .chain(crate::server::admin::read_bodies(data));
    let mut first_error = None;
    for outcome in outcomes {
        match outcome {
            Ok(()) => return Ok(()),
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    Err(first_error.unwrap_or_default())
}

/// What a client sends on the queue socket after the upgrade: WebSocket frames, whose text
/// messages are players' messages or queue ops (looked up in a library in a temporary folder,
/// not run).
pub fn queue_socket(data: &[u8]) -> Result<(), String> {
    let (app, user) = queue_app();
    crate::server::queue_socket::read_messages(app, user, data).map(drop)
}

/// An SSDP packet (NOTIFY or an answer to M-SEARCH) from a device on the LAN.
pub fn ssdp(data: &[u8]) -> Result<(), String> {
    crate::app::lan::ssdp::parse(data, SPEAKER)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// A UPnP device description, as fetched from a LOCATION.
pub fn upnp_description(data: &[u8]) -> Result<(), String> {
    let xml = std::str::from_utf8(data).map_err(|_| "not UTF-8".to_string())?;
    crate::app::lan::upnp::parse_description(xml, "http://192.168.1.20:49152/description.xml")
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// A speaker's mDNS record: service type, instance name and TXT data (see
/// `app::lan::mdns::take_record`).
pub fn mdns_txt(data: &[u8]) -> Result<(), String> {
    crate::app::lan::mdns::take_record(data).map(drop)
}

/// A UPnP GENA event body from a renderer.
pub fn gena_event(data: &[u8]) -> Result<(), String> {
    crate::app::lan::gena::deliver_event(data)
}

/// A podcast feed (RSS 2.0 or Atom).
pub fn podcast_feed(data: &[u8]) -> Result<(), String> {
    crate::app::podcasts::feed::parse(data)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// An AirPlay receiver's RTSP answers (one after the other, as to OPTIONS, ANNOUNCE and
/// SETUP), then the session and ports read from the last one; and the input as a UDP control
/// packet (timing and resend requests).
pub fn raop_answer(data: &[u8]) -> Result<(), String> {
    use crate::app::lan::raop;
    let _ = raop::timing_answer(data, 0);
    let _ = raop::resend_request(data);
    let mut reader = std::io::BufReader::new(data);
    let mut last = None;
    for _ in 0..3 {
        match raop::read_answer(&mut reader) {
            Ok(answer) => last = Some(answer),
            Err(e) if last.is_none() => return Err(format!("{e:#}")),
            Err(_) => break,
        }
    }
    let answer = last.ok_or("no answer")?;
    raop::session_and_ports(&answer)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// What a Google Cast device sends (decrypted): length-prefixed protobuf frames whose JSON
/// payloads a sender with a song loaded takes in.
pub fn cast_message(data: &[u8]) -> Result<(), String> {
    crate::app::lan::googlecast::take_in_stream(data)
        .map(drop)
        .map_err(|e| format!("{e:#}"))
}

/// A ListenBrainz or Last.fm answer: the HTTP status, header lines, an empty line, the body.
pub fn scrobble_answer(data: &[u8]) -> Result<(), String> {
    crate::app::scrobble::services::judge_answer(data)
}

/// A folder of this process's own for the files the targets write.
fn scratch_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("houseband-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("the temporary folder takes a folder");
        dir
    })
}

/// A server opened on an empty library in a temporary folder, with one user, for the queue.
fn queue_app() -> &'static (App, User) {
    static APP: OnceLock<(App, User)> = OnceLock::new();
    APP.get_or_init(|| {
        let data = scratch_dir().join("data");
        let data_text = data.to_string_lossy().into_owned();
        let env = move |key: &str| (key == "HOUSEBAND_DATA").then(|| data_text.clone());
        let settings = crate::config::resolve(&crate::config::Flags::default(), &env)
            .expect("settings for a temporary folder");
        let app = App::open(settings).expect("a server in a temporary folder");
        let user = app
            .users
            .add("fuzz", "fuzz-password", true)
            .or_else(|_| {
                app.users
                    .find("fuzz")
                    .map(|u| u.expect("the user just added"))
            })
            .expect("a user in a temporary database");
        (app, user)
    })
}
