//! The web app (issue 9): served by the binary with its security headers, the first-run and
//! login endpoints, the session cookie on the Subsonic API, and the app itself in a real browser
//! (Debian's Chromium driven by playwright-core, `tests/web/ui.mjs`) against a real server on
//! loopback. Screenshots go to `target/web-screenshots/` (kept by CI).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::standin::StandIn;
use common::{Sandbox, Server, QUIET};

fn chromium() -> PathBuf {
    let path =
        PathBuf::from(std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into()));
    assert!(
        path.exists(),
        "the browser tests need Debian's Chromium: apt-get install chromium (.ci/run does)"
    );
    path
}

fn screenshots() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshots")
}

/// Runs one scenario of `tests/web/ui.mjs` against the server; panics with its output if a
/// check failed.
fn in_the_browser(scenario: &str, server: &Server) {
    in_the_browser_with(scenario, server, &[]);
}

/// As [`in_the_browser`], with more for the scenario in its environment.
fn in_the_browser_with(scenario: &str, server: &Server, env: &[(&str, &str)]) {
    let driver = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web");
    assert!(
        driver.join("node_modules/playwright-core").exists(),
        "the browser tests need playwright-core: npm ci --prefix tests/web (.ci/run does)"
    );
    let out = Command::new("node")
        .arg(driver.join("ui.mjs"))
        .arg(scenario)
        .arg(format!("http://127.0.0.1:{}/", server.port))
        .arg(screenshots())
        .env("CHROMIUM", chromium())
        .envs(env.iter().copied())
        .output()
        .expect("node runs");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("{said}");
    assert!(
        out.status.success(),
        "the browser scenario {scenario} failed:\n{said}"
    );
}

fn add_ann(sb: &Sandbox) {
    let made = sb
        .cmd(&["user", "add", "ann", "--password", "pw-for-ann"])
        .output()
        .unwrap();
    assert!(made.status.success());
}

fn start(sb: &Sandbox) -> Server {
    let server = Server::start(sb, &["--watch", "off", "--scan-interval", "0"]);
    server.wait_for(Duration::from_secs(30), |h| {
        h["scanning"] == false && h["tracks"].as_i64() > Some(0)
    });
    server
}

trait Json {
    fn json(self) -> serde_json::Value;
}

impl Json for ureq::Response {
    fn json(self) -> serde_json::Value {
        serde_json::from_reader(self.into_reader()).unwrap()
    }
}

fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> ureq::Response {
    let mut request = ureq::get(&format!("http://127.0.0.1:{}{path}", server.port));
    for (name, value) in headers {
        request = request.set(name, value);
    }
    match request.call() {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    }
}

