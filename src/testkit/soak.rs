//! Load and soak: N concurrent clients against the real server on loopback, each looping a
//! weighted mix of what a household's players do (browse, search, album lists, streams whole,
//! by range and transcoded, cover art, stars and scrobbles, the household queue), for a while.
//! Counts requests and errors, measures latency per kind (p50/p99), and samples the server's
//! resident memory from /proc every few seconds. Used by `benches/soak.rs` (200 clients for 10
//! minutes on a generated library) and `tests/crash.rs` (a short run on the demo library).
//!
//! An error is any answer but success: a Subsonic `failed`, an HTTP error status, a file of no
//! bytes, a broken connection. The one exception is the household queue's `409`, which the
//! queue gives by design to a client that names an entry another client just removed; those are
//! counted apart as conflicts.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;

use super::client::{add_admin, Answer, Client, Rng, Served};
use super::rows;

pub struct SoakOptions {
    pub bin: PathBuf,
    /// The library to serve (scanned here before the server starts).
    pub music: PathBuf,
    /// An empty folder for the data and the server's log.
    pub dir: PathBuf,
    pub clients: usize,
    pub duration: Duration,
    pub sample_every: Duration,
    pub seed: u64,
}

#[derive(Debug, Default)]
pub struct SoakReport {
    pub requests: u64,
    pub errors: u64,
    /// The first errors, with what was asked.
    pub error_samples: Vec<String>,
    /// Household queue 409s: a client naming an entry another one had just removed.
    pub conflicts: u64,
    /// Per kind: requests, p50 and p99 in milliseconds.
    pub kinds: BTreeMap<String, (u64, f64, f64)>,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// (seconds since the start, VmRSS in KiB).
    pub rss: Vec<(f64, u64)>,
    /// Growth of the RSS over the second half of the run, KiB per minute (least squares).
    pub rss_slope_kb_per_min: f64,
    pub seconds: f64,
    pub tracks: usize,
}

/// The library as the clients see it: ids to ask for and words to search.
struct Catalog {
    songs: Vec<i64>,
    albums: Vec<i64>,
    /// Albums with a picture (a folder image or one in a file's tags).
    covers: Vec<i64>,
    words: Vec<String>,
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    times: BTreeMap<&'static str, Vec<u32>>,
    errors: u64,
    error_samples: Vec<String>,
    conflicts: u64,
}

impl Tally {
    fn record(&mut self, kind: &'static str, started: Instant, outcome: Result<(), String>) {
        self.times
            .entry(kind)
            .or_default()
            .push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        if let Err(why) = outcome {
            self.errors += 1;
            if self.error_samples.len() < 20 {
                self.error_samples.push(format!("{kind}: {why}"));
            }
        }
    }
}

fn subsonic(c: &Client, method: &str, params: &[(&str, &str)]) -> Result<(), String> {
    match c.rest(method, params) {
        Answer::Ok(_) => Ok(()),
        other => Err(format!("{method} {params:?}: {other:?}")),
    }
}

fn bytes(
    c: &Client,
    method: &str,
    params: &[(&str, &str)],
    range: Option<&str>,
    want: u16,
) -> Result<(), String> {
    match c.rest_bytes(method, params, range) {
        Ok((status, n)) if status == want && n > 0 => Ok(()),
        Ok((status, n)) => Err(format!("{method} {params:?}: HTTP {status}, {n} bytes")),
        Err(e) => Err(format!("{e:#}")),
    }
}

