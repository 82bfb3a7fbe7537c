//! Web app benchmark: figures, not a pass/fail test. Run it with `cargo bench --bench web`
//! (needs Debian's chromium and `npm ci --prefix tests/web`). It prints what the app weighs on
//! the wire (each file fetched as the browser does, gzipped; goal from issue 9: under 150 KB for
//! the scripts and styles) and, over 10 loads in fresh browser contexts on loopback, the time
//! from navigation to a usable login form (time to interactive) and from logging in to the
//! album grid shown (medians and the slowest).

use std::io::Read;
use std::process::Command;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_houseband");

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let music = houseband::testkit::fixtures_library();
    let (mut server, port) =
        houseband::testkit::bench_server(BIN, &music, &data, &[]).expect("the server starts");
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    while ureq::get(&format!("{base}/api/health")).call().is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "the server answers"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(2));

    let files = [
        "/",
        "/app/style.css",
        "/app/app/main.js",
        "/app/app/api.js",
        "/app/app/queue.js",
        "/app/app/ui.js",
        "/app/app/songs.js",
        "/app/app/library.js",
        "/app/app/playlists.js",
        "/app/app/player.js",
        "/app/app/admin.js",
        "/app/vendor/preact.module.js",
        "/app/vendor/hooks.module.js",
        "/app/vendor/htm.module.js",
        "/app/icon.svg",
    ];
    let (mut total, mut code) = (0usize, 0usize);
    for f in files {
        let r = ureq::get(&format!("{base}{f}"))
            .set("Accept-Encoding", "gzip")
            .call()
            .expect("the file is served");
        let mut bytes = Vec::new();
        r.into_reader().read_to_end(&mut bytes).unwrap();
        total += bytes.len();
        if f.ends_with(".js") || f.ends_with(".css") {
            code += bytes.len();
        }
        println!("{f}: {} bytes on the wire", bytes.len());
    }
    println!(
        "the whole app: {:.1} KB gzipped; scripts and styles {:.1} KB   goal < 150 KB: {}",
        total as f64 / 1024.0,
        code as f64 / 1024.0,
        if code < 150 * 1024 { "met" } else { "NOT met" }
    );

    let out = Command::new("node")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/tti.mjs"))
        .arg(format!("{base}/"))
        .arg("10")
        .output()
        .expect("node runs (and npm ci --prefix tests/web was run)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut login, mut albums) = (Vec::new(), Vec::new());
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        login.push(v["login"].as_f64().unwrap());
        albums.push(v["albums"].as_f64().unwrap());
    }
    let slowest = |v: &[f64]| v.iter().cloned().fold(0.0, f64::max);
    println!(
        "time to interactive (navigation to a usable login form), 10 fresh loads: median {:.0} ms, slowest {:.0} ms",
        median(login.clone()),
        slowest(&login)
    );
    println!(
        "logging in to the album grid shown: median {:.0} ms, slowest {:.0} ms",
        median(albums.clone()),
        slowest(&albums)
    );
    let _ = server.kill();
    let _ = server.wait();
    scrolling();
}

/// A library of 10,000 albums (one generated song each), its A-to-Z grid scrolled from top to
/// bottom at 4,000 px/s (a fling), then for 30 s at 1,000 px/s (reading speed): issue 9's figure,
/// no dropped frames.
fn scrolling() {
    const ALBUMS: usize = 10_000;
    let dir = tempfile::tempdir().unwrap();
    let music = dir.path().join("music");
    let data = dir.path().join("data");
    let mut opts = houseband::testkit::GenOptions::new(ALBUMS);
    opts.tracks_per_album = 1;
    opts.albums_per_artist = 5;
    houseband::testkit::generate(&music, &opts).expect("the library is generated");
    let (mut server, port) =
        houseband::testkit::bench_server(BIN, &music, &data, &[]).expect("the server starts");
    let base = format!("http://127.0.0.1:{port}");
    let start = Instant::now();
    loop {
        let health: Option<serde_json::Value> = ureq::get(&format!("{base}/api/health"))
            .call()
            .ok()
            .and_then(|r| serde_json::from_reader(r.into_reader()).ok());
        if health
            .is_some_and(|h| h["scanning"] == false && h["tracks"].as_u64() == Some(ALBUMS as u64))
        {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(600), "the scan ends");
        std::thread::sleep(Duration::from_millis(200));
    }
    // A fling from top to bottom, then reading speed for half a minute (covers drawn).
    for (speed, seconds) in [("4000", "120"), ("1000", "30")] {
        let out = Command::new("node")
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/web/scroll.mjs"))
            .arg(format!("{base}/"))
            .args(["bench", "bench-pw", speed, "on", seconds])
            .output()
            .expect("node runs");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        println!(
            "scrolling {} albums A to Z at {speed} px/s ({} px in {} s): {} frames, median {} ms, p99 {} ms, worst {} ms, dropped {} (over 1.5x the median); {} long tasks (longest {} ms); at most {} album cards in the page   goal: no dropped frames: {}",
            v["albums"], v["scrolled_px"], v["seconds"], v["frames"], v["median_frame_ms"],
            v["p99_frame_ms"], v["worst_frame_ms"], v["dropped"], v["long_tasks"],
            v["longest_task_ms"], v["most_cards_in_page"],
            if v["dropped"] == 0 { "met" } else { "NOT met" }
        );
    }
    let _ = server.kill();
    let _ = server.wait();
}
