//! Security end to end: the real server on loopback, real HTTP, a real SQLite file.
//!
//! - Every route the server registers, read from the source of `src/server/` (so a new route
//!   cannot be forgotten: an unclassified one fails the test), asked anonymously, by a user
//!   without admin rights and by a user without any role.
//! - Path traversal through every parameter that names a file: a table of hostile values, none
//!   of which may bring back a byte of the files planted outside the music folder.
//! - Forwarding headers believed only from a configured proxy (the login brake cannot be
//!   dodged by inventing addresses).
//! - Nothing secret in the clear on disk or in the log.
//! - State-changing browser requests from another origin are refused.
//! - Podcasts do not reach the home network unless the admin allows it (the feed host here is a
//!   stand-in on loopback, playing the router or a NAS service).
//!
//! `docs/security.md` quotes the figures these tests print (`cargo test --test security --
//! --nocapture`).

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const PASSWORD: &str = "s3cret pw";
/// Planted outside the music folder: no answer may ever contain it.
const CANARY: &str = "CANARY-7f3a9c-not-for-your-eyes";

/// Who may call a route, and why it is so.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Access {
    /// No login, on purpose; the reason is said.
    Public(&'static str),
    /// A login, with a signed link or an unguessable token standing in for it.
    Token(&'static str),
    /// Any user who logged in.
    User,
    /// An admin only.
    Admin,
    /// A user with this Subsonic role (admins have every role).
    Role(&'static str),
}

/// Every native route of `src/server/`, as the source registers it: (method, path).
fn registered_routes() -> BTreeSet<(String, String)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "rs") {
            sources.push(std::fs::read_to_string(&path).unwrap());
        }
    }
    sources.push(std::fs::read_to_string(dir.join("subsonic/mod.rs")).unwrap());
    let all = sources.join("\n");
    // Paths given by name: `const NAME: &str = "..."`.
    let consts: Vec<(String, String)> = regex_lite::Regex::new(r#"const (\w+): &str = "([^"]*)""#)
        .unwrap()
        .captures_iter(&all)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .collect();
    let resolve = |name: &str| {
        let name = name.rsplit("::").next().unwrap();
        consts
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("route path {name} is not a string constant"))
    };
    let token = regex_lite::Regex::new(
        r#"web::scope\("([^"]+)"\)|web::resource\("([^"]+)"\)|\.route\(\s*(?:"([^"]+)"|([A-Za-z_:]+))\s*,\s*web::(\w+)\(|\.route\(\s*web::(\w+)\(([^)]*)\)"#,
    )
    .unwrap();
    let guard = regex_lite::Regex::new(r"guard::(Get|Head|Post|Put|Delete)\(\)").unwrap();
    let mut routes = BTreeSet::new();
    for source in &sources {
        for body in source
            .split("pub fn routes(cfg: &mut web::ServiceConfig) {")
            .skip(1)
        {
            let body = body.split("\n}\n").next().unwrap();
            let (mut prefix, mut resource) = (String::new(), String::new());
            let mut after = String::new();
            for c in token.captures_iter(body) {
                let end = c.get(0).unwrap().end();
                after.clear();
                after.push_str(&body[end..(end + 200).min(body.len())]);
                if let Some(s) = c.get(1) {
                    prefix = s.as_str().to_string();
                } else if let Some(r) = c.get(2) {
                    resource = r.as_str().to_string();
                } else if c.get(5).is_some() {
                    let path = match (c.get(3), c.get(4)) {
                        (Some(p), _) => format!("{prefix}{}", p.as_str()),
                        (_, Some(n)) => resolve(n.as_str()),
                        _ => unreachable!(),
                    };
                    for m in methods(&c[5], &after, &guard) {
                        routes.insert((m, path.clone()));
                    }
                } else if let Some(m) = c.get(6) {
                    let method = if m.as_str() == "method" {
                        // `web::method(notify)`: the only custom method is UPnP's NOTIFY.
                        assert!(body.contains("b\"NOTIFY\""), "unknown custom method");
                        vec!["NOTIFY".to_string()]
                    } else {
                        methods(m.as_str(), &after, &guard)
                    };
                    for m in method {
                        routes.insert((m, resource.clone()));
                    }
                }
            }
        }
    }
    routes
}

/// The HTTP methods of `web::<kind>()`; `web::route()` with a guard lists the guard's.
fn methods(kind: &str, after: &str, guard: &regex_lite::Regex) -> Vec<String> {
    if kind == "route" {
        let guarded: Vec<String> = after
            .split(".to(")
            .next()
            .map(|g| {
                guard
                    .captures_iter(g)
                    .map(|c| c[1].to_ascii_uppercase())
                    .collect()
            })
            .unwrap_or_default();
        if guarded.is_empty() {
            return vec!["ANY".into()];
        }
        return guarded;
    }
    vec![kind.to_ascii_uppercase()]
}

