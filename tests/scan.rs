//! The scanner end to end: the real binary scans real audio files (tests/fixtures) into a real
//! SQLite file, and the tests read that file.

mod common;

use common::*;
use serde_json::{json, Value};

fn track(sb: &Sandbox, file: &str, columns: &str) -> Value {
    let found = rows(
        &sb.db(),
        columns,
        &format!("FROM tracks WHERE path LIKE '%/{file}'"),
    )
    .unwrap();
    assert_eq!(found.len(), 1, "track {file}");
    found[0].clone()
}

fn credits(sb: &Sandbox, file: &str, role: &str) -> Vec<String> {
    rows(
        &sb.db(),
        "a.name || COALESCE(' (' || ta.sub_role || ')', '')",
        &format!(
            "FROM track_artists ta JOIN artists a ON a.id = ta.artist_id JOIN tracks t ON t.id = ta.track_id
             WHERE t.path LIKE '%/{file}' AND ta.role = '{role}' ORDER BY ta.position"
        ),
    )
    .unwrap()
    .into_iter()
    .map(|v| v[0].as_str().unwrap().to_string())
    .collect()
}

fn genres(sb: &Sandbox, file: &str) -> Vec<String> {
    rows(
        &sb.db(),
        "g.name",
        &format!(
            "FROM track_genres tg JOIN genres g ON g.id = tg.genre_id JOIN tracks t ON t.id = tg.track_id
             WHERE t.path LIKE '%/{file}' ORDER BY tg.position"
        ),
    )
    .unwrap()
    .into_iter()
    .map(|v| v[0].as_str().unwrap().to_string())
    .collect()
}

