//! The household queue through the native API on a real server over loopback: ops, versions,
//! concurrent edits, stale views, bad input, and a restart that brings the queue back.

mod common;

use std::time::Duration;

use common::{Sandbox, Server};
use houseband::testkit::sound_card::{SoundCard, CARD_RATE};
use serde_json::{json, Value};

struct House {
    server: Server,
    sb: Sandbox,
}

fn basic(who: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(who)
    )
}

impl House {
    fn start() -> House {
        House::start_with_env(&[])
    }

    fn start_with_env(env: &[(&str, &str)]) -> House {
        let sb = Sandbox::with_library();
        for (name, admin) in [("ann", true), ("bob", false)] {
            let mut args = vec!["user", "add", name, "--password", "pw"];
            if admin {
                args.push("--admin");
            }
            assert!(sb.cmd(&args).output().unwrap().status.success());
        }
        House::serve_with_env(sb, env)
    }

    fn serve(sb: Sandbox) -> House {
        House::serve_with_env(sb, &[])
    }

    fn serve_with_env(sb: Sandbox, env: &[(&str, &str)]) -> House {
        let server = Server::start_with_env(&sb, &["--watch", "off", "--scan-interval", "0"], env);
        server.wait_for(Duration::from_secs(20), |h| {
            h["tracks"] == 22 && h["scanning"] == false
        });
        House { server, sb }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}/api/{path}", self.server.port)
    }

    fn state(&self) -> Value {
        let r = ureq::get(&self.url("queue"))
            .set("Authorization", &basic("ann:pw"))
            .call()
            .unwrap();
        serde_json::from_reader(r.into_reader()).unwrap()
    }

    /// POSTs an op as `who`; returns (status, body).
    fn op_as(&self, who: &str, body: &str) -> (u16, Value) {
        let r = ureq::post(&self.url("queue"))
            .set("Authorization", &basic(who))
            .set("Content-Type", "application/json")
            .send_string(body);
        let r = match r {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{e}"),
        };
        let status = r.status();
        (
            status,
            serde_json::from_reader(r.into_reader()).unwrap_or(Value::Null),
        )
    }

    fn op(&self, body: Value) -> Value {
        let (status, v) = self.op_as("ann:pw", &body.to_string());
        assert_eq!(status, 200, "{body}: {v}");
        v
    }

    fn song(&self, file: &str) -> String {
        format!("tr-{}", self.sb.track_id(file))
    }
}

