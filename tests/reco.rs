//! Recommendations (issue 8). So far: the background sound analysis, against a real server, a
//! real SQLite file and the committed audio fixtures.

mod common;

use std::time::{Duration, Instant};

use common::{Sandbox, Server};

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
