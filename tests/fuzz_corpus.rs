//! Replays every committed fuzzing seed (`fuzz/corpus/<target>/`) and every crash found and
//! fixed (`fuzz/artifacts-fixed/<target>/`) through the entry points the fuzz targets call
//! (`houseband::fuzzing`), so that a fixed crash stays fixed on stable Rust in a plain
//! `cargo test`. Each input must come back as `Ok` or a clean error, without a panic; the
//! fuzzers themselves run from `scripts/fuzz`, not here.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use houseband::fuzzing::{Entry, TARGETS};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// The files in `fuzz/<kind>/<target>/`, sorted (none if the folder is absent).
fn inputs(kind: &str, target: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root().join(kind).join(target)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs one input, turning a panic into a failure that names the file.
fn replay(target: &str, run: Entry, file: &Path) -> Duration {
    let data = std::fs::read(file).expect("a readable input");
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(|| run(&data));
    let took = started.elapsed();
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(why)) => assert!(
            !why.trim().is_empty(),
            "{target}: {} was refused without a reason",
            file.display()
        ),
        Err(_) => panic!("{target} panicked on {}", file.display()),
    }
    took
}

#[test]
fn every_seed_and_fixed_crash_comes_back_without_a_panic() {
    let mut replayed = 0;
    for (target, run) in TARGETS {
        let seeds = inputs("corpus", target);
        assert!(
            !seeds.is_empty(),
            "fuzz/corpus/{target}/ has no seeds: run python3 fuzz/make_corpus.py"
        );
        for file in seeds.iter().chain(&inputs("artifacts-fixed", target)) {
            let took = replay(target, *run, file);
            // libFuzzer's -timeout is 10 s; a replay this slow would be reported as a hang.
            assert!(
                took < Duration::from_secs(10),
                "{target} took {took:?} on {}",
                file.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= TARGETS.len());
}

#[test]
fn every_folder_of_inputs_belongs_to_a_target() {
    for kind in ["corpus", "artifacts-fixed"] {
        let Ok(entries) = std::fs::read_dir(root().join(kind)) else {
            continue;
        };
        for entry in entries {
            let name = entry.unwrap().file_name().to_string_lossy().into_owned();
            assert!(
                TARGETS.iter().any(|(t, _)| *t == name),
                "fuzz/{kind}/{name}/ names no target in houseband::fuzzing::TARGETS"
            );
        }
    }
}

#[test]
fn every_target_has_a_cargo_fuzz_binary() {
    let manifest = std::fs::read_to_string(root().join("Cargo.toml")).unwrap();
    for (target, _) in TARGETS {
        assert!(
            manifest.contains(&format!("name = \"{target}\"")),
            "fuzz/Cargo.toml has no [[bin]] for {target}"
        );
        assert!(root()
            .join("fuzz_targets")
            .join(format!("{target}.rs"))
            .is_file());
    }
}