/// One client's loop until `stop`.
fn client_loop(c: &Client, cat: &Catalog, rng: &mut Rng, stop: &AtomicBool) -> Tally {
    let mut t = Tally::default();
    // The household queue as this client last saw it: entry ids.
    let mut seen: Vec<String> = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let song = format!("tr-{}", rng.pick(&cat.songs));
        let album = format!("al-{}", rng.pick(&cat.albums));
        let started = Instant::now();
        match rng.below(100) {
            0..=7 => t.record("getArtists", started, subsonic(c, "getArtists", &[])),
            8..=19 => {
                let kind = *rng.pick(&["newest", "random", "alphabeticalByName", "frequent"]);
                let offset = rng.below(cat.albums.len() as u64).to_string();
                let r = subsonic(
                    c,
                    "getAlbumList2",
                    &[("type", kind), ("size", "20"), ("offset", &offset)],
                );
                t.record("getAlbumList2", started, r)
            }
            20..=31 => t.record(
                "getAlbum",
                started,
                subsonic(c, "getAlbum", &[("id", &album)]),
            ),
            32..=41 => {
                let word = rng.pick(&cat.words).clone();
                let r = subsonic(c, "search3", &[("query", &word)]);
                t.record("search3 words", started, r)
            }
            42..=46 => {
                let offset = rng.below(cat.songs.len() as u64).to_string();
                let r = subsonic(
                    c,
                    "search3",
                    &[
                        ("query", ""),
                        ("songCount", "100"),
                        ("songOffset", &offset),
                        ("albumCount", "0"),
                        ("artistCount", "0"),
                    ],
                );
                t.record("search3 empty", started, r)
            }
            47..=54 => {
                let r = bytes(c, "stream", &[("id", &song)], None, 200);
                t.record("stream", started, r)
            }
            55..=60 => {
                let r = bytes(c, "stream", &[("id", &song)], Some("bytes=2000-"), 206);
                t.record("stream range", started, r)
            }
            61..=63 => {
                let r = bytes(
                    c,
                    "stream",
                    &[("id", &song), ("maxBitRate", "96"), ("format", "mp3")],
                    None,
                    200,
                );
                t.record("stream transcoded", started, r)
            }
            64..=71 => {
                let cover = format!("al-{}", rng.pick(&cat.covers));
                let r = bytes(
                    c,
                    "getCoverArt",
                    &[("id", &cover), ("size", "300")],
                    None,
                    200,
                );
                t.record("getCoverArt", started, r)
            }
            72..=77 => {
                let method = if rng.below(2) == 0 { "star" } else { "unstar" };
                t.record("star", started, subsonic(c, method, &[("id", &song)]))
            }
            78..=83 => {
                let r = subsonic(c, "scrobble", &[("id", &song), ("submission", "true")]);
                t.record("scrobble", started, r)
            }
            n => {
                let (kind, body) = match n {
                    84..=89 => ("queue add", json!({"op": "add", "songs": [song]})),
                    90..=93 => ("queue next", json!({"op": "next"})),
                    94..=96 if !seen.is_empty() => {
                        let e = rng.pick(&seen).clone();
                        let to = rng.below(seen.len() as u64);
                        ("queue move", json!({"op": "move", "entry": e, "to": to}))
                    }
                    _ if seen.len() > 100 => (
                        "queue remove",
                        json!({"op": "remove", "entries": seen[..10].to_vec()}),
                    ),
                    _ => {
                        let r = c.api("GET", "/api/queue", None);
                        if let Answer::Ok(state) = &r {
                            seen = entry_ids(state);
                        }
                        let r = if r.is_ok() {
                            Ok(())
                        } else {
                            Err(format!("GET /api/queue: {r:?}"))
                        };
                        t.record("queue get", started, r);
                        continue;
                    }
                };
                let r = c.api("POST", "/api/queue", Some(&body));
                let outcome = match r {
                    Answer::Ok(state) => {
                        seen = entry_ids(&state);
                        Ok(())
                    }
                    Answer::Refused(409, _) => {
                        t.conflicts += 1;
                        seen.clear();
                        Ok(())
                    }
                    other => Err(format!("{body}: {other:?}")),
                };
                t.record(kind, started, outcome)
            }
        }
    }
    t
}

