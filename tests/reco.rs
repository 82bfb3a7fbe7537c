//! Recommendations (issue 8), against a real server on loopback, a real SQLite file and the
//! committed audio fixtures: the background sound analysis, the listening history (scrobbles,
//! skips, the household queue), what it changes in similar songs, radio and mixes over both
//! APIs, autoplay, the sonic similarity extension, odd libraries and ids, and the offline
//! evaluation against its baselines.

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use common::{Sandbox, Server};
use serde_json::Value;

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_track_is_analysed_once_and_again_when_its_file_changes() {
    let sb = Sandbox::with_library();
    // A track that turns to junk after the scan read it (same size and time, so no rescan
    // notices): its analysis fails, with the reason.
    let music = sb.music();
    let scanned = sb
        .cmd(&["scan", "--music", music.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        scanned.status.success(),
        "{}",
        String::from_utf8_lossy(&scanned.stderr)
    );
    let spoilt = sb
        .music()
        .join("Aurora Fields/Northern Lights (2019)/02 - Ice Road.ogg");
    let meta = std::fs::metadata(&spoilt).unwrap();
    std::fs::write(&spoilt, vec![0x5a; meta.len() as usize]).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&spoilt)
        .unwrap()
        .set_modified(meta.modified().unwrap())
        .unwrap();
    assert!(sb
        .cmd(&["user", "add", "ann", "--password", "pw"])
        .output()
        .unwrap()
        .status
        .success());
    let on = [("HOUSEBAND_SOUND_ANALYSIS", "true")];
    let server = Server::start_with_env(&sb, &[], &on);
    server.wait_for(Duration::from_secs(30), |h| {
        h["scanning"] == false && h["tracks"].as_i64() > Some(0)
    });
    let tracks = sb.count("FROM tracks WHERE missing_since IS NULL");
    wait_until("every track analysed", Duration::from_secs(90), || {
        sb.count("FROM track_sounds") == tracks
    });
    let analysed = sb.count("FROM track_sounds WHERE features IS NOT NULL");
    let failed = sb.count("FROM track_sounds WHERE error IS NOT NULL");
    eprintln!("{tracks} tracks: {analysed} analysed, {failed} could not be");
    assert_eq!(analysed + failed, tracks);
    assert_eq!((analysed, failed), (tracks - 1, 1));
    // Each summary has its 15 numbers; a track that cannot be decoded says why.
    let rows = houseband::testkit::rows(
        &sb.db(),
        "features",
        "FROM track_sounds WHERE features IS NOT NULL",
    )
    .unwrap();
    for row in rows {
        let v: Vec<f64> = serde_json::from_str(row[0].as_str().unwrap()).unwrap();
        assert_eq!(v.len(), 15, "{v:?}");
        assert!(v.iter().all(|x| x.is_finite()));
    }
    let reasons = houseband::testkit::rows(
        &sb.db(),
        "error",
        "FROM track_sounds WHERE error IS NOT NULL",
    )
    .unwrap();
    for r in reasons {
        assert!(
            r[0].as_str().unwrap().contains("02 - Ice Road.ogg"),
            "the reason names the file: {r:?}"
        );
    }

    // The OpenSubsonic sonic similarity, from the summaries: the nearest first, likeness
    // between 0 and 1; for the track that could not be analysed, neighbours by tags, their
    // likeness capped at 0.5 (a guess); a path from one sound to another, ends included.
    let rest = |method: &str, q: &str| -> Value {
        let url = format!(
            "http://127.0.0.1:{}/rest/{method}?u=ann&p=pw&v=1.16.1&c=test&f=json&{q}",
            server.port
        );
        let v: Value =
            serde_json::from_reader(ureq::get(&url).call().unwrap().into_reader()).unwrap();
        v["subsonic-response"].clone()
    };
    let polar = sb.track_id("01 - Polar Night.flac");
    let near = rest("getSonicSimilarTracks", &format!("id=tr-{polar}&count=5"));
    let likeness: Vec<f64> = near["sonicMatch"]
        .as_array()
        .unwrap_or_else(|| panic!("{near}"))
        .iter()
        .map(|m| m["similarity"].as_f64().unwrap())
        .collect();
    assert_eq!(likeness.len(), 5, "{near}");
    assert!(likeness.windows(2).all(|w| w[0] >= w[1]), "{likeness:?}");
    assert!(likeness.iter().all(|l| (0.0..=1.0).contains(l)));
    assert!(near["sonicMatch"]
        .as_array()
        .unwrap()
        .iter()
        .all(|m| m["entry"]["id"] != format!("tr-{polar}").as_str()));
    let ice = sb.track_id("02 - Ice Road.ogg");
    let guess = rest("getSonicSimilarTracks", &format!("id=tr-{ice}&count=3"));
    let guesses = guess["sonicMatch"]
        .as_array()
        .unwrap_or_else(|| panic!("{guess}"));
    assert!(!guesses.is_empty());
    assert!(guesses
        .iter()
        .all(|m| m["similarity"].as_f64().unwrap() <= 0.5));
    let sunny_id = sb.track_id("01 - Sunny.mp3");
    let path = rest(
        "findSonicPath",
        &format!("startSongId=tr-{polar}&endSongId=tr-{sunny_id}&count=6"),
    );
    let steps = path["sonicMatch"]
        .as_array()
        .unwrap_or_else(|| panic!("{path}"));
    assert!(steps.len() >= 2 && steps.len() <= 6, "{path}");
    assert_eq!(steps[0]["entry"]["id"], format!("tr-{polar}").as_str());
    assert_eq!(steps[0]["similarity"], 1.0);
    assert_eq!(
        steps.last().unwrap()["entry"]["id"],
        format!("tr-{sunny_id}").as_str()
    );
    let unique: HashSet<&str> = steps
        .iter()
        .map(|s| s["entry"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), steps.len(), "no song twice on the way");

    // Nothing is analysed twice: the rows stay as they are.
    let stamp = |id: i64| {
        houseband::testkit::rows(
            &sb.db(),
            "analysed_at",
            &format!("FROM track_sounds WHERE track_id = {id}"),
        )
        .unwrap()[0][0]
            .as_i64()
            .unwrap()
    };
    let sunny = sb.track_id("01 - Sunny.mp3");
    let first = stamp(sunny);
    // A changed file (seen by the watcher) is analysed again.
    std::thread::sleep(Duration::from_millis(1100));
    let path = sb
        .music()
        .join("Various Artists/Summer Hits/01 - Sunny.mp3");
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.extend_from_slice(&[0u8; 16]);
    std::fs::write(&path, bytes).unwrap();
    wait_until(
        "the changed file analysed again",
        Duration::from_secs(60),
        || stamp(sunny) > first,
    );
    assert_eq!(sb.count("FROM track_sounds"), tracks, "one row per track");
    drop(server);
}

