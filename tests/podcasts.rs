//! Podcasts end to end: feeds and episodes fetched over real HTTP from a podcast host on loopback
//! started by each test (`common::feeds`, a stand-in for the podcast hosts of the internet),
//! real feed files (tests/fixtures/podcasts) and real audio (tests/fixtures/library), kept in a
//! real SQLite file. The manager is driven directly for the hostile cases (with short timeouts,
//! so a hanging host costs a second), and the real server for the Subsonic side: subscribing,
//! downloading, streaming an episode with ranges, the scheduled refresh and the podcast role.

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::feeds::{Answer, FeedServer, MP3};
use common::*;
use houseband::app::db::Db;
use houseband::app::podcasts::{Config, Episode, Limits, Podcasts};
use serde_json::Value;

fn audio(name: &str) -> PathBuf {
    fixtures().join("library").join(name)
}

fn host() -> FeedServer {
    FeedServer::demo()
}

struct Manager {
    podcasts: Arc<Podcasts>,
    folder: PathBuf,
    _dir: tempfile::TempDir,
}

/// The podcast manager on a fresh database, with 1 MB episodes and short timeouts.
fn manager() -> Manager {
    manager_with(0)
}

/// [`manager`], downloading the newest `auto_download` episodes of each channel by itself.
fn manager_with(auto_download: u32) -> Manager {
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(&dir.path().join("data")).unwrap());
    let folder = dir.path().join("podcasts");
    let mut limits = Limits::new(1 << 20);
    // The stand-in podcast host runs on loopback.
    limits.allow_private = true;
    limits.stall_timeout = Duration::from_secs(1);
    limits.feed_timeout = Duration::from_secs(5);
    limits.episode_timeout = Duration::from_secs(10);
    let podcasts = Arc::new(Podcasts::new(
        db,
        Config {
            folder: folder.clone(),
            limits,
            auto_download,
        },
    ));
    Manager {
        podcasts,
        folder,
        _dir: dir,
    }
}