#[test]
fn every_format_is_read_with_its_tags() {
    let sb = Sandbox::with_library();
    let out = sb.scan(&[]);
    assert_eq!(
        summary(&out),
        Summary {
            files: 22,
            added: 22,
            updated: 0,
            removed: 0,
            errors: 0
        },
        "{out}"
    );

    // Album 1: one format per track, Vorbis comments and APEv2, full tag set.
    let formats = [
        ("01 - Polar Night.flac", "flac", "flac", 44100),
        ("02 - Ice Road.ogg", "vorbis", "ogg", 44100),
        ("03 - Midnight Sun.opus", "opus", "opus", 48000),
        ("04 - Snowfall.spx", "speex", "spx", 16000),
        ("05 - Glacier.wv", "wavpack", "wv", 44100),
        ("06 - Tundra.ape", "ape", "ape", 44100),
        ("07 - Frost.mpc", "mpc", "mpc", 44100),
    ];
    for (n, (file, format, suffix, rate)) in formats.iter().enumerate() {
        let n = n as i64 + 1;
        let t = track(
            &sb,
            file,
            "format, suffix, sample_rate, artist_display, album_name, album_artist_display, track_number,
             track_total, disc_number, disc_total, year, date, original_date, isrc, label, release_types,
             rg_track_gain, rg_track_peak, rg_album_gain, rg_album_peak, mbz_recording_id, mbz_album_id,
             mbz_release_group_id, mbz_release_track_id, comment, duration_ms, artist_sort",
        );
        let expected = json!([
            format,
            suffix,
            rate,
            "Aurora Fields",
            "Northern Lights",
            "Aurora Fields",
            n,
            7,
            1,
            1,
            2019,
            "2019-03-14",
            "2018-11-02",
            format!("QZABC190000{n}"),
            "Snowfield Records",
            "album",
            -6.5,
            0.988,
            -7.25,
            0.999,
            format!("00000000-0000-4000-8000-00000000000{n}"),
            "20000000-0000-4000-8000-000000000001",
            "40000000-0000-4000-8000-000000000001",
            format!("10000000-0000-4000-8000-00000000000{n}"),
            format!("fixture {n}")
        ]);
        for (i, want) in expected.as_array().unwrap().iter().enumerate() {
            assert_eq!(&t[i], want, "{file}: column {i}");
        }
        let duration = t[25].as_i64().unwrap();
        assert!(
            (900..=1100).contains(&duration),
            "{file}: duration {duration}"
        );
        assert_eq!(t[26], "Fields, Aurora", "{file}: artist sort");
        assert_eq!(
            genres(&sb, file),
            ["Ambient", "Electronic"],
            "{file}: genre split at ';'"
        );
        assert_eq!(credits(&sb, file, "composer"), ["Ingrid Holm"], "{file}");
    }
    // BPM from Vorbis comments and from APEv2 (a key lofty's generic tag has no name for).
    for (file, ..) in &formats {
        assert_eq!(track(&sb, file, "bpm")[0], 92, "{file}: BPM");
    }
    let first = track(
        &sb,
        "01 - Polar Night.flac",
        "has_cover, lyrics, disc_subtitle, sort_title, bit_depth, channels, explicit",
    );
    assert_eq!(
        first,
        json!([
            1,
            "Polar night, polar light",
            "Side A",
            "Polar Night, The",
            16,
            2,
            1
        ])
    );
    assert_eq!(
        rows(
            &sb.db(),
            "explicit",
            "FROM albums WHERE name = 'Northern Lights'"
        )
        .unwrap()[0][0],
        1
    );
    assert!(track(&sb, "03 - Midnight Sun.opus", "lrc_path")[0]
        .as_str()
        .unwrap()
        .ends_with("03 - Midnight Sun.lrc"));

    // Album 2: every MP3 tag flavour, MP4, WAV, AIFF and ADTS.
    let soup = [
        ("01 - Four.mp3", "mp3", "The Testers / Guest Star"),
        ("02 - Three.mp3", "mp3", "The Testers / Guest Star"),
        ("03 - One.mp3", "mp3", "The Testers"),
        ("04 - Ape.mp3", "mp3", "The Testers"),
        ("05 - Apple.m4a", "aac", "The Testers"),
        ("06 - Lossless Apple.m4a", "alac", "The Testers"),
        ("07 - Wave.wav", "wav", "The Testers"),
        ("08 - Aiff.aiff", "aiff", "The Testers"),
        ("09 - Adts.aac", "aac", "The Testers"),
        ("10 - Thunder.mp3", "mp3", "AC/DC feat. Bon Scott"),
    ];
    for (n, (file, format, artist)) in soup.iter().enumerate() {
        let t = track(
            &sb,
            file,
            "format, artist_display, album_name, album_artist_display, track_number, year",
        );
        assert_eq!(
            t,
            json!([format, artist, "Tag Soup", "The Testers", n + 1, 2005]),
            "{file}"
        );
    }
    assert_eq!(
        credits(&sb, "01 - Four.mp3", "artist"),
        ["The Testers", "Guest Star"],
        "ID3v2.4 null-separated"
    );
    assert_eq!(
        credits(&sb, "02 - Three.mp3", "artist"),
        ["The Testers", "Guest Star"],
        "' / ' separator"
    );
    assert_eq!(
        credits(&sb, "10 - Thunder.mp3", "artist"),
        ["AC/DC", "Bon Scott"],
        "ARTISTS tag wins"
    );
    assert_eq!(genres(&sb, "01 - Four.mp3"), ["Rock", "Pop"]);
    assert_eq!(genres(&sb, "03 - One.mp3"), ["Rock"], "ID3v1 genre index");
    assert_eq!(track(&sb, "05 - Apple.m4a", "has_cover")[0], 1);
    assert_eq!(track(&sb, "06 - Lossless Apple.m4a", "bit_depth")[0], 16);
    let soup_album = rows(
        &sb.db(),
        "track_count, year, cover_path",
        "FROM albums WHERE name = 'Tag Soup'",
    )
    .unwrap();
    assert_eq!(soup_album.len(), 1, "one album for ten formats");
    assert_eq!(soup_album[0][0], 10);
    assert!(
        soup_album[0][2].as_str().unwrap().ends_with("folder.PNG"),
        "{soup_album:?}"
    );

    // Album 3: a compilation groups as one album under Various Artists.
    let va = rows(
        &sb.db(),
        "track_count, artist_display, compilation",
        "FROM albums WHERE name = 'Summer Hits'",
    )
    .unwrap();
    assert_eq!(va, vec![json!([3, "Various Artists", 1])]);
    assert_eq!(
        credits(&sb, "01 - Sunny.mp3", "albumartist"),
        ["Various Artists"]
    );

    // Album 4: two discs, credits with roles.
    let sym = rows(
        &sb.db(),
        "track_count, disc_count",
        "FROM albums WHERE name = 'Symphony No. 1'",
    )
    .unwrap();
    assert_eq!(sym, vec![json!([2, 2])]);
    assert_eq!(
        track(
            &sb,
            "01 - Adagio.flac",
            "disc_number, disc_total, disc_subtitle"
        ),
        json!([2, 2, "Movements II"])
    );
    assert_eq!(
        credits(&sb, "01 - Adagio.flac", "artist"),
        ["Orchestra Nova", "Maria Solo"]
    );
    assert_eq!(
        credits(&sb, "01 - Adagio.flac", "conductor"),
        ["Karl Baton"]
    );
    assert_eq!(
        credits(&sb, "01 - Adagio.flac", "performer"),
        ["Maria Solo (violin)"]
    );
    assert_eq!(genres(&sb, "01 - Adagio.flac"), ["Classical", "Orchestral"]);

    // Art: folder images and artist images are recorded.
    let aurora = rows(
        &sb.db(),
        "cover_path, cover_track_id IS NOT NULL",
        "FROM albums WHERE name = 'Northern Lights'",
    )
    .unwrap();
    assert!(aurora[0][0]
        .as_str()
        .unwrap()
        .ends_with("Northern Lights (2019)/cover.jpg"));
    assert_eq!(aurora[0][1], 1);
    let image = rows(
        &sb.db(),
        "image_path",
        "FROM artists WHERE name = 'Aurora Fields'",
    )
    .unwrap();
    assert!(
        image[0][0]
            .as_str()
            .unwrap()
            .ends_with("Aurora Fields/artist.jpg"),
        "{image:?}"
    );

    // Search: case- and accent-folded.
    let hits = rows(
        &sb.db(),
        "t.title",
        "FROM tracks_fts f JOIN tracks t ON t.id = f.rowid WHERE tracks_fts MATCH 'beyonce'",
    )
    .unwrap();
    assert_eq!(hits, vec![json!(["Halo Cover"])]);
    let prefix = rows(
        &sb.db(),
        "name",
        "FROM artists_fts WHERE artists_fts MATCH 'auro*'",
    )
    .unwrap();
    assert_eq!(prefix, vec![json!(["Aurora Fields"])]);
}