fn entry_ids(state: &serde_json::Value) -> Vec<String> {
    state["entries"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|e| e["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize] as f64 / 1000.0
}

/// Least-squares slope of `points` (seconds, KiB), in KiB per minute.
fn slope_per_minute(points: &[(f64, u64)]) -> f64 {
    let n = points.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = points.iter().map(|p| p.0).sum::<f64>() / n;
    let my = points.iter().map(|p| p.1 as f64).sum::<f64>() / n;
    let sxy: f64 = points.iter().map(|p| (p.0 - mx) * (p.1 as f64 - my)).sum();
    let sxx: f64 = points.iter().map(|p| (p.0 - mx).powi(2)).sum();
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx * 60.0
    }
}

/// Scans `music`, starts the server and runs the clients; `progress` gets the RSS samples.
pub fn run(opts: &SoakOptions, mut progress: impl FnMut(&str)) -> Result<SoakReport> {
    let data = opts.dir.join("data");
    let log = opts.dir.join("server.log");
    let db = data.join("houseband.db");
    super::client::scan(&opts.bin, &opts.music, &data, &[])?;
    add_admin(&opts.bin, &data, "load", "load-pw")?;
    let ids = |sql: &str| -> Result<Vec<i64>> {
        Ok(rows(&db, "id", sql)?
            .iter()
            .filter_map(|r| r[0].as_i64())
            .collect())
    };
    let mut words: Vec<String> = rows(&db, "title", "FROM tracks ORDER BY id LIMIT 500")?
        .iter()
        .filter_map(|r| r[0].as_str()?.split_whitespace().next().map(str::to_string))
        .filter(|w| w.chars().count() >= 3)
        .collect();
    words.sort();
    words.dedup();
    words.push("zzzz-nothing".into());
    let cat = Arc::new(Catalog {
        songs: ids("FROM tracks WHERE missing_since IS NULL")?,
        albums: ids("FROM albums WHERE track_count > 0")?,
        covers: ids("FROM albums WHERE track_count > 0
               AND (cover_path IS NOT NULL OR cover_track_id IS NOT NULL)")?,
        words,
    });
    anyhow::ensure!(
        !cat.songs.is_empty() && !cat.covers.is_empty(),
        "the library has no songs, or no album with a picture"
    );
    let server = Served::start(&opts.bin, &opts.music, &data, &log)?;
    let pid = server.child.id();
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let rss = Arc::new(Mutex::new(Vec::new()));
    let sampler = {
        let (stop, rss, every) = (stop.clone(), rss.clone(), opts.sample_every);
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let kb = super::client::rss_kb(pid);
                rss.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push((started.elapsed().as_secs_f64(), kb));
                let next = Instant::now() + every;
                while Instant::now() < next && !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        })
    };
    let mut seeds = Rng::new(opts.seed);
    let clients: Vec<_> = (0..opts.clients)
        .map(|_| {
            let (stop, cat) = (stop.clone(), cat.clone());
            let mut rng = Rng::new(seeds.below(u64::MAX));
            let c = Client::new(server.port, "load", "load-pw");
            std::thread::Builder::new()
                .stack_size(256 << 10)
                .spawn(move || client_loop(&c, &cat, &mut rng, &stop))
                .context("a client thread")
        })
        .collect::<Result<_>>()?;
    let mut printed = 0;
    while started.elapsed() < opts.duration {
        std::thread::sleep(Duration::from_millis(200));
        let samples = rss.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (t, kb) in &samples[printed..] {
            progress(&format!("{t:>6.0} s  RSS {:>7.1} MB", *kb as f64 / 1024.0));
        }
        printed = samples.len();
    }
    stop.store(true, Ordering::Relaxed);
    let mut report = SoakReport {
        seconds: started.elapsed().as_secs_f64(),
        tracks: cat.songs.len(),
        ..SoakReport::default()
    };
    let mut all: Vec<u32> = Vec::new();
    let mut by_kind: BTreeMap<&'static str, Vec<u32>> = BTreeMap::new();
    for h in clients {
        let t = h.join().expect("a client thread panicked");
        report.errors += t.errors;
        report.conflicts += t.conflicts;
        for e in t.error_samples {
            if report.error_samples.len() < 50 {
                report.error_samples.push(e);
            }
        }
        for (k, v) in t.times {
            all.extend_from_slice(&v);
            by_kind.entry(k).or_default().extend(v);
        }
    }
    sampler.join().expect("the sampler panicked");
    // The server is still up after the run.
    let alive = Client::new(server.port, "load", "load-pw").rest("ping", &[]);
    if !alive.is_ok() {
        report.errors += 1;
        report
            .error_samples
            .push(format!("ping after the run: {alive:?}"));
    }
    drop(server);
    all.sort_unstable();
    report.requests = all.len() as u64;
    report.p50_ms = percentile(&all, 0.5);
    report.p99_ms = percentile(&all, 0.99);
    for (k, mut v) in by_kind {
        v.sort_unstable();
        report.kinds.insert(
            k.to_string(),
            (v.len() as u64, percentile(&v, 0.5), percentile(&v, 0.99)),
        );
    }
    report.rss = rss.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let half = report.seconds / 2.0;
    let second_half: Vec<(f64, u64)> = report.rss.iter().copied().filter(|p| p.0 >= half).collect();
    report.rss_slope_kb_per_min = slope_per_minute(&second_half);
    Ok(report)
}

/// The report as text, for the bench and the test's output.
pub fn describe(r: &SoakReport) -> String {
    let mut out = format!(
        "{} requests in {:.0} s ({:.0}/s) on {} songs; errors {}; queue conflicts (409, by design) {}\n\
         all: p50 {:.1} ms, p99 {:.1} ms\n",
        r.requests,
        r.seconds,
        r.requests as f64 / r.seconds.max(0.001),
        r.tracks,
        r.errors,
        r.conflicts,
        r.p50_ms,
        r.p99_ms
    );
    for (k, (n, p50, p99)) in &r.kinds {
        out.push_str(&format!(
            "  {k:<18} {n:>8}  p50 {p50:>8.1} ms  p99 {p99:>8.1} ms\n"
        ));
    }
    out.push_str("RSS (s: MB): ");
    out.push_str(
        &r.rss
            .iter()
            .map(|(t, kb)| format!("{t:.0}: {:.1}", *kb as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join(", "),
    );
    out.push_str(&format!(
        "\nRSS slope over the second half: {:+.0} KB/min\n",
        r.rss_slope_kb_per_min
    ));
    for e in &r.error_samples {
        out.push_str(&format!("  ERROR {e}\n"));
    }
    out
}