fn by_guid(episodes: &[Episode], guid: &str) -> Episode {
    episodes
        .iter()
        .find(|e| e.guid == guid)
        .unwrap_or_else(|| panic!("no episode {guid} in {episodes:?}"))
        .clone()
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn subscribe_refresh_download_and_delete() {
    let host = host();
    host.feed("/show.rss", "show.rss");
    let m = manager();
    let p = &m.podcasts;
    let id = p.subscribe(&host.url("/show.rss")).unwrap();
    let c = p.channel(id).unwrap().unwrap();
    assert_eq!(c.status, "completed", "{c:?}");
    assert_eq!(c.title.as_deref(), Some("Kitchen Table Talk"));
    assert_eq!(
        c.description.as_deref(),
        Some("Two people, one table, small tones.")
    );
    assert_eq!(c.image_url, Some(host.url("/art/cover.jpg")));
    let art = p.art_of(id).expect("the channel's picture is kept");
    assert_eq!(
        std::fs::read(art).unwrap(),
        std::fs::read(audio("Aurora Fields/Northern Lights (2019)/cover.jpg")).unwrap()
    );
    // Subscribing again answers the same channel.
    assert_eq!(p.subscribe(&host.url("/show.rss")).unwrap(), id);

    let episodes = p.episodes(id).unwrap();
    assert_eq!(episodes.len(), 2, "the item without audio is no episode");
    let two = by_guid(&episodes, "ktt-2");
    let one = by_guid(&episodes, &host.url("/audio/four.mp3"));
    assert_eq!(two.title, "Episode 2: Three");
    assert_eq!(two.published_at, Some(1_796_112_000));
    assert_eq!(two.duration_s, Some(1));
    assert_eq!(two.feed_size, Some(5672));
    assert_eq!(two.status, "new");
    assert_eq!(episodes[0].id, two.id, "newest first");

    // Download: the exact bytes, in a file named from the id.
    p.download(two.id).unwrap();
    let two = p.episode(two.id).unwrap().unwrap();
    assert_eq!(two.status, "completed", "{two:?}");
    let name = format!("episode-{}.mp3", two.id);
    assert_eq!(two.file_name.as_deref(), Some(name.as_str()));
    let served = std::fs::read(audio(&format!("{MP3}/02 - Three.mp3"))).unwrap();
    assert_eq!(std::fs::read(m.folder.join(&name)).unwrap(), served);
    assert_eq!(two.size, Some(served.len() as i64));
    assert!(two.bit_rate.is_some());

    // The feed changes: one episode more, a title changed, one gone from the feed.
    host.feed("/show.rss", "show-more.rss");
    p.refresh(id).unwrap();
    let c = p.channel(id).unwrap().unwrap();
    assert_eq!(c.title.as_deref(), Some("Kitchen Table Talk (new season)"));
    let episodes = p.episodes(id).unwrap();
    assert_eq!(episodes.len(), 3, "new added, old kept: {episodes:?}");
    let three = by_guid(&episodes, "ktt-3");
    assert_eq!(three.status, "new");
    let two_again = by_guid(&episodes, "ktt-2");
    assert_eq!(two_again.id, two.id);
    assert_eq!(
        two_again.status, "completed",
        "a download survives a refresh"
    );
    assert_eq!(two_again.title, "Episode 2: Three (remastered)");
    let one_again = by_guid(&episodes, &host.url("/audio/four.mp3"));
    assert_eq!(
        one_again.id, one.id,
        "an episode gone from the feed is kept"
    );

    // Deleting an episode removes its file; a refresh does not bring it back.
    p.delete_episode(two.id).unwrap();
    assert!(!m.folder.join(&name).exists());
    p.refresh(id).unwrap();
    assert_eq!(p.episode(two.id).unwrap().unwrap().status, "deleted");
    assert_eq!(p.episodes(id).unwrap().len(), 3);
    // ...and it can be downloaded again.
    p.download(two.id).unwrap();
    assert_eq!(p.episode(two.id).unwrap().unwrap().status, "completed");

    // Unsubscribing removes the channel, its episodes and every file.
    p.download(three.id).unwrap();
    assert_eq!(files_in(&m.folder).len(), 3, "{:?}", files_in(&m.folder));
    p.delete_channel(id).unwrap();
    assert!(p.channel(id).unwrap().is_none());
    assert!(p.episode(three.id).unwrap().is_none());
    assert_eq!(files_in(&m.folder), Vec::<String>::new());
}

#[test]
fn atom_feeds_are_read_too() {
    let host = host();
    host.feed("/garden.atom", "show.atom");
    let m = manager();
    let id = m.podcasts.subscribe(&host.url("/garden.atom")).unwrap();
    let c = m.podcasts.channel(id).unwrap().unwrap();
    assert_eq!(c.status, "completed", "{c:?}");
    assert_eq!(c.title.as_deref(), Some("Garden Radio"));
    assert_eq!(
        c.description.as_deref(),
        Some("Tones recorded among the vegetables.")
    );
    let episodes = m.podcasts.episodes(id).unwrap();
    assert_eq!(episodes.len(), 2);
    let polar = by_guid(&episodes, "urn:uuid:5b1d7a7e-0000-4000-8000-000000000002");
    assert_eq!(polar.url, host.url("/audio/polar.flac"));
    assert_eq!(polar.feed_size, Some(13412));
    m.podcasts.download(polar.id).unwrap();
    let polar = m.podcasts.episode(polar.id).unwrap().unwrap();
    assert_eq!(polar.status, "completed", "{polar:?}");
    assert_eq!(polar.suffix.as_deref(), Some("flac"));
}

#[test]
fn a_broken_feed_marks_the_channel_and_loses_nothing() {
    let host = host();
    host.feed("/show.rss", "show.rss");
    let m = manager();
    let p = &m.podcasts;
    let id = p.subscribe(&host.url("/show.rss")).unwrap();
    let before = p.episodes(id).unwrap();
    for (answer, words) in [
        (
            Answer::Body(
                std::fs::read(common::feeds::podcast_fixtures().join("bad.xml")).unwrap(),
                "application/rss+xml".into(),
            ),
            "not RSS or Atom",
        ),
        (
            Answer::Body(
                b"<html><body>Not a feed</body></html>".to_vec(),
                "text/html".into(),
            ),
            "not RSS or Atom",
        ),
        (Answer::Status(500), "HTTP 500"),
        (Answer::Status(404), "HTTP 404"),
    ] {
        host.set("/show.rss", answer);
        let err = p.refresh(id).unwrap_err().to_string();
        assert!(err.contains(words), "{err}");
        let c = p.channel(id).unwrap().unwrap();
        assert_eq!(c.status, "error");
        assert!(c.error_message.unwrap().contains(words));
        assert_eq!(c.title.as_deref(), Some("Kitchen Table Talk"));
        let after = p.episodes(id).unwrap();
        assert_eq!(after.len(), before.len());
    }
    // Fixed again: the error clears.
    host.feed("/show.rss", "show.rss");
    p.refresh(id).unwrap();
    let c = p.channel(id).unwrap().unwrap();
    assert_eq!((c.status.as_str(), c.error_message), ("completed", None));
    // A feed that is broken from the start still gives a channel, marked as an error.
    host.feed("/bad.xml", "bad.xml");
    let bad = p.subscribe(&host.url("/bad.xml")).unwrap();
    assert_eq!(p.channel(bad).unwrap().unwrap().status, "error");
}

#[test]
fn huge_and_endless_feeds_stop_at_the_cap() {
    let host = host();
    let m = manager();
    let p = &m.podcasts;
    // 11 MB of a valid-looking feed: refused at the 10 MB cap.
    let mut huge =
        b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel><title>Huge</title>".to_vec();
    let item = b"<item><title>x</title><enclosure url=\"http://127.0.0.1/x.mp3\" type=\"audio/mpeg\"/></item>";
    while huge.len() < 11 << 20 {
        huge.extend_from_slice(item);
    }
    huge.extend_from_slice(b"</channel></rss>");
    host.set(
        "/huge.rss",
        Answer::Body(huge, "application/rss+xml".into()),
    );
    let id = p.subscribe(&host.url("/huge.rss")).unwrap();
    let c = p.channel(id).unwrap().unwrap();
    assert_eq!(c.status, "error");
    let msg = c.error_message.unwrap();
    assert!(msg.contains("the limit is 10.0 MB"), "{msg}");
    assert!(p.episodes(id).unwrap().is_empty());
    // A feed that never ends stops there too.
    host.set(
        "/endless.rss",
        Answer::Endless("application/rss+xml".into(), b"<item>".repeat(1000)),
    );
    let id = p.subscribe(&host.url("/endless.rss")).unwrap();
    let msg = p.channel(id).unwrap().unwrap().error_message.unwrap();
    assert!(msg.contains("limit of 10.0 MB"), "{msg}");
}

#[test]
fn redirects_are_capped_and_stay_on_the_web() {
    let host = host();
    host.feed("/show.rss", "show.rss");
    let m = manager();
    let p = &m.podcasts;
    // One hop is fine: the channel keeps the address it was given.
    host.set("/moved.rss", Answer::Redirect("/show.rss".into()));
    let id = p.subscribe(&host.url("/moved.rss")).unwrap();
    assert_eq!(p.channel(id).unwrap().unwrap().status, "completed");
    assert_eq!(p.episodes(id).unwrap().len(), 2);
    // A loop stops after 5 redirects.
    host.set("/loop-a", Answer::Redirect(host.url("/loop-b")));
    host.set("/loop-b", Answer::Redirect("/loop-a".into()));
    let id = p.subscribe(&host.url("/loop-a")).unwrap();
    let msg = p.channel(id).unwrap().unwrap().error_message.unwrap();
    assert!(msg.contains("more than 5 times"), "{msg}");
    assert!(host.hits("/loop-a") + host.hits("/loop-b") <= 6);
    // Odd places are never fetched.
    for (path, to, scheme) in [
        ("/to-passwd", "file:///etc/passwd", "file"),
        ("/to-ftp", "ftp://127.0.0.1/feed.xml", "ftp"),
        ("/to-js", "javascript:alert(1)", "javascript"),
    ] {
        host.set(path, Answer::Redirect(to.into()));
        let id = p.subscribe(&host.url(path)).unwrap();
        let c = p.channel(id).unwrap().unwrap();
        assert_eq!(c.status, "error");
        let msg = c.error_message.unwrap();
        assert!(msg.contains(&format!("{scheme}: address")), "{msg}");
        assert!(msg.contains("only http:// and https://"), "{msg}");
    }
    // Nor subscribed to directly.
    for bad in ["file:///etc/passwd", "ftp://127.0.0.1/x", "not a url"] {
        assert!(p.subscribe(bad).is_err(), "{bad}");
    }
    assert_eq!(p.channels().unwrap().len(), 5);
}

#[test]
fn hostile_episodes_fail_cleanly_and_leave_no_file() {
    let host = host();
    host.feed("/hostile.rss", "hostile.rss");
    host.set(
        "/hostile/endless.mp3",
        Answer::Endless("audio/mpeg".into(), Vec::new()),
    );
    host.set(
        "/hostile/huge-claim.mp3",
        Answer::Lying {
            claimed: 5 << 30,
            body: vec![0; 1000],
            content_type: "audio/mpeg".into(),
        },
    );
    host.set(
        "/hostile/ends-early.mp3",
        Answer::Lying {
            claimed: 4000,
            body: std::fs::read(audio(&format!("{MP3}/01 - Four.mp3"))).unwrap()[..1000].to_vec(),
            content_type: "audio/mpeg".into(),
        },
    );
    host.set(
        "/hostile/page.mp3",
        Answer::Body(
            b"<html>Buy now</html>".to_vec(),
            "text/html; charset=utf-8".into(),
        ),
    );
    host.set(
        "/hostile/noise.mp3",
        Answer::Body(vec![7u8; 50_000], "audio/mpeg".into()),
    );
    host.set("/hostile/hang.mp3", Answer::Hang);
    host.set(
        "/hostile/to-file.mp3",
        Answer::Redirect("file:///etc/passwd".into()),
    );
    let m = manager();
    let p = &m.podcasts;
    let id = p.subscribe(&host.url("/hostile.rss")).unwrap();
    let c = p.channel(id).unwrap().unwrap();
    assert_eq!(c.status, "completed", "{c:?}");
    assert_eq!(
        c.title.as_deref(),
        Some("../../etc/passwd <script>alert(1)</script>"),
        "kept as text: the web app and clients escape it"
    );
    let episodes = p.episodes(id).unwrap();
    assert!(
        episodes.iter().all(|e| e.guid != "local-file"),
        "a file:// enclosure is no episode"
    );
    assert_eq!(episodes.len(), 9);

    // Titles and URLs never choose where a file goes.
    for guid in ["../../etc/shadow", "odd-chars"] {
        let e = by_guid(&episodes, guid);
        p.download(e.id).unwrap();
        let e = p.episode(e.id).unwrap().unwrap();
        assert_eq!(e.status, "completed", "{e:?}");
        assert_eq!(e.file_name, Some(format!("episode-{}.mp3", e.id)));
    }
    let odd = by_guid(&episodes, "odd-chars");
    assert!(odd.title.contains("🎧") && odd.title.contains("\"quotes\" & 'apostrophes'"));

    let started = Instant::now();
    for (guid, words) in [
        ("endless", "bigger than the limit of 1.0 MB"),
        ("huge-claim", "is 5120.0 MB but the limit is 1.0 MB"),
        (
            "ends-early",
            "ended after 1000 bytes of the 3.9 KB it announced",
        ),
        ("web-page", "sent text/html, not audio"),
        ("noise", "not audio that can be played"),
        ("hangs", "stopped"),
        ("to-file", "file: address"),
    ] {
        let e = by_guid(&episodes, guid);
        let err = p.download(e.id).unwrap_err().to_string();
        assert!(err.contains(words), "{guid}: {err}");
        let e = p.episode(e.id).unwrap().unwrap();
        assert_eq!(e.status, "error", "{guid}");
        assert!(e.error_message.unwrap().contains(words), "{guid}");
        assert_eq!(e.file_name, None);
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "a hanging host costs the stall timeout, not forever"
    );
    // Only the two good downloads are left: no partial file anywhere.
    let names = files_in(&m.folder);
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names
        .iter()
        .all(|n| n.starts_with("episode-") && n.ends_with(".mp3")));
}

