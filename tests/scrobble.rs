//! Scrobbling to ListenBrainz and Last.fm (issue 10), from a real server on loopback with a real
//! SQLite file and the committed fixture library, to STAND-INS for the two services
//! ([`common::standin`]: no internet here; small HTTP servers on 127.0.0.1 that speak each
//! service's documented API, check the requests and record what they took), which can also be
//! told to fail: server errors, rate limits with their wait headers, a refused token, garbage, a
//! huge answer, a connection that hangs; or be down, with no server at all.

mod common;

use std::collections::HashMap;
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::standin::{json, serve, Answer, Seen, StandIn, API_KEY};
use common::{free_port, Sandbox, Server};
use serde_json::Value;
fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A household (ann and bob) on a real server whose scrobbling services are a stand-in.
struct Home {
    sb: Sandbox,
    server: Server,
    /// The stand-in's port (it may be down).
    port: u16,
}

impl Home {
    fn start(port: u16) -> Home {
        let sb = Sandbox::with_library();
        for name in ["ann", "bob"] {
            let out = sb
                .cmd(&["user", "add", name, "--password", "pw"])
                .output()
                .unwrap();
            assert!(out.status.success());
        }
        Home::serve(sb, port)
    }

    fn serve(sb: Sandbox, port: u16) -> Home {
        let env = StandIn::env(port);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let server = Server::start_with_env(&sb, &["--watch", "off", "--scan-interval", "0"], &env);
        server.wait_for(Duration::from_secs(30), |h| {
            h["scanning"] == false && h["tracks"].as_i64() > Some(0)
        });
        Home { sb, server, port }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.server.port)
    }

    /// A native API call as `who` (a user name, whose password is `pw`, or `name:password`).
    fn send(&self, who: &str, method: &str, path: &str, body: &str) -> (u16, Value) {
        let login = if who.contains(':') {
            who.to_string()
        } else {
            format!("{who}:pw")
        };
        common::api_call(self.server.port, &login, method, path, body)
    }

    fn status(&self, who: &str) -> Value {
        let (status, body) = self.send(who, "GET", "/api/scrobbling", "");
        assert_eq!(status, 200, "{body}");
        body
    }

    /// A Subsonic call as `who` (JSON), the `subsonic-response` object.
    fn rest(&self, who: &str, method: &str, query: &str) -> Value {
        let url = self.url(&format!(
            "/rest/{method}?u={who}&p=pw&v=1.16.1&c=test&f=json&{query}"
        ));
        let v: Value =
            serde_json::from_reader(ureq::get(&url).call().unwrap().into_reader()).unwrap();
        let answer = v["subsonic-response"].clone();
        assert_eq!(answer["status"], "ok", "{method}: {answer}");
        answer
    }

    fn link_listenbrainz(&self, who: &str, token: &str) -> Value {
        let (status, body) = self.send(
            who,
            "PUT",
            "/api/scrobbling/listenbrainz",
            &serde_json::json!({ "token": token }).to_string(),
        );
        assert_eq!(status, 200, "{body}");
        body
    }

    /// The Last.fm web flow: the server's link to Last.fm's page, the user allowing it there
    /// (the stand-in knows `auth_token` as allowed), and Last.fm sending the browser back.
    fn link_lastfm(&self, who: &str, auth_token: &str) {
        let (status, body) = self.finish_lastfm(who, &self.start_lastfm(who), auth_token);
        assert_eq!(status, 200, "{body}");
    }

    /// The first half of the Last.fm web flow: the callback Last.fm is told to send the user
    /// back to.
    fn start_lastfm(&self, who: &str) -> String {
        let (status, body) = self.send(who, "POST", "/api/scrobbling/lastfm", "");
        assert_eq!(status, 200, "{body}");
        let url = body["url"].as_str().unwrap();
        let page = format!("http://127.0.0.1:{}/api/auth/?", self.port);
        let query = url.strip_prefix(&page).unwrap_or_else(|| panic!("{url}"));
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(params["api_key"], API_KEY);
        let cb = params["cb"].clone();
        assert!(
            cb.starts_with(&self.url("/api/scrobbling/lastfm/callback?")),
            "{cb}"
        );
        cb
    }

    /// The second half, once the user allowed access on Last.fm's page: Last.fm adds the token
    /// to the callback, which (with no login: the browser comes from another site) opens the
    /// web app with them, which finishes as `who`.
    fn finish_lastfm(&self, who: &str, cb: &str, auth_token: &str) -> (u16, Value) {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let back = agent
            .get(&format!("{cb}&token={auth_token}"))
            .call()
            .unwrap();
        assert_eq!(back.status(), 303);
        let to = back.header("Location").unwrap();
        let query = to
            .strip_prefix("/?")
            .and_then(|q| q.strip_suffix("#/settings/scrobbling"))
            .unwrap_or_else(|| panic!("{to}"));
        let got: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        assert_eq!(got["lastfm_token"], auth_token);
        let body = serde_json::json!({"state": got["lastfm_state"], "token": auth_token});
        self.send(
            who,
            "POST",
            "/api/scrobbling/lastfm/finish",
            &body.to_string(),
        )
    }

    fn song(&self, file: &str) -> (i64, Value) {
        let id = self.sb.track_id(file);
        let song = self.rest("ann", "getSong", &format!("id=tr-{id}"))["song"].clone();
        (id, song)
    }

    fn scrobble(&self, who: &str, song: i64, time_ms: i64) {
        self.rest(
            who,
            "scrobble",
            &format!("id=tr-{song}&time={time_ms}&submission=true"),
        );
    }

    fn pending(&self, who: &str, service: &str) -> i64 {
        self.status(who)[service]["pending"].as_i64().unwrap()
    }
}

