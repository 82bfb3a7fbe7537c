//! Crashes, full disks and load: `kill -9` at random moments of a scan or of clients' writes, and
//! a data disk that fills up, must leave a consistent database, every acknowledged write, and a
//! next run that finishes the work; many clients at once must get no error.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::*;
use houseband::testkit::client::{add_admin, Answer, Client, Served};
use houseband::testkit::crash_rounds::{self, CrashOptions};
use houseband::testkit::soak::{self, SoakOptions};
use houseband::testkit::{generate, GenOptions};
use serde_json::Value;

/// A small deterministic generator (xorshift) so a failing run can be repeated from its seed.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn seed() -> u64 {
    let s = std::env::var("HOUSEBAND_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    eprintln!("seed {s} (set HOUSEBAND_TEST_SEED to repeat)");
    s
}

/// The library's content by path, independent of ids and timestamps.
fn content(sb: &Sandbox) -> BTreeMap<String, Value> {
    rows(
        &sb.db(),
        "t.path, t.title, t.artist_display, t.album_name, t.track_number, t.missing_since IS NULL,
         a.name, a.track_count, (SELECT COUNT(*) FROM track_artists WHERE track_id = t.id),
         (SELECT COUNT(*) FROM track_genres WHERE track_id = t.id)",
        "FROM tracks t JOIN albums a ON a.id = t.album_id",
    )
    .unwrap()
    .into_iter()
    .map(|r| (r[0].as_str().unwrap().to_string(), r))
    .collect()
}

fn assert_consistent(sb: &Sandbox) {
    let check = rows(&sb.db(), "integrity_check", "FROM pragma_integrity_check").unwrap();
    assert_eq!(check, vec![serde_json::json!(["ok"])]);
    let fk = rows(&sb.db(), "\"table\"", "FROM pragma_foreign_key_check").unwrap();
    assert!(fk.is_empty(), "foreign key violations: {fk:?}");
    assert_eq!(
        sb.count("FROM tracks"),
        rows(&sb.db(), "COUNT(DISTINCT path)", "FROM tracks").unwrap()[0][0]
            .as_i64()
            .unwrap(),
        "duplicate tracks"
    );
}