// ---- The real server: Subsonic methods, streaming, the scheduled refresh, permissions ----

const PASSWORD: &str = "s3cret pw";

struct Api {
    server: Server,
    sb: Sandbox,
}

impl Api {
    fn start(extra: &[&str]) -> Api {
        let sb = Sandbox::new();
        std::fs::create_dir_all(sb.music()).unwrap();
        for (name, admin) in [("ann", true), ("bob", false), ("cy", false)] {
            let mut args = vec!["user", "add", name, "--password", PASSWORD];
            if admin {
                args.push("--admin");
            }
            assert!(sb.cmd(&args).output().unwrap().status.success());
        }
        let mut args = QUIET.to_vec();
        // The stand-in podcast host runs on loopback.
        args.extend_from_slice(&["--podcast-allow-private-addresses", "true"]);
        args.extend_from_slice(extra);
        let server = Server::start(&sb, &args);
        Api { server, sb }
    }

    fn url(&self, user: &str, method: &str, extra: &str) -> String {
        format!(
            "http://127.0.0.1:{}/rest/{method}?u={user}&p={}&v=1.16.1&c=test&f=json&{extra}",
            self.server.port,
            form_urlencoded(PASSWORD)
        )
    }

    fn call_as(&self, user: &str, method: &str, extra: &str) -> Value {
        let body = ureq::get(&self.url(user, method, extra))
            .call()
            .unwrap()
            .into_string()
            .unwrap();
        serde_json::from_str::<Value>(&body).unwrap()["subsonic-response"].clone()
    }

