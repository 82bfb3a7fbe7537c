//! The server end to end: `houseband serve` on loopback (LAN features are not built yet, so it
//! sends no multicast), its health endpoint, and live updates from the folder watcher.

mod common;

use std::time::{Duration, Instant};

use common::*;
use houseband::testkit::{generate, retitle, GenOptions};

/// The goal is 2 s from a change on disk to the API; the test allows more because a CI
/// machine may be loaded, and prints what it measured.
const LIMIT: Duration = Duration::from_secs(10);

#[test]
fn health_answers_at_once_and_during_the_first_scan() {
    let sb = Sandbox::new();
    generate(&sb.music(), &GenOptions::new(2000)).unwrap();
    let started = Instant::now();
    let server = Server::start(&sb, &["--watch", "off"]);
    let first = server.health().unwrap();
    eprintln!("first answer after {:?}: {first}", started.elapsed());
    assert_eq!(first["status"], "ok");
    assert_eq!(first["version"], env!("CARGO_PKG_VERSION"));
    assert!(
        first["tracks"].as_i64().unwrap() < 2000,
        "answered before the scan ended: {first}"
    );
    // During the scan: scanning with a progress object; counts grow as batches commit.
    let mut saw_progress = false;
    let took = server.wait_for(Duration::from_secs(120), |h| {
        if h["scanning"] == true {
            let p = &h["progress"];
            assert!(
                p["files_seen"].is_u64() && p["files_processed"].is_u64(),
                "{h}"
            );
            saw_progress = true;
        }
        h["scanning"] == false && h["tracks"] == 2000
    });
    eprintln!("2000 tracks visible after {took:?}; progress seen: {saw_progress}");
    let after = server.health().unwrap();
    assert_eq!(after["tracks"], 2000);
    assert!(after["progress"].is_null(), "{after}");
}

