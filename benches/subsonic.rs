//! Subsonic API benchmark: figures, not a pass/fail test. Run it with
//! `cargo bench --bench subsonic` (or `-- --tracks 100000 --requests 300 --dir /tmp/hb-api
//! [--song-cache 0] [--reuse] [--server PATH]`).
//!
//! Generates a synthetic library (testkit::generate), scans it with the release binary, starts
//! `houseband serve` on loopback and measures each request type with keep-alive HTTP clients:
//! latency percentiles from one client in a row, and requests/s from two clients at once (the
//! machine has two cores; the server and the clients share them). Goals from issue 4: p99 < 5 ms
//! for each at 100k tracks, and search3's last page as fast as its first.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use houseband::testkit::{generate, GenOptions};

const AUTH: &str = "u=bench&p=bench-pw&v=1.16.1&c=bench&f=json";

fn get(agent: &ureq::Agent, url: &str) -> String {
    agent
        .get(url)
        .call()
        .expect("HTTP 200")
        .into_string()
        .expect("body")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str::<serde_json::Value>(body).expect("JSON")["subsonic-response"].clone()
}

fn main() {
    let mut tracks = 100_000usize;
    let mut requests = 300usize;
    let mut dir = std::env::temp_dir().join("houseband-api-bench");
    let (mut song_cache, mut reuse) = (None::<String>, false);
    let mut bin = String::from(env!("CARGO_BIN_EXE_houseband"));
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tracks" => tracks = args.next().unwrap_or_default().parse().expect("--tracks N"),
            "--requests" => {
                requests = args
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .expect("--requests N")
            }
            "--dir" => dir = PathBuf::from(args.next().unwrap_or_default()),
            // The server's `song_cache` (0 measures every answer made from the database).
            "--song-cache" => song_cache = args.next(),
            // Keep the library and database a run with the same --dir made (no generation and
            // scan): A/B runs on the same data.
            "--reuse" => reuse = true,
            // Another build of the server, e.g. an older commit's, for A/B runs.
            "--server" => bin = args.next().unwrap_or_default(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let music = dir.join("music");
    let data = dir.join("data");
    let (m, d) = (music.to_str().unwrap(), data.to_str().unwrap());
    if reuse && data.join("houseband.db").exists() {
        println!(
            "houseband Subsonic benchmark: {tracks} tracks (reusing {})",
            dir.display()
        );
        // The last run's user (and its playlist): made again below.
        let deleted = Command::new(&bin)
            .args(["user", "delete", "bench", "--data", d])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(deleted.success());
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        let t = Instant::now();
        generate(&music, &GenOptions::new(tracks)).expect("generate");
        println!(
            "houseband Subsonic benchmark: {tracks} tracks (generated in {:.1} s)",
            t.elapsed().as_secs_f64()
        );
        let status = Command::new(&bin)
            .args(["scan", "--music", m, "--data", d])
            .env("HOUSEBAND_LOG", "warn")
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success());
    }
    let mut flags = vec!["--scan-on-start", "false"];
    if let Some(size) = &song_cache {
        flags.extend(["--song-cache", size]);
    }
    println!("server {bin} {}", flags.join(" "));
    let (mut server, port) =
        houseband::testkit::bench_server(&bin, &music, &data, &flags).expect("the server starts");
    let base = format!("http://127.0.0.1:{port}/rest");
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let t = Instant::now();
    while agent.get(&format!("{base}/ping?{AUTH}")).call().is_err() {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Fixtures for the requests: an album, a word, the last page of the empty search, a playlist.
    let album = json(&get(
        &agent,
        &format!("{base}/getAlbumList2?{AUTH}&type=alphabeticalByName&size=1"),
    ))["albumList2"]["album"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let songs = json(&get(
        &agent,
        &format!("{base}/search3?{AUTH}&query=&songCount=500&artistCount=0&albumCount=0"),
    ));
    let mut ids: Vec<String> = songs["searchResult3"]["song"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_string())
        .collect();
    let more = json(&get(
        &agent,
        &format!(
            "{base}/search3?{AUTH}&query=&songCount=500&songOffset=500&artistCount=0&albumCount=0"
        ),
    ));
    ids.extend(
        more["searchResult3"]["song"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_str().unwrap().to_string()),
    );
    let form = format!(
        "{AUTH}&name=bench&{}",
        ids.iter()
            .map(|i| format!("songId={i}"))
            .collect::<Vec<_>>()
            .join("&")
    );
    let created = agent
        .post(&format!("{base}/createPlaylist"))
        .set("Content-Type", "application/x-www-form-urlencoded")
        .send_string(&form)
        .unwrap()
        .into_string()
        .unwrap();
    let playlist = json(&created)["playlist"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let last_offset = tracks.saturating_sub(500);

    let cases: Vec<(&str, String)> = vec![
        ("ping", "ping".into()),
        ("getArtists", "getArtists".into()),
        ("getAlbumList2 size=50", "getAlbumList2?type=alphabeticalByName&size=50".into()),
        ("getAlbumList2 random 50", "getAlbumList2?type=random&size=50".into()),
        ("search3 a word", "search3?query=song%2000042".into()),
        ("search3 \"\" offset 0, 20", "search3?query=%22%22".into()),
        (
            "search3 \"\" last page, 20",
            format!("search3?query=%22%22&songOffset={}&artistOffset=0&albumOffset=0", tracks - 20),
        ),
        ("search3 \"\" offset 0, 500", "search3?query=%22%22&songCount=500&artistCount=0&albumCount=0".into()),
        (
            "search3 \"\" last page, 500",
            format!("search3?query=%22%22&songCount=500&songOffset={last_offset}&artistCount=0&albumCount=0"),
        ),
        ("getAlbum", format!("getAlbum?id={album}")),
        ("getPlaylist 1000 songs", format!("getPlaylist?id={playlist}")),
    ];
    println!(
        "{:<26} {:>9} {:>9} {:>9} {:>10}   goal p99 < 5 ms",
        "request", "p50", "p99", "max", "req/s (2)"
    );
    for (name, path) in cases {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = format!("{base}/{path}{sep}{AUTH}");
        let body = get(&agent, &url);
        assert!(body.contains("\"ok\""), "{name}: {body:.300}");
        for _ in 0..10 {
            get(&agent, &url);
        }
        let mut times: Vec<Duration> = (0..requests)
            .map(|_| {
                let t = Instant::now();
                get(&agent, &url);
                t.elapsed()
            })
            .collect();
        times.sort();
        // Throughput: two clients for the same number of requests in all.
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                let url = url.clone();
                s.spawn(move || {
                    let a = ureq::AgentBuilder::new().build();
                    for _ in 0..requests / 2 {
                        get(&a, &url);
                    }
                });
            }
        });
        let rps = (requests / 2 * 2) as f64 / t.elapsed().as_secs_f64();
        let ms = |d: Duration| format!("{:.2} ms", d.as_secs_f64() * 1000.0);
        println!(
            "{name:<26} {:>9} {:>9} {:>9} {:>10.0}   {}",
            ms(percentile(&times, 0.5)),
            ms(percentile(&times, 0.99)),
            ms(*times.last().unwrap()),
            rps,
            if percentile(&times, 0.99) < Duration::from_millis(5) {
                "met"
            } else {
                "NOT met"
            }
        );
    }
    let _ = server.kill();
    let _ = server.wait();
    if !reuse {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
