//! Library benchmark: figures, not a pass/fail test. Run it with
//! `cargo bench --bench library` (or `-- --tracks 10000,50000 --runs 3 --dir /tmp/hb-bench`).
//!
//! For each size it generates a synthetic library (testkit::generate: real files copied and
//! retagged), then measures with the release binary, as separate processes:
//! - initial scan into an empty database: time, tracks/s, peak RSS (median of `--runs`);
//! - a rescan with nothing changed: time (median);
//! - the server: idle RSS after its start-up scan, and the time from retagging 10 files to all
//!   10 new titles being in the database (median of `--runs` rounds);
//! - the database size.
//!
//! Files are in the page cache (just written), as on a NAS that has seen them before. The goals
//! come from issue 3 and are printed beside the figures.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use houseband::testkit::{generate, retitle, rows, GenOptions};

const BIN: &str = env!("CARGO_BIN_EXE_houseband");

struct Run {
    seconds: f64,
    peak_rss_kb: i64,
    stdout: String,
}

/// Runs the binary to completion; measures wall time and the child's own peak RSS (wait4).
// The child is reaped by wait4 (for its rusage), which clippy cannot see.
#[allow(clippy::zombie_processes)]
fn run(args: &[&str]) -> Run {
    let started = Instant::now();
    let child = Command::new(BIN)
        .args(args)
        .env("HOUSEBAND_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run houseband");
    let pid = child.id() as libc::pid_t;
    let mut stdout_pipe = child.stdout.expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut stdout_pipe, &mut s).ok();
        s
    });
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(waited, pid, "wait4 failed");
    let seconds = started.elapsed().as_secs_f64();
    let stdout = reader.join().unwrap_or_default();
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "houseband {args:?} failed:\n{stdout}"
    );
    Run {
        seconds,
        peak_rss_kb: usage.ru_maxrss,
        stdout,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn status_kb(pid: u32, field: &str) -> i64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(-1)
}

fn health(port: u16) -> Option<serde_json::Value> {
    let resp = ureq::get(&format!("http://127.0.0.1:{port}/api/health"))
        .timeout(Duration::from_secs(5))
        .call()
        .ok()?;
    serde_json::from_str(&resp.into_string().ok()?).ok()
}

fn dir_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|it| {
            it.filter_map(|e| e.ok())
                .filter(|e| e.file_name().to_string_lossy().starts_with("houseband.db"))
                .filter_map(|e| e.metadata().ok())
                .map(|m| m.len())
                .sum()
        })
        .unwrap_or(0)
}

