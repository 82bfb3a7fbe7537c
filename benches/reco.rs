//! Sound analysis benchmark: figures, not a pass/fail test. Run it with `cargo bench --bench
//! reco`. It makes three-minute songs (WAV by itself; MP3 and FLAC with ffmpeg, when it is
//! installed), analyses each several times on one thread, and prints how many times faster
//! than real time that is, per core: the goal is 50x or more. The analysis decodes at
//! most the first 75 s of a song (a 15 s intro skipped, a minute analysed), so a song's length
//! over the time taken is the figure that matters for a library.

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
