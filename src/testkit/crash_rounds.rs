//! Crash rounds: the real server on a real SQLite file, killed with SIGKILL at a random moment
//! while several clients write (Subsonic stars, ratings, scrobbles, bookmarks, play queues,
//! playlists, users and passwords; the household queue; scans while files come and go), then
//! restarted. Each round checks the database (`PRAGMA integrity_check`, foreign keys, no track
//! twice) and that every write the server acknowledged is there.
//!
//! "Acknowledged" means a Subsonic `status: ok` or a native 2xx. Clients write one thing at a
//! time, each to keys of its own (its own user), so for every key the ledger knows the last
//! acknowledged value and at most one later write that got no answer (the one in flight at the
//! kill): after the restart the key must hold one of those two. The database then becomes the
//! ledger's truth for the next round. Used by `benches/crash_rounds.rs` (100 rounds) and by
//! `tests/crash.rs` (a few rounds, fixed seed).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::json;

use super::client::{add_admin, copy_dir, fixture, scan, Answer, Client, Rng, Served};
use super::rows;

pub struct CrashOptions {
    /// The `houseband` binary.
    pub bin: PathBuf,
    /// An empty folder for the run (music, data, the server's log).
    pub dir: PathBuf,
    pub rounds: usize,
    pub seed: u64,
    /// Subsonic writers, one user each (the household queue and the scans have one more each).
    pub writers: usize,
    /// The kill comes at a random moment up to this long after the writes start.
    pub max_kill_ms: u64,
}

#[derive(Debug, Default)]
pub struct CrashReport {
    pub rounds: usize,
    /// Writes the server answered with success.
    pub acknowledged: u64,
    /// Writes in flight at a kill (no answer): each may or may not have happened.
    pub unanswered: u64,
    /// Writes the server refused with an error (none expected; listed in `refusals`).
    pub refusals: Vec<String>,
    /// Acknowledged writes not found after a restart.
    pub lost: Vec<String>,
    pub integrity_failures: Vec<String>,
    pub scans_started: u64,
    pub files_added: u64,
    pub files_removed: u64,
    /// After the last round and a full scan: songs in the library / audio files on disk.
    pub final_tracks: i64,
    pub files_on_disk: i64,
}

/// The values one client wrote, by key.
#[derive(Default)]
struct Ledger {
    slots: BTreeMap<String, Slot>,
    acknowledged: u64,
    unanswered: u64,
    refusals: Vec<String>,
}

struct Slot {
    acked: String,
    pending: Option<String>,
}

impl Ledger {
    fn acked(&self, key: &str) -> Option<&str> {
        self.slots.get(key).map(|s| s.acked.as_str())
    }

    /// Sends one write of `value` to `key` (whose value before any write is `default`) and
    /// books the answer. Returns the answer, and false when there was none (stop writing).
    fn write(
        &mut self,
        key: &str,
        default: &str,
        value: String,
        send: impl FnOnce() -> Answer,
    ) -> (Answer, bool) {
        let slot = self.slots.entry(key.to_string()).or_insert(Slot {
            acked: default.to_string(),
            pending: None,
        });
        slot.pending = Some(value);
        let answer = send();
        match &answer {
            Answer::Ok(_) => {
                slot.acked = slot.pending.take().unwrap_or_default();
                self.acknowledged += 1;
            }
            Answer::Refused(code, why) => {
                slot.pending = None;
                self.refusals.push(format!("{key}: {code} {why}"));
            }
            Answer::NoAnswer(_) => {
                self.unanswered += 1;
                return (answer, false);
            }
        }
        (answer, true)
    }

    /// Checks every key against what the database holds (`found`, a missing key meaning its
    /// default), reports the losses, and takes the database's values as the truth from here.
    fn reconcile(
        &mut self,
        who: &str,
        mut found: impl FnMut(&str) -> Option<String>,
        lost: &mut Vec<String>,
    ) {
        for (key, slot) in &mut self.slots {
            let Some(now) = found(key) else { continue };
            if now != slot.acked && Some(&now) != slot.pending.as_ref() {
                lost.push(format!(
                    "{who} {key}: acknowledged {:?}, in flight {:?}, found {now:?}",
                    slot.acked, slot.pending
                ));
            }
            slot.acked = now;
            slot.pending = None;
        }
    }
}

