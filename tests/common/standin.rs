//! STAND-INS for ListenBrainz and Last.fm (issue 10's scrobbling): there is no internet here, so
//! [`StandIn`] is a small HTTP server on 127.0.0.1, written for the tests, that speaks the parts
//! of each service's documented API Houseband uses (ListenBrainz `/1/validate-token` and
//! `/1/submit-listens` with `Authorization: Token`; Last.fm `auth.getSession`,
//! `track.updateNowPlaying` and `track.scrobble`, form-encoded, signed with the shared secret),
//! checks the requests' shapes and signatures, and records what it took. It can also be told to
//! fail: server errors, rate limits with their wait headers, a refused token, garbage, a huge
//! answer, a connection that hangs.

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::free_port;

pub const API_KEY: &str = "standinkey";
pub const SECRET: &str = "standinsecret";

/// How the stand-in answers the next delivery (a listen submitted, a track scrobbled).
#[derive(Clone)]
pub enum Answer {
    /// A status, headers and body.
    Status(u16, Vec<(&'static str, String)>, String),
    /// Bytes that are not HTTP.
    Garbage,
    /// A 200 whose body never ends in reasonable size (16 MB).
    Huge,
    /// Reads the request and never answers.
    Hang,
}

/// What the stand-in knows and saw.
#[derive(Default)]
pub struct Seen {
    /// ListenBrainz user tokens it accepts, and their user names.
    pub lb_tokens: HashMap<String, String>,
    /// Last.fm tokens users "allowed": the user name and session key each is worth.
    pub lfm_tokens: HashMap<String, (String, String)>,
    /// Last.fm session keys it accepts.
    pub lfm_sessions: Vec<String>,
    /// Answers for the next deliveries to ListenBrainz, in order; when empty, they are taken.
    pub lb_script: VecDeque<Answer>,
    /// A track name ListenBrainz refuses (HTTP 400), as it refuses a listen it finds invalid.
    pub lb_refuse_track: Option<String>,
    /// The token Last.fm's page gives whoever allows the application there.
    pub lfm_allow: Option<String>,
    /// Answers for the next deliveries to Last.fm, in order; when empty, they are taken.
    pub lfm_script: VecDeque<Answer>,
    /// Listens taken by ListenBrainz: (token, the payload item).
    pub lb_listens: Vec<(String, Value)>,
    pub lb_playing: Vec<(String, Value)>,
    /// Scrobbles taken by Last.fm: (session key, the scrobble's fields without `[i]`).
    pub lfm_scrobbles: Vec<(String, HashMap<String, String>)>,
    pub lfm_playing: Vec<(String, HashMap<String, String>)>,
    /// Deliveries that arrived, whatever the answer: to which service, and when.
    pub deliveries: Vec<(&'static str, Instant)>,
    /// Requests that broke the documented shape: none expected.
    pub bad: Vec<String>,
}

pub struct StandIn {
    pub port: u16,
    pub seen: Arc<Mutex<Seen>>,
}

impl StandIn {
    pub fn start() -> StandIn {
        StandIn::start_on(free_port(), Arc::default())
    }

    pub fn start_on(port: u16, seen: Arc<Mutex<Seen>>) -> StandIn {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let s = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(stream, &s));
            }
        });
        StandIn { port, seen }
    }

    pub fn seen(&self) -> std::sync::MutexGuard<'_, Seen> {
        self.seen.lock().unwrap()
    }

    /// The settings that point a server at this stand-in.
    pub fn env(port: u16) -> Vec<(&'static str, String)> {
        vec![
            (
                "HOUSEBAND_LISTENBRAINZ_URL",
                format!("http://127.0.0.1:{port}"),
            ),
            (
                "HOUSEBAND_LASTFM_URL",
                format!("http://127.0.0.1:{port}/2.0/"),
            ),
            (
                "HOUSEBAND_LASTFM_AUTH_URL",
                format!("http://127.0.0.1:{port}/api/auth/"),
            ),
            ("HOUSEBAND_LASTFM_API_KEY", API_KEY.into()),
            ("HOUSEBAND_LASTFM_SECRET", SECRET.into()),
            ("HOUSEBAND_SCROBBLE_TIMEOUT", "2s".into()),
        ]
    }
}

pub struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

pub fn read_request(stream: &TcpStream) -> Option<Request> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let path = parts.next()?.to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        reader.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