fn bench(tracks: usize, runs: usize, root: &Path) {
    let music = root.join(format!("music-{tracks}"));
    let data = root.join(format!("data-{tracks}"));
    let _ = std::fs::remove_dir_all(&music);
    let started = Instant::now();
    let generated = generate(&music, &GenOptions::new(tracks)).expect("generate library");
    let files_mb = generated
        .iter()
        .map(|t| std::fs::metadata(&t.path).map(|m| m.len()).unwrap_or(0))
        .sum::<u64>() as f64
        / 1e6;
    println!(
        "\n== {tracks} tracks ({files_mb:.0} MB of audio files, generated in {:.1} s) ==",
        started.elapsed().as_secs_f64()
    );
    let m = music.to_str().unwrap();
    let d = data.to_str().unwrap();

    let mut scan_times = Vec::new();
    let mut scan_rss = Vec::new();
    for _ in 0..runs {
        let _ = std::fs::remove_dir_all(&data);
        let r = run(&["scan", "--music", m, "--data", d]);
        assert!(
            r.stdout
                .contains(&format!("scanned {tracks} files: {tracks} added")),
            "{}",
            r.stdout
        );
        scan_times.push(r.seconds);
        scan_rss.push(r.peak_rss_kb as f64);
    }
    let mut rescan_times = Vec::new();
    for _ in 0..runs {
        let r = run(&["scan", "--music", m, "--data", d]);
        assert!(
            r.stdout.contains("0 added, 0 updated, 0 removed"),
            "{}",
            r.stdout
        );
        rescan_times.push(r.seconds);
    }
    let db_mb = dir_size(&data) as f64 / 1e6;

    // The server: start-up scan (nothing changed), idle memory, live changes.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new(BIN)
        .args([
            "serve",
            "--music",
            m,
            "--data",
            d,
            "--bind",
            &format!("127.0.0.1:{port}"),
            "--scan-interval",
            "0",
            "--lan",
            "off",
            "--local-output",
            "false",
            "--sound-analysis",
            "false",
            "--autoplay",
            "false",
        ])
        .env("HOUSEBAND_LOG", "warn")
        .stdout(Stdio::null())
        .spawn()
        .expect("start server");
    let pid = server.id();
    let t0 = Instant::now();
    loop {
        if let Some(h) = health(port) {
            if h["scanning"] == false && h["tracks"] == tracks as i64 {
                break;
            }
        }
        assert!(
            t0.elapsed() < Duration::from_secs(300),
            "server never finished its start-up scan"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_secs(3));
    let idle_rss = status_kb(pid, "VmRSS:");
    let db = data.join("houseband.db");
    let mut change_times = Vec::new();
    for round in 0..runs {
        let picks: Vec<&PathBuf> = (0..10)
            .map(|i| &generated[(i * tracks / 10 + round * 7) % tracks].path)
            .collect();
        let title = format!("Changed {round}");
        let t = Instant::now();
        for p in &picks {
            retitle(p, &title).expect("retag");
        }
        loop {
            let seen = rows(
                &db,
                "COUNT(*)",
                &format!("FROM tracks WHERE title = '{title}'"),
            )
            .map(|r| r[0][0].as_i64().unwrap_or(0))
            .unwrap_or(0);
            if seen == 10 {
                break;
            }
            assert!(
                t.elapsed() < Duration::from_secs(60),
                "changes never became visible"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        change_times.push(t.elapsed().as_secs_f64());
        std::thread::sleep(Duration::from_millis(500));
    }
    let server_peak = status_kb(pid, "VmHWM:");
    let idle_after = status_kb(pid, "VmRSS:");
    let _ = server.kill();
    let _ = server.wait();

    let scan = median(scan_times.clone());
    let rows_out = [
        (
            "initial scan",
            format!("{scan:.2} s ({:.0} tracks/s)", tracks as f64 / scan),
            "< 5 s at 50k",
        ),
        (
            "no-change rescan",
            format!("{:.3} s", median(rescan_times.clone())),
            "< 1 s",
        ),
        (
            "10 changed files visible",
            format!("{:.3} s", median(change_times.clone())),
            "< 2 s",
        ),
        (
            "peak RSS, scan",
            format!("{:.0} MB", median(scan_rss.clone()) / 1024.0),
            "< 150 MB",
        ),
        (
            "peak RSS, server",
            format!("{:.0} MB", server_peak as f64 / 1024.0),
            "< 150 MB",
        ),
        (
            "idle RSS after scan",
            format!(
                "{:.0} MB ({:.0} MB after the change rounds)",
                idle_rss as f64 / 1024.0,
                idle_after as f64 / 1024.0
            ),
            "< 60 MB",
        ),
        ("database size", format!("{db_mb:.1} MB"), ""),
    ];
    for (what, figure, goal) in rows_out {
        println!("{what:<26} {figure:<44} goal {goal}");
    }
    println!(
        "raw: scans {scan_times:.2?} s, rescans {rescan_times:.3?} s, changes {change_times:.3?} s, scan peak RSS {:?} kB",
        scan_rss
    );
}

fn main() {
    let mut sizes = vec![10_000, 50_000];
    let mut runs = 3;
    let mut dir = std::env::temp_dir().join("houseband-bench");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--tracks" => {
                sizes = args
                    .next()
                    .unwrap_or_default()
                    .split(',')
                    .map(|s| {
                        s.trim()
                            .parse()
                            .expect("--tracks takes numbers like 10000,50000")
                    })
                    .collect()
            }
            "--runs" => {
                runs = args
                    .next()
                    .unwrap_or_default()
                    .parse()
                    .expect("--runs takes a number")
            }
            "--dir" => dir = PathBuf::from(args.next().unwrap_or_default()),
            "--bench" => {}
            other => panic!("unknown argument {other}; use --tracks N,M --runs K --dir DIR"),
        }
    }
    std::fs::create_dir_all(&dir).unwrap();
    println!(
        "houseband library benchmark: {} core(s), release build, median of {runs} runs",
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(0)
    );
    for n in sizes {
        bench(n, runs, &dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
