//! Bad input: broken and hostile files, symlink loops and unreadable folders are reported with
//! their path and reason, recorded in `scan_errors`, logged once, and the scan goes on.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;
use lofty::config::WriteOptions;
use lofty::file::TaggedFileExt;
use lofty::prelude::{Accessor, TagExt};

fn problems(sb: &Sandbox) -> Vec<(String, String, String)> {
    rows(
        &sb.db(),
        "path, kind, reason",
        "FROM scan_errors ORDER BY path",
    )
    .unwrap()
    .into_iter()
    .map(|r| {
        let path = r[0].as_str().unwrap();
        let name = path.rsplit('/').next().unwrap().to_string();
        (
            name,
            r[1].as_str().unwrap().into(),
            r[2].as_str().unwrap().into(),
        )
    })
    .collect()
}

#[test]
fn broken_and_hostile_files_are_reported_and_the_rest_is_scanned() {
    let sb = Sandbox::new();
    copy_dir(&fixtures().join("broken"), &sb.music());
    // A 10 MB tag, made here rather than committed.
    let huge = sb.music().join("hugetag.mp3");
    std::fs::copy(fixtures().join("broken/good.mp3"), &huge).unwrap();
    let mut file = lofty::read_from_path(&huge).unwrap();
    let tag = file.primary_tag_mut().unwrap();
    tag.set_comment("x".repeat(10 * 1024 * 1024));
    tag.set_title("Huge Tag".into());
    tag.save_to_path(&huge, WriteOptions::default()).unwrap();
    assert!(std::fs::metadata(&huge).unwrap().len() > 10_000_000);
    // A symlink loop.
    std::fs::create_dir(sb.music().join("loop")).unwrap();
    std::os::unix::fs::symlink("..", sb.music().join("loop/again")).unwrap();

    let out = sb.scan(&[]);
    let s = summary(&out);
    assert_eq!(s.errors, 4, "{out}");
    for (name, reason) in [
        ("zero.mp3", "empty file"),
        ("notaudio.flac", "not a readable FLAC file"),
        ("junk.m4a", "not a readable"),
        ("again", "symbolic link loop"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("error: ") && l.contains(name) && l.contains(reason)),
            "{name} should be reported with '{reason}':\n{out}"
        );
    }
    for (name, reason) in [
        ("wrongext.ogg", "content is FLAC"),
        ("badutf8.mp3", "tags cannot be read"),
        ("binjunk.flac", "control or invalid characters"),
        ("numbers.flac", "impossible track number \"-5\""),
        ("manyartists.flac", "1000 artists"),
        ("hugetag.mp3", "comment was longer"),
        ("truncated.flac", "looks truncated"),
        ("truncated.mp3", "looks truncated"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.starts_with("warning: ") && l.contains(name) && l.contains(reason)),
            "{name} should be reported with '{reason}':\n{out}"
        );
    }
    // Everything readable is in the library, hostile values cleaned or capped.
    let titles: Vec<String> = rows(&sb.db(), "title", "FROM tracks ORDER BY title")
        .unwrap()
        .into_iter()
        .map(|r| r[0].as_str().unwrap().to_string())
        .collect();
    for t in [
        "Still Fine",
        "Truncated",
        "Wrong Extension",
        "badutf8",
        "Numbers",
        "Crowd",
        "Huge Tag",
    ] {
        assert!(titles.iter().any(|x| x == t), "{t} missing from {titles:?}");
    }
    assert!(
        !titles.iter().any(|t| t.chars().any(char::is_control)),
        "{titles:?}"
    );
    let numbers = rows(
        &sb.db(),
        "track_number, disc_number, year, bpm, rg_track_gain",
        "FROM tracks WHERE title = 'Numbers'",
    )
    .unwrap();
    assert_eq!(
        numbers[0],
        serde_json::json!([null, null, null, null, null])
    );
    assert_eq!(sb.count("FROM track_artists ta JOIN tracks t ON t.id = ta.track_id WHERE t.title = 'Crowd' AND ta.role = 'artist'"), 100);
    let comment_len = rows(
        &sb.db(),
        "length(comment)",
        "FROM tracks WHERE title = 'Huge Tag'",
    )
    .unwrap();
    assert_eq!(comment_len[0][0], 64 * 1024);
    assert_eq!(
        rows(
            &sb.db(),
            "suffix",
            "FROM tracks WHERE title = 'Wrong Extension'"
        )
        .unwrap()[0][0],
        "flac"
    );

    // Recorded with path and reason.
    let recorded = problems(&sb);
    assert!(
        recorded
            .iter()
            .any(|(n, k, r)| n == "zero.mp3" && k == "error" && r.contains("empty")),
        "{recorded:?}"
    );
    assert!(
        recorded
            .iter()
            .any(|(n, k, _)| n == "manyartists.flac" && k == "warning"),
        "{recorded:?}"
    );
    assert!(
        recorded
            .iter()
            .any(|(n, k, r)| n == "again" && k == "error" && r.contains("symbolic link loop")),
        "{recorded:?}"
    );

    // A rescan still reports them but does not read (or log) the unchanged broken files again.
    let again = sb.scan_output(&[]);
    let stdout = String::from_utf8(again.stdout).unwrap();
    let stderr = String::from_utf8(again.stderr).unwrap();
    assert_eq!(summary(&stdout).errors, 4, "{stdout}");
    assert!(
        !stderr.contains("cannot read audio file"),
        "logged twice:\n{stderr}"
    );
    assert!(
        !stderr.contains("cannot scan"),
        "the symlink loop was logged twice:\n{stderr}"
    );

    // A repaired file leaves the error list.
    std::fs::copy(
        fixtures().join("broken/good.mp3"),
        sb.music().join("zero.mp3"),
    )
    .unwrap();
    let fixed = sb.scan(&[]);
    assert_eq!(summary(&fixed).errors, 3, "{fixed}");
    assert!(!problems(&sb).iter().any(|(n, _, _)| n == "zero.mp3"));
}

#[test]
fn an_unreadable_folder_is_reported_and_its_tracks_are_kept() {
    let sb = Sandbox::with_library();
    sb.scan(&[]);
    let locked = sb.music().join("The Testers");
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // root reads everything: drop to `nobody` for the scan (CI runs as root).
    let out = if is_root() {
        for p in [sb.dir.path().to_path_buf(), sb.music(), sb.data()] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o777)).unwrap();
        }
        for entry in std::fs::read_dir(sb.data()).unwrap() {
            std::fs::set_permissions(
                entry.unwrap().path(),
                std::fs::Permissions::from_mode(0o666),
            )
            .unwrap();
        }
        let music = sb.music();
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                BIN,
                "scan",
                "--music",
            ])
            .arg(&music)
            .arg("--data")
            .arg(sb.data())
            .env("HOUSEBAND_LOG", "warn")
            .output()
            .expect("setpriv (util-linux) runs the scan as nobody")
    } else {
        sb.scan_output(&[])
    };
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.lines().any(|l| l.starts_with("error: ")
            && l.contains("The Testers")
            && l.contains("ermission denied")),
        "{stdout}"
    );
    assert_eq!(summary(&stdout).removed, 0, "{stdout}");
    assert_eq!(sb.count("FROM tracks WHERE missing_since IS NULL"), 22);
    assert_eq!(
        sb.count("FROM scan_errors WHERE kind = 'error' AND path LIKE '%/The Testers' AND reason LIKE '%ermission denied%'"),
        1,
        "the unreadable folder is recorded"
    );
}