#[test]
fn custom_separators_and_no_splitting() {
    let sb = Sandbox::with_library();
    sb.scan(&["--tag-separator", "|"]);
    assert_eq!(
        credits(&sb, "02 - Three.mp3", "artist"),
        ["The Testers / Guest Star"]
    );
    assert_eq!(
        genres(&sb, "01 - Polar Night.flac"),
        ["Ambient; Electronic"]
    );
}

fn snapshot(sb: &Sandbox) -> Vec<Value> {
    rows(
        &sb.db(),
        "t.id, t.path, t.size, t.mtime, t.title, t.album_id, t.missing_since, a.name, a.track_count,
         (SELECT group_concat(artist_id || ':' || role, ',') FROM track_artists WHERE track_id = t.id)",
        "FROM tracks t JOIN albums a ON a.id = t.album_id ORDER BY t.id",
    )
    .unwrap()
}

#[test]
fn rescan_is_idempotent() {
    let sb = Sandbox::with_library();
    sb.scan(&[]);
    let before = snapshot(&sb);
    let again = sb.scan(&[]);
    assert_eq!(
        summary(&again),
        Summary {
            files: 22,
            added: 0,
            updated: 0,
            removed: 0,
            errors: 0
        }
    );
    assert_eq!(snapshot(&sb), before);
    // A full rescan rereads every file and still changes nothing.
    let full = sb.scan(&["--full"]);
    assert_eq!(summary(&full).updated, 22);
    assert_eq!(snapshot(&sb), before);
    assert_eq!(sb.count("FROM albums"), 4);
    assert_eq!(sb.count("FROM artists WHERE name = 'The Testers'"), 1);
}