/// A Subsonic writer: one user and what it wrote.
struct Writer {
    name: String,
    user_id: i64,
    ledger: Ledger,
    /// Playlists known to exist: name, id.
    playlists: Vec<(String, i64)>,
    /// Users it created that are known to exist.
    users: Vec<String>,
    made: u64,
}

impl Writer {
    fn run(&mut self, client: &Client, songs: &[i64], rng: &mut Rng, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            if !self.one(client, songs, rng) {
                return;
            }
        }
    }

    /// One write; false when it got no answer.
    fn one(&mut self, c: &Client, songs: &[i64], rng: &mut Rng) -> bool {
        let song = *rng.pick(songs);
        let id = format!("tr-{song}");
        match rng.below(16) {
            0..=2 => {
                let (method, v) = if rng.below(2) == 0 {
                    ("star", "1")
                } else {
                    ("unstar", "0")
                };
                let key = format!("star/{song}");
                self.ledger
                    .write(&key, "0", v.into(), || c.rest(method, &[("id", &id)]))
                    .1
            }
            3..=4 => {
                let r = rng.below(6).to_string();
                let key = format!("rating/{song}");
                self.ledger
                    .write(&key, "0", r.clone(), || {
                        c.rest("setRating", &[("id", &id), ("rating", &r)])
                    })
                    .1
            }
            5..=6 => {
                let key = format!("plays/{song}");
                let before: u64 = self
                    .ledger
                    .acked(&key)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0);
                self.ledger
                    .write(&key, "0", (before + 1).to_string(), || {
                        c.rest("scrobble", &[("id", &id), ("submission", "true")])
                    })
                    .1
            }
            7..=8 => {
                let pos = (rng.below(1000) * 1000).to_string();
                let key = format!("bookmark/{song}");
                self.ledger
                    .write(&key, "none", pos.clone(), || {
                        c.rest("createBookmark", &[("id", &id), ("position", &pos)])
                    })
                    .1
            }
            9..=10 => {
                let list: Vec<i64> = (0..1 + rng.below(5)).map(|_| *rng.pick(songs)).collect();
                let pos = (rng.below(100) * 1000).to_string();
                let ids: Vec<String> = list.iter().map(|n| format!("tr-{n}")).collect();
                let mut params: Vec<(&str, &str)> =
                    ids.iter().map(|i| ("id", i.as_str())).collect();
                params.push(("current", &ids[0]));
                params.push(("position", &pos));
                self.ledger
                    .write(
                        "playqueue",
                        "none",
                        format!("{}|{pos}", join(&list)),
                        || c.rest("savePlayQueue", &params),
                    )
                    .1
            }
            11 => {
                self.made += 1;
                let name = format!("{}-list-{}", self.name, self.made);
                let list: Vec<i64> = (0..1 + rng.below(4)).map(|_| *rng.pick(songs)).collect();
                let ids: Vec<String> = list.iter().map(|n| format!("tr-{n}")).collect();
                let mut params: Vec<(&str, &str)> =
                    ids.iter().map(|i| ("songId", i.as_str())).collect();
                params.push(("name", &name));
                let key = format!("playlist/{name}");
                let (answer, go) = self.ledger.write(&key, "none", join(&list), || {
                    c.rest("createPlaylist", &params)
                });
                if let Answer::Ok(v) = answer {
                    if let Some(n) = v["playlist"]["id"]
                        .as_str()
                        .and_then(|i| i.strip_prefix("pl-"))
                        .and_then(|n| n.parse().ok())
                    {
                        self.playlists.push((name, n));
                    }
                }
                go
            }
            12..=13 if !self.playlists.is_empty() => {
                let (name, pid) =
                    self.playlists[rng.below(self.playlists.len() as u64) as usize].clone();
                let key = format!("playlist/{name}");
                let mut now = self.ledger.acked(&key).unwrap_or("").to_string();
                let pl = format!("pl-{pid}");
                if !now.is_empty() {
                    now.push(',');
                }
                now.push_str(&song.to_string());
                self.ledger
                    .write(&key, "none", now, || {
                        c.rest(
                            "updatePlaylist",
                            &[("playlistId", &pl), ("songIdToAdd", &id)],
                        )
                    })
                    .1
            }
            14 if !self.users.is_empty() => {
                let name = rng.pick(&self.users).clone();
                self.made += 1;
                let password = format!("pw-{}", self.made);
                let key = format!("password/{name}");
                self.ledger
                    .write(&key, "", password.clone(), || {
                        c.rest(
                            "changePassword",
                            &[("username", &name), ("password", &password)],
                        )
                    })
                    .1
            }
            _ => {
                self.made += 1;
                let name = format!("{}-user-{}", self.name, self.made);
                let password = format!("pw-{}", self.made);
                let email = format!("{name}@example.invalid");
                let params = [
                    ("username", name.as_str()),
                    ("password", password.as_str()),
                    ("email", email.as_str()),
                ];
                // Two keys, one write: the user and its password.
                self.ledger.slots.insert(
                    format!("password/{name}"),
                    Slot {
                        acked: String::new(),
                        pending: Some(password.clone()),
                    },
                );
                let (answer, go) =
                    self.ledger
                        .write(&format!("user/{name}"), "none", "1".into(), || {
                            c.rest("createUser", &params)
                        });
                match answer {
                    Answer::Ok(_) => {
                        let slot = self
                            .ledger
                            .slots
                            .get_mut(&format!("password/{name}"))
                            .unwrap();
                        slot.acked = slot.pending.take().unwrap_or_default();
                        self.users.push(name);
                    }
                    Answer::Refused(..) => {
                        self.ledger.slots.remove(&format!("password/{name}"));
                    }
                    Answer::NoAnswer(_) => {}
                }
                go
            }
        }
    }

    /// Checks the database (server stopped) against the ledger; passwords are checked later
    /// through the restarted server.
    fn check_db(&mut self, db: &Path, lost: &mut Vec<String>) -> Result<()> {
        let u = self.user_id;
        let mut found: BTreeMap<String, String> = BTreeMap::new();
        for r in rows(
            db,
            "item_id, starred_at IS NOT NULL, COALESCE(rating, 0), play_count",
            &format!("FROM annotations WHERE user_id = {u} AND item_kind = 'track'"),
        )? {
            let t = r[0].as_i64().unwrap_or(0);
            found.insert(format!("star/{t}"), r[1].to_string());
            found.insert(format!("rating/{t}"), r[2].to_string());
            found.insert(format!("plays/{t}"), r[3].to_string());
        }
        for r in rows(
            db,
            "track_id, position_ms",
            &format!("FROM bookmarks WHERE user_id = {u}"),
        )? {
            found.insert(format!("bookmark/{}", r[0]), r[1].to_string());
        }
        for r in rows(
            db,
            "(SELECT group_concat(track_id) FROM (SELECT track_id FROM play_queue_entries
               WHERE user_id = q.user_id ORDER BY position)), position_ms",
            &format!("FROM play_queues q WHERE user_id = {u}"),
        )? {
            found.insert(
                "playqueue".into(),
                format!("{}|{}", r[0].as_str().unwrap_or(""), r[1]),
            );
        }
        let mut playlists = Vec::new();
        for r in rows(
            db,
            "name, id, (SELECT group_concat(track_id) FROM (SELECT track_id FROM playlist_entries
               WHERE playlist_id = p.id ORDER BY position))",
            &format!("FROM playlists p WHERE owner_id = {u}"),
        )? {
            let name = r[0].as_str().unwrap_or("").to_string();
            found.insert(
                format!("playlist/{name}"),
                r[2].as_str().unwrap_or("").into(),
            );
            playlists.push((name, r[1].as_i64().unwrap_or(0)));
        }
        let prefix = format!("{}-user-", self.name);
        let mut users = Vec::new();
        for r in rows(
            db,
            "name",
            &format!(
                "FROM users WHERE name LIKE '{}%'",
                prefix.replace('\'', "''")
            ),
        )? {
            let name = r[0].as_str().unwrap_or("").to_string();
            found.insert(format!("user/{name}"), "1".into());
            users.push(name);
        }
        let who = self.name.clone();
        self.ledger.reconcile(
            &who,
            |key| {
                if key.starts_with("password/") {
                    None
                } else if let Some(v) = found.get(key) {
                    Some(v.clone())
                } else if key.starts_with("star/")
                    || key.starts_with("rating/")
                    || key.starts_with("plays/")
                {
                    Some("0".into())
                } else {
                    Some("none".into())
                }
            },
            lost,
        );
        // Writes in flight that landed count from now on; those that did not are forgotten.
        playlists.sort_by_key(|p| p.1);
        self.playlists = playlists;
        let existing: std::collections::BTreeSet<_> = users.iter().cloned().collect();
        self.users = users;
        self.ledger.slots.retain(|k, _| {
            k.strip_prefix("password/")
                .is_none_or(|name| existing.contains(name))
        });
        Ok(())
    }

    /// Logs in as each created user with the password it should have (the acknowledged one,
    /// or the one in flight at the kill).
    fn check_passwords(&mut self, port: u16, lost: &mut Vec<String>) {
        for (key, slot) in &mut self.ledger.slots {
            let Some(name) = key.strip_prefix("password/") else {
                continue;
            };
            let logs_in = |pw: &str| Client::new(port, name, pw).rest("ping", &[]).is_ok();
            let works = if logs_in(&slot.acked) {
                Some(slot.acked.clone())
            } else {
                slot.pending.clone().filter(|p| logs_in(p))
            };
            match works {
                Some(pw) => {
                    slot.acked = pw;
                    slot.pending = None;
                }
                None => lost.push(format!(
                    "{} {key}: neither the acknowledged password {:?} nor the one in flight {:?} logs in",
                    self.name, slot.acked, slot.pending
                )),
            }
        }
    }
}

