//! Makes a synthetic music library for benchmarks and experiments:
//! `cargo run --release --example genlib -- DIR --tracks N [--per-album N] [--base FIXTURES_LIBRARY]`.

use std::path::PathBuf;
use std::time::Instant;

use houseband::testkit::{generate, GenOptions};

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut out: Option<PathBuf> = None;
    let mut opts = GenOptions::new(10_000);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--tracks" => opts.tracks = args.next().unwrap_or_default().parse()?,
            "--per-album" => opts.tracks_per_album = args.next().unwrap_or_default().parse()?,
            "--base" => opts.base = PathBuf::from(args.next().unwrap_or_default()),
            "-h" | "--help" => {
                println!("usage: genlib DIR --tracks N [--per-album N] [--base DIR]");
                return Ok(());
            }
            other if out.is_none() => out = Some(PathBuf::from(other)),
            other => anyhow::bail!("unexpected argument {other:?}; usage: genlib DIR --tracks N"),
        }
    }
    let out = out.ok_or_else(|| anyhow::anyhow!("usage: genlib DIR --tracks N"))?;
    let started = Instant::now();
    let tracks = generate(&out, &opts)?;
    println!(
        "generated {} tracks in {} in {:.1} s",
        tracks.len(),
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