#[test]
fn off_means_nothing_is_analysed() {
    let sb = Sandbox::with_library();
    let server = Server::start(&sb, &["--watch", "off"]);
    server.wait_for(Duration::from_secs(30), |h| {
        h["scanning"] == false && h["tracks"].as_i64() > Some(0)
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sb.count("FROM track_sounds"), 0);
}

/// A household (ann, an admin, and bob) on a server over the fixture library.
struct Home {
    sb: Sandbox,
    server: Server,
}

impl Home {
    fn start(env: &[(&str, &str)]) -> Home {
        Home::start_in(Sandbox::with_library(), env)
    }

    fn start_in(sb: Sandbox, env: &[(&str, &str)]) -> Home {
        for (name, admin) in [("ann", true), ("bob", false)] {
            let mut args = vec!["user", "add", name, "--password", "pw"];
            if admin {
                args.push("--admin");
            }
            assert!(sb.cmd(&args).output().unwrap().status.success());
        }
        let server = Server::start_with_env(&sb, &["--watch", "off", "--scan-interval", "0"], env);
        server.wait_for(Duration::from_secs(30), |h| {
            h["scanning"] == false && h["tracks"].as_i64() > Some(0)
        });
        Home { sb, server }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port)
    }

    /// GET on the native API as `who`: (status, JSON body).
    fn get(&self, who: &str, path: &str) -> (u16, Value) {
        self.send(who, "GET", path, "")
    }

    fn ok(&self, who: &str, path: &str) -> Value {
        let (status, body) = self.get(who, path);
        assert_eq!(status, 200, "{path}: {body}");
        body
    }

    fn send(&self, who: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
        common::api_call(self.server.port, who, method, path, body)
    }

    /// A Subsonic call as `who` (JSON), the `subsonic-response` object.
    fn rest(&self, who: &str, method: &str, query: &str) -> Value {
        let url = self.url(&format!(
            "/rest/{method}?u={who}&p=pw&v=1.16.1&c=test&f=json&{query}"
        ));
        let v: Value =
            serde_json::from_reader(ureq::get(&url).call().unwrap().into_reader()).unwrap();
        v["subsonic-response"].clone()
    }

    fn user_id(&self, name: &str) -> i64 {
        houseband::testkit::rows(
            &self.sb.db(),
            "id",
            &format!("FROM users WHERE name = '{name}'"),
        )
        .unwrap()[0][0]
            .as_i64()
            .unwrap()
    }

    fn queue(&self, who: &str, op: &str) -> Value {
        let (status, body) = self.send(who, "POST", "/api/queue", op);
        assert_eq!(status, 200, "{op}: {body}");
        body
    }
}