/// Plants user data on a track as the API will: a user, a star, a play count, a playlist entry.
fn plant_user_data(sb: &Sandbox, track_id: i64) {
    exec(
        &sb.db(),
        &format!(
            "INSERT INTO users (id, name, password_enc, is_admin, created_at, updated_at) VALUES (1, 'ann', x'00', 0, 0, 0);
             INSERT INTO annotations (user_id, item_kind, item_id, starred_at, rating, play_count) VALUES (1, 'track', {track_id}, 1, 5, 42);
             INSERT INTO playlists (id, owner_id, name, created_at, updated_at) VALUES (1, 1, 'mine', 0, 0);
             INSERT INTO playlist_entries (playlist_id, position, track_id) VALUES (1, 0, {track_id});"
        ),
    )
    .unwrap();
}

fn user_data(sb: &Sandbox) -> Vec<Value> {
    rows(
        &sb.db(),
        "an.item_id, an.rating, an.play_count, pe.track_id",
        "FROM annotations an JOIN playlist_entries pe ON pe.track_id = an.item_id",
    )
    .unwrap()
}

#[test]
fn moved_and_renamed_files_keep_their_id_and_user_data() {
    let sb = Sandbox::with_library();
    sb.scan(&[]);
    // With a MusicBrainz recording id: moved to another folder and renamed.
    let polar = sb.track_id("01 - Polar Night.flac");
    // Without one: recognised by size + duration + tags.
    let sunny = sb.track_id("01 - Sunny.mp3");
    plant_user_data(&sb, polar);
    exec(&sb.db(), &format!("INSERT INTO annotations (user_id, item_kind, item_id, play_count) VALUES (1, 'track', {sunny}, 7);")).unwrap();

    let m = sb.music();
    std::fs::create_dir_all(m.join("Moved/Elsewhere")).unwrap();
    std::fs::rename(
        m.join("Aurora Fields/Northern Lights (2019)/01 - Polar Night.flac"),
        m.join("Moved/Elsewhere/polar.flac"),
    )
    .unwrap();
    std::fs::rename(
        m.join("Various Artists/Summer Hits/01 - Sunny.mp3"),
        m.join("Moved/sunny-renamed.mp3"),
    )
    .unwrap();

    let out = sb.scan(&[]);
    let s = summary(&out);
    assert_eq!((s.added, s.removed, s.updated), (0, 0, 2), "{out}");
    assert_eq!(sb.track_id("polar.flac"), polar);
    assert_eq!(sb.track_id("sunny-renamed.mp3"), sunny);
    assert_eq!(user_data(&sb), vec![json!([polar, 5, 42, polar])]);
    assert_eq!(
        sb.count(&format!(
            "FROM annotations WHERE item_id = {sunny} AND play_count = 7"
        )),
        1
    );
    assert_eq!(sb.count("FROM tracks WHERE missing_since IS NOT NULL"), 0);
    // The album still counts the moved track.
    assert_eq!(
        rows(
            &sb.db(),
            "track_count",
            "FROM albums WHERE name = 'Northern Lights'"
        )
        .unwrap()[0][0],
        7
    );
}

#[test]
fn a_moved_file_found_in_a_later_scan_still_keeps_its_id() {
    let sb = Sandbox::with_library();
    sb.scan(&[]);
    let id = sb.track_id("02 - Ice Road.ogg");
    plant_user_data(&sb, id);
    let m = sb.music();
    let parked = sb.dir.path().join("parked.ogg");
    std::fs::rename(
        m.join("Aurora Fields/Northern Lights (2019)/02 - Ice Road.ogg"),
        &parked,
    )
    .unwrap();
    let out = sb.scan(&[]);
    assert_eq!(summary(&out).removed, 1, "{out}");
    assert_eq!(
        sb.count(&format!(
            "FROM tracks WHERE id = {id} AND missing_since IS NOT NULL"
        )),
        1
    );
    assert_eq!(
        user_data(&sb).len(),
        1,
        "user data outlives a missing track"
    );
    std::fs::rename(&parked, m.join("ice.ogg")).unwrap();
    sb.scan(&[]);
    assert_eq!(sb.track_id("ice.ogg"), id);
    assert_eq!(user_data(&sb), vec![json!([id, 5, 42, id])]);
}

