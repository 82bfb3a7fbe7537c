//! Streaming and transcoding benchmark: figures, not a pass/fail test. Run it with
//! `cargo bench --bench media` (or `-- --seconds 120 --streams 50 --raw 200`).
//!
//! Makes a song (synthetic music-like signal, 44.1 kHz stereo) as FLAC and MP3, then measures:
//! realtime factor per core of Houseband's in-process transcodes (CPU time of the transcoding
//! thread) beside ffmpeg's for the same conversion when ffmpeg is installed (`-threads 1`, CPU
//! time of the process); time to first byte of a transcoded stream from `houseband serve`;
//! N concurrent transcoded streams (is each faster than real time?); M concurrent raw streams
//! (throughput); cover art resizes per second. Goals from issue 5: >= 100x realtime per core
//! for FLAC->Opus and FLAC->MP3, TTFB < 100 ms, 50 concurrent transcodes all faster than real
//! time.

use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use houseband::app::media::art::{Art, Output, Source as ArtSource};
use houseband::app::media::{transcode, Format, Job};

const BIN: &str = env!("CARGO_BIN_EXE_houseband");
const AUTH: &str = "u=bench&p=bench-pw&v=1.16.1&c=bench";

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock id and a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

fn children_cpu() -> Duration {
    // SAFETY: getrusage fills the struct it is given.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut ru) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(ru.ru_utime) + tv(ru.ru_stime)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

/// A WAV of a music-like signal: a moving chord with harmonics, a beat and some noise.
fn write_music(path: &Path, seconds: u32) {
    let rate = 44_100u32;
    let frames = seconds * rate;
    let mut out = Vec::with_capacity(frames as usize * 2);
    let mut noise: u32 = 1;
    for i in 0..frames {
        let t = i as f64 / rate as f64;
        let root = [220.0, 261.6, 196.0, 246.9][(t / 2.0) as usize % 4];
        let mut s = 0.0;
        for (k, ratio) in [1.0, 1.25, 1.5, 2.0].iter().enumerate() {
            for h in 1..4 {
                s += (t * root * ratio * h as f64 * std::f64::consts::TAU).sin()
                    / (h * (k + 1)) as f64;
            }
        }
        let beat = (-((t * 2.0).fract()) * 12.0).exp();
        noise = noise.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        let n = ((noise >> 16) as f64 / 65536.0 - 0.5) * beat;
        let l = (s * 0.12 + n * 0.3) * 30_000.0;
        let r = (s * 0.1 + n * 0.35) * 30_000.0;
        out.push(l.clamp(-32767.0, 32767.0) as i16);
        out.push(r.clamp(-32767.0, 32767.0) as i16);
    }
    houseband::testkit::write_wav(path, rate, 2, out);
}

fn transcode_to_file(input: &Path, job: &Job, output: &Path) {
    let source = transcode::open(input, job).expect("open");
    let mut bytes = Vec::new();
    transcode::run(source, job, |b| {
        bytes.extend_from_slice(&b);
        true
    })
    .expect("transcode");
    std::fs::write(output, bytes).unwrap();
}

fn job(format: Format, bitrate: u32) -> Job {
    Job {
        format,
        bitrate,
        offset: 0.0,
        gain: None,
    }
}

fn main() {
    let mut seconds = 60u32;
    let mut streams = 50usize;
    let mut raw = 200usize;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default().parse().expect("a number");
        match a.as_str() {
            "--seconds" => seconds = value() as u32,
            "--streams" => streams = value(),
            "--raw" => raw = value(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let dir = std::env::temp_dir().join("houseband-media-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let album = dir.join("music/Bench Artist/Bench Album");
    std::fs::create_dir_all(&album).unwrap();
    let wav = dir.join("source.wav");
    write_music(&wav, seconds);
    let flac = album.join("01 - Song.flac");
    let mp3 = album.join("02 - Song.mp3");
    transcode_to_file(&wav, &job(Format::Flac, 0), &flac);
    transcode_to_file(&wav, &job(Format::Mp3, 192), &mp3);
    image::RgbImage::from_fn(1500, 1500, |x, y| {
        image::Rgb([(x / 6) as u8, (y / 6) as u8, ((x + y) / 12) as u8])
    })
    .save(album.join("cover.jpg"))
    .unwrap();
    println!(
        "houseband media benchmark: a {seconds} s song, 44.1 kHz stereo (FLAC {} KB, MP3 {} KB)",
        std::fs::metadata(&flac).unwrap().len() / 1024,
        std::fs::metadata(&mp3).unwrap().len() / 1024
    );

    // Realtime factor per core, in process and by ffmpeg.
    let conversions = [
        (
            "FLAC -> MP3 192k",
            &flac,
            job(Format::Mp3, 192),
            "libmp3lame",
            "192k",
            "mp3",
        ),
        (
            "FLAC -> Opus 128k",
            &flac,
            job(Format::Opus, 128),
            "libopus",
            "128k",
            "ogg",
        ),
        (
            "MP3 -> Opus 96k",
            &mp3,
            job(Format::Opus, 96),
            "libopus",
            "96k",
            "ogg",
        ),
        (
            "FLAC -> Vorbis 160k",
            &flac,
            job(Format::Vorbis, 160),
            "libvorbis",
            "160k",
            "ogg",
        ),
        (
            "MP3 -> FLAC",
            &mp3,
            job(Format::Flac, 0),
            "flac",
            "0",
            "flac",
        ),
    ];
    let has_ffmpeg = Command::new("ffmpeg")
        .arg("-version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    println!(
        "\n{:<22} {:>16} {:>16}   goal",
        "conversion",
        "houseband",
        if has_ffmpeg { "ffmpeg" } else { "(no ffmpeg)" }
    );
    for (name, input, j, codec, bitrate, container) in &conversions {
        let mut ours = Vec::new();
        for _ in 0..5 {
            let before = thread_cpu();
            let source = transcode::open(input, j).unwrap();
            let mut n = 0usize;
            transcode::run(source, j, |b| {
                n += b.len();
                true
            })
            .unwrap();
            ours.push(seconds as f64 / (thread_cpu() - before).as_secs_f64());
        }
        let theirs = has_ffmpeg.then(|| {
            let mut v = Vec::new();
            for _ in 0..5 {
                let before = children_cpu();
                let mut cmd = Command::new("ffmpeg");
                cmd.args(["-nostdin", "-v", "error", "-threads", "1", "-i"])
                    .arg(input)
                    .args(["-c:a", codec]);
                if *bitrate != "0" {
                    cmd.args(["-b:a", bitrate]);
                }
                let ok = cmd
                    .args(["-f", container, "-y", "/dev/null"])
                    .status()
                    .is_ok_and(|s| s.success());
                assert!(ok, "ffmpeg failed on {name}");
                v.push(seconds as f64 / (children_cpu() - before).as_secs_f64());
            }
            median(v)
        });
        let goal = if name.starts_with("FLAC -> MP3") || name.starts_with("FLAC -> Opus") {
            if median(ours.clone()) >= 100.0 {
                ">= 100x: met"
            } else {
                ">= 100x: NOT met"
            }
        } else {
            ""
        };
        println!(
            "{:<22} {:>14.0}x {:>15}   {goal}",
            name,
            median(ours),
            theirs.map_or("-".into(), |t| format!("{t:.0}x"))
        );
    }

    // Cover art: resizes per second in one thread (each size once, so none is cached).
    let art = Art::new(dir.join("art-cache"));
    let cover = ArtSource::File(album.join("cover.jpg"));
    let start = Instant::now();
    let mut resized = 0;
    for size in 200..230 {
        art.get(&cover, Some(size), Output::Jpeg).unwrap();
        resized += 1;
    }
    println!(
        "\ncover art, 1500x1500 JPEG -> ~200 px JPEG: {:.0} resizes/s (one core, uncached)",
        resized as f64 / start.elapsed().as_secs_f64()
    );

    // The server.
    let (m, d) = (dir.join("music"), dir.join("data"));
    let slots = (streams + 10).to_string();
    let (mut server, port) = houseband::testkit::bench_server(
        BIN,
        &m,
        &d,
        &["--transcode-cache", "0", "--transcode-slots", &slots],
    )
    .expect("the server starts");
    let base = format!("http://127.0.0.1:{port}/rest");
    let t = Instant::now();
    loop {
        let ready = ureq::get(&format!("http://127.0.0.1:{port}/api/health"))
            .call()
            .ok()
            .and_then(|r| r.into_string().ok())
            .is_some_and(|b| b.contains("\"tracks\":2") && b.contains("\"scanning\":false"));
        if ready {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let url = |id: u32, query: &str| format!("{base}/stream?{AUTH}&id=tr-{id}&{query}");

    // Time to first byte of a transcode (the cache is off: every request transcodes).
    let mut ttfb = Vec::new();
    for i in 0..20 {
        let format = if i % 2 == 0 { "mp3" } else { "opus" };
        let start = Instant::now();
        let resp = ureq::get(&url(1, &format!("format={format}")))
            .call()
            .unwrap();
        let mut reader = resp.into_reader();
        let mut one = [0u8; 1];
        reader.read_exact(&mut one).unwrap();
        ttfb.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let ttfb_median = median(ttfb.clone());
    ttfb.sort_by(|a, b| a.partial_cmp(b).unwrap());
    println!(
        "\ntime to first byte, FLAC -> MP3/Opus: median {:.1} ms, max {:.1} ms   goal < 100 ms: {}",
        ttfb_median,
        ttfb[ttfb.len() - 1],
        if ttfb_median < 100.0 {
            "met"
        } else {
            "NOT met"
        }
    );

    // Concurrent transcodes: each must arrive faster than it plays.
    let start = Instant::now();
    let handles: Vec<_> = (0..streams)
        .map(|i| {
            let u = url(
                1,
                if i % 2 == 0 {
                    "format=mp3&maxBitRate=192"
                } else {
                    "format=opus&maxBitRate=128"
                },
            );
            std::thread::spawn(move || {
                let t = Instant::now();
                let mut body = Vec::new();
                ureq::get(&u)
                    .timeout(Duration::from_secs(600))
                    .call()
                    .map(|r| r.into_reader().read_to_end(&mut body))
                    .ok();
                (t.elapsed().as_secs_f64(), body.len())
            })
        })
        .collect();
    let results: Vec<(f64, usize)> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let slowest = results.iter().map(|r| r.0).fold(0.0, f64::max);
    let failed = results.iter().filter(|r| r.1 < 10_000).count();
    println!(
        "{streams} concurrent transcodes of the {seconds} s song: all done in {:.1} s, slowest stream {:.1}x real time, {failed} failed   goal all > 1x: {}",
        start.elapsed().as_secs_f64(),
        seconds as f64 / slowest,
        if failed == 0 && slowest < seconds as f64 { "met" } else { "NOT met" }
    );

    // Concurrent raw streams: throughput.
    let start = Instant::now();
    let handles: Vec<_> = (0..raw)
        .map(|_| {
            let u = url(1, "format=raw");
            std::thread::spawn(move || {
                let mut body = Vec::new();
                ureq::get(&u)
                    .timeout(Duration::from_secs(600))
                    .call()
                    .map(|r| r.into_reader().read_to_end(&mut body))
                    .ok();
                body.len()
            })
        })
        .collect();
    let bytes: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "{raw} concurrent raw streams: {:.0} MB in {:.2} s = {:.0} MB/s",
        bytes as f64 / 1e6,
        elapsed,
        bytes as f64 / 1e6 / elapsed
    );

    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