/// Starts scans and kills them with SIGKILL at random moments within `span`, until `kills`
/// scans were killed mid-way or a scan got to finish first. Checks the database after each kill.
fn kill_scans(sb: &Sandbox, rng: &mut Rng, kills: usize, span: Duration) {
    let music = sb.music();
    let mut killed = 0;
    for round in 0..kills * 3 {
        let mut child = sb
            .cmd(&["scan", "--music", music.to_str().unwrap()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Early rounds die young (walking, reading), later ones may die between commits: the
        // window grows each round, so several rounds die before the work is done.
        let window = span.as_millis() as u64 * (round as u64 + 1) / kills as u64;
        let at = Duration::from_millis(rng.below(window));
        std::thread::sleep(at);
        let finished = child.try_wait().unwrap().is_some();
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        eprintln!(
            "round {round}: at {at:?}: {}",
            if finished {
                "had finished".to_string()
            } else {
                format!("killed ({status})")
            }
        );
        if sb.db().exists() {
            assert_consistent(sb);
        }
        if finished {
            break;
        }
        killed += 1;
        if killed == kills {
            break;
        }
    }
    assert!(
        killed >= 3,
        "only {killed} scans were killed mid-way; make the library bigger"
    );
}

#[test]
fn kill_9_mid_scan_then_restart_gives_the_full_library() {
    let mut rng = Rng(seed());
    let reference = Sandbox::new();
    generate(&reference.music(), &GenOptions::new(4000)).unwrap();
    let started = Instant::now();
    reference.scan(&[]);
    let span = started.elapsed().mul_f32(0.8);
    let expected = content(&reference);
    assert_eq!(expected.len(), 4000);

    let victim = Sandbox::new();
    std::fs::rename(reference.music(), victim.music()).unwrap();
    kill_scans(&victim, &mut rng, 6, span);
    let out = victim.scan(&[]);
    eprintln!("{out}");
    assert_consistent(&victim);
    // The reference was made from the same files at the old path.
    let old = reference.music().to_string_lossy().into_owned();
    let new = victim.music().to_string_lossy().into_owned();
    let expected: BTreeMap<String, Value> = expected
        .into_iter()
        .map(|(p, mut v)| {
            let p = p.replacen(&old, &new, 1);
            v[0] = Value::String(p.clone());
            (p, v)
        })
        .collect();
    assert_eq!(content(&victim), expected);
    assert_eq!(victim.count("FROM albums WHERE track_count > 0"), 400);
}

#[test]
fn kill_9_during_a_rescan_keeps_ids_and_user_data() {
    let mut rng = Rng(seed());
    let sb = Sandbox::new();
    generate(&sb.music(), &GenOptions::new(3000)).unwrap();
    let started = Instant::now();
    sb.scan(&[]);
    let span = started.elapsed().mul_f32(0.8);
    let ids_before = rows(&sb.db(), "path, id", "FROM tracks ORDER BY path").unwrap();
    exec(
        &sb.db(),
        "INSERT INTO users (id, name, password_enc, created_at, updated_at) VALUES (1, 'ann', x'00', 0, 0);
         INSERT INTO annotations (user_id, item_kind, item_id, starred_at, play_count)
           SELECT 1, 'track', id, 1, 3 FROM tracks WHERE id % 10 = 0;
         INSERT INTO playlists (id, owner_id, name, created_at, updated_at) VALUES (1, 1, 'p', 0, 0);
         INSERT INTO playlist_entries (playlist_id, position, track_id)
           SELECT 1, id, id FROM tracks WHERE id % 7 = 0;",
    )
    .unwrap();
    let user_before = rows(
        &sb.db(),
        "item_id, play_count",
        "FROM annotations ORDER BY item_id",
    )
    .unwrap();
    let playlist_before = rows(
        &sb.db(),
        "position, track_id",
        "FROM playlist_entries ORDER BY position",
    )
    .unwrap();
    assert!(!playlist_before.is_empty());
    // Every file looks changed, so the rescan rewrites every track while it is being killed.
    let later = std::time::SystemTime::now() + Duration::from_secs(60);
    for entry in walk(&sb.music()) {
        std::fs::File::options()
            .write(true)
            .open(&entry)
            .unwrap()
            .set_modified(later)
            .unwrap();
    }
    kill_scans(&sb, &mut rng, 5, span);
    let out = sb.scan(&[]);
    assert_eq!(summary(&out).added, 0, "{out}");
    assert_consistent(&sb);
    assert_eq!(
        rows(&sb.db(), "path, id", "FROM tracks ORDER BY path").unwrap(),
        ids_before
    );
    assert_eq!(
        rows(
            &sb.db(),
            "item_id, play_count",
            "FROM annotations ORDER BY item_id"
        )
        .unwrap(),
        user_before
    );
    assert_eq!(
        rows(
            &sb.db(),
            "position, track_id",
            "FROM playlist_entries ORDER BY position"
        )
        .unwrap(),
        playlist_before
    );
    assert_eq!(sb.count("FROM tracks WHERE missing_since IS NOT NULL"), 0);
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_full_data_disk_fails_the_scan_clearly_and_loses_nothing() {
    if !is_root() {
        // Mounting a small filesystem needs root; CI runs as root, so there this test runs.
        eprintln!("SKIPPED: mounting a tmpfs to fill needs root");
        return;
    }
    let sb = Sandbox::with_library();
    // Room for the schema and the 22-track library, not for 4,000 more tracks.
    let disk = SmallDisk::mount("2m");
    std::os::unix::fs::symlink(&disk.path, sb.data()).unwrap();
    sb.scan(&[]);
    exec(
        &sb.db(),
        "INSERT INTO users (id, name, password_enc, created_at, updated_at) VALUES (1, 'ann', x'00', 0, 0);
         INSERT INTO annotations (user_id, item_kind, item_id, starred_at) SELECT 1, 'track', id, 1 FROM tracks;",
    )
    .unwrap();
    generate(&sb.music().join("more"), &GenOptions::new(4000)).unwrap();

    let out = sb.scan_output(&[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "a full disk fails the scan: {stderr}"
    );
    assert!(
        stderr.contains("disk holding the database is full"),
        "{stderr}"
    );
    assert!(
        stderr.lines().any(|l| l.starts_with("houseband: ")),
        "{stderr}"
    );
    assert_consistent(&sb);
    assert_eq!(sb.count("FROM annotations"), 22, "user data intact");
    assert!(sb.count("FROM tracks WHERE path NOT LIKE '%/more/%' AND missing_since IS NULL") == 22);

    // With room again, the next scan finishes the work.
    disk.grow("64m");
    let out = sb.scan(&[]);
    assert_eq!(summary(&out).errors, 0, "{out}");
    assert_consistent(&sb);
    assert_eq!(sb.count("FROM tracks WHERE missing_since IS NULL"), 4022);
    assert_eq!(sb.count("FROM annotations"), 22);
}

/// The sound analysis killed with SIGKILL while it works, three times: the database stays
/// consistent, no track is analysed twice, and after the last restart it finishes what was left
/// (it resumes from whatever `track_sounds` lacks).
#[test]
fn kill_9_during_the_sound_analysis_resumes_where_it_was() {
    let mut rng = Rng(seed());
    let sb = Sandbox::new();
    generate(&sb.music(), &GenOptions::new(600)).unwrap();
    sb.scan(&[]);
    let tracks = sb.count("FROM tracks");
    let on = [("HOUSEBAND_SOUND_ANALYSIS", "true")];
    let mut stamps_seen = 0;
    for round in 0..3 {
        let before = sb.count("FROM track_sounds");
        let mut server =
            Server::start_with_env(&sb, &["--watch", "off", "--scan-on-start", "false"], &on);
        // Killed once it made some progress, at a random moment after.
        let start = Instant::now();
        while sb.count("FROM track_sounds") <= before && start.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
        std::thread::sleep(Duration::from_millis(rng.below(300)));
        server.child.kill().unwrap();
        server.child.wait().unwrap();
        let done = sb.count("FROM track_sounds");
        eprintln!("round {round}: killed with {done} of {tracks} analysed");
        assert_consistent(&sb);
        assert!(done >= before);
        stamps_seen = done;
    }
    assert!(stamps_seen > 0);
    let server = Server::start_with_env(&sb, &["--watch", "off", "--scan-on-start", "false"], &on);
    let start = Instant::now();
    while sb.count("FROM track_sounds") < tracks {
        assert!(
            start.elapsed() < Duration::from_secs(240),
            "the analysis finishes after the kills: {} of {tracks}",
            sb.count("FROM track_sounds")
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(server);
    assert_consistent(&sb);
    assert_eq!(
        sb.count("FROM track_sounds WHERE features IS NOT NULL"),
        tracks
    );
    assert_eq!(
        sb.count("FROM track_sounds"),
        rows(&sb.db(), "COUNT(DISTINCT track_id)", "FROM track_sounds").unwrap()[0][0]
            .as_i64()
            .unwrap()
    );
}

/// Crash rounds, the short variant (`scripts/crash-rounds` runs 100 with a random seed): the
/// real server on the demo library, killed with SIGKILL at a random moment (fixed seed) while
/// three users write through Subsonic (stars, ratings, scrobbles, bookmarks, play queues,
/// playlists, users, passwords), one edits the household queue and one adds and removes files
/// and starts scans; after each restart the database passes its checks and every acknowledged
/// write is there (see `houseband::testkit::crash_rounds` for what "acknowledged" means).
#[test]
fn kill_9_while_clients_write_loses_no_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let seed = std::env::var("HOUSEBAND_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20261203);
    // HOUSEBAND_CRASH_ROUNDS=100 runs the long variant on the debug build.
    let rounds = std::env::var("HOUSEBAND_CRASH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    eprintln!("seed {seed} (set HOUSEBAND_TEST_SEED to change), {rounds} rounds");
    let report = crash_rounds::run(
        &CrashOptions {
            bin: BIN.into(),
            dir: dir.path().into(),
            rounds,
            seed,
            writers: 3,
            max_kill_ms: 1200,
        },
        |line| eprintln!("{line}"),
    )
    .unwrap();
    eprintln!("{report:?}");
    assert_eq!(report.rounds, rounds);
    assert!(report.acknowledged >= 50, "{report:?}");
    assert!(report.scans_started > 0, "{report:?}");
    assert_eq!(report.lost, Vec::<String>::new());
    assert_eq!(report.integrity_failures, Vec::<String>::new());
    assert_eq!(report.refusals, Vec::<String>::new());
    assert_eq!(report.final_tracks, report.files_on_disk);
}

/// Fills the disk at `dir` with one file: big writes, then smaller ones, until none fits.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    for size in [1 << 20, 64 << 10, 4 << 10, 512] {
        let chunk = vec![0u8; size];
        while f.write_all(&chunk).is_ok() {}
    }
    let _ = f.sync_all();
    path
}

/// The message every write refused for a full disk carries.
const DISK_FULL: &str = "the server's disk is full";

/// A Subsonic write on a full disk: stored (true), or refused with the clear message (false);
/// anything else (a 500, HTML, no answer) fails the test.
fn ok_or_disk_full(c: &Client, method: &str, params: &[(&str, &str)]) -> bool {
    match c.rest(method, params) {
        Answer::Ok(_) => true,
        Answer::Refused(200, why) if why.contains(DISK_FULL) => false,
        other => panic!("{method} on a full disk: {other:?}"),
    }
}

/// Transcode cache files left half-written (`.part`) or complete, in `<data>/cache/transcodes`.
fn cache_files(sb: &Sandbox) -> (usize, usize) {
    let dir = sb.data().join("cache/transcodes");
    let names: Vec<String> = std::fs::read_dir(&dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    let parts = names.iter().filter(|n| n.ends_with(".part")).count();
    (parts, names.len() - parts)
}

/// The server's data folder on a small disk that fills up while it runs: playlists, stars,
/// ratings, users and the household queue are refused with a clear Subsonic error (or stored, if
/// SQLite still had room in its log; never a 500 or a lost write), a transcoded stream still
/// plays in full without leaving a broken cache file, the log says the disk is full, the
/// database passes its checks, and once space is freed the same writes work without a restart.
#[test]
fn a_full_data_disk_refuses_writes_clearly_keeps_streaming_and_recovers() {
    if !is_root() {
        eprintln!("SKIPPED: mounting a tmpfs to fill needs root");
        return;
    }
    let sb = Sandbox::with_library();
    let disk = SmallDisk::mount("16m");
    std::os::unix::fs::symlink(&disk.path, sb.data()).unwrap();
    sb.scan(&[]);
    add_admin(std::path::Path::new(BIN), &sb.data(), "ann", "ann-pw").unwrap();
    let log = sb.dir.path().join("server.log");
    let server = Served::start(std::path::Path::new(BIN), &sb.music(), &sb.data(), &log).unwrap();
    let c = Client::new(server.port, "ann", "ann-pw");
    let songs: Vec<String> = rows(&sb.db(), "id", "FROM tracks ORDER BY id")
        .unwrap()
        .iter()
        .map(|r| format!("tr-{}", r[0]))
        .collect();
    let flac = format!("tr-{}", sb.track_id("01 - Polar Night.flac"));

    // Stored before the disk fills.
    assert!(c.rest("star", &[("id", &songs[0])]).is_ok());
    assert!(c
        .rest("createPlaylist", &[("name", "kept"), ("songId", &songs[1])])
        .is_ok());
    assert!(c
        .rest(
            "createUser",
            &[
                ("username", "bob"),
                ("password", "bob-pw"),
                ("email", "b@example.invalid")
            ]
        )
        .is_ok());

    let filler = fill(&disk.path);
    // SQLite may still have room in its write-ahead log for small changes: write until a
    // change is refused, each either stored or refused clearly.
    let mut stored: Vec<String> = Vec::new();
    let mut refused = 0;
    for i in 0..400 {
        let name = format!("full-{i}");
        let mut params: Vec<(&str, &str)> = songs.iter().map(|s| ("songId", s.as_str())).collect();
        params.push(("name", &name));
        if ok_or_disk_full(&c, "createPlaylist", &params) {
            stored.push(name);
        } else {
            refused += 1;
            break;
        }
    }
    assert_eq!(refused, 1, "a playlist was refused once the disk was full");
    let star = ok_or_disk_full(&c, "star", &[("id", &songs[2])]);
    let rating = ok_or_disk_full(&c, "setRating", &[("id", &songs[3]), ("rating", "4")]);
    let user = ok_or_disk_full(
        &c,
        "createUser",
        &[
            ("username", "carl"),
            ("password", "carl-pw"),
            ("email", "c@example.invalid"),
        ],
    );
    let queue = match c.api(
        "POST",
        "/api/queue",
        Some(&serde_json::json!({"op": "add", "songs": [songs[4]]})),
    ) {
        Answer::Ok(_) => true,
        Answer::Refused(507, why) if why.contains(DISK_FULL) => false,
        other => panic!("queue add on a full disk: {other:?}"),
    };
    eprintln!("on a full disk: {} playlists stored then one refused; star {star}, rating {rating}, user {user}, queue {queue}", stored.len());

    // A transcode still streams in full; its cache entry is not kept half-written.
    let (status, bytes) = c
        .rest_bytes(
            "stream",
            &[("id", &flac), ("format", "mp3"), ("maxBitRate", "128")],
            None,
        )
        .unwrap();
    assert_eq!(status, 200);
    assert!(bytes > 10_000, "the whole transcode arrived: {bytes} bytes");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cache_files(&sb).0, 0, "no half-written cache file is left");

    let logged = std::fs::read_to_string(&log).unwrap();
    assert!(
        logged.contains("the disk holding the data folder is full"),
        "{logged}"
    );

    // Space again: the same writes work, without a restart.
    std::fs::remove_file(&filler).unwrap();
    assert!(c.rest("star", &[("id", &songs[2])]).is_ok());
    assert!(c
        .rest("setRating", &[("id", &songs[3]), ("rating", "4")])
        .is_ok());
    assert!(c
        .rest(
            "createPlaylist",
            &[("name", "after"), ("songId", &songs[0])]
        )
        .is_ok());
    if !user {
        assert!(c
            .rest(
                "createUser",
                &[
                    ("username", "carl"),
                    ("password", "carl-pw"),
                    ("email", "c@example.invalid")
                ]
            )
            .is_ok());
    }
    assert!(c
        .api(
            "POST",
            "/api/queue",
            Some(&serde_json::json!({"op": "add", "songs": [songs[5]]}))
        )
        .is_ok());
    let (status, again) = c
        .rest_bytes(
            "stream",
            &[("id", &flac), ("format", "mp3"), ("maxBitRate", "128")],
            None,
        )
        .unwrap();
    assert_eq!((status, again), (200, bytes));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(cache_files(&sb), (0, 1), "the transcode is cached now");
    drop(server);

    // Nothing stored was lost, and what was acknowledged on the full disk is there too.
    assert_consistent(&sb);
    assert_eq!(
        sb.count("FROM annotations WHERE starred_at IS NOT NULL"),
        2,
        "both stars"
    );
    assert_eq!(sb.count("FROM annotations WHERE rating = 4"), 1);
    for name in stored
        .iter()
        .chain(["kept".to_string(), "after".to_string()].iter())
    {
        assert_eq!(
            sb.count(&format!("FROM playlists WHERE name = '{name}'")),
            1,
            "playlist {name}"
        );
    }
    assert_eq!(
        sb.count("FROM users WHERE name IN ('ann', 'bob', 'carl')"),
        3
    );
    assert_eq!(sb.count("FROM household_queue_entries"), 1 + queue as i64);
}

/// Load, the short variant (`scripts/soak` runs 200 clients for 10 minutes on 10,000 songs): 20
/// clients for 15 s on the demo library, mixing browsing, search, streams (whole, by range,
/// transcoded), cover art, stars, scrobbles and household queue commands. Not one error; the
/// latencies and memory are printed, not asserted.
#[test]
fn twenty_clients_for_fifteen_seconds_get_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let report = soak::run(
        &SoakOptions {
            bin: BIN.into(),
            music: fixtures().join("library"),
            dir: dir.path().into(),
            clients: 20,
            duration: Duration::from_secs(15),
            sample_every: Duration::from_secs(5),
            seed: 20261203,
        },
        |line| eprintln!("{line}"),
    )
    .unwrap();
    eprintln!("{}", soak::describe(&report));
    assert_eq!(report.errors, 0, "{:#?}", report.error_samples);
    assert!(report.requests > 100, "{}", soak::describe(&report));
    for kind in [
        "getAlbum",
        "search3 words",
        "stream",
        "stream range",
        "queue add",
    ] {
        assert!(report.kinds.contains_key(kind), "no {kind} was asked");
    }
}