#[test]
fn an_unmounted_or_emptied_folder_removes_nothing() {
    let sb = Sandbox::with_library();
    sb.scan(&[]);
    plant_user_data(&sb, sb.track_id("03 - One.mp3"));
    let m = sb.music();
    let away = sb.dir.path().join("away");

    // The folder is gone (an unmounted share).
    std::fs::rename(&m, &away).unwrap();
    let out = sb.scan(&[]);
    assert!(
        out.contains("skipped folder") && out.contains("does not exist"),
        "{out}"
    );
    assert_eq!(summary(&out).removed, 0);
    assert_eq!(sb.count("FROM tracks WHERE missing_since IS NULL"), 22);

    // The folder is there but empty (an unmounted mount point).
    std::fs::create_dir(&m).unwrap();
    let out = sb.scan(&[]);
    assert!(
        out.contains("skipped folder") && out.contains("empty"),
        "{out}"
    );
    assert_eq!(summary(&out).removed, 0);
    assert_eq!(sb.count("FROM tracks WHERE missing_since IS NULL"), 22);

    std::fs::remove_dir(&m).unwrap();
    std::fs::rename(&away, &m).unwrap();
    let out = sb.scan(&[]);
    assert_eq!(
        summary(&out),
        Summary {
            files: 22,
            added: 0,
            updated: 0,
            removed: 0,
            errors: 0
        }
    );
    assert_eq!(user_data(&sb).len(), 1);
}

#[test]
fn deleted_tracks_wait_out_the_grace_period_then_go_but_user_data_stays() {
    let sb = Sandbox::with_library();
    sb.scan(&["--missing-grace", "0"]);
    let id = sb.track_id("07 - Frost.mpc");
    plant_user_data(&sb, id);
    std::fs::remove_file(
        sb.music()
            .join("Aurora Fields/Northern Lights (2019)/07 - Frost.mpc"),
    )
    .unwrap();
    // Default grace (30 days): the track is only marked missing.
    let out = sb.scan(&[]);
    assert_eq!(summary(&out).removed, 1);
    assert_eq!(sb.count(&format!("FROM tracks WHERE id = {id}")), 1);
    assert_eq!(
        rows(
            &sb.db(),
            "track_count",
            "FROM albums WHERE name = 'Northern Lights'"
        )
        .unwrap()[0][0],
        6
    );
    // Grace over: purged, but the star and the playlist entry are the user's to delete.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    sb.scan(&["--missing-grace", "0"]);
    assert_eq!(sb.count(&format!("FROM tracks WHERE id = {id}")), 0);
    assert_eq!(user_data(&sb), vec![json!([id, 5, 42, id])]);
    // Ids are never reused: a new track cannot inherit the purged one's user data.
    std::fs::copy(
        fixtures().join("broken/good.mp3"),
        sb.music().join("new.mp3"),
    )
    .unwrap();
    sb.scan(&[]);
    assert!(sb.track_id("new.mp3") > id);
}

#[test]
fn a_modified_file_is_updated_in_place() {
    let sb = Sandbox::with_library();
    sb.scan(&[]);
    let path = sb.music().join("The Testers/Tag Soup/01 - Four.mp3");
    let id = sb.track_id("01 - Four.mp3");
    houseband::testkit::retitle(&path, "Four (Remastered)").unwrap();
    let out = sb.scan(&[]);
    assert_eq!(summary(&out).updated, 1, "{out}");
    assert_eq!(
        track(&sb, "01 - Four.mp3", "id, title"),
        json!([id, "Four (Remastered)"])
    );
    let hits = rows(
        &sb.db(),
        "rowid",
        "FROM tracks_fts WHERE tracks_fts MATCH 'remastered'",
    )
    .unwrap();
    assert_eq!(hits, vec![json!([id])], "search follows the edit");
}

fn playlist_rows(sb: &Sandbox) -> Vec<Value> {
    rows(
        &sb.db(),
        "p.id, p.name, p.public, (SELECT json_group_array(t.path) FROM
            (SELECT t.path FROM playlist_entries e JOIN tracks t ON t.id = e.track_id
             WHERE e.playlist_id = p.id ORDER BY e.position) t)",
        "FROM playlists p WHERE p.source_path IS NOT NULL ORDER BY p.name COLLATE NOCASE",
    )
    .unwrap()
}

