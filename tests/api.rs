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
        let url = format!("http://127.0.0.1:{}{path}", self.server.port);
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