pub fn respond(mut stream: &TcpStream, answer: &Answer) {
    match answer {
        Answer::Status(status, headers, body) => {
            let mut head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = stream.write_all(head.as_bytes());
            let _ = stream.write_all(body.as_bytes());
        }
        Answer::Garbage => {
            let _ = stream.write_all(b"\x00\x01 this is not HTTP \xff\xfe\r\n\r\n");
        }
        Answer::Huge => {
            let _ = stream.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 16777216\r\n\r\n",
            );
            let chunk = vec![b'{'; 65536];
            for _ in 0..256 {
                if stream.write_all(&chunk).is_err() {
                    return;
                }
            }
        }
        Answer::Hang => std::thread::sleep(Duration::from_secs(60)),
    }
}

pub fn json(status: u16, body: Value) -> Answer {
    Answer::Status(status, vec![], body.to_string())
}

pub fn serve(stream: TcpStream, seen: &Mutex<Seen>) {
    let Some(req) = read_request(&stream) else {
        return;
    };
    let answer = if let Some(query) = req.path.strip_prefix("/api/auth/?") {
        auth_page(query, seen)
    } else if req.path.starts_with("/1/") {
        listenbrainz(&req, seen)
    } else if req.path == "/2.0/" {
        lastfm(&req, seen)
    } else {
        json(404, serde_json::json!({"error": "no such page"}))
    };
    respond(&stream, &answer);
}

/// Last.fm's page where a user allows an application (https://www.last.fm/api/webauth): the
/// user here always allows it, and is sent back to `cb` with `token` added, the token in
/// `Seen::lfm_allow`.
fn auth_page(query: &str, seen: &Mutex<Seen>) -> Answer {
    let s = seen.lock().unwrap();
    let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    match (params.get("api_key"), params.get("cb"), &s.lfm_allow) {
        (Some(key), Some(cb), Some(token)) if key == API_KEY => {
            let sep = if cb.contains('?') { '&' } else { '?' };
            Answer::Status(
                302,
                vec![("Location", format!("{cb}{sep}token={token}"))],
                String::new(),
            )
        }
        _ => json(
            400,
            serde_json::json!({"error": 6, "message": "Invalid parameters"}),
        ),
    }
}

/// ListenBrainz, as https://listenbrainz.readthedocs.io/en/latest/users/api/ documents it.
pub fn listenbrainz(req: &Request, seen: &Mutex<Seen>) -> Answer {
    let mut s = seen.lock().unwrap();
    let token = req
        .headers
        .get("authorization")
        .and_then(|a| a.strip_prefix("Token "))
        .unwrap_or("")
        .to_string();
    let known = s.lb_tokens.get(&token).cloned();
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/1/validate-token") => match known {
            Some(name) => json(
                200,
                serde_json::json!({"code": 200, "message": "Token valid.", "valid": true, "user_name": name}),
            ),
            None => json(
                200,
                serde_json::json!({"code": 200, "message": "Token invalid.", "valid": false}),
            ),
        },
        ("POST", "/1/submit-listens") => {
            let v: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let kind = v["listen_type"].as_str().unwrap_or("");
            let payload = v["payload"].as_array().cloned().unwrap_or_default();
            if !req.headers["content-type"].starts_with("application/json") {
                s.bad
                    .push(format!("submit-listens without JSON: {:?}", req.headers));
            }
            let shape_ok = match kind {
                "single" | "playing_now" => payload.len() == 1,
                "import" => !payload.is_empty(),
                _ => false,
            } && payload.iter().all(|p| {
                let m = &p["track_metadata"];
                m["artist_name"].is_string()
                    && m["track_name"].is_string()
                    && m["additional_info"]["submission_client"] == "Houseband"
                    && m["additional_info"]["duration_ms"].is_i64()
                    && (kind == "playing_now") == p.get("listened_at").is_none()
                    && (kind == "playing_now" || p["listened_at"].is_i64())
            });
            if !shape_ok {
                s.bad.push(format!("submit-listens: {}", req.body));
                return json(
                    400,
                    serde_json::json!({"code": 400, "error": "Invalid JSON."}),
                );
            }
            if kind != "playing_now" {
                s.deliveries.push(("listenbrainz", Instant::now()));
                if let Some(answer) = s.lb_script.pop_front() {
                    return answer;
                }
            }
            let refused = s.lb_refuse_track.clone().map(Value::from);
            if payload
                .iter()
                .any(|p| Some(&p["track_metadata"]["track_name"]) == refused.as_ref())
            {
                return json(
                    400,
                    serde_json::json!({"code": 400, "error": "Listen refused."}),
                );
            }
            if known.is_none() {
                return json(
                    401,
                    serde_json::json!({"code": 401, "error": "Invalid authorization token."}),
                );
            }
            let list = if kind == "playing_now" {
                &mut s.lb_playing
            } else {
                &mut s.lb_listens
            };
            for p in payload {
                list.push((token.clone(), p));
            }
            json(200, serde_json::json!({"status": "ok"}))
        }
        _ => json(404, serde_json::json!({"code": 404, "error": "Not found"})),
    }
}