fn ids_of(list: &Value) -> Vec<String> {
    list.as_array()
        .map(|a| {
            a.iter()
                .map(|s| s["id"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn listening_is_recorded_and_shapes_what_each_user_is_recommended() {
    let home = Home::start(&[]);
    let sb = &home.sb;
    let song = |file: &str| format!("tr-{}", sb.track_id(file));
    let (polar, sunny, ice, glacier, tundra) = (
        song("01 - Polar Night.flac"),
        song("01 - Sunny.mp3"),
        song("02 - Ice Road.ogg"),
        song("05 - Glacier.wv"),
        song("06 - Tundra.ape"),
    );
    let ann = home.user_id("ann");

    // Ann plays Polar Night and then Sunny, in three sessions over three days: they go
    // together for her household, though they share no artist or genre.
    let day = 86_400_000i64;
    let start = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64)
        - 4 * day;
    for k in 0..3 {
        let t = start + k * day;
        home.rest("ann", "scrobble", &format!("id={polar}&time={t}"));
        home.rest(
            "ann",
            "scrobble",
            &format!("id={sunny}&time={}", t + 240_000),
        );
    }
    // A client scrobbles the same play again (an offline queue sent twice): one play.
    home.rest(
        "ann",
        "scrobble",
        &format!("id={sunny}&time={}", start + 240_000),
    );
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE user_id = {ann} AND track_id = {} AND NOT skipped",
            &sunny[3..]
        )),
        3
    );
    // Ice Road starts and, a moment later, Glacier: Ice Road was skipped.
    home.rest("ann", "scrobble", &format!("id={ice}&submission=false"));
    home.rest("ann", "scrobble", &format!("id={glacier}&submission=false"));
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE user_id = {ann} AND track_id = {} AND skipped AND source = 'scrobble'",
            &ice[3..]
        )),
        1,
        "the skip is recorded"
    );
    // Glacier plays through: reported again on resume, then submitted, then the next song
    // starts. Not a skip.
    home.rest("ann", "scrobble", &format!("id={glacier}&submission=false"));
    home.rest("ann", "scrobble", &format!("id={glacier}"));
    home.rest("ann", "scrobble", &format!("id={glacier}&submission=false"));
    home.rest("ann", "scrobble", &format!("id={sunny}&submission=false"));
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE user_id = {ann} AND track_id = {} AND skipped",
            &glacier[3..]
        )),
        0,
        "a song played through is not a skip"
    );
    // And she rates Tundra 1 star.
    home.rest("ann", "setRating", &format!("id={tundra}&rating=1"));

    // Similar songs to Polar Night: Sunny, because it is often played after it; not what
    // ann skipped or rated 1 star.
    let similar = home.ok("ann:pw", &format!("/api/similar/songs?id={polar}&count=20"));
    let songs = similar["songs"].as_array().unwrap();
    let sunny_pick = songs
        .iter()
        .find(|s| s["id"] == sunny.as_str())
        .unwrap_or_else(|| panic!("Sunny is recommended: {similar}"));
    assert_eq!(
        sunny_pick["why"], "often played after “Polar Night”",
        "{sunny_pick}"
    );
    let ann_ids: HashSet<String> = ids_of(&similar["songs"]).into_iter().collect();
    assert!(
        !ann_ids.contains(&ice) && !ann_ids.contains(&tundra),
        "{similar}"
    );
    assert!(
        !ann_ids.contains(&polar),
        "the seed is not similar to itself"
    );
    assert!(songs.iter().all(|s| !s["why"].as_str().unwrap().is_empty()));
    // Bob skipped nothing: his list has them, and Sunny too (the household listened together).
    let bob_ids: HashSet<String> =
        ids_of(&home.ok("bob:pw", &format!("/api/similar/songs?id={polar}&count=20"))["songs"])
            .into_iter()
            .collect();
    assert!(
        bob_ids.contains(&ice) && bob_ids.contains(&tundra),
        "{bob_ids:?}"
    );
    assert!(bob_ids.contains(&sunny));
    // The Subsonic view agrees.
    let sub = home.rest("ann", "getSimilarSongs2", &format!("id={polar}&count=20"));
    let sub_ids: HashSet<String> = ids_of(&sub["similarSongs2"]["song"]).into_iter().collect();
    assert!(sub_ids.contains(&sunny) && !sub_ids.contains(&ice), "{sub}");

    // Radio from Polar Night starts with it, never gives back what it was told it gave, and
    // keeps going until the library (22 songs) is used up.
    let first = home.ok("ann:pw", &format!("/api/radio?seed={polar}&count=5"));
    let first_ids = ids_of(&first["songs"]);
    assert_eq!(first_ids.len(), 5);
    assert_eq!(first_ids[0], polar);
    assert_eq!(first["songs"][0]["why"], "where this started");
    let mut given: Vec<String> = first_ids.clone();
    loop {
        let page = home.ok(
            "ann:pw",
            &format!(
                "/api/radio?seed={polar}&count=5&exclude={}",
                given.join(",")
            ),
        );
        let ids = ids_of(&page["songs"]);
        if ids.is_empty() {
            break;
        }
        for id in &ids {
            assert!(!given.contains(id), "{id} given twice");
        }
        given.extend(ids);
        assert!(given.len() <= 22);
    }
    assert!(
        given.len() >= 19,
        "the radio ran until little was left (22 songs, less what ann rejected): {given:?}"
    );
    assert!(!given.contains(&ice) && !given.contains(&tundra));

    // Album and artist radio, similar albums and artists answer too.
    let album = home.rest("ann", "getSong", &format!("id={polar}"))["song"]["albumId"]
        .as_str()
        .unwrap()
        .to_string();
    let artist = home.rest("ann", "getSong", &format!("id={polar}"))["song"]["artistId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        !ids_of(&home.ok("ann:pw", &format!("/api/radio?seed={album}&count=5"))["songs"])
            .is_empty()
    );
    assert!(
        !ids_of(&home.ok("ann:pw", &format!("/api/radio?seed={artist}&count=5"))["songs"])
            .is_empty()
    );
    let albums = home.ok("ann:pw", &format!("/api/similar/albums?id={album}"));
    assert_eq!(albums["albums"][0]["name"], "Summer Hits", "{albums}");
    let artists = home.ok("ann:pw", &format!("/api/similar/artists?id={artist}"));
    assert!(
        !artists["artists"].as_array().unwrap().is_empty(),
        "{artists}"
    );

    // Mixes follow ann's listening; bob, who has none, gets mixes of the library's genres.
    let mixes = home.ok("ann:pw", "/api/mixes");
    let first_mix = &mixes["mixes"][0];
    assert!(
        first_mix["name"].as_str().unwrap().ends_with(" mix"),
        "{mixes}"
    );
    let mix_ids: HashSet<String> = ids_of(&first_mix["songs"]).into_iter().collect();
    assert!(!mix_ids.is_empty() && !mix_ids.contains(&ice) && !mix_ids.contains(&tundra));
    assert_eq!(home.ok("ann:pw", "/api/mixes"), mixes, "the same all day");
    let bobs = home.ok("bob:pw", "/api/mixes");
    assert!(!bobs["mixes"].as_array().unwrap().is_empty(), "{bobs}");
    assert!(bobs["mixes"][0]["about"]
        .as_str()
        .unwrap()
        .contains("play music and mixes follow your taste"));
}

