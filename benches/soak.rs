//! Load and soak: figures, not a pass/fail test (it exits 1 on any error). Run it with
//! `scripts/soak` or `cargo bench --bench soak -- [--clients 200] [--minutes 10] [--tracks 10000]
//! [--seed N] [--server PATH]` (`--server`: another build of the server to measure).
//!
//! Generates a library (`testkit::generate`, 10,000 tracks by default), scans it, starts
//! `houseband serve` on loopback and runs the clients of `houseband::testkit::soak` against it:
//! requests, errors, p50/p99 per kind, and the server's RSS every 10 s with its slope over the
//! second half of the run.

use std::time::Duration;

use houseband::testkit::client::clock_seed;
use houseband::testkit::soak::{describe, run, SoakOptions};
use houseband::testkit::{generate, GenOptions};

fn main() {
    let (mut clients, mut minutes, mut tracks, mut seed) =
        (200usize, 10.0f64, 10_000usize, clock_seed());
    let mut bin: std::path::PathBuf = env!("CARGO_BIN_EXE_houseband").into();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default();
        match a.as_str() {
            "--clients" => clients = value().parse().expect("a number"),
            "--minutes" => minutes = value().parse().expect("a number"),
            "--tracks" => tracks = value().parse().expect("a number"),
            "--seed" => seed = value().parse().expect("a number"),
            // Another build of the server, e.g. target/release/houseband.
            "--server" => bin = value().into(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    // Two sockets per client on this machine, plus the server's files.
    houseband::testkit::client::raise_open_files();
    let dir = std::env::temp_dir().join("houseband-soak");
    let _ = std::fs::remove_dir_all(&dir);
    let music = dir.join("music");
    generate(&music, &GenOptions::new(tracks)).expect("the library is generated");
    println!("soak: {clients} clients for {minutes} min on {tracks} generated tracks, seed {seed}");
    let report = run(
        &SoakOptions {
            bin,
            music,
            dir: dir.clone(),
            clients,
            duration: Duration::from_secs_f64(minutes * 60.0),
            sample_every: Duration::from_secs(10),
            seed,
        },
        |line| println!("{line}"),
    )
    .expect("the soak ran");
    println!("\n{}", describe(&report));
    if report.errors > 0 {
        println!("kept {} (server.log)", dir.display());
        std::process::exit(1);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
