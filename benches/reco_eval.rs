//! The recommendations' offline evaluation (issue 8): figures, not a pass/fail test. Run it
//! with `cargo bench --bench reco_eval` (settings in `benches/reco-eval.toml`, or a file named
//! by `HOUSEBAND_RECO_EVAL`). Simulated households listen to a generated library for some weeks
//! (`houseband::testkit::listening`); the last week is held out, and each list of 10 songs is
//! scored by how many of them the user played in it: hit rate@10 (the share of the 10) and
//! NDCG@10, against three baselines (random songs, random songs of the seed's genre, the
//! household's most played).

use std::time::Instant;

use houseband::testkit::listening::{evaluate, format_table, SimSettings};

fn main() {
    let path = std::env::var("HOUSEBAND_RECO_EVAL")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/benches/reco-eval.toml").into());
    let text = std::fs::read_to_string(&path).expect("read the simulator's settings");
    let settings: SimSettings = toml::from_str(&text).expect("the settings parse");
    println!("settings ({path}): {settings:?}");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let t0 = Instant::now();
    let table = evaluate(&settings, dir.path()).expect("the evaluation runs");
    println!("{}", format_table(&table));
    println!("(made in {:.1} s)", t0.elapsed().as_secs_f64());
}
