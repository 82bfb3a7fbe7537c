//! Crash rounds: figures, not a pass/fail test (it exits 1 when a write was lost or the
//! database failed a check). Run it with `scripts/crash-rounds` or
//! `cargo bench --bench crash_rounds -- --rounds 100 [--seed N] [--writers 4] [--max-kill-ms 1500]
//! [--server PATH]` (`--server`: another build of the server).
//!
//! Starts `houseband serve` on a copy of the demo library and kills it with SIGKILL at a random
//! moment of each round while clients write, then restarts it and checks the database and every
//! acknowledged write (see `houseband::testkit::crash_rounds`). The seed is printed: the same
//! seed kills at the same moments (what the server was doing then still varies with timing).

use houseband::testkit::client::clock_seed;
use houseband::testkit::crash_rounds::{run, CrashOptions};

fn main() {
    let mut opts = CrashOptions {
        bin: env!("CARGO_BIN_EXE_houseband").into(),
        dir: std::env::temp_dir().join("houseband-crash-rounds"),
        rounds: 100,
        seed: clock_seed(),
        writers: 4,
        max_kill_ms: 1500,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || -> u64 { args.next().unwrap_or_default().parse().expect("a number") };
        match a.as_str() {
            "--rounds" => opts.rounds = value() as usize,
            "--seed" => opts.seed = value(),
            "--writers" => opts.writers = value() as usize,
            "--max-kill-ms" => opts.max_kill_ms = value(),
            // Another build of the server, e.g. target/release/houseband.
            "--server" => opts.bin = args.next().unwrap_or_default().into(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    let _ = std::fs::remove_dir_all(&opts.dir);
    std::fs::create_dir_all(&opts.dir).expect("the run's folder");
    println!(
        "crash rounds: {} rounds, {} writers, seed {} (--seed {} repeats it), in {}",
        opts.rounds,
        opts.writers,
        opts.seed,
        opts.seed,
        opts.dir.display()
    );
    let started = std::time::Instant::now();
    let report = run(&opts, |line| println!("{line}")).expect("the rounds ran");
    println!("\nrounds: {}", report.rounds);
    println!("writes acknowledged: {}", report.acknowledged);
    println!(
        "writes in flight at a kill (no answer): {}",
        report.unanswered
    );
    println!("writes lost: {}", report.lost.len());
    for l in &report.lost {
        println!("  LOST {l}");
    }
    println!("integrity failures: {}", report.integrity_failures.len());
    for l in &report.integrity_failures {
        println!("  BROKEN {l}");
    }
    println!("writes refused: {}", report.refusals.len());
    for l in report.refusals.iter().take(20) {
        println!("  refused {l}");
    }
    println!(
        "scans started: {}; files added {}, removed {}; after a full scan: {} songs for {} files",
        report.scans_started,
        report.files_added,
        report.files_removed,
        report.final_tracks,
        report.files_on_disk
    );
    println!("took {:.0} s", started.elapsed().as_secs_f64());
    let ok = report.lost.is_empty()
        && report.integrity_failures.is_empty()
        && report.final_tracks == report.files_on_disk;
    if ok {
        let _ = std::fs::remove_dir_all(&opts.dir);
    } else {
        println!("kept {} for a look (server.log, data/)", opts.dir.display());
        std::process::exit(1);
    }
}