fn entry_songs(state: &Value) -> Vec<String> {
    state["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["song"]["title"].as_str().unwrap().to_string())
        .collect()
}

fn album_of(h: &House, file: &str) -> String {
    let rows = common::rows(
        &h.sb.db(),
        "album_id",
        &format!("FROM tracks WHERE path LIKE '%/{file}'"),
    )
    .unwrap();
    format!("al-{}", rows[0][0])
}

#[test]
fn ops_change_the_shared_queue_and_versions_tell_stale_views() {
    let h = House::start();
    let empty = h.state();
    assert_eq!(empty["entries"], json!([]));
    assert_eq!(empty["current"], Value::Null);
    assert_eq!(empty["repeat"], "off");

    let (sunny, four) = (h.song("01 - Sunny.mp3"), h.song("01 - Four.mp3"));
    let s = h.op(json!({"op": "add", "songs": [sunny, four, sunny]}));
    assert_eq!(entry_songs(&s), ["Sunny", "Four", "Sunny"]);
    assert_eq!(
        s["current"], s["entries"][0]["id"],
        "the first song added becomes current"
    );
    let ids: Vec<String> = s["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    assert_ne!(ids[0], ids[2], "the same song twice has two entries");
    assert_eq!(s["entries"][0]["song"]["duration"], 1);
    assert!(s["entries"][0]["song"]["coverArt"]
        .as_str()
        .unwrap()
        .starts_with("al-"));

    // An album after the current entry; bob (not an admin) edits the same queue.
    let northern = album_of(&h, "01 - Polar Night.flac");
    let (status, s) = h.op_as(
        "bob:pw",
        &json!({"op": "add", "album": northern, "position": "next"}).to_string(),
    );
    assert_eq!(status, 200);
    assert_eq!(entry_songs(&s)[1], "Polar Night");
    let v = s["version"].as_i64().unwrap();

    // Two phones on version v: one removes an entry, the other plays another. Both apply.
    h.op(json!({"op": "remove", "entries": [ids[1]], "version": v}));
    let s = h.op(json!({"op": "play", "entry": ids[2], "version": v}));
    assert_eq!(s["current"], ids[2].as_str());
    assert_eq!(s["playing"], true);
    assert_eq!(s["version"].as_i64().unwrap(), v + 2);
    // Stale views: a removed entry, and an index from an old version, come back as 409 with
    // the current state.
    let (status, body) = h.op_as(
        "ann:pw",
        &json!({"op": "play", "entry": ids[1]}).to_string(),
    );
    assert_eq!(status, 409);
    assert_eq!(body["state"]["version"].as_i64().unwrap(), v + 2);
    assert!(body["error"].as_str().unwrap().contains(&ids[1]));
    let (status, _) = h.op_as(
        "ann:pw",
        &json!({"op": "move", "entry": ids[0], "to": 0, "version": v}).to_string(),
    );
    assert_eq!(status, 409);

    // The rest of the ops.
    let s = h.op(json!({"op": "move", "entry": ids[2], "to": 0}));
    assert_eq!(s["entries"][0]["id"], ids[2].as_str());
    let s = h.op(json!({"op": "seek", "position_ms": 500}));
    assert_eq!(s["position_ms"], 500);
    let s = h.op(json!({"op": "pause"}));
    assert_eq!(s["playing"], false);
    h.op(json!({"op": "resume"}));
    let s = h.op(json!({"op": "next"}));
    assert_eq!(s["current"], s["entries"][1]["id"]);
    let s = h.op(json!({"op": "previous"}));
    assert_eq!(s["current"], s["entries"][0]["id"]);
    let s = h.op(json!({"op": "set_repeat", "repeat": "all"}));
    assert_eq!(s["repeat"], "all");
    let before = entry_songs(&s);
    h.op(json!({"op": "set_shuffle", "shuffle": true}));
    let s = h.op(json!({"op": "set_shuffle", "shuffle": false}));
    assert_eq!(entry_songs(&s), before);
    let s = h.op(json!({"op": "set_volume", "volume": 40}));
    assert_eq!(s["volume"], 40);
    let s = h.op(json!({"op": "set_muted", "muted": true}));
    assert_eq!((&s["muted"], &s["volume"]), (&json!(true), &json!(40)));
    let s = h.op(json!({"op": "set_muted", "muted": false}));
    assert_eq!(s["muted"], false);
    let s = h.op(json!({"op": "clear"}));
    assert_eq!(
        (s["entries"].clone(), s["current"].clone()),
        (json!([]), Value::Null)
    );
}

#[test]
fn bad_ops_get_clear_errors_and_change_nothing() {
    let h = House::start();
    let sunny = h.song("01 - Sunny.mp3");
    h.op(json!({"op": "add", "songs": [sunny]}));
    let version = h.state()["version"].clone();
    let cases: Vec<(String, u16)> = vec![
        ("not json".into(), 400),
        (json!({"op": "dance"}).to_string(), 400),
        (json!({"op": "add"}).to_string(), 400),
        (
            json!({"op": "add", "songs": ["tr-999999"]}).to_string(),
            404,
        ),
        (json!({"op": "add", "songs": ["../etc"]}).to_string(), 400),
        (json!({"op": "add", "album": "al-999999"}).to_string(), 404),
        (json!({"op": "add", "playlist": "pl-999"}).to_string(), 404),
        (
            json!({"op": "add", "songs": [sunny], "album": "al-1"}).to_string(),
            400,
        ),
        (
            json!({"op": "add", "songs": [sunny], "position": -1}).to_string(),
            400,
        ),
        (
            json!({"op": "remove", "entries": ["q999"]}).to_string(),
            409,
        ),
        (json!({"op": "set_volume", "volume": 101}).to_string(), 400),
        (json!({"op": "set_muted", "muted": "yes"}).to_string(), 400),
        (json!({"op": "set_muted"}).to_string(), 400),
        (
            json!({"op": "set_repeat", "repeat": "twice"}).to_string(),
            400,
        ),
        (json!({"op": "pause", "surprise": 1}).to_string(), 400),
    ];
    for (body, status) in cases {
        let (got, v) = h.op_as("ann:pw", &body);
        assert_eq!(got, status, "{body}: {v}");
        assert!(v["error"].is_string(), "{body}: {v}");
    }
    assert_eq!(h.state()["version"], version, "nothing changed");
    // No login, no queue.
    let r = ureq::get(&h.url("queue")).call();
    assert!(matches!(r, Err(ureq::Error::Status(401, _))));

    // 100,000 songs in one add: taken, quickly; the limit holds after that.
    let ids: Vec<String> = (0..100_000).map(|_| sunny.clone()).collect();
    let (status, v) = h.op_as("ann:pw", &json!({"op": "add", "songs": ids}).to_string());
    assert_eq!(status, 400, "{v}");
    let ids: Vec<String> = (0..99_999).map(|_| sunny.clone()).collect();
    let start = std::time::Instant::now();
    let (status, _) = h.op_as("ann:pw", &json!({"op": "add", "songs": ids}).to_string());
    assert_eq!(status, 200);
    eprintln!("99,999 songs added in {:?}", start.elapsed());
    assert_eq!(h.state()["entries"].as_array().unwrap().len(), 100_000);
}

#[test]
fn a_restart_brings_back_the_queue_where_it_was() {
    let h = House::start();
    let (sunny, four, polar) = (
        h.song("01 - Sunny.mp3"),
        h.song("01 - Four.mp3"),
        h.song("01 - Polar Night.flac"),
    );
    h.op(json!({"op": "add", "songs": [sunny, four, polar]}));
    let s = h.op(json!({"op": "set_shuffle", "shuffle": true}));
    let second = s["entries"][1]["id"].as_str().unwrap().to_string();
    h.op(json!({"op": "play", "entry": second}));
    h.op(json!({"op": "seek", "position_ms": 700}));
    let before = h.op(json!({"op": "set_repeat", "repeat": "one"}));

    // kill -9 and start again on the same data.
    let House { mut server, sb } = h;
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    drop(server);
    let h = House::serve(sb);
    let after = h.state();
    for key in [
        "version",
        "entries",
        "current",
        "position_ms",
        "repeat",
        "shuffle",
        "volume",
    ] {
        assert_eq!(after[key], before[key], "{key}");
    }
    assert_eq!(
        after["playing"], false,
        "nothing plays until someone presses play"
    );
    // Shuffle off returns to the order from before the restart's shuffle.
    let s = h.op(json!({"op": "set_shuffle", "shuffle": false}));
    assert_eq!(entry_songs(&s), ["Sunny", "Four", "Polar Night"]);
}

type Socket = tungstenite::WebSocket<tungstenite::stream::MaybeTlsStream<std::net::TcpStream>>;

fn connect(h: &House, who: &str) -> Socket {
    use tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://127.0.0.1:{}/api/queue/ws", h.server.port)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("Authorization", basic(who).parse().unwrap());
    let (ws, _) = tungstenite::connect(req).expect("the socket opens");
    if let tungstenite::stream::MaybeTlsStream::Plain(s) = ws.get_ref() {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    }
    ws
}

/// The next JSON message (skipping pings).
fn next(ws: &mut Socket) -> Value {
    loop {
        match ws.read().expect("a message within 10 s") {
            tungstenite::Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            tungstenite::Message::Ping(_) | tungstenite::Message::Pong(_) => continue,
            other => panic!("unexpected {other:?}"),
        }
    }
}

fn send(ws: &mut Socket, op: Value) {
    ws.send(tungstenite::Message::text(op.to_string())).unwrap();
}

#[test]
fn every_watcher_sees_every_change_with_its_version() {
    let h = House::start();
    let sunny = h.song("01 - Sunny.mp3");
    let four = h.song("01 - Four.mp3");
    let mut watchers: Vec<Socket> = (0..3).map(|_| connect(&h, "ann:pw")).collect();
    for w in &mut watchers {
        let m = next(w);
        assert_eq!(
            (m["type"].as_str(), m["state"]["version"].as_i64()),
            (Some("state"), Some(0))
        );
    }
    // One edits over its socket, one over HTTP: everyone sees both, in version order.
    send(&mut watchers[0], json!({"op": "add", "songs": [sunny]}));
    let m = next(&mut watchers[1]);
    assert_eq!(m["state"]["version"], 1);
    h.op(json!({"op": "add", "songs": [four], "version": 1}));
    for (i, w) in watchers.iter_mut().enumerate() {
        let mut versions = Vec::new();
        while versions.last() != Some(&2) {
            versions.push(next(w)["state"]["version"].as_i64().unwrap());
        }
        assert!(
            versions.windows(2).all(|p| p[0] < p[1]),
            "watcher {i}: {versions:?}"
        );
    }
    // Two sockets edit at once, naming different entries: both apply.
    let state = h.state();
    let (a, b) = (
        state["entries"][0]["id"].as_str().unwrap().to_string(),
        state["entries"][1]["id"].as_str().unwrap().to_string(),
    );
    send(
        &mut watchers[0],
        json!({"op": "play", "entry": a, "version": 2}),
    );
    send(
        &mut watchers[1],
        json!({"op": "remove", "entries": [b], "version": 2}),
    );
    let mut last = Value::Null;
    while last["state"]["version"] != 4 {
        last = next(&mut watchers[2]);
    }
    assert_eq!(last["state"]["entries"].as_array().unwrap().len(), 1);
    assert_eq!(last["state"]["current"], a.as_str());
    for w in &mut watchers[..2] {
        while next(w)["state"]["version"] != 4 {}
    }

    // A stale or malformed op is answered on that socket only, with the current state.
    send(&mut watchers[0], json!({"op": "play", "entry": b}));
    let m = next(&mut watchers[0]);
    assert_eq!(m["type"], "error");
    assert_eq!(m["state"]["version"], 4);
    watchers[0]
        .send(tungstenite::Message::text("{nonsense"))
        .unwrap();
    let m = next(&mut watchers[0]);
    assert_eq!(m["type"], "error");
    assert!(m["message"].as_str().unwrap().contains("not a queue op"));

    // A reconnecting client gets the state again.
    drop(watchers.pop());
    let mut again = connect(&h, "bob:pw");
    assert_eq!(next(&mut again)["state"]["version"], 4);
    // No login, no socket.
    let req = format!("ws://127.0.0.1:{}/api/queue/ws", h.server.port);
    assert!(tungstenite::connect(req).is_err());
}

#[test]
fn a_flooding_socket_is_limited_and_a_deaf_one_slows_no_one() {
    let h = House::start();
    let sunny = h.song("01 - Sunny.mp3");
    let mut flood = connect(&h, "ann:pw");
    next(&mut flood);
    let deaf = connect(&h, "ann:pw");
    let mut listener = connect(&h, "bob:pw");
    next(&mut listener);
    // 300 ops at once: the burst passes, the rest is refused, and past 200 refusals in a row
    // the socket is closed.
    for _ in 0..300 {
        if flood
            .send(tungstenite::Message::text(
                json!({"op": "set_volume", "volume": 50}).to_string(),
            ))
            .is_err()
        {
            break;
        }
    }
    let mut refused = 0;
    loop {
        match flood.read() {
            Ok(tungstenite::Message::Text(t)) => {
                if t.contains("too many ops") {
                    refused += 1;
                }
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    assert!(refused >= 150, "{refused} refused");
    let accepted = h.state()["version"].as_i64().unwrap();
    assert!((30..=60).contains(&accepted), "{accepted} ops taken");

    // The deaf socket never reads; the listener still hears each change at once.
    for i in 0..20 {
        let t = std::time::Instant::now();
        h.op(json!({"op": "add", "songs": [sunny]}));
        let mut m = next(&mut listener);
        while m["state"]["version"].as_i64().unwrap() < accepted + i + 1 {
            m = next(&mut listener);
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "change {i} took {:?}",
            t.elapsed()
        );
    }
    drop(deaf);
}

#[test]
fn a_login_session_opens_the_queue_by_cookie_or_token_until_logout() {
    let h = House::start();
    let login = |body: Value| match ureq::post(&h.url("login"))
        .set("Content-Type", "application/json")
        .send_string(&body.to_string())
    {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{e}"),
    };
    let wrong = login(json!({"username": "ann", "password": "nope"}));
    assert_eq!(wrong.status(), 401);
    let r = login(json!({"username": "ann", "password": "pw"}));
    assert_eq!(r.status(), 200);
    let cookie = r.header("set-cookie").unwrap().to_string();
    assert!(
        cookie.starts_with("houseband_session=hs_") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let body: Value = serde_json::from_reader(r.into_reader()).unwrap();
    let token = body["token"].as_str().unwrap().to_string();
    assert_eq!(body["user"], "ann");

    let get =
        |header: (&str, String)| match ureq::get(&h.url("queue")).set(header.0, &header.1).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("{e}"),
        };
    let by_cookie = ("Cookie", format!("houseband_session={token}"));
    assert_eq!(get(("Authorization", format!("Bearer {token}"))), 200);
    assert_eq!(get(by_cookie.clone()), 200);
    // The socket takes the cookie, as a browser sends it.
    {
        use tungstenite::client::IntoClientRequest;
        let mut req = format!("ws://127.0.0.1:{}/api/queue/ws", h.server.port)
            .into_client_request()
            .unwrap();
        req.headers_mut()
            .insert("Cookie", by_cookie.1.parse().unwrap());
        let (mut ws, _) = tungstenite::connect(req).expect("the socket opens with the cookie");
        assert_eq!(next(&mut ws)["type"], "state");
    }
    let out = ureq::post(&h.url("logout"))
        .set("Authorization", &format!("Bearer {token}"))
        .call()
        .unwrap();
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(get(("Authorization", format!("Bearer {token}"))), 401);
    assert_eq!(get(by_cookie), 401);
    assert_eq!(get(("Authorization", "Bearer hs_forged".into())), 401);
}

#[test]
fn the_subsonic_jukebox_drives_the_household_queue() {
    let h = House::start();
    let (sunny, four) = (h.song("01 - Sunny.mp3"), h.song("01 - Four.mp3"));
    let jukebox = |who: &str, query: &str| -> Value {
        let url = format!(
            "http://127.0.0.1:{}/rest/jukeboxControl?u={who}&p=pw&v=1.16.1&c=test&f=json&{query}",
            h.server.port
        );
        let v: Value =
            serde_json::from_reader(ureq::get(&url).call().unwrap().into_reader()).unwrap();
        v["subsonic-response"].clone()
    };
    let r = jukebox("ann", &format!("action=add&id={sunny}&id={four}"));
    assert_eq!(r["jukeboxStatus"]["currentIndex"], 0);
    let r = jukebox("ann", "action=skip&index=1&offset=0");
    assert_eq!(r["jukeboxStatus"]["currentIndex"], 1);
    assert_eq!(r["jukeboxStatus"]["playing"], true);
    jukebox("ann", "action=setGain&gain=0.25");
    jukebox("ann", "action=stop");
    let state = h.state();
    assert_eq!(entry_songs(&state), ["Sunny", "Four"]);
    assert_eq!(
        (state["volume"].as_i64(), state["playing"].as_bool()),
        (Some(25), Some(false))
    );
    assert_eq!(state["current"], state["entries"][1]["id"]);
    let r = jukebox("ann", "action=get");
    let entries = r["jukeboxPlaylist"]["entry"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[1]["title"], "Four");
    assert_eq!(r["jukeboxPlaylist"]["gain"], 0.25);
    jukebox("ann", "action=remove&index=0");
    assert_eq!(entry_songs(&h.state()), ["Four"]);
    let r = jukebox("ann", &format!("action=set&id={sunny}"));
    assert_eq!(r["status"], "ok");
    assert_eq!(entry_songs(&h.state()), ["Sunny"]);
    jukebox("ann", "action=clear");
    assert_eq!(h.state()["entries"], json!([]));
    // Bad input, and a user without the jukebox role.
    for (query, code) in [
        ("action=dance", 10),
        ("action=skip&index=99", 10),
        ("action=setGain&gain=2", 10),
        ("action=add&id=tr-999999", 70),
    ] {
        assert_eq!(jukebox("ann", query)["error"]["code"], code, "{query}");
    }
    assert_eq!(jukebox("bob", "action=status")["error"]["code"], 50);
}

fn outputs_of(h: &House) -> Value {
    let r = ureq::get(&h.url("outputs"))
        .set("Authorization", &basic("ann:pw"))
        .call()
        .unwrap();
    serde_json::from_reader(r.into_reader()).unwrap()
}

/// The next message of `kind`, skipping the others.
fn next_of(ws: &mut Socket, kind: &str) -> Value {
    loop {
        let m = next(ws);
        if m["type"] == kind {
            return m;
        }
    }
}

#[test]
fn browser_players_follow_the_queue_and_hand_off_at_the_same_place() {
    let h = House::start();
    let (sunny, four) = (h.song("01 - Sunny.mp3"), h.song("01 - Four.mp3"));
    let mut a = connect(&h, "ann:pw");
    let mut b = connect(&h, "bob:pw");
    send(
        &mut a,
        json!({"type": "register_player", "name": "Kitchen tablet"}),
    );
    send(&mut b, json!({"type": "register_player", "name": "Laptop"}));
    let a_id = next_of(&mut a, "registered")["output"]
        .as_str()
        .unwrap()
        .to_string();
    let b_id = next_of(&mut b, "registered")["output"]
        .as_str()
        .unwrap()
        .to_string();
    let outputs = outputs_of(&h);
    let mut names: Vec<(&str, &str)> = outputs
        .as_array()
        .unwrap()
        .iter()
        .map(|o| (o["name"].as_str().unwrap(), o["kind"].as_str().unwrap()))
        .collect();
    names.sort();
    assert_eq!(
        names,
        [("Kitchen tablet", "browser"), ("Laptop", "browser")]
    );

    h.op(json!({"op": "add", "songs": [sunny, four]}));
    h.op(json!({"op": "set_output", "output": a_id}));
    // Chosen while paused: the tablet cues the song; resuming plays it.
    let cue = next_of(&mut a, "order");
    assert_eq!(
        (cue["action"].as_str(), cue["song"].as_str()),
        (Some("pause"), Some(sunny.as_str()))
    );
    h.op(json!({"op": "resume"}));
    let order = next_of(&mut a, "order");
    assert_eq!(order["action"], "play");
    assert_eq!(order["song"], sunny.as_str());
    assert_eq!(order["url"], format!("/api/stream/{sunny}"));
    // The next song comes with it, to be prepared ahead.
    assert_eq!(order["next"]["song"], four.as_str());
    assert_eq!(order["next"]["url"], format!("/api/stream/{four}"));
    // The active player reports where it is; the queue keeps the place.
    send(&mut a, json!({"type": "position", "position_ms": 600}));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(h.state()["position_ms"], 600);

    // Hand-off: the laptop takes over at the same place, the tablet stops. The place is where
    // the song is now: the last report plus the time since (200 ms at least), within the song.
    let length_ms = h.state()["entries"][0]["song"]["duration"]
        .as_i64()
        .unwrap()
        * 1000;
    let start = std::time::Instant::now();
    h.op(json!({"op": "set_output", "output": b_id}));
    let order = next_of(&mut b, "order");
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(order["action"], "play");
    let at = order["position_ms"].as_i64().unwrap();
    assert!(
        at >= 800.min(length_ms.max(600)) && at <= length_ms.max(600),
        "handed off at {at} ms: reported 600 ms over 200 ms before, song of {length_ms} ms"
    );
    assert_eq!(next_of(&mut a, "order")["action"], "stop");
    // A report from the player that is not the output is refused.
    send(&mut a, json!({"type": "ended"}));
    assert!(next_of(&mut a, "error")["message"]
        .as_str()
        .unwrap()
        .contains("output"));

    // The laptop finishes the song: the queue moves on and tells it what is next.
    send(&mut b, json!({"type": "ended"}));
    let order = next_of(&mut b, "order");
    assert_eq!(
        (order["action"].as_str(), order["song"].as_str()),
        (Some("play"), Some(four.as_str()))
    );
    assert_eq!(order["position_ms"], 0);
    assert_eq!(order["next"], Value::Null, "nothing after the last song");

    // Unknown outputs are refused; a player that leaves is gone, and the queue stops.
    let (status, _) = h.op_as(
        "ann:pw",
        &json!({"op": "set_output", "output": "browser-999"}).to_string(),
    );
    assert_eq!(status, 404);
    drop(b);
    let start = std::time::Instant::now();
    while h.state()["output"] != Value::Null {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "the queue still plays on a gone player"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(h.state()["playing"], false);
    let outputs = outputs_of(&h);
    assert_eq!(outputs.as_array().unwrap().len(), 1);
}

/// A run of one tone in captured audio.
#[derive(Debug)]
struct Tone {
    hz: f64,
    /// Start and length in seconds from the start of the capture.
    start: f64,
    seconds: f64,
    rms: f64,
}

/// The tones in interleaved stereo, from the zero crossings of the left channel: a run of
/// crossings evenly spaced is one tone; silence or a change of pitch ends it.
fn tones(stereo: &[i16]) -> Vec<Tone> {
    let left: Vec<f64> = stereo.iter().step_by(2).map(|s| f64::from(*s)).collect();
    let crossings: Vec<usize> = (1..left.len())
        .filter(|&i| {
            // Silence is exact zeros here (no dither), which never cross.
            (left[i - 1] < 0.0) != (left[i] < 0.0)
        })
        .collect();
    // (first crossing, last crossing, mean half period) of each run.
    let mut runs: Vec<(usize, usize, f64)> = Vec::new();
    for pair in crossings.windows(2) {
        let half = (pair[1] - pair[0]) as f64;
        match runs.last_mut() {
            Some((_, last, mean))
                if *last == pair[0] && (half - *mean).abs() <= *mean * 0.1 + 1.0 =>
            {
                let n = (*last - pair[0]) as f64 / *mean;
                *mean = (*mean * n + half) / (n + 1.0);
                *last = pair[1];
            }
            _ => runs.push((pair[0], pair[1], half)),
        }
    }
    runs.into_iter()
        // A crossing that straddles two songs or a silence is no tone.
        .filter(|(first, last, mean)| (last - first) as f64 / mean >= 10.0)
        .map(|(first, last, mean)| {
            let part = &left[first..last];
            Tone {
                hz: CARD_RATE as f64 / (2.0 * mean),
                start: first as f64 / CARD_RATE as f64,
                seconds: (last - first) as f64 / CARD_RATE as f64,
                rms: (part.iter().map(|s| s * s).sum::<f64>() / part.len() as f64).sqrt(),
            }
        })
        .collect()
}

fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what} within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_local_output_plays_the_queue_on_the_sound_card() {
    let card_dir = tempfile::tempdir().unwrap();
    let card = SoundCard::new(card_dir.path());
    let h = House::start_with_env(&card.env());
    wait_until("the sound card is found", Duration::from_secs(10), || {
        outputs_of(&h)[0]["available"] == true
    });
    let local = &outputs_of(&h)[0];
    assert_eq!(
        (&local["id"], &local["kind"]),
        (&json!("local"), &json!("local"))
    );

    // Two 1 s tones, 880 Hz then 220 Hz, one after the other.
    let (waves, polar) = (h.song("03 - Waves.flac"), h.song("01 - Polar Night.flac"));
    let state = h.op(json!({"op": "add", "songs": [waves, polar]}));
    let first = state["entries"][0]["id"].clone();
    h.op(json!({"op": "set_output", "output": "local"}));
    card.take();
    h.op(json!({"op": "play", "entry": first}));
    // The output tells the queue when each song ends: it moves on, then stops at the end.
    wait_until(
        "the queue plays to its end",
        Duration::from_secs(10),
        || {
            let s = h.state();
            s["current"].is_null() && s["playing"] == false
        },
    );
    let heard = tones(&card.take_when_quiet(Duration::from_millis(300), Duration::from_secs(5)));
    assert_eq!(heard.len(), 2, "{heard:?}");
    for (tone, hz) in heard.iter().zip([880.0, 220.0]) {
        assert!((tone.hz - hz).abs() < hz * 0.05, "{heard:?}");
        assert!((tone.seconds - 1.0).abs() <= 0.03, "{heard:?}");
    }
    // No gap: the next song was opened ahead and followed at once.
    let gap = heard[1].start - (heard[0].start + heard[0].seconds);
    assert!(gap.abs() <= 0.011, "a {gap} s gap: {heard:?}");

    // Half volume (a square curve: a quarter of the amplitude), from half-way into a song.
    let full = heard[0].rms;
    h.op(json!({"op": "set_volume", "volume": 50}));
    // The output the queue plays on shows the queue's volume.
    assert_eq!(outputs_of(&h)[0]["volume"], 50);
    h.op(json!({"op": "play", "entry": first}));
    h.op(json!({"op": "pause"}));
    h.op(json!({"op": "seek", "position_ms": 500}));
    std::thread::sleep(Duration::from_millis(300));
    card.take();
    h.op(json!({"op": "resume"}));
    wait_until(
        "the queue plays to its end",
        Duration::from_secs(10),
        || h.state()["current"].is_null(),
    );
    let heard = tones(&card.take_when_quiet(Duration::from_millis(300), Duration::from_secs(5)));
    assert_eq!(heard.len(), 2, "{heard:?}");
    assert!((heard[0].hz - 880.0).abs() < 44.0, "{heard:?}");
    assert!((heard[0].seconds - 0.5).abs() <= 0.03, "{heard:?}");
    assert!((heard[1].seconds - 1.0).abs() <= 0.03, "{heard:?}");
    let ratio = heard[0].rms / full;
    assert!(
        (ratio - 0.25).abs() < 0.02,
        "volume 50 gave {ratio} of full"
    );

    // Moving to another output closes the device; nothing more is written.
    let mut tablet = connect(&h, "ann:pw");
    send(
        &mut tablet,
        json!({"type": "register_player", "name": "Tablet"}),
    );
    let id = next_of(&mut tablet, "registered")["output"].clone();
    h.op(json!({"op": "play", "entry": first}));
    h.op(json!({"op": "set_output", "output": id}));
    assert_eq!(next_of(&mut tablet, "order")["action"], "play");
    std::thread::sleep(Duration::from_millis(500));
    card.take();
    std::thread::sleep(Duration::from_millis(500));
    assert!(card.take().is_empty(), "the device is still open");

    // Subsonic's jukebox is the sound card: started while the queue plays nowhere, it plays here.
    drop(tablet);
    wait_until("the tablet is gone", Duration::from_secs(5), || {
        h.state()["output"].is_null()
    });
    let url = format!(
        "http://127.0.0.1:{}/rest/jukeboxControl?u=ann&p=pw&v=1.16.1&c=test&f=json&action=start",
        h.server.port
    );
    let r: Value = serde_json::from_reader(ureq::get(&url).call().unwrap().into_reader()).unwrap();
    assert_eq!(
        r["subsonic-response"]["jukeboxStatus"]["playing"], true,
        "{r}"
    );
    assert_eq!(h.state()["output"], "local");
    wait_until("the jukebox is heard", Duration::from_secs(5), || {
        !tones(&card.peek()).is_empty()
    });
}

#[test]
fn without_a_sound_device_the_local_output_is_listed_unavailable() {
    let home = tempfile::tempdir().unwrap();
    // A card that does not exist, as on a NAS without one.
    std::fs::write(
        home.path().join(".asoundrc"),
        "pcm.!default { type hw card 9 }\n",
    )
    .unwrap();
    let h = House::start_with_env(&[
        ("HOME", home.path().to_str().unwrap()),
        ("HOUSEBAND_LOCAL_OUTPUT", "true"),
    ]);
    wait_until(
        "the sound device is looked for",
        Duration::from_secs(10),
        || outputs_of(&h)[0]["problem"].is_string(),
    );
    let local = &outputs_of(&h)[0];
    assert_eq!(
        (&local["id"], &local["available"]),
        (&json!("local"), &json!(false))
    );
    let (status, body) = h.op_as(
        "ann:pw",
        &json!({"op": "set_output", "output": "local"}).to_string(),
    );
    assert_eq!(status, 409, "{body}");
    assert!(
        body["error"].as_str().unwrap().contains("unavailable"),
        "{body}"
    );
    // The server goes on as before.
    h.op(json!({"op": "add", "songs": [h.song("01 - Sunny.mp3")]}));
    assert_eq!(h.state()["entries"].as_array().unwrap().len(), 1);
}

/// A raw connection to the server, for what a WebSocket library would never send.
fn raw(h: &House, request: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", h.server.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request).unwrap();
    s
}

fn upgrade_request(path: &str, who: &str) -> Vec<u8> {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Authorization: {}\r\n\r\n",
        basic(who)
    )
    .into_bytes()
}

/// The HTTP head the server answered with.
fn head_of(s: &mut std::net::TcpStream) -> String {
    use std::io::Read;
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(s.read(&mut byte).unwrap(), 1, "the head ends early");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// One frame from the server: (opcode, payload).
fn frame_of(s: &mut std::net::TcpStream) -> (u8, Vec<u8>) {
    use std::io::Read;
    let mut h = [0u8; 2];
    s.read_exact(&mut h).unwrap();
    assert_eq!(h[1] & 0x80, 0, "server frames are not masked");
    let len = match h[1] & 0x7F {
        126 => {
            let mut l = [0u8; 2];
            s.read_exact(&mut l).unwrap();
            u16::from_be_bytes(l) as usize
        }
        127 => {
            let mut l = [0u8; 8];
            s.read_exact(&mut l).unwrap();
            u64::from_be_bytes(l) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (h[0] & 0x0F, payload)
}

fn masked_text(text: &str) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut f = vec![0x81, 0x80 | text.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(text.bytes().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

#[test]
fn the_socket_refuses_what_is_not_a_queue_websocket() {
    let h = House::start();
    // An upgrade elsewhere, a plain GET, bad credentials: HTTP errors with a JSON reason.
    let mut s = raw(&h, &upgrade_request("/rest/ping", "ann:pw"));
    assert!(head_of(&mut s).starts_with("HTTP/1.1 404"));
    let plain = ureq::get(&h.url("queue/ws"))
        .set("Authorization", &basic("ann:pw"))
        .call();
    assert!(
        matches!(plain, Err(ureq::Error::Status(426, _))),
        "{plain:?}"
    );
    let mut s = raw(&h, &upgrade_request("/api/queue/ws", "ann:wrong"));
    let head = head_of(&mut s);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(head.contains("WWW-Authenticate"), "{head}");

    // A first frame sent with the handshake is read; the answer follows the state.
    let mut request = upgrade_request("/api/queue/ws", "ann:pw");
    request.extend(masked_text(r#"{"op":"nope"}"#));
    let mut s = raw(&h, &request);
    let head = head_of(&mut s);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    let (op, state) = frame_of(&mut s);
    assert_eq!(op, 1);
    assert!(String::from_utf8(state)
        .unwrap()
        .starts_with(r#"{"type":"state""#));
    let (_, error) = frame_of(&mut s);
    let error: Value = serde_json::from_slice(&error).unwrap();
    assert_eq!(error["type"], "error");
    assert!(
        error["message"].as_str().unwrap().contains("unknown op"),
        "{error}"
    );

    // An unmasked frame breaks the protocol: closed with 1002.
    use std::io::Write;
    s.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    let (op, code) = frame_of(&mut s);
    assert_eq!((op, code), (8, 1002u16.to_be_bytes().to_vec()));
    // The server is fine.
    assert_eq!(h.state()["entries"], json!([]));
}