/// A stand-in that knows ann's ListenBrainz token and a Last.fm token ann allows.
fn stand_in_for_ann() -> StandIn {
    let stand_in = StandIn::start();
    {
        let mut s = stand_in.seen();
        s.lb_tokens.insert("ann-token".into(), "ann-lb".into());
        s.lfm_tokens
            .insert("ann-auth".into(), ("ann-fm".into(), "ann-session".into()));
    }
    stand_in
}

#[test]
fn a_scrobble_reaches_both_services_once_with_its_details() {
    let stand_in = stand_in_for_ann();
    stand_in
        .seen()
        .lb_tokens
        .insert("bob-token".into(), "bob-lb".into());
    let home = Home::start(stand_in.port);
    let before = home.status("ann");
    assert_eq!(before["enabled"], true);
    assert_eq!(before["listenbrainz"]["linked"], false);
    assert_eq!(before["lastfmAvailable"], true);
    let user = home.rest("ann", "getUser", "username=ann");
    assert_eq!(user["user"]["scrobblingEnabled"], false, "no link yet");

    let linked = home.link_listenbrainz("ann", "ann-token");
    assert_eq!(linked["listenbrainz"]["account"], "ann-lb");
    home.link_lastfm("ann", "ann-auth");
    let status = home.status("ann");
    assert_eq!(status["lastfm"]["linked"], true, "{status}");
    assert_eq!(status["lastfm"]["account"], "ann-fm");
    let user = home.rest("ann", "getUser", "username=ann");
    assert_eq!(user["user"]["scrobblingEnabled"], true);
    // Bob links ListenBrainz only, with his own token.
    home.link_listenbrainz("bob", "bob-token");

    // The token and the session key are not stored as they are.
    let sealed =
        houseband::testkit::rows(&home.sb.db(), "hex(secret)", "FROM scrobble_links").unwrap();
    assert_eq!(sealed.len(), 3);
    let mut files = std::fs::read(home.sb.db()).unwrap();
    files.extend(std::fs::read(home.sb.data().join("houseband.db-wal")).unwrap_or_default());
    for secret in ["ann-token", "ann-session", "bob-token"] {
        let hex: String = secret.bytes().map(|b| format!("{b:02X}")).collect();
        assert!(sealed
            .iter()
            .all(|r| !r[0].as_str().unwrap().contains(&hex)));
        assert!(!files.windows(secret.len()).any(|w| w == secret.as_bytes()));
    }

    // Now playing reaches both, at once.
    let (frost, song) = home.song("07 - Frost.mpc");
    home.rest(
        "ann",
        "scrobble",
        &format!("id=tr-{frost}&submission=false"),
    );
    wait_until("now playing at both", Duration::from_secs(10), || {
        let s = stand_in.seen();
        s.lb_playing.len() == 1 && s.lfm_playing.len() == 1
    });
    {
        let s = stand_in.seen();
        assert_eq!(s.lb_playing[0].0, "ann-token");
        let m = &s.lb_playing[0].1["track_metadata"];
        assert_eq!(m["track_name"], song["title"]);
        assert_eq!(s.lfm_playing[0].0, "ann-session");
        assert_eq!(s.lfm_playing[0].1["track"], song["title"].as_str().unwrap());
        assert!(
            s.lb_listens.is_empty() && s.lfm_scrobbles.is_empty(),
            "not a listen"
        );
    }

    // The play: once at each, with the song's details and the time the client gave; the same
    // scrobble sent again (a client retrying) is not a second listen.
    let at = 1_764_000_000;
    home.scrobble("ann", frost, at * 1000);
    home.scrobble("ann", frost, at * 1000);
    wait_until("the listen at both", Duration::from_secs(10), || {
        let s = stand_in.seen();
        !s.lb_listens.is_empty() && !s.lfm_scrobbles.is_empty()
    });
    // Bob's play goes out with bob's token only; a play by someone with no link goes nowhere.
    let (snow, _) = home.song("04 - Snowfall.spx");
    home.scrobble("bob", snow, (at + 600) * 1000);
    wait_until("bob's listen", Duration::from_secs(10), || {
        stand_in.seen().lb_listens.len() == 2
    });
    wait_until("nothing waits", Duration::from_secs(10), || {
        home.pending("ann", "listenbrainz") == 0 && home.pending("ann", "lastfm") == 0
    });
    std::thread::sleep(Duration::from_secs(1));
    let s = stand_in.seen();
    assert!(s.bad.is_empty(), "{:?}", s.bad);
    assert_eq!(s.lb_listens.len(), 2);
    assert_eq!(s.lfm_scrobbles.len(), 1, "bob has no Last.fm link");
    let (token, listen) = &s.lb_listens[0];
    assert_eq!(token, "ann-token");
    assert_eq!(listen["listened_at"], at);
    let m = &listen["track_metadata"];
    assert_eq!(m["artist_name"], song["artist"]);
    assert_eq!(m["track_name"], song["title"]);
    assert_eq!(m["release_name"], song["album"]);
    let info = &m["additional_info"];
    let duration_ms = houseband::testkit::rows(
        &home.sb.db(),
        "duration_ms",
        &format!("FROM tracks WHERE id = {frost}"),
    )
    .unwrap()[0][0]
        .as_i64()
        .unwrap();
    assert_eq!(info["duration_ms"], duration_ms);
    assert_eq!(info["submission_client"], "Houseband");
    assert_eq!(info["submission_client_version"], env!("CARGO_PKG_VERSION"));
    if let Some(n) = song["track"].as_i64() {
        assert_eq!(info["tracknumber"], n);
    }
    let (sk, fields) = &s.lfm_scrobbles[0];
    assert_eq!(sk, "ann-session");
    assert_eq!(fields["artist"], song["artist"].as_str().unwrap());
    assert_eq!(fields["track"], song["title"].as_str().unwrap());
    assert_eq!(fields["album"], song["album"].as_str().unwrap());
    assert_eq!(fields["timestamp"], at.to_string());
    assert_eq!(s.lb_listens[1].0, "bob-token");
    assert_eq!(
        s.lb_listens[1].1["track_metadata"]["track_name"],
        home.rest("bob", "getSong", &format!("id=tr-{snow}"))["song"]["title"]
    );
    drop(s);

    // Switched off: plays are counted but go nowhere; Subsonic says so.
    let (status, body) = home.send("ann", "PUT", "/api/scrobbling", r#"{"enabled":false}"#);
    assert_eq!((status, &body["enabled"]), (200, &Value::Bool(false)));
    assert_eq!(
        home.rest("ann", "getUser", "username=ann")["user"]["scrobblingEnabled"],
        false
    );
    home.scrobble("ann", snow, (at + 1200) * 1000);
    home.rest("ann", "scrobble", &format!("id=tr-{snow}&submission=false"));
    std::thread::sleep(Duration::from_secs(2));
    let s = stand_in.seen();
    assert_eq!((s.lb_listens.len(), s.lfm_scrobbles.len()), (2, 1));
    assert_eq!((s.lb_playing.len(), s.lfm_playing.len()), (1, 1));
}

#[test]
fn the_household_queue_scrobbles_what_it_plays_through() {
    let stand_in = stand_in_for_ann();
    let home = Home::start(stand_in.port);
    home.link_listenbrainz("ann", "ann-token");
    home.link_lastfm("ann", "ann-auth");
    let (frost, song) = home.song("07 - Frost.mpc");
    let (snow, _) = home.song("04 - Snowfall.spx");
    let (status, state) = home.send(
        "ann",
        "POST",
        "/api/queue",
        &format!(r#"{{"op":"add","songs":["tr-{frost}","tr-{snow}"]}}"#),
    );
    assert_eq!(status, 200, "{state}");
    let first = state["entries"][0]["id"].as_str().unwrap().to_string();
    let started = houseband::app::db::now();
    let (status, _) = home.send(
        "ann",
        "POST",
        "/api/queue",
        &format!(r#"{{"op":"play","entry":"{first}"}}"#),
    );
    assert_eq!(status, 200);
    // The queue starting a song is "now playing".
    wait_until(
        "now playing from the queue",
        Duration::from_secs(10),
        || {
            let s = stand_in.seen();
            !s.lb_playing.is_empty() && !s.lfm_playing.is_empty()
        },
    );
    // And so it is in Subsonic's getNowPlaying.
    let playing = home.rest("ann", "getNowPlaying", "");
    let entry = &playing["nowPlaying"]["entry"][0];
    assert_eq!(entry["id"], format!("tr-{frost}"), "{playing}");
    assert_eq!(entry["username"], "ann");
    assert_eq!(entry["playerName"], "Household queue");
    // Played nearly to its end, then the next song: a listen.
    let ms = song["duration"].as_i64().unwrap() * 1000;
    let op = format!(r#"{{"op":"seek","position_ms":{}}}"#, ms * 95 / 100);
    assert_eq!(home.send("ann", "POST", "/api/queue", &op).0, 200);
    assert_eq!(
        home.send("ann", "POST", "/api/queue", r#"{"op":"next"}"#).0,
        200
    );
    assert_eq!(
        home.send("ann", "POST", "/api/queue", r#"{"op":"pause"}"#)
            .0,
        200
    );
    wait_until(
        "the queue's listen at both",
        Duration::from_secs(10),
        || {
            let s = stand_in.seen();
            !s.lb_listens.is_empty() && !s.lfm_scrobbles.is_empty()
        },
    );
    std::thread::sleep(Duration::from_secs(1));
    let s = stand_in.seen();
    assert!(s.bad.is_empty(), "{:?}", s.bad);
    assert_eq!(s.lb_listens.len(), 1, "only the song played through");
    assert_eq!(s.lfm_scrobbles.len(), 1);
    let listen = &s.lb_listens[0].1;
    assert_eq!(listen["track_metadata"]["track_name"], song["title"]);
    let at = listen["listened_at"].as_i64().unwrap();
    assert!(
        (started - 2..=started + 5).contains(&at),
        "{at} vs {started}"
    );
}

#[test]
fn a_service_that_is_down_gets_the_listen_later_and_once() {
    // Nothing listens on the port yet.
    let port = free_port();
    let home = Home::start(port);
    // The link needs the service; it is made while a stand-in is up, then taken down.
    let seen: Arc<Mutex<Seen>> = Arc::default();
    seen.lock()
        .unwrap()
        .lb_tokens
        .insert("ann-token".into(), "ann-lb".into());
    let (status, body) = home.send(
        "ann",
        "PUT",
        "/api/scrobbling/listenbrainz",
        r#"{"token":"ann-token"}"#,
    );
    assert_eq!(status, 502, "no service: {body}");
    assert!(body["error"].as_str().unwrap().contains("try again later"));
    assert_eq!(home.status("ann")["listenbrainz"]["linked"], false);
    // Link with a stand-in in a thread that answers one request and goes away.
    let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
    let once = seen.clone();
    let answered = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        serve(stream, &once);
    });
    home.link_listenbrainz("ann", "ann-token");
    answered.join().unwrap();

    let (frost, _) = home.song("07 - Frost.mpc");
    home.scrobble("ann", frost, 1_764_000_000_000);
    wait_until("the failure noted", Duration::from_secs(10), || {
        home.status("ann")["listenbrainz"]["lastError"].is_string()
    });
    assert_eq!(home.pending("ann", "listenbrainz"), 1);
    // The service comes back: the listen arrives, once.
    let stand_in = StandIn::start_on(port, seen);
    wait_until("the listen delivered", Duration::from_secs(30), || {
        stand_in.seen().lb_listens.len() == 1
    });
    wait_until("nothing waits", Duration::from_secs(5), || {
        home.pending("ann", "listenbrainz") == 0
    });
    let status = home.status("ann");
    assert!(status["listenbrainz"]["lastError"].is_null(), "{status}");
    assert!(status["listenbrainz"]["lastSentAt"].is_i64());
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stand_in.seen().lb_listens.len(), 1);
}

#[test]
fn server_errors_and_rate_limits_are_retried_as_asked_and_delivered_once() {
    let stand_in = stand_in_for_ann();
    let home = Home::start(stand_in.port);
    home.link_listenbrainz("ann", "ann-token");
    home.link_lastfm("ann", "ann-auth");
    {
        let mut s = stand_in.seen();
        // ListenBrainz: a 500, then a 429 asking for 3 s. Last.fm: temporarily unavailable
        // (error 16), then rate-limited (error 29, HTTP 429 with Retry-After).
        s.lb_script
            .push_back(json(500, serde_json::json!({"code": 500, "error": "oops"})));
        s.lb_script.push_back(Answer::Status(
            429,
            vec![
                ("X-RateLimit-Limit", "30".into()),
                ("X-RateLimit-Remaining", "0".into()),
                ("X-RateLimit-Reset-In", "3".into()),
            ],
            r#"{"code":429,"error":"Too many requests"}"#.into(),
        ));
        s.lfm_script.push_back(json(
            503,
            serde_json::json!({"error": 16, "message": "There was a temporary error processing your request. Please try again"}),
        ));
        s.lfm_script.push_back(Answer::Status(
            429,
            vec![("Retry-After", "3".into())],
            r#"{"error":29,"message":"Rate Limit Exceded"}"#.into(),
        ));
    }
    let (frost, _) = home.song("07 - Frost.mpc");
    home.scrobble("ann", frost, 1_764_000_000_000);
    wait_until("delivered to both", Duration::from_secs(60), || {
        let s = stand_in.seen();
        s.lb_listens.len() == 1 && s.lfm_scrobbles.len() == 1
    });
    std::thread::sleep(Duration::from_secs(3));
    let s = stand_in.seen();
    assert!(s.bad.is_empty(), "{:?}", s.bad);
    assert_eq!((s.lb_listens.len(), s.lfm_scrobbles.len()), (1, 1));
    for service in ["listenbrainz", "lastfm"] {
        let times: Vec<Instant> = s
            .deliveries
            .iter()
            .filter(|(to, _)| *to == service)
            .map(|(_, t)| *t)
            .collect();
        assert_eq!(times.len(), 3, "{service}: two failures, one delivery");
        // The rate limit's wait was honoured.
        assert!(
            times[2] - times[1] >= Duration::from_millis(2900),
            "{service}"
        );
        assert!(
            times[1] - times[0] >= Duration::from_millis(900),
            "{service}: backed off"
        );
    }
    drop(s);
    assert_eq!(home.pending("ann", "listenbrainz"), 0);
    assert_eq!(home.pending("ann", "lastfm"), 0);
}

#[test]
fn a_killed_server_sends_what_was_pending_after_a_restart_and_nothing_twice() {
    let stand_in = stand_in_for_ann();
    let mut home = Home::start(stand_in.port);
    home.link_listenbrainz("ann", "ann-token");
    let (frost, _) = home.song("07 - Frost.mpc");
    let (snow, _) = home.song("04 - Snowfall.spx");
    // One listen goes out.
    home.scrobble("ann", frost, 1_764_000_000_000);
    wait_until("the first listen", Duration::from_secs(10), || {
        stand_in.seen().lb_listens.len() == 1
    });
    wait_until("nothing waits", Duration::from_secs(5), || {
        home.pending("ann", "listenbrainz") == 0
    });
    // The service hangs; two more plays wait; the server is killed (SIGKILL) meanwhile.
    {
        let mut s = stand_in.seen();
        for _ in 0..10 {
            s.lb_script.push_back(Answer::Hang);
        }
    }
    home.scrobble("ann", snow, 1_764_000_600_000);
    home.scrobble("ann", frost, 1_764_001_200_000);
    assert_eq!(home.pending("ann", "listenbrainz"), 2);
    std::thread::sleep(Duration::from_millis(500));
    home.server.child.kill().unwrap();
    home.server.child.wait().unwrap();
    stand_in.seen().lb_script.clear();
    let sb = std::mem::replace(&mut home.sb, Sandbox::new());
    drop(home);
    let home = Home::serve(sb, stand_in.port);
    wait_until("the waiting listens", Duration::from_secs(30), || {
        stand_in.seen().lb_listens.len() == 3
    });
    std::thread::sleep(Duration::from_secs(3));
    let s = stand_in.seen();
    let times: Vec<i64> = s
        .lb_listens
        .iter()
        .map(|(_, l)| l["listened_at"].as_i64().unwrap())
        .collect();
    assert_eq!(times, [1_764_000_000, 1_764_000_600, 1_764_001_200]);
    drop(s);
    assert_eq!(home.pending("ann", "listenbrainz"), 0);
}

#[test]
fn a_refused_token_marks_the_link_keeps_the_listens_and_stops_trying() {
    let stand_in = stand_in_for_ann();
    let home = Home::start(stand_in.port);
    home.link_listenbrainz("ann", "ann-token");
    home.link_lastfm("ann", "ann-auth");
    // Ann revokes both at the services.
    {
        let mut s = stand_in.seen();
        s.lb_tokens.clear();
        s.lfm_sessions.clear();
    }
    let (frost, _) = home.song("07 - Frost.mpc");
    home.scrobble("ann", frost, 1_764_000_000_000);
    wait_until("both links marked", Duration::from_secs(10), || {
        let s = home.status("ann");
        s["listenbrainz"]["needsAttention"].is_string() && s["lastfm"]["needsAttention"].is_string()
    });
    let (snow, _) = home.song("04 - Snowfall.spx");
    home.scrobble("ann", snow, 1_764_000_600_000);
    std::thread::sleep(Duration::from_secs(4));
    let status = home.status("ann");
    assert_eq!(status["listenbrainz"]["pending"], 2, "{status}");
    assert_eq!(status["lastfm"]["pending"], 2, "{status}");
    assert!(status["listenbrainz"]["needsAttention"]
        .as_str()
        .unwrap()
        .contains("link your account again"));
    assert_eq!(
        stand_in.seen().deliveries.len(),
        2,
        "one try each, no storm"
    );
    // Linked again: what waited goes out, once.
    {
        let mut s = stand_in.seen();
        s.lb_tokens.insert("new-token".into(), "ann-lb".into());
        s.lfm_tokens.insert(
            "ann-auth-2".into(),
            ("ann-fm".into(), "ann-session-2".into()),
        );
    }
    home.link_listenbrainz("ann", "new-token");
    home.link_lastfm("ann", "ann-auth-2");
    wait_until("the kept listens", Duration::from_secs(10), || {
        let s = stand_in.seen();
        s.lb_listens.len() == 2 && s.lfm_scrobbles.len() == 2
    });
    let status = home.status("ann");
    assert!(status["listenbrainz"]["needsAttention"].is_null());
    let s = stand_in.seen();
    assert!(s.lb_listens.iter().all(|(t, _)| t == "new-token"));
    assert!(s.lfm_scrobbles.iter().all(|(k, _)| k == "ann-session-2"));
    assert!(s.bad.is_empty(), "{:?}", s.bad);
}

#[test]
fn a_listen_the_service_refuses_is_set_aside_without_holding_back_the_others() {
    let stand_in = stand_in_for_ann();
    let home = Home::start(stand_in.port);
    home.link_listenbrainz("ann", "ann-token");
    let (frost, song) = home.song("07 - Frost.mpc");
    let (snow, _) = home.song("04 - Snowfall.spx");
    {
        let mut s = stand_in.seen();
        s.lb_refuse_track = Some(song["title"].as_str().unwrap().to_string());
        // A first failure, so that both listens go out together afterwards.
        s.lb_script
            .push_back(json(503, serde_json::json!({"code": 503, "error": "busy"})));
    }
    home.scrobble("ann", frost, 1_764_000_000_000);
    home.scrobble("ann", snow, 1_764_000_600_000);
    wait_until("the other listen", Duration::from_secs(15), || {
        stand_in.seen().lb_listens.len() == 1
    });
    wait_until("the refusal kept", Duration::from_secs(5), || {
        home.status("ann")["listenbrainz"]["refused"] == 1
    });
    let status = home.status("ann");
    assert_eq!(status["listenbrainz"]["pending"], 0, "{status}");
    assert!(status["listenbrainz"]["needsAttention"].is_null());
    let sent = stand_in.seen().lb_listens[0].1["listened_at"].clone();
    assert_eq!(sent, 1_764_000_600);
    // The failure, the two together (refused), then each alone; and not sent again.
    let tries = stand_in.seen().deliveries.len();
    assert_eq!(tries, 4);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(stand_in.seen().deliveries.len(), tries);
}

#[test]
fn hostile_answers_do_no_harm() {
    let stand_in = stand_in_for_ann();
    let home = Home::start(stand_in.port);
    home.link_listenbrainz("ann", "ann-token");
    let (frost, _) = home.song("07 - Frost.mpc");
    for (i, answer) in [Answer::Garbage, Answer::Huge, Answer::Hang]
        .into_iter()
        .enumerate()
    {
        let before = stand_in.seen().deliveries.len();
        stand_in.seen().lb_script.push_back(answer);
        home.scrobble("ann", frost, 1_764_000_000_000 + i as i64 * 600_000);
        wait_until("the failure noted", Duration::from_secs(15), || {
            stand_in.seen().deliveries.len() > before
                && home.status("ann")["listenbrainz"]["lastError"].is_string()
        });
        // The server still answers, and the listen waits.
        assert!(home.server.health().is_some());
        assert_eq!(home.pending("ann", "listenbrainz"), 1);
        // Linking again sends what waits at once (not after the back-off).
        home.link_listenbrainz("ann", "ann-token");
        wait_until("delivered after", Duration::from_secs(15), || {
            home.pending("ann", "listenbrainz") == 0
        });
    }
    let s = stand_in.seen();
    assert_eq!(s.lb_listens.len(), 3, "each once");
    assert!(s.bad.is_empty(), "{:?}", s.bad);
}

#[test]
fn bad_requests_get_clear_errors() {
    let stand_in = stand_in_for_ann();
    let home = Home::start(stand_in.port);
    let (status, body) = home.send(
        "ann",
        "PUT",
        "/api/scrobbling/listenbrainz",
        r#"{"token":"not-known"}"#,
    );
    assert_eq!(status, 400);
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("listenbrainz.org/settings"));
    let (status, _) = home.send(
        "ann",
        "PUT",
        "/api/scrobbling/listenbrainz",
        r#"{"token":" "}"#,
    );
    assert_eq!(status, 400);
    let (status, _) = home.send("ann", "PUT", "/api/scrobbling/listenbrainz", "{");
    assert_eq!(status, 400);
    let (status, _) = home.send("ann", "PUT", "/api/scrobbling", r#"{"enabled":"yes"}"#);
    assert_eq!(status, 400);
    let (status, body) = home.send("ann", "DELETE", "/api/scrobbling/myspace", "");
    assert_eq!(status, 404, "{body}");
    let (status, _) = home.send("ann", "DELETE", "/api/scrobbling/lastfm", "");
    assert_eq!(status, 200, "unlinking what is not linked is fine");
    let (status, _) = home.send("ann:wrong", "GET", "/api/scrobbling", "");
    assert_eq!(status, 401);
    // A forged or stale state links nothing.
    for state in ["1.9999999999.0000", "garbage", ""] {
        let body = serde_json::json!({"state": state, "token": "ann-auth"}).to_string();
        let (status, body) = home.send("ann", "POST", "/api/scrobbling/lastfm/finish", &body);
        assert_eq!(status, 400, "{state}: {body}");
        assert!(body["error"]
            .as_str()
            .unwrap()
            .contains("start linking again"));
    }
    // Ann's flow, finished by bob (ann sent him the link, or he sent her his): refused, nothing
    // linked for either, and the token is not spent.
    let cb = home.start_lastfm("ann");
    let (status, body) = home.finish_lastfm("bob", &cb, "ann-auth");
    assert_eq!(status, 400, "{body}");
    assert!(body["error"]
        .as_str()
        .unwrap()
        .contains("started by another Houseband user"));
    assert_eq!(home.status("bob")["lastfm"]["linked"], false);
    assert_eq!(home.status("ann")["lastfm"]["linked"], false);
    assert!(stand_in.seen().lfm_tokens.contains_key("ann-auth"));
    // Last.fm refusing the token.
    let cb = home.start_lastfm("ann");
    let (status, body) = home.finish_lastfm("ann", &cb, "never-allowed");
    assert_eq!(status, 400, "{body}");
    assert_eq!(home.status("ann")["lastfm"]["linked"], false);
    // Unlinking forgets the link and what waited for it.
    home.link_listenbrainz("ann", "ann-token");
    stand_in.seen().lb_script.push_back(Answer::Hang);
    let (frost, _) = home.song("07 - Frost.mpc");
    home.scrobble("ann", frost, 1_764_000_000_000);
    let (status, body) = home.send("ann", "DELETE", "/api/scrobbling/listenbrainz", "");
    assert_eq!(status, 200);
    assert_eq!(body["listenbrainz"]["linked"], false);
    assert_eq!(body["listenbrainz"]["pending"], 0);
    assert_eq!(home.sb.count("FROM scrobble_outbox"), 0);
    assert!(stand_in.seen().bad.is_empty());
}

#[test]
fn without_a_lastfm_key_linking_says_what_the_admin_must_set() {
    let sb = Sandbox::with_library();
    assert!(sb
        .cmd(&["user", "add", "ann", "--password", "pw"])
        .output()
        .unwrap()
        .status
        .success());
    // ListenBrainz at a closed port of this machine: nothing here may reach the internet.
    let nowhere = format!("http://127.0.0.1:{}", free_port());
    let server = Server::start_with_env(
        &sb,
        &["--watch", "off", "--scan-interval", "0"],
        &[("HOUSEBAND_LISTENBRAINZ_URL", nowhere.as_str())],
    );
    let home = Home {
        sb,
        server,
        port: 0,
    };
    assert_eq!(home.status("ann")["lastfmAvailable"], false);
    let (status, body) = home.send("ann", "POST", "/api/scrobbling/lastfm", "");
    assert_eq!(status, 409);
    assert!(body["error"].as_str().unwrap().contains("lastfm_api_key"));
}