#[test]
fn the_first_run_creates_the_admin_in_the_browser() {
    let sb = Sandbox::with_library();
    let server = start(&sb);
    in_the_browser("first-run", &server);
    // Once there is a user, nobody can make another admin this way.
    let again = ureq::post(&format!("http://127.0.0.1:{}/api/setup", server.port))
        .set("Content-Type", "application/json")
        .send_string(r#"{"username":"mallory","password":"a long password"}"#);
    match again {
        Err(ureq::Error::Status(409, _)) => {}
        other => panic!("a second setup must be refused: {other:?}"),
    }
    assert_eq!(sb.count("FROM users"), 1);
}

#[test]
fn browsing_playing_and_searching_in_the_browser() {
    let sb = Sandbox::with_library();
    // A title that is HTML, as a hostile or careless tagger writes it.
    houseband::testkit::retitle(
        &sb.music().join("The Testers/Tag Soup/10 - Thunder.mp3"),
        "<img src=x onerror=alert(1)>",
    )
    .unwrap();
    add_ann(&sb);
    let server = start(&sb);
    in_the_browser("browse", &server);
    for shot in [
        "albums-desktop",
        "albums-phone",
        "album-desktop",
        "search-desktop",
    ] {
        assert!(screenshots().join(format!("{shot}.png")).exists(), "{shot}");
    }
}

#[test]
fn two_browsers_share_the_household_queue_live() {
    let sb = Sandbox::with_library();
    add_ann(&sb);
    let made = sb
        .cmd(&["user", "add", "bob", "--password", "pw-for-bob"])
        .output()
        .unwrap();
    assert!(made.status.success());
    // Long enough to hand off mid-song (the fixtures' songs last a second).
    houseband::testkit::lan::long_tone(&sb.music().join("Long Tone.wav"), 20);
    let server = start(&sb);
    in_the_browser("queue", &server);
    for shot in ["queue-desktop", "speaker-picker-desktop"] {
        assert!(screenshots().join(format!("{shot}.png")).exists(), "{shot}");
    }
}

#[test]
fn artists_genres_years_stars_playlists_and_shares_in_the_browser() {
    let sb = Sandbox::with_library();
    add_ann(&sb);
    let server = start(&sb);
    in_the_browser("library", &server);
    // What the browser did is in the database: the stars stayed, the playlist is gone.
    assert_eq!(sb.count("FROM playlists"), 0);
    assert!(sb.count("FROM annotations WHERE starred_at IS NOT NULL") >= 2);
}

#[test]
fn podcasts_in_the_browser() {
    let host = common::feeds::FeedServer::demo();
    host.feed("/show.rss", "show.rss");
    host.feed("/hostile.rss", "hostile.rss");
    let sb = Sandbox::with_library();
    add_ann(&sb);
    // The stand-in podcast host runs on loopback.
    let mut flags = QUIET.to_vec();
    flags.extend_from_slice(&["--podcast-allow-private-addresses", "true"]);
    let server = Server::start(&sb, &flags);
    server.wait_for(Duration::from_secs(30), |h| {
        h["scanning"] == false && h["tracks"].as_i64() > Some(0)
    });
    let (feed, hostile) = (host.url("/show.rss"), host.url("/hostile.rss"));
    in_the_browser_with(
        "podcasts",
        &server,
        &[("FEED", feed.as_str()), ("HOSTILE", hostile.as_str())],
    );
    assert!(screenshots().join("podcast-desktop.png").exists());
}

#[test]
fn the_admin_makes_a_user_who_sees_only_their_folders() {
    // Two music folders: the classical one moved out of the main one.
    let (sb, classical) = Sandbox::with_classical_apart();
    // A broken file, for the list of files the scan could not read.
    std::fs::copy(
        common::fixtures().join("broken/truncated.flac"),
        sb.music().join("truncated.flac"),
    )
    .unwrap();
    let made = sb
        .cmd(&[
            "user",
            "add",
            "admin",
            "--password",
            "pw-for-admin",
            "--admin",
        ])
        .output()
        .unwrap();
    assert!(made.status.success());
    let server = start(&sb);
    // The admin adds the classical folder in the app.
    in_the_browser_with(
        "admin",
        &server,
        &[("CLASSICAL", classical.to_str().unwrap())],
    );
    // cy is in the database with the one folder.
    let rows = houseband::testkit::rows(&sb.db(), "name", "FROM users WHERE name = 'cy'").unwrap();
    assert_eq!(rows.len(), 1);
    for shot in [
        "admin-library-desktop",
        "admin-users-desktop",
        "settings-phone",
    ] {
        assert!(screenshots().join(format!("{shot}.png")).exists(), "{shot}");
    }
}

#[test]
fn the_app_is_served_with_a_strict_content_security_policy() {
    let sb = Sandbox::with_library();
    let server = start(&sb);
    let page = get(&server, "/", &[]);
    assert_eq!(page.status(), 200);
    assert!(page.content_type().starts_with("text/html"));
    let csp = page.header("content-security-policy").unwrap().to_string();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self' 'sha256-"),
        "{csp}"
    );
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    let etag = page.header("etag").unwrap().to_string();
    let body = page.into_string().unwrap();
    assert!(body.contains(r#"<div id="root">"#));
    // The import map's hash in the policy is the hash of the page's one inline script.
    {
        use base64::Engine;
        use sha2::Digest;
        let map = body
            .split_once(r#"<script type="importmap">"#)
            .unwrap()
            .1
            .split_once("</script>")
            .unwrap()
            .0;
        let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(map));
        assert!(csp.contains(&hash), "{csp}");
    }
    assert_eq!(get(&server, "/", &[("If-None-Match", &etag)]).status(), 304);
    let script = get(&server, "/app/app/main.js", &[]);
    assert_eq!(script.status(), 200);
    assert!(script.content_type().contains("javascript"));
    let zipped = get(&server, "/app/app/main.js", &[("Accept-Encoding", "gzip")]);
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    for missing in [
        "/app/nothing.js",
        "/app/index.html",
        "/app/../Cargo.toml",
        "/app/%2e%2e/Cargo.toml",
    ] {
        assert_eq!(get(&server, missing, &[]).status(), 404, "{missing}");
    }
}

#[test]
fn the_session_cookie_serves_the_app_and_nothing_another_site_asks() {
    let sb = Sandbox::with_library();
    add_ann(&sb);
    let server = start(&sb);
    let base = format!("http://127.0.0.1:{}", server.port);
    let login = ureq::post(&format!("{base}/api/login"))
        .set("Content-Type", "application/json")
        .send_string(r#"{"username":"ann","password":"pw-for-ann"}"#)
        .unwrap();
    let cookie = login.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.contains("SameSite=Strict") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().unwrap().to_string();
    let me: serde_json::Value = get(&server, "/api/me", &[("Cookie", &pair)]).json();
    assert_eq!(me["user"], "ann");
    // The app's Subsonic calls: the cookie stands for the credentials.
    let ping: serde_json::Value = get(
        &server,
        "/rest/ping?v=1.16.1&c=web&f=json",
        &[("Cookie", &pair), ("Sec-Fetch-Site", "same-origin")],
    )
    .json();
    assert_eq!(ping["subsonic-response"]["status"], "ok", "{ping}");
    // Asked by a page of another site: as if there were no cookie.
    let forged: serde_json::Value = get(
        &server,
        "/rest/star?id=tr-1&v=1.16.1&c=web&f=json",
        &[("Cookie", &pair), ("Sec-Fetch-Site", "cross-site")],
    )
    .json();
    assert_eq!(forged["subsonic-response"]["status"], "failed", "{forged}");
    assert_eq!(
        get(
            &server,
            "/api/me",
            &[("Cookie", &pair), ("Sec-Fetch-Site", "cross-site")]
        )
        .status(),
        401
    );
    assert_eq!(sb.count("FROM annotations"), 0);
    let setup: serde_json::Value = get(&server, "/api/setup", &[]).json();
    assert_eq!(setup["needed"], false);
}

#[test]
fn the_vendored_libraries_are_the_ones_npm_installs() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    let modules = web.join("node_modules");
    assert!(
        modules.exists(),
        "this check needs the web app's packages: npm ci --prefix web (.ci/run does)"
    );
    for (vendored, from) in [
        ("preact.module.js", "preact/dist/preact.module.js"),
        ("hooks.module.js", "preact/hooks/dist/hooks.module.js"),
        ("htm.module.js", "htm/dist/htm.module.js"),
    ] {
        assert_eq!(
            std::fs::read(web.join("vendor").join(vendored)).unwrap(),
            std::fs::read(modules.join(from)).unwrap(),
            "web/vendor/{vendored} differs from {from}: run web/vendor.sh"
        );
    }
}

#[test]
fn scrobbling_is_linked_in_settings_and_the_web_player_scrobbles() {
    // ListenBrainz and Last.fm are stand-ins on loopback (tests/common/standin.rs).
    let stand_in = StandIn::start();
    {
        let mut s = stand_in.seen();
        s.lb_tokens.insert("ann-token".into(), "ann-lb".into());
        s.lfm_tokens
            .insert("web-auth".into(), ("ann-fm".into(), "ann-session".into()));
        s.lfm_allow = Some("web-auth".into());
    }
    let sb = Sandbox::with_library();
    add_ann(&sb);
    let env = StandIn::env(stand_in.port);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let server = Server::start_with_env(&sb, &["--watch", "off", "--scan-interval", "0"], &env);
    server.wait_for(Duration::from_secs(30), |h| {
        h["scanning"] == false && h["tracks"].as_i64() > Some(0)
    });
    in_the_browser("scrobbling", &server);
    let s = stand_in.seen();
    assert!(s.bad.is_empty(), "{:?}", s.bad);
    assert!(!s.lb_playing.is_empty(), "now playing from the web player");
    assert!(!s.lb_listens.is_empty(), "plays from the web player");
    assert!(!s.lfm_scrobbles.is_empty(), "plays from the web player");
    assert!(s.lfm_scrobbles.iter().all(|(key, _)| key == "ann-session"));
    assert!(s
        .lb_listens
        .iter()
        .chain(&s.lb_playing)
        .all(|(token, _)| token == "ann-token"));
    let first = &s.lb_listens[0].1["track_metadata"];
    assert_eq!(first["track_name"], "Polar Night");
    assert_eq!(first["release_name"], "Northern Lights");
}