/// Every Subsonic method the server answers, as `src/server/subsonic/mod.rs` lists them.
fn subsonic_methods() -> BTreeSet<String> {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src/server/subsonic/mod.rs"),
    )
    .unwrap();
    let arm = regex_lite::Regex::new(r#"\n\s+"([A-Za-z0-9.]+)" => "#).unwrap();
    let mut out: BTreeSet<String> = arm
        .captures_iter(&source)
        .map(|c| c[1].to_string())
        .collect();
    // Answered before the login, in `dispatch`.
    let early = regex_lite::Regex::new(r#"method == "(\w+)""#).unwrap();
    out.extend(early.captures_iter(&source).map(|c| c[1].to_string()));
    out
}

/// The native routes and who may call them. A route missing here fails the test.
fn native_access(method: &str, path: &str) -> Option<Access> {
    use Access::*;
    Some(match (method, path) {
        ("GET", "/api/health") => Public("monitors and the web app ask before anyone logs in; it tells the version and the number of tracks, nothing private"),
        ("POST", "/api/logout") => Public("ends the session the request carries, if any; it can only end the caller's own"),
        ("POST", "/api/login") => Public("logging in; failures are braked per address"),
        ("GET", "/api/setup") | ("POST", "/api/setup") => Public("the first run creates the first admin; once any user exists it answers 409"),
        ("GET", "/") | ("GET", "/app/{path:.*}") => Public("the web app's own files (no data), loaded before the login screen"),
        ("GET", "/share/{token}") | ("GET", "/share/{token}/{song}") | ("HEAD", "/share/{token}/{song}") => Token("a share's 20-character random secret; expired shares answer 410"),
        ("GET", "/api/scrobbling/lastfm/callback") => Public("Last.fm sends the browser back here; it only redirects to the app's own page, the signed state is checked by /finish, which needs a login"),
        ("GET", "/api/stream/{id}") | ("HEAD", "/api/stream/{id}") => Role("stream"),
        ("GET", "/api/art/{id}") => Token("speakers' picture links, signed (HMAC) for one song and user, with an expiry"),
        ("GET", "/art/{id}") | ("HEAD", "/art/{id}") => Token("getArtistInfo/getAlbumInfo picture links, signed for one item"),
        ("NOTIFY", "/upnp/events/{token}") => Token("UPnP renderers' events, by the random callback token and SID of a subscription the server made"),
        ("ANY", "/rest/{method}") => User,
        ("GET", "/api/server") | ("POST", "/api/server/folders") | ("DELETE", "/api/server/folders/{id}") => Admin,
        (_, p) if p.starts_with("/api/") => User,
        _ => return None,
    })
}

/// The Subsonic methods that need more than a login, and a query that would succeed (or fail
/// for another reason) for someone allowed.
fn subsonic_access(method: &str, track: i64) -> (Access, String) {
    use Access::*;
    let t = format!("id=tr-{track}");
    let (access, query) = match method {
        "getOpenSubsonicExtensions" => (
            Public("clients ask which extensions exist before logging in (OpenSubsonic says so)"),
            String::new(),
        ),
        "startScan" | "getUsers" => (Admin, String::new()),
        "createUser" => (
            Admin,
            "username=mallory&password=pw-mallory&email=m%40x".into(),
        ),
        "updateUser" => (Admin, "username=nobody&adminRole=true".into()),
        "deleteUser" => (Admin, "username=ann".into()),
        "getUser" => (Admin, "username=ann".into()),
        // The same password again: the call succeeds for whoever may make it, and changes nothing.
        "changePassword" => (
            Role("settings"),
            format!("username={{me}}&password={}", enc(PASSWORD)),
        ),
        "createInternetRadioStation" => (
            Admin,
            "name=x&streamUrl=http%3A%2F%2F127.0.0.1%3A1%2Fs".into(),
        ),
        "updateInternetRadioStation" => (
            Admin,
            "id=1&name=x&streamUrl=http%3A%2F%2F127.0.0.1%3A1%2Fs".into(),
        ),
        "deleteInternetRadioStation" => (Admin, "id=1".into()),
        "stream" => (Role("stream"), t),
        "getTranscodeStream" => (
            Role("stream"),
            format!("mediaId=tr-{track}&mediaType=song&offset=0&transcodeParams=x"),
        ),
        "download" => (Role("download"), t),
        "setRating" => (Role("comment"), format!("{t}&rating=3")),
        "createShare" => (Role("share"), t),
        "jukeboxControl" => (Role("jukebox"), "action=get".into()),
        "createPlaylist" => (Role("playlist"), "name=mine".into()),
        "updatePlaylist" => (Role("playlist"), "playlistId=1&name=x".into()),
        "deletePlaylist" => (Role("playlist"), "id=1".into()),
        "refreshPodcasts" => (Role("podcast"), String::new()),
        "createPodcastChannel" => (
            Role("podcast"),
            "url=http%3A%2F%2F127.0.0.1%3A1%2Ffeed".into(),
        ),
        "deletePodcastChannel" => (Role("podcast"), "id=pc-1".into()),
        "deletePodcastEpisode" => (Role("podcast"), "id=pe-1".into()),
        "downloadPodcastEpisode" => (Role("podcast"), "id=pe-1".into()),
        _ => (User, t),
    };
    (access, query)
}

struct House {
    server: Server,
    sb: Sandbox,
    track: i64,
}

impl House {
    /// ann (admin), bob (every role but not admin) and nobody (no role at all).
    fn start(extra: &[&str]) -> House {
        let sb = Sandbox::with_library();
        for (name, admin) in [("ann", true), ("bob", false), ("nobody", false)] {
            let mut args = vec!["user", "add", name, "--password", PASSWORD];
            if admin {
                args.push("--admin");
            }
            assert!(sb.cmd(&args).output().unwrap().status.success());
        }
        let mut args = QUIET.to_vec();
        args.extend_from_slice(extra);
        let server = Server::start(&sb, &args);
        server.wait_until_scanned(22);
        let track = sb.track_id("01 - Sunny.mp3");
        let house = House { server, sb, track };
        let roles: String = houseband::app::users::ROLES
            .iter()
            .map(|r| format!("&{r}Role=false"))
            .collect();
        house.ok("ann", "updateUser", &format!("username=nobody{roles}"));
        house.ok("ann", "updateUser", "username=bob&jukeboxRole=true");
        house
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port)
    }

    /// A Subsonic call as `who` (None: anonymous): HTTP status and body.
    fn rest(&self, who: Option<&str>, http: &str, method: &str, query: &str) -> (u16, String) {
        let login = who
            .map(|w| format!("u={w}&p={}&", enc(PASSWORD)))
            .unwrap_or_default();
        let query = format!(
            "{login}v=1.16.1&c=security&f=json&{}",
            query.replace("{me}", who.unwrap_or(""))
        );
        let r = if http == "POST" {
            ureq::post(&self.url(&format!("/rest/{method}")))
                .set("Content-Type", "application/x-www-form-urlencoded")
                .send_string(&query)
        } else {
            ureq::get(&self.url(&format!("/rest/{method}?{query}"))).call()
        };
        answer(r)
    }

    fn ok(&self, who: &str, method: &str, query: &str) -> Value {
        let (status, body) = self.rest(Some(who), "GET", method, query);
        assert_eq!(status, 200, "{method}: {body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["subsonic-response"]["status"], "ok", "{method}: {body}");
        v["subsonic-response"].clone()
    }

    fn native(&self, who: Option<&str>, method: &str, path: &str, body: &str) -> (u16, String) {
        let mut r = ureq::request(method, &self.url(path)).timeout(Duration::from_secs(20));
        if let Some(w) = who {
            r = r.set("Authorization", &basic(&format!("{w}:{PASSWORD}")));
        }
        let r = if body.is_empty() {
            r.call()
        } else {
            r.set("Content-Type", "application/json").send_string(body)
        };
        answer(r)
    }
}

fn answer(r: Result<ureq::Response, ureq::Error>) -> (u16, String) {
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let status = r.status();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut r.into_reader(), &mut bytes).unwrap();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// The Subsonic error code of an answer, if it is one.
fn subsonic_error(body: &str) -> Option<i64> {
    let v: Value = serde_json::from_str(body).ok()?;
    let r = &v["subsonic-response"];
    (r["status"] == "failed").then(|| r["error"]["code"].as_i64().unwrap_or(-1))
}

/// A route's path with its placeholders filled in.
fn concrete(path: &str, track: i64) -> String {
    // Media ids are songs; the others (keys, players, folders) are numbers.
    let id = if path.contains("stream") || path.contains("art") {
        format!("tr-{track}")
    } else {
        "1".to_string()
    };
    path.replace("{id}", &id)
        .replace("{token}", "AAAAAAAAAAAAAAAAAAAA")
        .replace("{song}", &format!("tr-{track}"))
        .replace("{service}", "lastfm")
        .replace("{path:.*}", "app/main.js")
}

#[test]
fn every_route_refuses_those_it_is_not_for() {
    let h = House::start(&[]);
    let routes = registered_routes();
    assert!(
        routes.len() > 40,
        "the route parser found too little: {routes:?}"
    );
    let mut over_http = 0;
    let mut public = Vec::new();
    for (method, path) in &routes {
        let access = native_access(method, path).unwrap_or_else(|| {
            panic!(
                "route {method} {path} is not classified in tests/security.rs: say who may call it"
            )
        });
        if path == "/rest/{method}" || path == "/api/queue/ws" {
            continue; // below, method by method / over a real WebSocket
        }
        let mut url = concrete(path, h.track);
        // Query strings some calls need to get as far as the login.
        if path == "/api/radio" {
            url.push_str(&format!("?seed=tr-{}", h.track));
        } else if path.starts_with("/api/similar/") {
            url.push_str(&format!("?id=tr-{}", h.track));
        }
        let http = if method == "ANY" { "GET" } else { method };
        let body = match (http, path.as_str()) {
            ("POST", "/api/server/folders") => r#"{"path": "/nowhere"}"#,
            ("POST" | "PUT", _) => "{}",
            _ => "",
        };
        let (anon, text) = h.native(None, http, &url, body);
        match access {
            Access::User | Access::Admin | Access::Role(_) => {
                assert_eq!(anon, 401, "anonymous {method} {path}: {text}");
                // A wrong password is no better.
                let r = ureq::request(http, &h.url(&url))
                    .set("Authorization", &basic("bob:wrong"))
                    .set("Content-Type", "application/json");
                let r = if body.is_empty() {
                    r.call()
                } else {
                    r.send_string(body)
                };
                assert_eq!(answer(r).0, 401, "{method} {path} with a wrong password");
                // A good login clears the brake those failures would build up.
                assert_eq!(h.native(Some("bob"), "GET", "/api/me", "").0, 200);
            }
            Access::Token(_) => {
                assert!(
                    (400..500).contains(&anon) && anon != 429,
                    "{method} {path} without its token: {anon} {text}"
                );
                public.push(format!("{method} {path}"));
            }
            Access::Public(_) => public.push(format!("{method} {path}")),
        }
        match access {
            Access::Admin => {
                let (status, text) = h.native(Some("bob"), http, &url, body);
                assert_eq!(status, 403, "bob {method} {path}: {text}");
            }
            Access::Role(role) => {
                let (status, text) = h.native(Some("nobody"), http, &url, body);
                assert_eq!(
                    status, 403,
                    "nobody (no {role} role) {method} {path}: {text}"
                );
                let (status, text) = h.native(Some("bob"), http, &url, body);
                assert_ne!(status, 403, "bob (with {role}) {method} {path}: {text}");
            }
            _ => {}
        }
        over_http += 1;
    }
    // The stream and art links for speakers: a forged signature is refused.
    for forged in [
        format!("/api/stream/tr-{}?u=ann&exp=9999999999&sig=00", h.track),
        format!("/api/art/tr-{}?u=ann&exp=9999999999&sig=00", h.track),
        "/art/al-1?sig=00".to_string(),
    ] {
        let (status, _) = h.native(None, "GET", &forged, "");
        assert!(matches!(status, 401 | 403 | 404), "{forged}: {status}");
    }
    // The Last.fm callback only ever sends the browser to the app's own page.
    let r = ureq::AgentBuilder::new()
        .redirects(0)
        .build()
        .get(&h.url("/api/scrobbling/lastfm/callback?state=%2F%2Fevil.example&token=x"))
        .call()
        .unwrap();
    assert!(
        r.header("location").unwrap().starts_with("/?"),
        "an open redirect"
    );

    // The queue's WebSocket: no upgrade without a login.
    let ws = tungstenite::connect(format!("ws://127.0.0.1:{}/api/queue/ws", h.server.port));
    match ws {
        Err(tungstenite::Error::Http(r)) => assert_eq!(r.status(), 401),
        other => panic!(
            "the queue socket opened without a login: {:?}",
            other.is_ok()
        ),
    }

    // Every Subsonic method, with and without `.view`, by GET and by POST.
    let methods = subsonic_methods();
    assert!(methods.len() > 80, "{methods:?}");
    let mut subsonic_checked = 0;
    let mut by_role = 0;
    for method in &methods {
        let (access, query) = subsonic_access(method, h.track);
        for name in [method.clone(), format!("{method}.view")] {
            for http in ["GET", "POST"] {
                let (status, body) = h.rest(None, http, &name, &query);
                if let Access::Public(_) = access {
                    assert_eq!(subsonic_error(&body), None, "{name}");
                    continue;
                } else if method == "getTranscodeStream" {
                    // Its extension wants HTTP errors.
                    assert_eq!(status, 400, "anonymous {name}: {body}");
                } else {
                    assert_eq!(
                        subsonic_error(&body),
                        Some(10),
                        "anonymous {http} {name}: {body}"
                    );
                }
                subsonic_checked += 1;
            }
        }
        let refused = |who: &str| {
            let (status, body) = h.rest(Some(who), "GET", method, &query);
            if method == "getTranscodeStream" {
                status == 403
            } else {
                subsonic_error(&body) == Some(50)
            }
        };
        match access {
            Access::Admin => {
                assert!(refused("bob"), "bob (not an admin) may {method}");
                by_role += 1;
            }
            Access::Role(role) => {
                assert!(refused("nobody"), "nobody (no {role} role) may {method}");
                assert!(!refused("bob"), "bob (with {role}) is refused {method}");
                by_role += 1;
            }
            Access::User => {
                assert!(!refused("nobody"), "a plain user is refused {method}");
            }
            _ => {}
        }
    }
    // Nothing the refused calls asked for happened.
    assert_eq!(h.sb.count("FROM users"), 3);
    assert_eq!(h.sb.count("FROM users WHERE is_admin = 1"), 1);
    for table in ["shares", "playlists"] {
        let nobodys =
            format!("FROM {table} WHERE owner_id = (SELECT id FROM users WHERE name = 'nobody')");
        assert_eq!(h.sb.count(&nobodys), 0, "{table}");
    }
    println!(
        "route inventory: {} routes in src/server ({over_http} asked over HTTP, the queue socket over a \
         WebSocket, /rest/{{method}} method by method; public or by token: {}), \
         {} Subsonic methods x 2 names x GET/POST = {subsonic_checked} anonymous requests refused (the public one left out), \
         {by_role} methods refused to a user without the admin right or role",
        routes.len(),
        public.join(", "),
        methods.len()
    );
}

/// The hostile values a path-taking parameter is tried with.
fn hostile_names() -> Vec<String> {
    let mut v: Vec<String> = [
        "../../../../etc/passwd",
        "..%2f..%2f..%2f..%2fetc%2fpasswd",
        "%2e%2e%2f%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "%252e%252e%252f%252e%252e%252fetc%252fpasswd",
        "..\\..\\..\\etc\\passwd",
        "..%5c..%5c..%5cetc%5cpasswd",
        "%2fetc%2fpasswd",
        "/etc/passwd",
        "tr-1%2f..%2f..%2f..%2fetc%2fpasswd",
        "tr-..%2f..%2fsecret.txt",
        "secret.txt%00.mp3",
        "tr-1%00..%2f..%2fsecret.txt",
        "....%2f%2f....%2f%2fetc%2fpasswd",
        "%c0%ae%c0%ae%2fetc%2fpasswd",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("..%2f..%2fsecret.txt".into());
    v
}

/// Whether an answer brought back something from outside the music folders.
fn leaked(body: &str) -> bool {
    body.contains(CANARY) || body.contains("root:x:0:0") || body.contains("[package]")
}

#[test]
fn no_path_escapes_the_music_folders() {
    let sb = Sandbox::with_library();
    // Secrets beside the music folder and the data folder.
    std::fs::write(sb.dir.path().join("secret.txt"), CANARY).unwrap();
    std::fs::write(
        sb.dir.path().join("secret.lrc"),
        format!("[00:01.00]{CANARY}\n"),
    )
    .unwrap();
    let sunny = walk(&sb.music(), "01 - Sunny.mp3").unwrap();
    let outside = sb.dir.path().join("outside.mp3");
    let mut audio = std::fs::read(&sunny).unwrap();
    audio.extend_from_slice(CANARY.as_bytes());
    std::fs::write(&outside, audio).unwrap();
    // Links out of the folder, made before the scan: a song, a sidecar .lrc and a cover.
    let album = sunny.parent().unwrap().to_path_buf();
    std::os::unix::fs::symlink(&outside, album.join("04 - Escape.mp3")).unwrap();
    std::os::unix::fs::symlink(
        sb.dir.path().join("secret.lrc"),
        sunny.with_extension("lrc"),
    )
    .unwrap();
    std::os::unix::fs::symlink(sb.dir.path().join("secret.txt"), album.join("cover.jpg")).unwrap();
    let add = ["user", "add", "ann", "--admin", "--password", PASSWORD];
    assert!(sb.cmd(&add).output().unwrap().status.success());
    let server = Server::start(&sb, QUIET);
    server.wait_until_scanned(23);
    let h = House {
        track: sb.track_id("01 - Sunny.mp3"),
        server,
        sb,
    };
    let escape = h.sb.track_id("04 - Escape.mp3");
    // The scan took the linked .lrc as the song's lyrics file: the check below is a real one.
    assert_eq!(
        h.sb.count("FROM tracks WHERE lrc_path LIKE '%Sunny.lrc'"),
        1
    );

    let mut tries = 0;
    let mut successes = Vec::new();
    let mut try_one = |what: String, (status, body): (u16, String)| {
        tries += 1;
        if leaked(&body) {
            successes.push(format!("{what}: {status}"));
        }
    };
    for name in hostile_names() {
        // Subsonic parameters that name a file, an id that becomes one, or a user's picture.
        for (method, param) in [
            ("stream", "id"),
            ("download", "id"),
            ("getCoverArt", "id"),
            ("getAvatar", "username"),
            ("getMusicDirectory", "id"),
            ("getLyricsBySongId", "id"),
            ("getSong", "id"),
            ("getPodcastEpisode", "id"),
            ("getTranscodeStream", "mediaId"),
        ] {
            let q = format!("{param}={name}&mediaType=song&transcodeParams=x");
            try_one(
                format!("{method}?{param}={name}"),
                h.rest(Some("ann"), "GET", method, &q),
            );
        }
        // Native and public paths that take an id or a file name.
        for path in [
            format!("/app/{name}"),
            format!("/app/app/{name}"),
            format!("/share/{name}"),
            format!("/share/AAAAAAAAAAAAAAAAAAAA/{name}"),
            format!("/api/stream/{name}"),
            format!("/api/art/{name}?u=ann&exp=9999999999&sig=00"),
            format!("/art/{name}?sig=00"),
            format!("/upnp/events/{name}"),
        ] {
            let http = if path.starts_with("/upnp") {
                "NOTIFY"
            } else {
                "GET"
            };
            try_one(path.clone(), h.native(Some("ann"), http, &path, ""));
        }
    }
    // The raw request line too, where a client library would have cleaned the path.
    for raw in [
        "/app/../../Cargo.toml",
        "/app/../secret.txt",
        "/../../../../etc/passwd",
        "/app/%2e%2e/%2e%2e/Cargo.toml",
        "/app//etc/passwd",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", h.server.port)).unwrap();
        std::io::Write::write_all(
            &mut s,
            format!("GET {raw} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .unwrap();
        let mut out = String::new();
        let _ = std::io::Read::read_to_string(&mut s, &mut out);
        try_one(format!("raw {raw}"), (0, out));
    }
    // Folders an admin adds: relative paths, parent steps and NUL bytes are refused.
    for path in ["music/../..", "../secret", "/tmp/\u{0}x", "", "~/music"] {
        let body = serde_json::json!({ "path": path }).to_string();
        let (status, text) = h.native(Some("ann"), "POST", "/api/server/folders", &body);
        tries += 1;
        if status < 400 {
            successes.push(format!("add folder {path:?}: {status} {text}"));
        }
    }
    // Links out of the folder: the song, its lyrics and its cover stay unread.
    for (what, r) in [
        (
            "stream of a linked song",
            h.rest(Some("ann"), "GET", "stream", &format!("id=tr-{escape}")),
        ),
        (
            "download of a linked song",
            h.rest(Some("ann"), "GET", "download", &format!("id=tr-{escape}")),
        ),
        (
            "a linked .lrc",
            h.rest(
                Some("ann"),
                "GET",
                "getLyricsBySongId",
                &format!("id=tr-{}", h.track),
            ),
        ),
        (
            "a linked .lrc by name",
            h.rest(Some("ann"), "GET", "getLyrics", "artist=&title=Sunny"),
        ),
        (
            "a linked cover",
            h.rest(
                Some("ann"),
                "GET",
                "getCoverArt",
                &format!("id=tr-{}", h.track),
            ),
        ),
    ] {
        tries += 1;
        if leaked(&r.1) || (what.contains("song") && r.0 == 200 && subsonic_error(&r.1).is_none()) {
            successes.push(format!("{what}: {} {:.100}", r.0, r.1));
        }
    }
    // A share of the linked song: the public side checks the link like streaming does.
    let made = h.ok(
        "ann",
        "createShare",
        &format!("id=tr-{escape}&id=tr-{}", h.track),
    );
    let url = made["shares"]["share"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let page = ureq::get(&url).call().unwrap();
    let csp = page
        .header("content-security-policy")
        .unwrap_or("")
        .to_string();
    assert!(
        csp.contains("default-src 'none'") && !csp.contains("script"),
        "{csp}"
    );
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    let r = answer(ureq::get(&format!("{url}/tr-{escape}")).call());
    tries += 1;
    if leaked(&r.1) || r.0 == 200 {
        successes.push(format!("a shared linked song: {}", r.0));
    }
    assert_eq!(
        answer(ureq::get(&format!("{url}/tr-{}", h.track)).call()).0,
        200
    );
    println!(
        "path traversal: {tries} attempts, {} successes",
        successes.len()
    );
    assert!(successes.is_empty(), "escaped: {successes:#?}");
}

/// The file called `name` somewhere under `dir`.
fn walk(dir: &Path, name: &str) -> Option<std::path::PathBuf> {
    for entry in std::fs::read_dir(dir).unwrap() {
        let p = entry.unwrap().path();
        if p.is_dir() {
            if let Some(found) = walk(&p, name) {
                return Some(found);
            }
        } else if p.file_name().is_some_and(|n| n == name) {
            return Some(p);
        }
    }
    None
}

/// Failed logins with `X-Forwarded-For` set to a new address each time; how long they took.
fn failures_with_invented_addresses(port: u16, n: usize, start: u32) -> Duration {
    let started = Instant::now();
    for i in 0..n {
        let r = ureq::get(&format!("http://127.0.0.1:{port}/api/me"))
            .set("Authorization", &basic("ann:wrong"))
            .set(
                "X-Forwarded-For",
                &format!("203.0.113.{}", start + i as u32),
            )
            .set("Forwarded", &format!("for=198.51.100.{}", start + i as u32))
            .call();
        assert!(matches!(r, Err(ureq::Error::Status(401, _))));
    }
    started.elapsed()
}

#[test]
fn forwarding_headers_count_only_from_a_trusted_proxy() {
    // No proxy configured: invented addresses do not get round the brake.
    let h = House::start(&[]);
    let took = failures_with_invented_addresses(h.server.port, 5, 1);
    // The 4th and 5th failures wait 250 ms and 500 ms: the brake saw one client.
    assert!(took >= Duration::from_millis(700), "{took:?}");
    // Nor do they forge the links the server hands out.
    let share = h.ok("ann", "createShare", &format!("id=tr-{}", h.track));
    let url = share["shares"]["share"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let spoofed: Value = serde_json::from_str(
        &answer(
            ureq::get(&h.url(&format!(
                "/rest/getShares?u=ann&p={}&v=1.16.1&c=t&f=json",
                enc(PASSWORD)
            )))
            .set("X-Forwarded-Host", "evil.example")
            .set("X-Forwarded-Proto", "https")
            .call(),
        )
        .1,
    )
    .unwrap();
    let again = spoofed["subsonic-response"]["shares"]["share"][0]["url"]
        .as_str()
        .unwrap();
    assert_eq!(again, url);
    assert!(url.starts_with(&format!("http://127.0.0.1:{}/share/", h.server.port)));
    drop(h);

    // Behind a proxy on 127.0.0.1: each forwarded client is braked on its own, so one
    // household member's typos do not slow down everyone behind the proxy...
    let h = House::start(&["--trusted-proxy", "127.0.0.1"]);
    let took = failures_with_invented_addresses(h.server.port, 5, 1);
    assert!(took < Duration::from_millis(700), "{took:?}");
    // ...while the same client, failing again and again, is slowed down.
    let started = Instant::now();
    for _ in 0..5 {
        let r = ureq::get(&h.url("/api/me"))
            .set("Authorization", &basic("ann:wrong"))
            .set("X-Forwarded-For", "203.0.113.200")
            .call();
        assert!(matches!(r, Err(ureq::Error::Status(401, _))));
    }
    assert!(started.elapsed() >= Duration::from_millis(700));
    // And the links use the address the proxy says the client typed.
    let r = ureq::get(&h.url(&format!(
        "/rest/createShare?u=ann&p={}&v=1.16.1&c=t&f=json&id=tr-{}",
        enc(PASSWORD),
        h.track
    )))
    .set("X-Forwarded-Host", "music.example.org")
    .set("X-Forwarded-Proto", "https")
    .call();
    let v: Value = serde_json::from_str(&answer(r).1).unwrap();
    let url = v["subsonic-response"]["shares"]["share"][0]["url"]
        .as_str()
        .unwrap();
    assert!(url.starts_with("https://music.example.org/share/"), "{url}");
}

#[test]
fn secrets_are_not_kept_in_the_clear() {
    let sb = Sandbox::with_library();
    let password = "Plain-Text-Canary-Pw-93";
    assert!(sb
        .cmd(&["user", "add", "ann", "--admin", "--password", password])
        .output()
        .unwrap()
        .status
        .success());
    let log = sb.dir.path().join("server.log");
    let port = free_port();
    let bind = format!("127.0.0.1:{port}");
    let music = sb.music();
    let mut args = vec!["serve", "--music", music.to_str().unwrap(), "--bind", &bind];
    // Debug logging: the most the server ever writes about requests.
    args.extend_from_slice(&["--log", "debug"]);
    args.extend_from_slice(QUIET);
    let child = sb
        .cmd(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let server = Server { child, port };
    server.wait_for(Duration::from_secs(20), |_| true);
    server.wait_until_scanned(22);
    let base = format!("http://127.0.0.1:{port}");
    // Every way a password or a key travels: Basic, Subsonic p= and enc:, a login, a new key.
    let key: Value = serde_json::from_str(
        &answer(
            ureq::post(&format!("{base}/api/apikeys"))
                .set("Authorization", &basic(&format!("ann:{password}")))
                .set("Content-Type", "application/json")
                .send_string(r#"{"label":"phone"}"#),
        )
        .1,
    )
    .unwrap();
    let key = key["key"].as_str().expect("a new key").to_string();
    let login = answer(
        ureq::post(&format!("{base}/api/login"))
            .set("Content-Type", "application/json")
            .send_string(&format!(r#"{{"username":"ann","password":"{password}"}}"#)),
    );
    assert_eq!(login.0, 200);
    let session: Value = serde_json::from_str(&login.1).unwrap();
    let session = session["token"].as_str().unwrap().to_string();
    for q in [
        format!("u=ann&p={password}"),
        format!("u=ann&p={}", enc(password)),
        format!("apiKey={key}"),
        "u=ann&p=wrong-Plain-Text-Canary".to_string(),
    ] {
        let _ = answer(ureq::get(&format!("{base}/rest/ping?{q}&v=1.16.1&c=t&f=json")).call());
    }
    let _ = answer(
        ureq::post(&format!("{base}/api/login"))
            .set("Content-Type", "application/json")
            .send_string(r#"{"username":"ann","password":"wrong-Plain-Text-Canary"}"#),
    );
    drop(server);
    let mut files = vec![log.clone()];
    for entry in std::fs::read_dir(sb.data()).unwrap() {
        let p = entry.unwrap().path();
        if p.is_file() {
            files.push(p);
        }
    }
    assert!(files.iter().any(|f| f.ends_with("houseband.db")));
    for file in &files {
        let bytes = std::fs::read(file).unwrap();
        let text = String::from_utf8_lossy(&bytes);
        for (what, secret) in [
            ("the password", password),
            ("a wrong password", "wrong-Plain-Text-Canary"),
            ("the API key", key.as_str()),
            ("the session token", session.as_str()),
        ] {
            assert!(
                !text.contains(secret),
                "{what} is in {} in the clear",
                file.display()
            );
        }
    }
    // What is kept of the key and the session is their SHA-256.
    let rows = rows(&sb.db(), "key_hash", "FROM api_keys").unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    {
        use sha2::Digest;
        let want = hex(&sha2::Sha256::digest(key.as_bytes()));
        assert!(
            rows.iter().any(|r| r[0].as_str() == Some(want.as_str())),
            "{rows:?} {want}"
        );
    }
    let secret = sb.data().join("secret.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&secret).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600, "secret.key is {mode:o}");
    println!(
        "at rest: {} files read (database, WAL, log), no secret in the clear",
        files.len()
    );
}

#[test]
fn browser_requests_from_another_origin_are_refused() {
    let h = House::start(&[]);
    let login = ureq::post(&h.url("/api/login"))
        .set("Content-Type", "application/json")
        .send_string(&format!(r#"{{"username":"ann","password":"{PASSWORD}"}}"#))
        .unwrap();
    let cookie = login
        .header("set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let own = format!("http://127.0.0.1:{}", h.server.port);
    let put = |origin: Option<&str>, referer: Option<&str>| {
        let mut r = ureq::put(&h.url("/api/autoplay"))
            .set("Cookie", &cookie)
            .set("Content-Type", "application/json");
        if let Some(o) = origin {
            r = r.set("Origin", o);
        }
        if let Some(o) = referer {
            r = r.set("Referer", o);
        }
        answer(r.send_string(r#"{"enabled":true}"#)).0
    };
    // A page elsewhere (an old browser without Sec-Fetch-Site, the Strict cookie bypassed).
    assert_eq!(put(Some("http://evil.example"), None), 401);
    assert_eq!(put(Some("null"), None), 401);
    assert_eq!(
        put(
            Some(&format!("http://127.0.0.1:{}", h.server.port + 1)),
            None
        ),
        401
    );
    assert_eq!(put(None, Some("http://evil.example/page")), 401);
    // The app's own page, and clients that are not browsers, pass.
    assert_eq!(put(Some(&own), None), 200);
    assert_eq!(put(None, Some(&format!("{own}/#/settings"))), 200);
    assert_eq!(put(None, None), 200);
    // Subsonic calls with the cookie and another origin: as if there were no login.
    let r = ureq::get(&h.url(&format!(
        "/rest/star?id=tr-{}&v=1.16.1&c=web&f=json",
        h.track
    )))
    .set("Cookie", &cookie)
    .set("Origin", "http://evil.example")
    .call();
    assert_eq!(subsonic_error(&answer(r).1), Some(10));
    assert_eq!(h.sb.count("FROM annotations"), 0);
    // JSONP is what a `<script>` on another site would read (an old browser sends the cookie
    // and, with that page's `no-referrer`, neither Origin nor Referer): never by the cookie.
    let r = ureq::get(&h.url("/rest/getUser?username=ann&v=1.16.1&c=web&f=jsonp&callback=steal"))
        .set("Cookie", &cookie)
        .call()
        .unwrap();
    assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    let body = r.into_string().unwrap();
    assert!(
        body.starts_with("steal(") && body.contains("\"code\":10"),
        "{body}"
    );
    assert!(!body.contains("adminRole"), "{body}");
    // The same cookie with JSON, from the app's own page, still logs in.
    let r = ureq::get(&h.url("/rest/ping?v=1.16.1&c=web&f=json"))
        .set("Cookie", &cookie)
        .set("Sec-Fetch-Site", "same-origin")
        .call();
    assert_eq!(subsonic_error(&answer(r).1), None);
}

#[test]
fn podcasts_cannot_reach_the_home_network_unless_allowed() {
    // A stand-in podcast host on loopback: what a router's admin page or a NAS service is.
    let host = common::feeds::FeedServer::demo();
    host.feed("/show.rss", "show.rss");
    let feed: String = form_urlencoded::byte_serialize(host.url("/show.rss").as_bytes()).collect();
    let h = House::start(&[]);
    h.ok("bob", "createPodcastChannel", &format!("url={feed}"));
    let channel = h.ok("bob", "getPodcasts", "")["podcasts"]["channel"][0].clone();
    assert_eq!(channel["status"], "error", "{channel}");
    let why = channel["errorMessage"].as_str().unwrap_or("");
    assert!(why.contains("podcast_allow_private_addresses"), "{why}");
    assert_eq!(host.hits("/show.rss"), 0, "the server connected");
    drop(h);
    // Allowed by the admin: the same feed is read.
    let h = House::start(&["--podcast-allow-private-addresses", "true"]);
    h.ok("bob", "createPodcastChannel", &format!("url={feed}"));
    let channel = h.ok("bob", "getPodcasts", "")["podcasts"]["channel"][0].clone();
    assert_eq!(channel["status"], "completed", "{channel}");
    assert_eq!(host.hits("/show.rss"), 1);
}

/// The native API's reference names every `/api` route the server registers, with its method,
/// so docs/api.md cannot fall behind the code.
#[test]
fn the_native_api_reference_names_every_route() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/api.md")).unwrap();
    let mut missing = Vec::new();
    let mut checked = 0;
    for (method, path) in registered_routes() {
        // HEAD comes with GET; ANY routes are documented by what they serve.
        if !path.starts_with("/api/") || method == "HEAD" || method == "ANY" {
            continue;
        }
        checked += 1;
        let named = format!("`{method} {path}");
        let found = doc.match_indices(&named).any(|(at, _)| {
            matches!(
                doc[at + named.len()..].chars().next(),
                Some('`' | '?' | ' ')
            )
        });
        if !found {
            missing.push(named);
        }
    }
    assert!(checked > 30, "only {checked} routes: is the parser broken?");
    assert!(
        missing.is_empty(),
        "docs/api.md does not name these routes: {missing:?}"
    );
}