    fn ok(&self, method: &str, extra: &str) -> Value {
        let v = self.call_as("ann", method, extra);
        assert_eq!(v["status"], "ok", "{method}: {v}");
        v
    }

    fn episode(&self, id: &str) -> Value {
        self.ok("getPodcastEpisode", &format!("id={id}"))["podcastEpisode"].clone()
    }

    /// Waits for an episode's download to end (10 s at most); its final state.
    fn downloaded(&self, id: &str) -> Value {
        let start = Instant::now();
        loop {
            let e = self.episode(id);
            if e["status"] != "downloading" {
                return e;
            }
            assert!(start.elapsed() < Duration::from_secs(10), "{e}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn form_urlencoded(text: &str) -> String {
    ::form_urlencoded::byte_serialize(text.as_bytes()).collect()
}

fn channel_episodes(api: &Api) -> Vec<Value> {
    api.ok("getPodcasts", "")["podcasts"]["channel"][0]["episode"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// The server (with this refresh interval) subscribed to the demo show on a fresh host.
fn subscribed(interval: &str) -> (FeedServer, Api) {
    let host = host();
    host.feed("/show.rss", "show.rss");
    let api = Api::start(&["--podcast-refresh-interval", interval]);
    let feed = host.url("/show.rss");
    api.ok(
        "createPodcastChannel",
        &format!("url={}", form_urlencoded(&feed)),
    );
    (host, api)
}

#[test]
fn episodes_download_and_stream_like_songs() {
    let (host, api) = subscribed("0");
    let podcasts = api.ok("getPodcasts", "");
    let channel = &podcasts["podcasts"]["channel"][0];
    assert_eq!(channel["title"], "Kitchen Table Talk");
    assert_eq!(channel["status"], "completed");
    let cid = channel["id"].as_str().unwrap().to_string();
    assert!(cid.starts_with("pc-"));
    let episodes = channel["episode"].as_array().unwrap();
    assert_eq!(episodes.len(), 2);
    let e = &episodes[0];
    assert_eq!(e["title"], "Episode 2: Three");
    assert_eq!(e["status"], "new");
    assert!(e.get("streamId").is_none(), "not downloaded yet: {e}");
    let id = e["id"].as_str().unwrap().to_string();

    // Not downloaded: nothing to stream.
    let v = api.call_as("ann", "stream", &format!("id={id}"));
    assert_eq!(v["error"]["code"], 70, "{v}");

    // Asked twice (an impatient tap): fetched once.
    api.ok("downloadPodcastEpisode", &format!("id={id}"));
    api.ok("downloadPodcastEpisode", &format!("id={id}"));
    let e = api.downloaded(&id);
    assert_eq!(e["status"], "completed", "{e}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(host.hits("/audio/three.mp3"), 1);
    let stream_id = e["streamId"].as_str().unwrap().to_string();
    assert_eq!(e["suffix"], "mp3");
    assert_eq!(e["contentType"], "audio/mpeg");
    assert_eq!(e["channelId"], cid.as_str());
    assert_eq!(e["coverArt"], cid.as_str());

    let served = std::fs::read(audio(&format!("{MP3}/02 - Three.mp3"))).unwrap();
    let url = api.url("ann", "stream", &format!("id={stream_id}"));
    let resp = ureq::get(&url).call().unwrap();
    assert_eq!(resp.header("content-type"), Some("audio/mpeg"));
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut got).unwrap();
    assert_eq!(got, served, "the episode's bytes as the host served them");
    // A range, as players seek.
    let resp = ureq::get(&url)
        .set("Range", "bytes=100-199")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 206);
    let mut part = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut part).unwrap();
    assert_eq!(part, served[100..200]);
    // Transcoded like a song.
    let wav = ureq::get(&api.url("ann", "stream", &format!("id={stream_id}&format=wav")))
        .call()
        .unwrap();
    assert_eq!(wav.header("content-type"), Some("audio/wav"));
    let mut wav_bytes = Vec::new();
    std::io::Read::read_to_end(&mut wav.into_reader(), &mut wav_bytes).unwrap();
    assert_eq!(&wav_bytes[..4], b"RIFF");
    // download gives the file as an attachment.
    let resp = ureq::get(&api.url("ann", "download", &format!("id={stream_id}")))
        .call()
        .unwrap();
    assert!(resp
        .header("content-disposition")
        .is_some_and(|d| d.contains("attachment")));
    // The channel's picture.
    let art = ureq::get(&api.url("ann", "getCoverArt", &format!("id={cid}")))
        .call()
        .unwrap();
    assert_eq!(art.header("content-type"), Some("image/jpeg"));

    // The native API plays it too, and the household queue takes it like a song.
    let auth = format!(
        "Basic {}",
        base64::Engine::encode(
            &base64::engine::general_purpose::STANDARD,
            format!("ann:{PASSWORD}")
        )
    );
    let native = |path: &str| format!("http://127.0.0.1:{}{path}", api.server.port);
    let resp = ureq::get(&native(&format!("/api/stream/{stream_id}")))
        .set("Authorization", &auth)
        .call()
        .unwrap();
    let mut got = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut got).unwrap();
    assert_eq!(got, served);
    // The HTTP status of an add, and the state it answers.
    let add = |song: &str| -> (u16, Value) {
        let answer = ureq::post(&native("/api/queue"))
            .set("Authorization", &auth)
            .set("Content-Type", "application/json")
            .send_string(&serde_json::json!({"op": "add", "songs": [song]}).to_string());
        match answer {
            Ok(r) => (
                r.status(),
                serde_json::from_str(&r.into_string().unwrap()).unwrap(),
            ),
            Err(ureq::Error::Status(code, _)) => (code, Value::Null),
            Err(e) => panic!("{e}"),
        }
    };
    let (status, state) = add(&stream_id);
    assert_eq!(status, 200);
    let song = &state["entries"][0]["song"];
    assert_eq!(song["id"], stream_id.as_str(), "{state}");
    assert_eq!(song["title"], "Episode 2: Three");
    assert_eq!(song["artist"], "Kitchen Table Talk");
    assert_eq!(song["coverArt"], cid.as_str());
    assert_eq!(song["duration"], 1);
    assert_eq!(add(episodes[1]["id"].as_str().unwrap()).0, 409);
    // Subsonic's jukebox lists it too, one element per queue entry, so its indexes line up.
    let jukebox = api.ok("jukeboxControl", "action=get")["jukeboxPlaylist"].clone();
    let listed = jukebox["entry"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{jukebox}");
    assert_eq!(listed[0]["id"], stream_id.as_str());
    assert_eq!(listed[0]["type"], "podcast");
    assert_eq!(listed[0]["title"], "Episode 2: Three");
    assert_eq!(listed[0]["isDir"], false);

    // Speakers get the channel's picture by a signed link, as for songs.
    let users = houseband::app::users::Users::new(
        Arc::new(Db::open(&api.sb.data()).unwrap()),
        &api.sb.data(),
    )
    .unwrap();
    let expires = houseband::app::db::now() + 600;
    let link = users.stream_link(
        houseband::app::users::LINK_ART,
        &stream_id,
        "ann",
        "",
        expires,
    );
    let art = ureq::get(&native(&format!("/api/art/{stream_id}?size=100&{link}")))
        .call()
        .unwrap();
    assert_eq!(art.header("content-type"), Some("image/jpeg"));
    let forged = native(&format!(
        "/api/art/{stream_id}?size=100&u=ann&exp={expires}&sig=00"
    ));
    assert!(matches!(
        ureq::get(&forged).call(),
        Err(ureq::Error::Status(403, _))
    ));

    // The OpenSubsonic transcoding extension takes it as mediaType=podcast.
    let client = r#"{"name":"Car","platform":"Test",
        "transcodingProfiles":[{"container":"wav","audioCodec":"pcm","protocol":"http"}]}"#;
    let decided: Value = serde_json::from_str(
        &ureq::post(&api.url(
            "ann",
            "getTranscodeDecision",
            &format!("mediaType=podcast&mediaId={stream_id}"),
        ))
        .set("Content-Type", "application/json")
        .send_string(client)
        .unwrap()
        .into_string()
        .unwrap(),
    )
    .unwrap();
    let d = &decided["subsonic-response"]["transcodeDecision"];
    assert_eq!(d["canDirectPlay"], false, "{decided}");
    // The source's details come from the downloaded file's header.
    let source = &d["sourceStream"];
    assert_eq!(source["codec"], "mp3", "{decided}");
    assert!(source["audioSamplerate"].as_i64().unwrap() > 0, "{decided}");
    assert!(source["audioChannels"].as_i64().unwrap() > 0, "{decided}");
    let params = d["transcodeParams"].as_str().unwrap();
    let wav = ureq::get(&api.url(
        "ann",
        "getTranscodeStream",
        &format!("mediaType=podcast&mediaId={stream_id}&transcodeParams={params}"),
    ))
    .call()
    .unwrap();
    let mut wav_bytes = Vec::new();
    std::io::Read::read_to_end(&mut wav.into_reader(), &mut wav_bytes).unwrap();
    assert_eq!(&wav_bytes[..4], b"RIFF");
    let not_downloaded = episodes[1]["id"].as_str().unwrap();
    let v = api.call_as(
        "ann",
        "getTranscodeDecision",
        &format!("mediaType=podcast&mediaId={not_downloaded}"),
    );
    assert_eq!(v["error"]["code"], 70, "{v}");

    // Newest episodes across channels.
    let newest = api.ok("getNewestPodcasts", "count=1");
    assert_eq!(newest["newestPodcasts"]["episode"][0]["id"], id.as_str());

    // Deleting the episode removes the file; deleting the channel removes everything.
    let folder = api.sb.data().join("podcasts");
    let file = folder.join(format!("episode-{}.mp3", id.trim_start_matches("pe-")));
    assert!(file.is_file());
    api.ok("deletePodcastEpisode", &format!("id={id}"));
    assert!(!file.exists());
    assert_eq!(api.episode(&id)["status"], "deleted");
    let v = api.call_as("ann", "stream", &format!("id={stream_id}"));
    assert_eq!(v["error"]["code"], 70);
    api.ok("downloadPodcastEpisode", &format!("id={id}"));
    assert_eq!(api.downloaded(&id)["status"], "completed");
    api.ok("deletePodcastChannel", &format!("id={cid}"));
    assert!(api.ok("getPodcasts", "")["podcasts"]
        .get("channel")
        .is_none_or(|c| c.as_array().unwrap().is_empty()));
    assert_eq!(files_in(&folder), Vec::<String>::new());
    let v = api.call_as("ann", "getPodcastEpisode", &format!("id={id}"));
    assert_eq!(v["error"]["code"], 70);
}

#[test]
fn the_scheduled_refresh_picks_up_a_changed_feed() {
    let (host, api) = subscribed("1s");
    assert_eq!(channel_episodes(&api).len(), 2);
    host.feed("/show.rss", "show-more.rss");
    let start = Instant::now();
    while channel_episodes(&api).len() != 3 {
        assert!(
            start.elapsed() < Duration::from_secs(15),
            "the refresh did not come"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let episodes = channel_episodes(&api);
    assert_eq!(episodes[0]["title"], "Episode 3: One");
}

#[test]
fn changes_need_the_podcast_role() {
    let host = host();
    host.feed("/show.rss", "show.rss");
    let api = Api::start(&["--podcast-refresh-interval", "0"]);
    // cy loses the podcast role; bob keeps the default roles, which include it.
    api.ok("updateUser", "username=cy&podcastRole=false");
    let feed = form_urlencoded(&host.url("/show.rss"));
    let v = api.call_as("cy", "createPodcastChannel", &format!("url={feed}"));
    assert_eq!(v["error"]["code"], 50, "{v}");
    let v = api.call_as("bob", "createPodcastChannel", &format!("url={feed}"));
    assert_eq!(v["status"], "ok", "{v}");
    let episodes = channel_episodes(&api);
    let id = episodes[0]["id"].as_str().unwrap();
    let cid = api.ok("getPodcasts", "")["podcasts"]["channel"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    for (method, extra) in [
        ("refreshPodcasts", String::new()),
        ("downloadPodcastEpisode", format!("id={id}")),
        ("deletePodcastEpisode", format!("id={id}")),
        ("deletePodcastChannel", format!("id={cid}")),
        ("createPodcastChannel", format!("url={feed}")),
    ] {
        let v = api.call_as("cy", method, &extra);
        assert_eq!(v["error"]["code"], 50, "{method}: {v}");
    }
    // Reading is for everyone.
    let v = api.call_as("cy", "getPodcasts", "");
    assert_eq!(v["status"], "ok");
    assert_eq!(
        v["podcasts"]["channel"][0]["episode"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let v = api.call_as("cy", "getPodcastEpisode", &format!("id={id}"));
    assert_eq!(v["status"], "ok");
    // Bad ids and addresses.
    let v = api.call_as(
        "ann",
        "createPodcastChannel",
        "url=file%3A%2F%2F%2Fetc%2Fpasswd",
    );
    assert_eq!(v["error"]["code"], 10, "{v}");
    assert!(v["error"]["message"]
        .as_str()
        .unwrap()
        .contains("only http"));
    for (method, extra) in [
        ("getPodcastEpisode", "id=pe-999"),
        ("getPodcastEpisode", "id=tr-1"),
        ("getPodcasts", "id=pc-999"),
        ("deletePodcastChannel", "id=pc-999"),
        ("downloadPodcastEpisode", "id=../../etc/passwd"),
    ] {
        let v = api.call_as("ann", method, extra);
        assert_eq!(v["error"]["code"], 70, "{method} {extra}: {v}");
    }
}

#[test]
fn a_feed_host_that_never_answers_times_out() {
    let host = host();
    host.set("/hang.rss", Answer::Hang);
    let m = manager();
    let started = Instant::now();
    let id = m.podcasts.subscribe(&host.url("/hang.rss")).unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    let c = m.podcasts.channel(id).unwrap().unwrap();
    assert_eq!(c.status, "error");
    let msg = c.error_message.unwrap();
    assert!(msg.contains("stopped answering"), "{msg}");
}

#[test]
fn the_newest_episodes_download_by_themselves_when_asked() {
    let host = host();
    host.feed("/show.rss", "show.rss");
    let m = manager_with(1);
    let id = m.podcasts.subscribe(&host.url("/show.rss")).unwrap();
    let episodes = m.podcasts.episodes(id).unwrap();
    assert_eq!(by_guid(&episodes, "ktt-2").status, "completed");
    assert_eq!(
        by_guid(&episodes, &host.url("/audio/four.mp3")).status,
        "new"
    );
    // The next refresh brings a newer one, which downloads too.
    host.feed("/show.rss", "show-more.rss");
    m.podcasts.refresh(id).unwrap();
    let episodes = m.podcasts.episodes(id).unwrap();
    assert_eq!(by_guid(&episodes, "ktt-3").status, "completed");
    assert_eq!(files_in(&m.folder).len(), 3, "two episodes and the picture");
}
