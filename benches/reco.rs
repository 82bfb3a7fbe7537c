//! Recommendations benchmark: figures, not a pass/fail test. Run it with `cargo bench --bench
//! reco` (`HOUSEBAND_BENCH_TRACKS` changes the library size of the second part, 100,000 by
//! default).
//!
//! Part 1, the sound analysis. It makes three-minute songs (WAV by itself; MP3 and FLAC with ffmpeg, when it is
//! installed), analyses each several times on one thread, and prints how many times faster
//! than real time that is, per core: the goal is 50x or more. The analysis decodes at
//! most the first 75 s of a song (a 15 s intro skipped, a minute analysed), so a song's length
//! over the time taken is the figure that matters for a library.
//!
//! Part 2, answers at library scale. The listening simulator
//! (`houseband::testkit::listening`) writes a generated library with sound summaries and a
//! household's year of listening into a database; then, in process (the engine's own time,
//! without HTTP), it times similar songs and radio pages from random seeds for random members
//! (p50/p99 against the goal p99 < 20 ms), a day's mixes per user, the catalog's making, and
//! the memory the catalog and its sound summaries take.

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use houseband::app::reco::sound;

const SECONDS: u32 = 180;
const ROUNDS: usize = 5;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A song-like signal: a beat of noise bursts under a few chords, stereo, 44.1 kHz, 16-bit.
fn write_wav(path: &Path) {
    let rate = 44_100u32;
    let beat = (rate as f32 * 60.0 / 120.0) as u32;
    let mut seed = 7u32;
    let samples = (0..rate * SECONDS).flat_map(move |i| {
        let t = i as f32 / rate as f32;
        let chord = [220.0f32, 277.2, 329.6]
            .iter()
            .map(|hz| (std::f32::consts::TAU * hz * t).sin())
            .sum::<f32>()
            / 3.0;
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let noise = (seed >> 8) as f32 / (1u32 << 24) as f32 - 0.5;
        let hit = if i % beat < rate / 40 { noise } else { 0.0 };
        let s = ((0.3 * chord + 0.5 * hit) * 20_000.0) as i16;
        [s, s]
    });
    houseband::testkit::write_wav(path, rate, 2, samples);
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("song.wav");
    write_wav(&wav);
    let mut songs = vec![("WAV", wav.clone())];
    for (name, ext, args) in [
        ("MP3 (LAME 192k)", "mp3", vec!["-b:a", "192k"]),
        ("FLAC", "flac", vec![]),
    ] {
        let out = dir.path().join(format!("song.{ext}"));
        let made = Command::new("ffmpeg")
            .args(["-loglevel", "error", "-y", "-i"])
            .arg(&wav)
            .args(&args)
            .arg(&out)
            .status();
        match made {
            Ok(s) if s.success() => songs.push((name, out)),
            _ => println!("{name}: skipped (ffmpeg is not installed)"),
        }
    }
    analysis(songs);
    scale();
}

fn analysis(songs: Vec<(&str, std::path::PathBuf)>) {
    for (name, path) in songs {
        let mut times = Vec::new();
        let mut features = None;
        for _ in 0..ROUNDS {
            let start = Instant::now();
            features = Some(sound::analyse_file(&path).unwrap());
            times.push(start.elapsed().as_secs_f64());
        }
        let t = median(times);
        let speed = f64::from(SECONDS) / t;
        println!(
            "{name}: {:.0} ms per 3-minute song (median of {ROUNDS}), {speed:.0}x real time on one core   goal >= 50x: {}   (tempo found {:.1} BPM for a 120 BPM beat)",
            t * 1000.0,
            if speed >= 50.0 { "met" } else { "NOT met" },
            features.unwrap().tempo_bpm
        );
    }
}

/// Resident memory of this process, in bytes (Linux).
fn rss() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

fn scale() {
    use houseband::app::library::browse::Scope;
    use houseband::app::reco::Seed;
    use houseband::testkit::listening::{make_library, Household, SimSettings};
    use rand::{Rng, SeedableRng};

    let tracks: usize = std::env::var("HOUSEBAND_BENCH_TRACKS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(100_000);
    let settings = SimSettings {
        seed: 7,
        tracks,
        artists: (tracks / 40).max(10),
        genres: 30,
        labels: 200,
        households: 1,
        members: 4,
        weeks: 53,
        sessions_per_week: 14,
        songs_per_session: 12,
    };
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(settings.seed);
    let t0 = Instant::now();
    let lib = make_library(&settings, &mut rng);
    let house = Household::make(dir.path(), &lib, &settings, &mut rng).unwrap();
    println!(
        "\n{tracks} tracks with sound summaries, {} members, {} plays recorded: made in {:.0} s",
        settings.members,
        house.recorded_plays(&settings),
        t0.elapsed().as_secs_f64()
    );
    let reco = &house.reco;
    let before = rss();
    let mut builds = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        reco.refresh().unwrap();
        builds.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    let cat = reco.catalog().unwrap();
    println!(
        "catalog: made in {:.0} ms (median of 3); sound summaries {:.1} MB ({} songs x 15 numbers); process RSS {:.0} MB, {:+.0} MB over before the last making",
        median(builds),
        cat.sound_bytes() as f64 / 1e6,
        cat.analysed,
        rss() as f64 / 1e6,
        (rss() as f64 - before as f64) / 1e6
    );
    let users = house.users();
    let scope = Scope::all();
    let n = tracks as i64;
    // Warm the caches (tastes, popularity) as a running server has them.
    for u in &users {
        reco.similar_songs(Some(*u), &Seed::Song(1), 10, &scope)
            .unwrap();
    }
    for (name, kind) in [
        ("similar songs (10)", 0),
        ("radio page (20)", 1),
        ("album radio (20)", 2),
    ] {
        let mut times = Vec::new();
        for k in 0..300u64 {
            let user = users[k as usize % users.len()];
            let song = rng.random_range(1..=n);
            let t = Instant::now();
            let got = match kind {
                0 => reco.similar_songs(Some(user), &Seed::Song(song), 10, &scope),
                1 => reco.radio(
                    Some(user),
                    &Seed::Song(song),
                    20,
                    &Default::default(),
                    &scope,
                    k,
                ),
                _ => {
                    let album = cat.song(song).map(|s| s.album).unwrap_or(1);
                    reco.radio(
                        Some(user),
                        &Seed::Album(album),
                        20,
                        &Default::default(),
                        &scope,
                        k,
                    )
                }
            }
            .unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!got.is_empty());
        }
        let p99 = percentile(times.clone(), 0.99);
        println!(
            "{name}: p50 {:.1} ms, p99 {:.1} ms over 300 random seeds   goal p99 < 20 ms: {}",
            percentile(times, 0.5),
            p99,
            if p99 < 20.0 { "met" } else { "NOT met" }
        );
    }
    let mut times = Vec::new();
    for _ in 0..3 {
        reco.refresh().unwrap();
        for u in &users {
            let t = Instant::now();
            let mixes = reco.mixes(*u, &scope).unwrap();
            times.push(t.elapsed().as_secs_f64() * 1000.0);
            assert!(!mixes.is_empty());
        }
    }
    println!(
        "a day's mixes for one user (made, not cached): median {:.0} ms, slowest {:.0} ms over {} makings",
        median(times.clone()),
        percentile(times.clone(), 1.0),
        times.len()
    );
}