#[test]
fn the_watcher_sees_creates_edits_moves_deletes_and_new_folders() {
    let sb = Sandbox::with_library();
    let server = Server::start(&sb, &["--watch-debounce", "200ms", "--scan-interval", "0"]);
    server.wait_for(LIMIT, |h| h["tracks"] == 22 && h["scanning"] == false);
    let m = sb.music();
    let good = fixtures().join("broken/good.mp3");

    // Create.
    std::fs::copy(&good, m.join("created.mp3")).unwrap();
    let t = server.wait_for(LIMIT, |h| h["tracks"] == 23);
    eprintln!("create visible after {t:?}");
    let id = sb.track_id("created.mp3");

    // Modify (a tag edit): the title changes in place.
    retitle(&m.join("created.mp3"), "Edited Live").unwrap();
    let start = Instant::now();
    while rows(&sb.db(), "title", &format!("FROM tracks WHERE id = {id}")).unwrap()[0][0]
        != "Edited Live"
    {
        assert!(start.elapsed() < LIMIT, "edit not seen");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("edit visible after {:?}", start.elapsed());

    // Move to another folder: same id, never counted twice.
    std::fs::create_dir(m.join("Elsewhere")).unwrap();
    std::fs::rename(m.join("created.mp3"), m.join("Elsewhere/moved.mp3")).unwrap();
    let start = Instant::now();
    while rows(
        &sb.db(),
        "COUNT(*)",
        "FROM tracks WHERE path LIKE '%/Elsewhere/moved.mp3' AND missing_since IS NULL",
    )
    .unwrap()[0][0]
        != 1
    {
        assert!(start.elapsed() < LIMIT, "move not seen");
        std::thread::sleep(Duration::from_millis(20));
    }
    eprintln!("move visible after {:?}", start.elapsed());
    assert_eq!(sb.track_id("moved.mp3"), id);
    assert_eq!(server.tracks(), 23);

    // Delete.
    std::fs::remove_file(m.join("Elsewhere/moved.mp3")).unwrap();
    let t = server.wait_for(LIMIT, |h| h["tracks"] == 22);
    eprintln!("delete visible after {t:?}");

    // A new folder filled at once (inotify misses files created before its watch exists).
    let album = m.join("New Artist/New Album");
    std::fs::create_dir_all(&album).unwrap();
    for i in 0..5 {
        std::fs::copy(&good, album.join(format!("{i:02}.mp3"))).unwrap();
    }
    let t = server.wait_for(LIMIT, |h| h["tracks"] == 27);
    eprintln!("new folder visible after {t:?}");

    // A folder moved away as a whole.
    std::fs::rename(m.join("New Artist"), sb.dir.path().join("gone")).unwrap();
    let t = server.wait_for(LIMIT, |h| h["tracks"] == 22);
    eprintln!("folder removal visible after {t:?}");
}

#[test]
fn bad_settings_are_one_line_errors_with_exit_code_2() {
    let sb = Sandbox::new();
    let out = sb
        .cmd(&["serve"])
        .env("HOUSEBAND_BIND", "not-an-address")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("`bind`") && err.contains("HOUSEBAND_BIND"),
        "{err}"
    );

    std::fs::create_dir_all(sb.data()).unwrap();
    std::fs::write(
        sb.data().join("houseband.toml"),
        "scan_interval = \"sometimes\"\n",
    )
    .unwrap();
    let out = sb
        .cmd(&["scan", "--music", "/nonexistent"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(
        err.contains("`scan_interval`") && err.contains("houseband.toml"),
        "{err}"
    );

    // Flags beat the file.
    let out = sb
        .cmd(&[
            "scan",
            "--music",
            "/nonexistent",
            "--config",
            "/nonexistent.toml",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read config file"));

    std::fs::remove_file(sb.data().join("houseband.toml")).unwrap();
    let out = sb.cmd(&["scan"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "no music folder is a usage error"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("no music folders"));
}

#[test]
fn music_and_data_come_from_the_environment_and_the_config_file() {
    let sb = Sandbox::with_library();
    // Music from the env (':'-separated), data from the env.
    let out = std::process::Command::new(BIN)
        .arg("scan")
        .env(
            "HOUSEBAND_MUSIC",
            format!("{}:/nonexistent-second", sb.music().display()),
        )
        .env("HOUSEBAND_DATA", sb.data())
        .env("HOUSEBAND_LOG", "warn")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(summary(&stdout).added, 22, "{stdout}");
    assert!(
        stdout.contains("skipped folder /nonexistent-second"),
        "{stdout}"
    );
    // Music from the config file.
    std::fs::write(
        sb.data().join("houseband.toml"),
        format!(
            "music = [\"{}\"]\nmissing_grace = \"7d\"\n",
            sb.music().display()
        ),
    )
    .unwrap();
    let out = sb.cmd(&["scan"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&String::from_utf8(out.stdout).unwrap()).files, 22);
}

#[test]
fn users_are_managed_from_the_command_line() {
    let sb = Sandbox::new();
    let run = |args: &[&str], stdin: Option<&str>| {
        let mut cmd = sb.cmd(args);
        cmd.stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = cmd.spawn().unwrap();
        if let Some(s) = stdin {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        } else {
            drop(child.stdin.take());
        }
        child.wait_with_output().unwrap()
    };
    assert!(run(
        &["user", "add", "ann", "--admin", "--password-stdin"],
        Some("pw1\n")
    )
    .status
    .success());
    assert!(run(&["user", "add", "bob", "--password", "pw2"], None)
        .status
        .success());
    let dup = run(&["user", "add", "ANN", "--password", "x"], None);
    assert_eq!(dup.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&dup.stderr).contains("already exists"));
    let missing = run(&["user", "add", "carl"], None);
    assert_eq!(missing.status.code(), Some(2), "a password is required");
    let list = String::from_utf8(run(&["user", "list"], None).stdout).unwrap();
    assert_eq!(list, "ann\tadmin\nbob\tuser\n");
    assert!(run(&["user", "passwd", "bob"], Some("pw3\n"))
        .status
        .success());
    assert!(run(&["user", "delete", "bob"], None).status.success());
    assert_eq!(
        String::from_utf8(run(&["user", "list"], None).stdout).unwrap(),
        "ann\tadmin\n"
    );
    let gone = run(&["user", "delete", "bob"], None);
    assert_eq!(gone.status.code(), Some(1));
    // Never in plain text in the database; the key file is private.
    let db = std::fs::read(sb.db()).unwrap();
    assert!(!db.windows(3).any(|w| w == b"pw1"));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(sb.data().join("secret.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn the_admin_password_variable_creates_the_first_admin() {
    let sb = Sandbox::with_library();
    let server = Server::start_with_env(
        &sb,
        &["--watch", "off"],
        &[("HOUSEBAND_ADMIN_PASSWORD", "letmein")],
    );
    drop(server);
    let list = sb.cmd(&["user", "list"]).output().unwrap();
    assert_eq!(String::from_utf8(list.stdout).unwrap(), "admin\tadmin\n");
}

#[test]
fn a_folder_mounted_after_start_is_scanned_and_then_watched() {
    let sb = Sandbox::new();
    // The music folder does not exist yet (a share not mounted at boot).
    let server = Server::start(&sb, &["--scan-interval", "6s", "--watch-debounce", "200ms"]);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(server.tracks(), 0);
    copy_dir(
        &fixtures().join("library/The Testers"),
        &sb.music().join("The Testers"),
    );
    let t = server.wait_for(LIMIT, |h| h["tracks"] == 10);
    eprintln!("periodic scan found the folder after {t:?}");
    // Right after that scan the folder is watched: a new file shows up long before the next
    // periodic scan (6 s later; the margin leaves room for a loaded 2-core machine).
    std::fs::copy(
        fixtures().join("broken/good.mp3"),
        sb.music().join("new.mp3"),
    )
    .unwrap();
    let t = server.wait_for(Duration::from_secs(4), |h| h["tracks"] == 11);
    eprintln!("new file visible after {t:?}");
}