/// The signature Last.fm documents (https://www.last.fm/api/authspec): every parameter but
/// `format`, `callback` and `api_sig`, sorted by name, names and values run together, then the
/// secret, through MD5. Written here again on purpose, not taken from the server.
pub fn signature(params: &[(String, String)]) -> String {
    use md5::Digest;
    let mut p: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "format" && k != "callback" && k != "api_sig")
        .collect();
    p.sort_by(|a, b| a.0.cmp(&b.0));
    let text: String = p.iter().map(|(k, v)| format!("{k}{v}")).collect::<String>() + SECRET;
    format!("{:x}", md5::Md5::digest(text.as_bytes()))
}

/// Last.fm's API (https://www.last.fm/api), the JSON flavour (`format=json`).
pub fn lastfm(req: &Request, seen: &Mutex<Seen>) -> Answer {
    let mut s = seen.lock().unwrap();
    let params: Vec<(String, String)> = form_urlencoded::parse(req.body.as_bytes())
        .into_owned()
        .collect();
    let get = |k: &str| {
        params
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let error = |code: u16, status: u16, message: &str| {
        json(
            status,
            serde_json::json!({"error": code, "message": message}),
        )
    };
    if req.method != "POST"
        || !req.headers["content-type"].starts_with("application/x-www-form-urlencoded")
        || get("format") != "json"
    {
        s.bad
            .push(format!("Last.fm call not a JSON form POST: {}", req.body));
        return error(6, 400, "Invalid parameters");
    }
    if get("api_key") != API_KEY {
        s.bad.push(format!("wrong api key: {}", req.body));
        return error(10, 403, "Invalid API key");
    }
    if get("api_sig") != signature(&params) {
        s.bad.push(format!("bad signature: {}", req.body));
        return error(13, 403, "Invalid method signature supplied");
    }
    let sk = get("sk");
    let session_ok = s.lfm_sessions.contains(&sk);
    match get("method").as_str() {
        "auth.getSession" => match s.lfm_tokens.remove(&get("token")) {
            Some((name, key)) => {
                s.lfm_sessions.push(key.clone());
                json(
                    200,
                    serde_json::json!({"session": {"name": name, "key": key, "subscriber": 0}}),
                )
            }
            None => error(
                14,
                403,
                "Unauthorized Token - This token has not been authorized",
            ),
        },
        "track.updateNowPlaying" => {
            if !session_ok {
                return error(9, 403, "Invalid session key - Please re-authenticate");
            }
            let fields: HashMap<String, String> = params.iter().cloned().collect();
            s.lfm_playing.push((sk, fields));
            json(200, serde_json::json!({"nowplaying": {}}))
        }
        "track.scrobble" => {
            s.deliveries.push(("lastfm", Instant::now()));
            if let Some(answer) = s.lfm_script.pop_front() {
                return answer;
            }
            if !session_ok {
                return error(9, 403, "Invalid session key - Please re-authenticate");
            }
            let mut n = 0;
            while params.iter().any(|(k, _)| *k == format!("artist[{n}]")) {
                let suffix = format!("[{n}]");
                let fields: HashMap<String, String> = params
                    .iter()
                    .filter_map(|(k, v)| {
                        k.strip_suffix(&suffix).map(|k| (k.to_string(), v.clone()))
                    })
                    .collect();
                if !fields.contains_key("track") || !fields.contains_key("timestamp") {
                    s.bad.push(format!(
                        "scrobble {n} lacks track or timestamp: {}",
                        req.body
                    ));
                }
                s.lfm_scrobbles.push((sk.clone(), fields));
                n += 1;
            }
            if n == 0 || n > 50 {
                s.bad.push(format!("a batch of {n} scrobbles"));
            }
            json(
                200,
                serde_json::json!({"scrobbles": {"@attr": {"accepted": n, "ignored": 0}, "scrobble": []}}),
            )
        }
        _ => error(
            3,
            400,
            "Invalid Method - No method with that name in this package",
        ),
    }
}