#[test]
fn the_household_queue_records_plays_and_skips_for_whoever_runs_it() {
    let home = Home::start(&[]);
    let sb = &home.sb;
    let frost = sb.track_id("07 - Frost.mpc");
    let snow = sb.track_id("04 - Snowfall.spx");
    let (ann, bob) = (home.user_id("ann"), home.user_id("bob"));
    // Ann queues Frost and plays it nearly to its end, then moves on: a play.
    let state = home.queue(
        "ann:pw",
        &format!(r#"{{"op":"add","songs":["tr-{frost}","tr-{snow}"]}}"#),
    );
    let entries: Vec<String> = state["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    home.queue(
        "ann:pw",
        &format!(r#"{{"op":"play","entry":"{}"}}"#, entries[0]),
    );
    let duration = sb.count(&format!(
        "FROM tracks WHERE id = {frost} AND duration_ms > 0"
    ));
    assert_eq!(duration, 1);
    let ms = houseband::testkit::rows(
        &sb.db(),
        "duration_ms",
        &format!("FROM tracks WHERE id = {frost}"),
    )
    .unwrap()[0][0]
        .as_i64()
        .unwrap();
    home.queue(
        "ann:pw",
        &format!(r#"{{"op":"seek","position_ms":{}}}"#, ms * 9 / 10),
    );
    // Bob takes the remote: the next song is his, and he leaves it at once: a skip.
    home.queue("bob:pw", r#"{"op":"next"}"#);
    home.queue("bob:pw", r#"{"op":"pause"}"#);
    home.queue("bob:pw", r#"{"op":"clear"}"#);
    wait_until("the queue's plays recorded", Duration::from_secs(5), || {
        sb.count("FROM listens WHERE source = 'queue'") == 2
    });
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE user_id = {ann} AND track_id = {frost} AND NOT skipped AND source = 'queue'"
        )),
        1
    );
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE user_id = {bob} AND track_id = {snow} AND skipped AND source = 'queue'"
        )),
        1
    );
    // The play counts for ann, as a scrobble would.
    let song = home.rest("ann", "getSong", &format!("id=tr-{frost}"));
    assert_eq!(song["song"]["playCount"], 1, "{song}");
}