fn join(ids: &[i64]) -> String {
    ids.iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// The household queue's writer: add, move, remove and next through `POST /api/queue`. The
/// ledger's one key, `songs`, is the queue's songs in order.
struct HouseQueue {
    ledger: Ledger,
    /// Entry ids and songs as the server last said (or, after a kill, as the database holds).
    entries: Vec<(String, String)>,
}

impl HouseQueue {
    fn run(&mut self, c: &Client, songs: &[i64], rng: &mut Rng, stop: &AtomicBool) {
        while !stop.load(Ordering::Relaxed) {
            let mut next: Vec<(String, String)> = self.entries.clone();
            let op = match rng.below(10) {
                _ if next.is_empty() => 0,
                n if next.len() > 40 && n < 6 => 5,
                n => n,
            };
            let body = match op {
                0..=3 => {
                    let add: Vec<String> = (0..1 + rng.below(3))
                        .map(|_| format!("tr-{}", rng.pick(songs)))
                        .collect();
                    next.extend(add.iter().map(|s| (String::new(), s.clone())));
                    json!({"op": "add", "songs": add})
                }
                4 => {
                    let from = rng.below(next.len() as u64) as usize;
                    let to = rng.below(next.len() as u64) as usize;
                    let e = next.remove(from);
                    let body = json!({"op": "move", "entry": e.0, "to": to});
                    next.insert(to, e);
                    body
                }
                5..=7 => {
                    let at = rng.below(next.len() as u64) as usize;
                    let e = next.remove(at);
                    json!({"op": "remove", "entries": [e.0]})
                }
                _ => json!({"op": "next"}),
            };
            let value = songs_of(&next);
            let (answer, go) = self.ledger.write("songs", "", value, || {
                c.api("POST", "/api/queue", Some(&body))
            });
            if let Answer::Ok(state) = answer {
                self.entries = state["entries"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .map(|e| {
                                (
                                    e["id"].as_str().unwrap_or("").to_string(),
                                    e["song"]["id"].as_str().unwrap_or("").to_string(),
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                // What the server said it holds is what must survive.
                if let Some(slot) = self.ledger.slots.get_mut("songs") {
                    slot.acked = songs_of(&self.entries);
                }
            }
            if !go {
                return;
            }
        }
    }

    fn check_db(&mut self, db: &Path, lost: &mut Vec<String>) -> Result<()> {
        self.entries = rows(
            db,
            "entry_id, json_extract(song, '$.id')",
            "FROM household_queue_entries WHERE queue = 'home' ORDER BY position",
        )?
        .into_iter()
        .map(|r| {
            (
                r[0].as_str().unwrap_or("").to_string(),
                r[1].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
        let now = songs_of(&self.entries);
        self.ledger
            .reconcile("household queue", |_| Some(now.clone()), lost);
        Ok(())
    }
}

fn songs_of(entries: &[(String, String)]) -> String {
    entries
        .iter()
        .map(|e| e.1.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

/// Adds and removes files in `<music>/churn` and starts scans, until stopped or unanswered.
fn churn(
    c: &Client,
    music: &Path,
    rng: &mut Rng,
    stop: &AtomicBool,
    counts: &[AtomicU64; 3],
) -> Result<()> {
    let dir = music.join("churn");
    std::fs::create_dir_all(&dir)?;
    let base = fixture("The Testers/Tag Soup/01 - Four.mp3");
    while !stop.load(Ordering::Relaxed) {
        let present: Vec<PathBuf> = std::fs::read_dir(&dir)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        for _ in 0..1 + rng.below(4) {
            if present.len() > 30 || (!present.is_empty() && rng.below(3) == 0) {
                let _ = std::fs::remove_file(rng.pick(&present));
                counts[2].fetch_add(1, Ordering::Relaxed);
            } else {
                let n = rng.below(u64::MAX >> 1);
                let path = dir.join(format!("churn-{n}.mp3"));
                std::fs::copy(&base, &path)?;
                super::retitle(&path, &format!("Churn {n}"))?;
                counts[1].fetch_add(1, Ordering::Relaxed);
            }
        }
        match c.rest("startScan", &[]) {
            Answer::Ok(_) => counts[0].fetch_add(1, Ordering::Relaxed),
            Answer::NoAnswer(_) => return Ok(()),
            Answer::Refused(_, why) => anyhow::bail!("startScan refused: {why}"),
        };
        std::thread::sleep(Duration::from_millis(20 + rng.below(150)));
    }
    Ok(())
}

/// The database's own checks, on the file with the server stopped.
fn integrity(db: &Path) -> Result<Vec<String>> {
    let mut bad = Vec::new();
    let check = rows(db, "integrity_check", "FROM pragma_integrity_check")?;
    if check != vec![json!(["ok"])] {
        bad.push(format!("integrity_check: {check:?}"));
    }
    let fk = rows(db, "\"table\", rowid", "FROM pragma_foreign_key_check")?;
    if !fk.is_empty() {
        bad.push(format!("foreign keys: {fk:?}"));
    }
    let twice = rows(db, "path", "FROM tracks GROUP BY path HAVING COUNT(*) > 1")?;
    if !twice.is_empty() {
        bad.push(format!("tracks twice: {twice:?}"));
    }
    Ok(bad)
}

/// Runs the rounds; `progress` gets a line per round.
pub fn run(opts: &CrashOptions, mut progress: impl FnMut(&str)) -> Result<CrashReport> {
    let music = opts.dir.join("music");
    let data = opts.dir.join("data");
    let log = opts.dir.join("server.log");
    let db = data.join("houseband.db");
    copy_dir(&super::fixtures_library(), &music)?;
    scan(&opts.bin, &music, &data, &[])?;
    let songs: Vec<i64> = rows(&db, "id", "FROM tracks WHERE missing_since IS NULL")?
        .iter()
        .filter_map(|r| r[0].as_i64())
        .collect();
    let fixture_songs = songs.len() as i64;
    let names: Vec<String> = (0..opts.writers).map(|i| format!("w{i}")).collect();
    for name in names.iter().chain(["house".to_string()].iter()) {
        add_admin(&opts.bin, &data, name, &format!("{name}-pw"))?;
    }
    let mut writers = Vec::new();
    for name in &names {
        let id = rows(&db, "id", &format!("FROM users WHERE name = '{name}'"))?[0][0]
            .as_i64()
            .context("the writer's user")?;
        writers.push(Writer {
            name: name.clone(),
            user_id: id,
            ledger: Ledger::default(),
            playlists: Vec::new(),
            users: Vec::new(),
            made: 0,
        });
    }
    let mut house = HouseQueue {
        ledger: Ledger::default(),
        entries: Vec::new(),
    };
    let songs = Arc::new(songs);
    let counts = Arc::new([AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)]);
    let mut report = CrashReport::default();
    let mut rng = Rng::new(opts.seed);
    let mut served = Served::start(&opts.bin, &music, &data, &log)?;
    for round in 0..opts.rounds {
        let stop = Arc::new(AtomicBool::new(false));
        let port = served.port;
        let mut handles = Vec::new();
        for mut w in writers.drain(..) {
            let (stop, songs) = (stop.clone(), songs.clone());
            let mut r = Rng::new(rng.below(u64::MAX));
            handles.push(std::thread::spawn(move || {
                let c = Client::new(port, &w.name, &format!("{}-pw", w.name));
                w.run(&c, &songs, &mut r, &stop);
                w
            }));
        }
        let house_thread = {
            let (stop, songs) = (stop.clone(), songs.clone());
            let mut r = Rng::new(rng.below(u64::MAX));
            std::thread::spawn(move || {
                let c = Client::new(port, "house", "house-pw");
                house.run(&c, &songs, &mut r, &stop);
                house
            })
        };
        let scans = {
            let (stop, counts, music) = (stop.clone(), counts.clone(), music.clone());
            let mut r = Rng::new(rng.below(u64::MAX));
            std::thread::spawn(move || {
                let c = Client::new(port, "w0", "w0-pw");
                churn(&c, &music, &mut r, &stop, &counts)
            })
        };
        let kill_at = Duration::from_millis(20 + rng.below(opts.max_kill_ms));
        std::thread::sleep(kill_at);
        served.kill();
        stop.store(true, Ordering::Relaxed);
        for h in handles {
            writers.push(h.join().expect("a writer thread panicked"));
        }
        house = house_thread.join().expect("the queue thread panicked");
        scans.join().expect("the scan thread panicked")?;

        for bad in integrity(&db)? {
            report
                .integrity_failures
                .push(format!("round {round}: {bad}"));
        }
        let lost_before = report.lost.len();
        for w in &mut writers {
            w.check_db(&db, &mut report.lost)?;
        }
        house.check_db(&db, &mut report.lost)?;
        served = Served::start(&opts.bin, &music, &data, &log)?;
        for w in &mut writers {
            w.check_passwords(served.port, &mut report.lost);
        }
        report.rounds = round + 1;
        let acknowledged: u64 =
            writers.iter().map(|w| w.ledger.acknowledged).sum::<u64>() + house.ledger.acknowledged;
        progress(&format!(
            "round {round}: killed after {} ms; {acknowledged} writes acknowledged so far, {} lost this round",
            kill_at.as_millis(),
            report.lost.len() - lost_before
        ));
    }
    served.kill();
    drop(served);

    // A full scan after the last kill: the library matches the files on disk.
    scan(&opts.bin, &music, &data, &["--full"]).context("the scan after the last round")?;
    for bad in integrity(&db)? {
        report
            .integrity_failures
            .push(format!("after the last scan: {bad}"));
    }
    report.final_tracks = rows(&db, "COUNT(*)", "FROM tracks WHERE missing_since IS NULL")?[0][0]
        .as_i64()
        .unwrap_or(0);
    report.files_on_disk = fixture_songs + std::fs::read_dir(music.join("churn"))?.count() as i64;
    // The scans kept every user's data.
    for w in &mut writers {
        w.check_db(&db, &mut report.lost)?;
    }
    house.check_db(&db, &mut report.lost)?;
    for w in &writers {
        report.acknowledged += w.ledger.acknowledged;
        report.unanswered += w.ledger.unanswered;
        report
            .refusals
            .extend(w.ledger.refusals.iter().map(|r| format!("{} {r}", w.name)));
    }
    report.acknowledged += house.ledger.acknowledged;
    report.unanswered += house.ledger.unanswered;
    report.refusals.extend(
        house
            .ledger
            .refusals
            .iter()
            .map(|r| format!("household queue {r}")),
    );
    report.scans_started = counts[0].load(Ordering::Relaxed);
    report.files_added = counts[1].load(Ordering::Relaxed);
    report.files_removed = counts[2].load(Ordering::Relaxed);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ledger(acked: &str, pending: Option<&str>) -> Ledger {
        let mut l = Ledger::default();
        l.slots.insert(
            "k".into(),
            Slot {
                acked: acked.into(),
                pending: pending.map(str::to_string),
            },
        );
        l
    }

    #[test]
    fn a_value_other_than_the_acknowledged_or_the_one_in_flight_is_a_loss() {
        let mut lost = Vec::new();
        ledger("3", None).reconcile("w", |_| Some("2".into()), &mut lost);
        assert_eq!(lost.len(), 1, "an older value is a lost write");
        lost.clear();
        ledger("3", Some("4")).reconcile("w", |_| Some("4".into()), &mut lost);
        ledger("3", Some("4")).reconcile("w", |_| Some("3".into()), &mut lost);
        assert!(
            lost.is_empty(),
            "the write in flight may or may not have landed"
        );
        ledger("3", Some("4")).reconcile("w", |_| Some("5".into()), &mut lost);
        assert_eq!(lost.len(), 1);
    }

    #[test]
    fn the_database_becomes_the_truth_for_the_next_round() {
        let mut l = ledger("3", Some("4"));
        l.reconcile("w", |_| Some("4".into()), &mut Vec::new());
        assert_eq!(l.acked("k"), Some("4"));
        assert!(l.slots["k"].pending.is_none());
    }
}
