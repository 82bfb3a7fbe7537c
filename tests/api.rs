//! The native JSON API (`/api/`) end to end: the real server on loopback, real HTTP, its logins
//! (HTTP Basic, API keys) and the API key management the Subsonic `apiKey` login relies on.

mod common;

use std::time::{Duration, Instant};

use base64::Engine;
use common::*;
use serde_json::{json, Value};

const PASSWORD: &str = "s3cret pw";

struct Native {
    server: Server,
    _sb: Sandbox,
}

fn basic(user: &str, password: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

impl Native {
    fn start() -> Native {
        let sb = Sandbox::with_library();
        for (name, admin) in [("ann", true), ("bob", false)] {
            let mut args = vec!["user", "add", name, "--password", PASSWORD];
            if admin {
                args.push("--admin");
            }
            assert!(sb.cmd(&args).output().unwrap().status.success());
        }
        let server = Server::start(&sb, &["--watch", "off"]);
        Native { server, _sb: sb }
    }

    /// A call with an `Authorization` header (or none); returns status, headers and JSON body.
    fn call(
        &self,
        method: &str,
        path: &str,
        auth: Option<&str>,
        body: Option<&str>,
    ) -> (u16, Option<String>, Value) {
        call(self.server.port, method, path, auth, body)
    }

    fn subsonic_ping(&self, key: &str) -> Value {
        let url = format!(
            "http://127.0.0.1:{}/rest/ping?apiKey={key}&v=1.16.1&c=test&f=json",
            self.server.port
        );
        let v: Value =
            serde_json::from_str(&ureq::get(&url).call().unwrap().into_string().unwrap()).unwrap();
        v["subsonic-response"].clone()
    }
}

#[test]
fn api_keys_are_made_listed_and_revoked_through_the_native_api() {
    let api = Native::start();
    let ann = basic("ann", PASSWORD);
    let bob = basic("bob", PASSWORD);

    // No login, a wrong one, or junk: 401 with a Basic challenge and a message.
    for auth in [
        None,
        Some(basic("ann", "wrong").as_str()),
        Some(basic("nobody", PASSWORD).as_str()),
        Some("Bearer hb_0000"),
        Some("Digest abc"),
    ] {
        let (status, challenge, body) = api.call("GET", "/api/apikeys", auth, None);
        assert_eq!(status, 401, "{auth:?}");
        assert!(challenge.unwrap().starts_with("Basic"));
        assert!(body["error"].is_string());
    }
    let (status, _, _) = api.call("GET", "/api/apikeys", Some("Basic !!!not base64"), None);
    assert_eq!(status, 400);

    // Ann makes a key; it is shown once and logs in to the Subsonic API.
    let (status, _, made) = api.call(
        "POST",
        "/api/apikeys",
        Some(&ann),
        Some(r#"{"label": "kitchen tablet"}"#),
    );
    assert_eq!(status, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_string();
    assert!(key.starts_with("hb_") && key.len() > 40, "{key}");
    assert_eq!(made["label"], "kitchen tablet");
    assert_eq!(api.subsonic_ping(&key)["status"], "ok");

    // The key also logs in to the native API, and the list shows it (never the key itself).
    let (status, _, list) = api.call("GET", "/api/apikeys", Some(&format!("Bearer {key}")), None);
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["label"], "kitchen tablet");
    assert!(list[0]["last_used"].is_i64(), "{list}");
    assert!(!list.to_string().contains(&key));

    // No body gives a default label; a bad body is a 400 that says what to send.
    let (status, _, plain) = api.call("POST", "/api/apikeys", Some(&bob), None);
    assert_eq!((status, &plain["label"]), (201, &json!("API key")));
    let (status, _, bad) = api.call("POST", "/api/apikeys", Some(&bob), Some("{nope"));
    assert_eq!(status, 400);
    assert!(bad["error"].as_str().unwrap().contains("label"));
    let long = format!(r#"{{"label": "{}"}}"#, "x".repeat(5000));
    let (status, _, trimmed) = api.call("POST", "/api/apikeys", Some(&bob), Some(&long));
    assert_eq!(status, 201);
    assert_eq!(trimmed["label"].as_str().unwrap().len(), 200);

    // Bob manages only his own keys; an admin manages anyone's.
    let ann_key_id = made["id"].as_i64().unwrap();
    assert_eq!(
        api.call("GET", "/api/apikeys?user=ann", Some(&bob), None).0,
        403
    );
    assert_eq!(
        api.call(
            "DELETE",
            &format!("/api/apikeys/{ann_key_id}"),
            Some(&bob),
            None
        )
        .0,
        404
    );
    let (status, _, bobs) = api.call("GET", "/api/apikeys?user=bob", Some(&ann), None);
    assert_eq!((status, bobs.as_array().unwrap().len()), (200, 2));
    assert_eq!(
        api.call("GET", "/api/apikeys?user=nobody", Some(&ann), None)
            .0,
        404
    );
    let (status, _, for_bob) = api.call("POST", "/api/apikeys?user=bob", Some(&ann), Some("{}"));
    assert_eq!(status, 201);
    assert_eq!(
        api.subsonic_ping(for_bob["key"].as_str().unwrap())["status"],
        "ok"
    );

    // Revoked: the key no longer logs in anywhere.
    let (status, _, _) = api.call(
        "DELETE",
        &format!("/api/apikeys/{ann_key_id}"),
        Some(&ann),
        None,
    );
    assert_eq!(status, 200);
    let after = api.subsonic_ping(&key);
    assert_eq!(after["error"]["code"], 44, "{after}");
    assert_eq!(
        api.call("GET", "/api/apikeys", Some(&format!("Bearer {key}")), None)
            .0,
        401
    );
    assert_eq!(
        api.call("DELETE", "/api/apikeys/x'1", Some(&ann), None).0,
        404
    );
}

#[test]
fn repeated_failed_native_logins_are_slowed_down() {
    let api = Native::start();
    let wrong = basic("ann", "wrong");
    let started = Instant::now();
    for _ in 0..5 {
        assert_eq!(api.call("GET", "/api/apikeys", Some(&wrong), None).0, 401);
    }
    // The fourth and fifth failures wait 250 ms and 500 ms.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(700), "{took:?}");
    // A right login still works, and clears the count.
    assert_eq!(
        api.call("GET", "/api/apikeys", Some(&basic("ann", PASSWORD)), None)
            .0,
        200
    );
}

/// A call to the server at `port` with an `Authorization` header (or none); returns status,
/// the login challenge if any, and the JSON body.
fn call(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<&str>,
) -> (u16, Option<String>, Value) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let mut req = ureq::request(method, &url).timeout(Duration::from_secs(20));
    if let Some(a) = auth {
        req = req.set("Authorization", a);
    }
    let result = match body {
        Some(b) => req.set("Content-Type", "application/json").send_string(b),
        None => req.call(),
    };
    let resp = match result {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {path}: {e}"),
    };
    let status = resp.status();
    let challenge = resp.header("www-authenticate").map(str::to_string);
    let text = resp.into_string().unwrap();
    let v = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text:.200}"));
    (status, challenge, v)
}

/// A call as `who` on the server at `port`: status and JSON body.
fn as_user(port: u16, who: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let auth = basic(who, PASSWORD);
    let body = body.map(|b| b.to_string());
    let (status, _, v) = call(port, method, path, Some(&auth), body.as_deref());
    (status, v)
}

/// `DELETE /api/server/folders/{id}` as `who`: the status.
fn take_back(port: u16, who: &str, id: i64) -> u16 {
    as_user(
        port,
        who,
        "DELETE",
        &format!("/api/server/folders/{id}"),
        None,
    )
    .0
}

#[test]
fn an_admin_adds_and_takes_back_music_folders_and_no_user_data_is_lost() {
    // The classical album lives in a folder of its own, not (yet) a music folder.
    let (sb, classical) = Sandbox::with_classical_apart();
    for (name, admin) in [("ann", true), ("bob", false)] {
        let mut args = vec!["user", "add", name, "--password", PASSWORD];
        if admin {
            args.push("--admin");
        }
        assert!(sb.cmd(&args).output().unwrap().status.success());
    }
    let start = || {
        let server = Server::start(&sb, &["--watch", "on", "--scan-interval", "0"]);
        server.wait_for(Duration::from_secs(30), |h| {
            h["scanning"] == false && h["tracks"].as_i64() > Some(0)
        });
        server
    };
    let server = start();
    let port = server.port;
    let base = server.tracks();
    let path = classical.to_str().unwrap().to_string();

    // Only admins.
    assert_eq!(as_user(port, "bob", "GET", "/api/server", None).0, 403);
    assert_eq!(
        as_user(
            port,
            "bob",
            "POST",
            "/api/server/folders",
            Some(json!({"path": path}))
        )
        .0,
        403
    );
    // Paths that cannot be music folders, each with its reason.
    let music = sb.music();
    let tricks = [
        ("classical".to_string(), 400, "full path"),
        ("/no/such/folder".into(), 400, "cannot use"),
        (
            music
                .join("Aurora Fields/Northern Lights (2019)/cover.jpg")
                .display()
                .to_string(),
            400,
            "cannot use",
        ),
        (
            format!("{}/../music/Aurora Fields", music.display()),
            400,
            "overlaps",
        ),
        (music.display().to_string(), 409, "already"),
        (sb.dir.path().display().to_string(), 400, "overlaps"),
        (sb.data().display().to_string(), 400, "overlaps"),
    ];
    for (bad, status, says) in tricks {
        let (got, body) = as_user(
            port,
            "ann",
            "POST",
            "/api/server/folders",
            Some(json!({"path": bad})),
        );
        assert_eq!(got, status, "{bad}: {body}");
        assert!(
            body["error"].as_str().unwrap().contains(says),
            "{bad}: {body}"
        );
    }
    assert_eq!(
        as_user(
            port,
            "ann",
            "POST",
            "/api/server/folders",
            Some(json!({"path": 7}))
        )
        .0,
        400
    );

    // Added: scanned at once, listed as added in the app.
    let (status, folder) = as_user(
        port,
        "ann",
        "POST",
        "/api/server/folders",
        Some(json!({"path": path})),
    );
    assert_eq!(status, 201, "{folder}");
    assert_eq!(folder["added_in_app"], true);
    let id = folder["id"].as_i64().unwrap();
    server.wait_until_scanned(base + 2);
    // Starred by bob, who sees every folder.
    let rest = |port: u16, who: &str, method: &str, query: &str| -> Value {
        let url = format!(
            "http://127.0.0.1:{port}/rest/{method}?u={who}&p={}&v=1.16.1&c=t&f=json&{query}",
            PASSWORD.replace(' ', "%20")
        );
        let v: Value =
            serde_json::from_str(&ureq::get(&url).call().unwrap().into_string().unwrap()).unwrap();
        v["subsonic-response"].clone()
    };
    let found = rest(port, "bob", "search3", "query=symphony");
    let song = found["searchResult3"]["song"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        rest(port, "bob", "star", &format!("id={song}"))["status"],
        "ok"
    );

    // Watched live like the configured folders.
    std::fs::copy(
        common::fixtures()
            .join("library/Aurora Fields/Northern Lights (2019)/01 - Polar Night.flac"),
        classical.join("Orchestra Nova/03 - Encore.flac"),
    )
    .unwrap();
    server.wait_for(Duration::from_secs(30), |h| {
        h["tracks"].as_i64() == Some(base + 3)
    });
    std::fs::remove_file(classical.join("Orchestra Nova/03 - Encore.flac")).unwrap();

    // Kept across a restart.
    drop(server);
    let server = start();
    let port = server.port;
    server.wait_until_scanned(base + 2);
    let (_, report) = as_user(port, "ann", "GET", "/api/server", None);
    let listed: Vec<(String, bool)> = report["folders"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_string(),
                f["added_in_app"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("music".to_string(), false),
            ("classical".to_string(), true)
        ]
    );

    // A configured folder is not taken back here; the added one is, and its songs are hidden.
    let music_id = report["folders"][0]["id"].as_i64().unwrap();
    let (status, body) = as_user(
        port,
        "ann",
        "DELETE",
        &format!("/api/server/folders/{music_id}"),
        None,
    );
    assert_eq!(status, 409, "{body}");
    assert_eq!(take_back(port, "bob", id), 403);
    assert_eq!(take_back(port, "ann", id), 200);
    server.wait_until_scanned(base);
    let hidden = rest(port, "bob", "search3", "query=symphony");
    assert!(
        hidden["searchResult3"]["song"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{hidden}"
    );
    assert_eq!(take_back(port, "ann", id), 404);
    // The star is still there, and shows again when the folder comes back.
    assert_eq!(sb.count("FROM annotations WHERE starred_at IS NOT NULL"), 1);
    let (status, again) = as_user(
        port,
        "ann",
        "POST",
        "/api/server/folders",
        Some(json!({"path": path})),
    );
    assert_eq!(status, 201, "{again}");
    assert_eq!(
        again["id"].as_i64(),
        Some(id),
        "the same folder, the same id"
    );
    server.wait_until_scanned(base + 2);
    let starred = rest(port, "bob", "getStarred2", "");
    assert_eq!(
        starred["starred2"]["song"][0]["id"].as_str(),
        Some(song.as_str())
    );
}