#[test]
fn autoplay_continues_the_queue_with_radio_until_switched_off() {
    let home = Home::start(&[("HOUSEBAND_AUTOPLAY", "true")]);
    let sb = &home.sb;
    let polar = sb.track_id("01 - Polar Night.flac");
    assert_eq!(
        home.ok("ann:pw", "/api/autoplay"),
        serde_json::json!({"enabled": true})
    );
    let state = home.queue(
        "ann:pw",
        &format!(r#"{{"op":"add","songs":["tr-{polar}"]}}"#),
    );
    let entry = state["entries"][0]["id"].as_str().unwrap().to_string();
    home.queue("ann:pw", &format!(r#"{{"op":"play","entry":"{entry}"}}"#));
    let mut state = Value::Null;
    wait_until("autoplay adds songs", Duration::from_secs(5), || {
        state = home.ok("ann:pw", "/api/queue");
        state["entries"].as_array().unwrap().len() > 1
    });
    let songs: Vec<&str> = state["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["song"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(songs.len(), 11, "ten songs of radio: {songs:?}");
    let unique: HashSet<&&str> = songs.iter().collect();
    assert_eq!(unique.len(), songs.len(), "no song twice: {songs:?}");

    // Off: the end of the queue is its end.
    let (status, _) = home.send("ann:pw", "PUT", "/api/autoplay", r#"{"enabled":false}"#);
    assert_eq!(status, 200);
    let (status, body) = home.send("ann:pw", "PUT", "/api/autoplay", r#"{"enabled":"no"}"#);
    assert_eq!(status, 400, "{body}");
    home.queue("ann:pw", r#"{"op":"clear"}"#);
    let state = home.queue(
        "ann:pw",
        &format!(r#"{{"op":"add","songs":["tr-{polar}"]}}"#),
    );
    let entry = state["entries"][0]["id"].as_str().unwrap().to_string();
    home.queue("ann:pw", &format!(r#"{{"op":"play","entry":"{entry}"}}"#));
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        home.ok("ann:pw", "/api/queue")["entries"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[test]
fn odd_ids_and_odd_libraries_get_sensible_answers() {
    let home = Home::start(&[]);
    let polar = format!("tr-{}", home.sb.track_id("01 - Polar Night.flac"));
    // Unknown, malformed and hostile parameters: clear errors, never a 500.
    for (path, status) in [
        ("/api/radio?seed=tr-999999", 404),
        ("/api/radio?seed=pl-1", 400),
        ("/api/radio?seed=tr-", 400),
        ("/api/radio?seed=../../etc/passwd", 400),
        ("/api/radio", 400),
        (&*format!("/api/radio?seed={polar}&count=100000"), 400),
        (&*format!("/api/radio?seed={polar}&exclude=junk"), 400),
        (&*format!("/api/radio?seed={polar}&count=-1"), 400),
        ("/api/similar/songs?id=ar-999999", 404),
        (&*format!("/api/similar/albums?id={polar}"), 400),
        (&*format!("/api/similar/artists?id={polar}"), 400),
    ] {
        let (got, body) = home.get("ann:pw", path);
        assert_eq!(got, status, "{path}: {body}");
        assert!(
            body["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {body}"
        );
    }
    assert_eq!(home.get("nobody:pw", "/api/mixes").0, 401);
    let error = |method: &str, q: &str| home.rest("ann", method, q)["error"]["code"].clone();
    assert_eq!(error("getSimilarSongs2", "id=tr-999999"), 70);
    assert_eq!(error("getSonicSimilarTracks", "id=tr-999999"), 70);
    assert_eq!(error("getSonicSimilarTracks", "id=al-1"), 70);
    assert_eq!(error("findSonicPath", &format!("startSongId={polar}")), 10);
    assert_eq!(
        error("getSonicSimilarTracks", &format!("id={polar}&count=x")),
        10
    );

    // A user with 100,000 plays: every answer still comes.
    let ann = home.user_id("ann");
    houseband::testkit::exec(
        &home.sb.db(),
        &format!(
            "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < 99999)
             INSERT INTO listens (user_id, track_id, at, played_ms, skipped, source)
             SELECT {ann}, t.id, strftime('%s','now') - 100000 * 60 + i * 60, 1000, i % 7 = 0,
                    'scrobble'
             FROM n JOIN (SELECT id, ROW_NUMBER() OVER (ORDER BY id) - 1 AS k FROM tracks) t
               ON t.k = n.i % 22"
        ),
    )
    .unwrap();
    assert_eq!(home.sb.count("FROM listens"), 100_000);
    let t0 = Instant::now();
    assert!(
        !ids_of(&home.ok("ann:pw", &format!("/api/radio?seed={polar}&count=10"))["songs"])
            .is_empty()
    );
    assert!(!home.ok("ann:pw", "/api/mixes")["mixes"]
        .as_array()
        .unwrap()
        .is_empty());
    let sub = home.rest("ann", "getSimilarSongs2", &format!("id={polar}"));
    assert_eq!(sub["status"], "ok", "{sub}");
    eprintln!(
        "radio, mixes and similar songs for a user with 100k plays: {:?}",
        t0.elapsed()
    );
}

#[test]
fn a_library_of_one_song() {
    let sb = Sandbox::new();
    let from = common::fixtures()
        .join("library/Aurora Fields/Northern Lights (2019)/01 - Polar Night.flac");
    std::fs::create_dir_all(sb.music()).unwrap();
    std::fs::copy(&from, sb.music().join("01 - Polar Night.flac")).unwrap();
    let home = Home::start_in(sb, &[]);
    let polar = format!("tr-{}", home.sb.track_id("01 - Polar Night.flac"));
    assert!(
        ids_of(&home.ok("ann:pw", &format!("/api/similar/songs?id={polar}"))["songs"]).is_empty()
    );
    assert_eq!(
        ids_of(&home.ok("ann:pw", &format!("/api/radio?seed={polar}&count=10"))["songs"]),
        vec![polar.clone()],
        "the radio plays the one song there is"
    );
    let again = home.ok(
        "ann:pw",
        &format!("/api/radio?seed={polar}&count=10&exclude={polar}"),
    );
    assert!(ids_of(&again["songs"]).is_empty(), "{again}");
    let mixes = home.ok("ann:pw", "/api/mixes");
    assert!(mixes["mixes"].as_array().unwrap().len() <= 1, "{mixes}");
    let sonic = home.rest("ann", "getSonicSimilarTracks", &format!("id={polar}"));
    assert_eq!(sonic["status"], "ok");
    assert!(
        sonic["sonicMatch"].as_array().is_none_or(|a| a.is_empty()),
        "{sonic}"
    );
    let path = home.rest(
        "ann",
        "findSonicPath",
        &format!("startSongId={polar}&endSongId={polar}"),
    );
    assert_eq!(path["sonicMatch"].as_array().unwrap().len(), 1, "{path}");
    assert_eq!(path["sonicMatch"][0]["similarity"], 1.0);
}

/// The offline evaluation (see `benches/reco_eval.rs`), with the settings kept in the repo: the
/// recommendations must beat every baseline, on hit rate and on NDCG. Deterministic: one seed.
#[test]
fn recommendations_beat_the_baselines_in_the_listening_simulation() {
    use houseband::testkit::listening::{evaluate, format_table, SimSettings};
    let text = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/reco-eval.toml"
    ))
    .unwrap();
    let settings: SimSettings = toml::from_str(&text).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let table = evaluate(&settings, dir.path()).unwrap();
    eprintln!("{}", format_table(&table));
    for list in ["similar songs", "radio", "mixes"] {
        let ours = table
            .iter()
            .find(|s| s.list == list && s.method == "houseband")
            .unwrap();
        for baseline in ["random", "same genre", "most played"] {
            let b = table
                .iter()
                .find(|s| s.list == list && s.method == baseline)
                .unwrap();
            assert!(
                ours.hit_rate > b.hit_rate * 1.1 && ours.ndcg > b.ndcg * 1.1,
                "{list}: houseband ({:.3}, {:.3}) against {baseline} ({:.3}, {:.3})",
                ours.hit_rate,
                ours.ndcg,
                b.hit_rate,
                b.ndcg
            );
        }
    }
}

#[test]
fn a_stream_sent_to_its_end_is_a_play_heard_once() {
    let home = Home::start(&[]);
    let sb = &home.sb;
    let frost = sb.track_id("07 - Frost.mpc");
    let waves = sb.track_id("03 - Waves.flac");
    let bob = home.user_id("bob");
    let stream = |id: i64, range: Option<&str>, extra: &str| {
        let url = home.url(&format!(
            "/rest/stream?id=tr-{id}&u=bob&p=pw&v=1.16.1&c=test&format=raw{extra}"
        ));
        let mut request = ureq::get(&url);
        if let Some(r) = range {
            request = request.set("Range", r);
        }
        let r = request.call().unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
        bytes.len()
    };
    let listens = |id: i64| {
        sb.count(&format!(
            "FROM listens WHERE user_id = {bob} AND track_id = {id}"
        ))
    };
    // The tail alone (players read tags at the end first) and a seek are not plays.
    let size = stream(frost, None, "&estimateContentLength=false");
    wait_until("the whole file is a play", Duration::from_secs(5), || {
        listens(frost) == 1
    });
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE track_id = {frost} AND source = 'stream' AND NOT skipped"
        )),
        1
    );
    assert!(size > 1000);
    stream(waves, Some("bytes=-500"), "");
    stream(waves, None, "&timeOffset=1");
    let head = ureq::head(&home.url(&format!(
        "/rest/stream?id=tr-{waves}&u=bob&p=pw&v=1.16.1&c=test&format=raw"
    )))
    .call()
    .unwrap();
    assert_eq!(head.status(), 200);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(listens(waves), 0, "a tail, a seek or a HEAD is not a play");
    // Streamed again and scrobbled by the client: still the one play, now the client's word.
    stream(frost, None, "");
    home.rest("bob", "scrobble", &format!("id=tr-{frost}"));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(listens(frost), 1);
    assert_eq!(
        sb.count(&format!(
            "FROM listens WHERE track_id = {frost} AND source = 'scrobble'"
        )),
        1
    );
}