fn short_paths(list: &Value) -> Vec<String> {
    let paths: Vec<String> = match list.as_str() {
        Some(text) => serde_json::from_str(text).unwrap(),
        None => serde_json::from_value(list.clone()).unwrap(),
    };
    paths
        .iter()
        .map(|p| p.rsplit('/').next().unwrap().to_string())
        .collect()
}

#[test]
fn playlist_files_become_playlists_kept_in_step_with_the_file() {
    let sb = Sandbox::with_library();
    let music = sb.music();
    let abs = |rel: &str| music.join(rel).to_str().unwrap().to_string();
    let road = music.join("Road Trip.m3u8");
    let waves_url = format!(
        "file://{}",
        abs("Various Artists/Summer Hits/03 - Waves.flac").replace(' ', "%20")
    );
    std::fs::write(
        &road,
        format!(
            "\u{feff}#EXTM3U\r\n#EXTINF:1,The Testers - Four\r\nThe Testers/Tag Soup/01 - Four.mp3\r\n\
             Aurora Fields\\Northern Lights (2019)\\02 - Ice Road.ogg\r\n{}\r\n{waves_url}\r\n\
             not here.mp3\r\nhttp://radio.invalid/stream\r\n./The Testers/Tag Soup/01 - Four.mp3\r\n",
            abs("Various Artists/Summer Hits/01 - Sunny.mp3")
        ),
    )
    .unwrap();
    // An old Latin-1 file with a name directive, relative to its own folder.
    let old = music.join("The Testers/old.m3u");
    std::fs::write(&old, b"#PLAYLIST:Caf\xe9\nTag Soup/03 - One.mp3\n").unwrap();
    // Junk named .m3u is an empty playlist, never a failed scan.
    std::fs::write(music.join("junk.m3u"), [0u8, 159, 146, 150, 255, 10, 0, 1]).unwrap();

    // With no admin yet there is nobody to own them: they wait.
    sb.scan(&[]);
    assert_eq!(playlist_rows(&sb).len(), 0);
    let added = sb
        .cmd(&["user", "add", "ann", "--admin", "--password", "pw pw pw"])
        .output()
        .unwrap();
    assert!(added.status.success());
    sb.scan(&[]);
    let got = playlist_rows(&sb);
    assert_eq!(got.len(), 3, "{got:?}");
    assert_eq!(got[0][1], "Café");
    assert_eq!(short_paths(&got[0][3]), ["03 - One.mp3"]);
    assert_eq!(got[1][1], "junk");
    assert_eq!(short_paths(&got[1][3]), Vec::<String>::new());
    assert_eq!((&got[2][1], &got[2][2]), (&json!("Road Trip"), &json!(1)));
    assert_eq!(
        short_paths(&got[2][3]),
        [
            "01 - Four.mp3",
            "02 - Ice Road.ogg",
            "01 - Sunny.mp3",
            "03 - Waves.flac",
            "01 - Four.mp3"
        ]
    );

    // A rescan changes nothing; an edited file changes its playlist in place.
    sb.scan(&[]);
    assert_eq!(playlist_rows(&sb), got);
    std::fs::write(&road, "The Testers/Tag Soup/02 - Three.mp3\n").unwrap();
    sb.scan(&[]);
    let now = playlist_rows(&sb);
    assert_eq!(now[2][0], got[2][0], "same playlist");
    assert_eq!(short_paths(&now[2][3]), ["02 - Three.mp3"]);

    // A deleted file takes its playlist with it; an unmounted folder takes nothing.
    std::fs::remove_file(&old).unwrap();
    sb.scan(&[]);
    assert_eq!(playlist_rows(&sb).len(), 2);
    let aside = sb.dir.path().join("aside");
    std::fs::rename(&music, &aside).unwrap();
    std::fs::create_dir(&music).unwrap();
    sb.scan_output(&[]);
    assert_eq!(
        playlist_rows(&sb).len(),
        2,
        "an emptied folder removes no playlist"
    );
}
