//! The two services' APIs as Houseband calls them, over plain HTTP requests (ureq): ListenBrainz
//! (`/1/validate-token`, `/1/submit-listens`, `Authorization: Token ...`) and Last.fm
//! (`auth.getSession`, `track.updateNowPlaying`, `track.scrobble`, signed with the shared secret).
//! Each answer is sorted into an [`Outcome`]: accepted, try later (and when), the link is no good,
//! or these listens are refused. Nothing here touches the database.

use std::io::Read;
use std::time::Duration;

use serde_json::{json, Value};

use crate::config::ScrobbleSettings;

/// The most of an answer that is read: a service's answers are small; a bigger one is garbage.
const MAX_ANSWER: u64 = 64 * 1024;
/// Last.fm takes at most this many scrobbles at once; ListenBrainz gets batches as big.
pub const BATCH: usize = 50;
/// The longest a service may ask us to wait before the next try.
const MAX_WAIT: Duration = Duration::from_secs(3600);

/// The two services.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    ListenBrainz,
    LastFm,
}

impl Service {
    pub const ALL: [Service; 2] = [Service::ListenBrainz, Service::LastFm];

    /// The name stored in the database and used in the API.
    pub fn key(self) -> &'static str {
        match self {
            Service::ListenBrainz => "listenbrainz",
            Service::LastFm => "lastfm",
        }
    }

    pub fn parse(key: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::ListenBrainz => "ListenBrainz",
            Service::LastFm => "Last.fm",
        }
    }
}

/// One listen as it goes out: the song as it was when it played.
#[derive(Debug, Clone, PartialEq)]
pub struct Listen {
    pub track_id: i64,
    /// When it started playing (Unix seconds).
    pub listened_at: i64,
    pub artist: String,
    pub track: String,
    pub album: String,
    pub album_artist: String,
    pub duration_ms: i64,
    pub track_number: Option<i32>,
    pub recording_mbid: Option<String>,
    pub release_mbid: Option<String>,
}

/// What a service made of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    /// Not now (the network, a server error, a rate limit): try again, after `wait` if the
    /// service said how long.
    Later {
        why: String,
        wait: Option<Duration>,
    },
    /// The token or session key is refused: nothing more goes out until the user links again.
    Unlinked(String),
    /// These listens themselves are refused; sending them again would get the same answer.
    Refused(String),
}

/// An answer read in full (up to [`MAX_ANSWER`]).
struct Answer {
    status: u16,
    body: String,
    /// `X-RateLimit-Reset-In` or `Retry-After`, in seconds.
    wait: Option<Duration>,
}

/// Calls to the services, with the settings' addresses and time limit.
pub struct Services {
    settings: ScrobbleSettings,
    agent: ureq::Agent,
}

fn user_agent() -> String {
    format!("Houseband/{}", env!("CARGO_PKG_VERSION"))
}

impl Services {
    pub fn new(settings: ScrobbleSettings) -> Services {
        let agent = ureq::AgentBuilder::new()
            .timeout_connect(settings.timeout.min(Duration::from_secs(10)))
            .timeout(settings.timeout)
            // A service that moved says so in its documentation, not with a redirect that
            // would carry the token elsewhere.
            .redirects(0)
            .user_agent(&user_agent())
            .build();
        Services { settings, agent }
    }

    pub fn settings(&self) -> &ScrobbleSettings {
        &self.settings
    }

    /// Whether the server has a Last.fm API account to link users with.
    pub fn lastfm_ready(&self) -> bool {
        self.settings.lastfm_api_key.is_some() && self.settings.lastfm_secret.is_some()
    }

    /// Sends `request` (with `body`, a form or JSON, if any) and reads the answer, whatever its
    /// status; `Err` is a failure to get one (network, time limit), as text for the user.
    fn send(&self, request: ureq::Request, body: Option<(&str, String)>) -> Result<Answer, String> {
        let result = match body {
            Some((content_type, text)) => {
                request.set("Content-Type", content_type).send_string(&text)
            }
            None => request.call(),
        };
        let response = match result {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(ureq::Error::Transport(t)) => return Err(format!("no answer: {t}")),
        };
        let status = response.status();
        let wait = wait_of(&|name| response.header(name));
        let mut bytes = Vec::new();
        response
            .into_reader()
            .take(MAX_ANSWER + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("the answer broke off: {e}"))?;
        Ok(Answer::new(status, &bytes, wait))
    }

    fn listenbrainz(&self, path: &str) -> String {
        format!(
            "{}/1/{path}",
            self.settings.listenbrainz_url.trim_end_matches('/')
        )
    }

    /// The ListenBrainz account a token belongs to: `Ok(name)`, or what to tell the user.
    pub fn listenbrainz_account(&self, token: &str) -> Result<String, LinkError> {
        let request = self
            .agent
            .get(&self.listenbrainz("validate-token"))
            .set("Authorization", &format!("Token {token}"));
        let answer = self.send(request, None).map_err(|why| {
            LinkError::Unreachable(format!(
                "cannot reach ListenBrainz ({why}); try again later"
            ))
        })?;
        listenbrainz_account_answer(&answer)
    }

    /// Submits listens (`playing_now` when `now_playing`, with one listen and no time).
    pub fn listenbrainz_submit(
        &self,
        token: &str,
        listens: &[Listen],
        now_playing: bool,
    ) -> Outcome {
        let listen_type = match (now_playing, listens.len()) {
            (true, _) => "playing_now",
            (false, 1) => "single",
            (false, _) => "import",
        };
        let payload: Vec<Value> = listens
            .iter()
            .map(|l| {
                let mut info = json!({
                    "duration_ms": l.duration_ms,
                    "submission_client": "Houseband",
                    "submission_client_version": env!("CARGO_PKG_VERSION"),
                    "media_player": "Houseband",
                });
                if let Some(n) = l.track_number {
                    info["tracknumber"] = json!(n);
                }
                if let Some(m) = &l.recording_mbid {
                    info["recording_mbid"] = json!(m);
                }
                if let Some(m) = &l.release_mbid {
                    info["release_mbid"] = json!(m);
                }
                let mut item = json!({
                    "track_metadata": {
                        "artist_name": l.artist,
                        "track_name": l.track,
                        "additional_info": info,
                    }
                });
                if !l.album.is_empty() {
                    item["track_metadata"]["release_name"] = json!(l.album);
                }
                if !now_playing {
                    item["listened_at"] = json!(l.listened_at);
                }
                item
            })
            .collect();
        let body = json!({ "listen_type": listen_type, "payload": payload }).to_string();
        let request = self
            .agent
            .post(&self.listenbrainz("submit-listens"))
            .set("Authorization", &format!("Token {token}"));
        match self.send(request, Some(("application/json", body))) {
            Err(why) => Outcome::Later { why, wait: None },
            Ok(a) => listenbrainz_submit_answer(&a),
        }
    }

    /// `params` plus `api_key`, `api_sig` and `format=json`: the signature is the MD5 of every
    /// parameter but `format` and `callback`, sorted by name (byte order), names and values
    /// run together, then the shared secret.
    fn lastfm_signed(&self, mut params: Vec<(String, String)>) -> Option<Vec<(String, String)>> {
        let key = self.settings.lastfm_api_key.as_ref()?;
        let secret = self.settings.lastfm_secret.as_ref()?;
        params.push(("api_key".into(), key.clone()));
        let sig = lastfm_signature(&params, secret);
        params.push(("api_sig".into(), sig));
        params.push(("format".into(), "json".into()));
        Some(params)
    }

    /// POSTs a signed Last.fm call; the parsed answer or the outcome that ends it.
    fn lastfm_call(&self, params: Vec<(String, String)>) -> Result<Value, Outcome> {
        let Some(params) = self.lastfm_signed(params) else {
            return Err(Outcome::Unlinked(
                "Last.fm is not set up on this server any more (lastfm_api_key and lastfm_secret)"
                    .into(),
            ));
        };
        let body = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params.iter())
            .finish();
        let request = self.agent.post(&self.settings.lastfm_url);
        let a = self
            .send(request, Some(("application/x-www-form-urlencoded", body)))
            .map_err(|why| Outcome::Later { why, wait: None })?;
        lastfm_answer(&a)
    }

    /// The Last.fm user's name and session key for a token they allowed.
    pub fn lastfm_session(&self, token: &str) -> Result<(String, String), LinkError> {
        let params = vec![
            ("method".to_string(), "auth.getSession".to_string()),
            ("token".to_string(), token.to_string()),
        ];
        lastfm_session_answer(self.lastfm_call(params))
    }

    /// `track.updateNowPlaying` for one listen.
    pub fn lastfm_now_playing(&self, session_key: &str, l: &Listen) -> Outcome {
        let mut params = vec![
            ("method".to_string(), "track.updateNowPlaying".to_string()),
            ("sk".to_string(), session_key.to_string()),
            ("artist".to_string(), l.artist.clone()),
            ("track".to_string(), l.track.clone()),
        ];
        if !l.album.is_empty() {
            params.push(("album".into(), l.album.clone()));
        }
        if l.duration_ms > 0 {
            params.push(("duration".into(), (l.duration_ms / 1000).to_string()));
        }
        match self.lastfm_call(params) {
            Ok(_) => Outcome::Accepted,
            Err(outcome) => outcome,
        }
    }

    /// `track.scrobble` for up to [`BATCH`] listens.
    pub fn lastfm_scrobble(&self, session_key: &str, listens: &[Listen]) -> Outcome {
        let mut params = vec![
            ("method".to_string(), "track.scrobble".to_string()),
            ("sk".to_string(), session_key.to_string()),
        ];
        for (i, l) in listens.iter().take(BATCH).enumerate() {
            let mut put = |name: &str, value: String| params.push((format!("{name}[{i}]"), value));
            put("artist", l.artist.clone());
            put("track", l.track.clone());
            put("timestamp", l.listened_at.to_string());
            if !l.album.is_empty() {
                put("album", l.album.clone());
            }
            if !l.album_artist.is_empty() && l.album_artist != l.artist {
                put("albumArtist", l.album_artist.clone());
            }
            if l.duration_ms > 0 {
                put("duration", (l.duration_ms / 1000).to_string());
            }
            if let Some(n) = l.track_number {
                put("trackNumber", n.to_string());
            }
            if let Some(m) = &l.recording_mbid {
                put("mbid", m.clone());
            }
        }
        lastfm_scrobble_answer(self.lastfm_call(params))
    }
}

/// How a link attempt failed, for the user.
#[derive(Debug)]
pub enum LinkError {
    /// The service said no (a wrong token): the user should try again differently.
    Refused(String),
    /// No usable answer: try again later.
    Unreachable(String),
    /// The server is not set up for it.
    NotConfigured(String),
    Internal(anyhow::Error),
}

impl std::fmt::Display for LinkError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LinkError::Refused(m) | LinkError::Unreachable(m) | LinkError::NotConfigured(m) => {
                f.write_str(m)
            }
            LinkError::Internal(e) => write!(f, "the server failed: {e:#}"),
        }
    }
}

impl From<anyhow::Error> for LinkError {
    fn from(e: anyhow::Error) -> LinkError {
        LinkError::Internal(e)
    }
}

impl Answer {
    /// An answer's status, body and asked wait; a body too big to be one of the services'
    /// answers is dropped, so the answer is judged by its status alone.
    fn new(status: u16, bytes: &[u8], wait: Option<Duration>) -> Answer {
        let body = if bytes.len() as u64 > MAX_ANSWER {
            String::new()
        } else {
            String::from_utf8_lossy(bytes).into_owned()
        };
        Answer { status, body, wait }
    }
}

/// The wait a service asks for (`X-RateLimit-Reset-In`, else `Retry-After`, in seconds),
/// between 1 s and [`MAX_WAIT`].
fn wait_of<'h>(header: &dyn Fn(&str) -> Option<&'h str>) -> Option<Duration> {
    let seconds = |name: &str| {
        header(name)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s.max(1)).min(MAX_WAIT))
    };
    seconds("X-RateLimit-Reset-In").or_else(|| seconds("Retry-After"))
}

/// What ListenBrainz's answer to `validate-token` says: the account's name, or why not.
fn listenbrainz_account_answer(answer: &Answer) -> Result<String, LinkError> {
    let v: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    match (answer.status, v["valid"].as_bool(), v["user_name"].as_str()) {
        (200, Some(true), Some(name)) if !name.is_empty() => Ok(clip(name)),
        (200 | 400 | 401 | 403, Some(false), _) | (401 | 403, _, _) => {
            Err(LinkError::Refused(
                "ListenBrainz does not know this token: copy your user token again from \
                 https://listenbrainz.org/settings/ and paste it whole"
                    .into(),
            ))
        }
        (status, _, _) => Err(LinkError::Unreachable(format!(
            "ListenBrainz gave an answer Houseband does not understand (HTTP {status}); try again later"
        ))),
    }
}

/// What ListenBrainz's answer to `submit-listens` means for the listens.
fn listenbrainz_submit_answer(a: &Answer) -> Outcome {
    match a.status {
        // Only ListenBrainz's own answer counts: a 200 from something in the way (a
        // portal's page) would otherwise lose the listens.
        200 if serde_json::from_str::<Value>(&a.body).is_ok_and(|v| v["status"] == "ok") => {
            Outcome::Accepted
        }
        200 => Outcome::Later {
            why: "ListenBrainz gave an answer Houseband does not understand (HTTP 200)".into(),
            wait: a.wait,
        },
        401 | 403 => Outcome::Unlinked(
            "ListenBrainz refused the token: link your account again with your current user token"
                .into(),
        ),
        429 => Outcome::Later {
            why: "ListenBrainz asked to slow down (HTTP 429)".into(),
            wait: a.wait,
        },
        408 | 500..=599 => Outcome::Later {
            why: format!("ListenBrainz had a problem (HTTP {})", a.status),
            wait: a.wait,
        },
        400..=499 => Outcome::Refused(format!(
            "ListenBrainz refused these listens (HTTP {}): {}",
            a.status,
            service_message(&a.body)
        )),
        status => Outcome::Later {
            why: format!("ListenBrainz gave an unexpected answer (HTTP {status})"),
            wait: a.wait,
        },
    }
}

/// A Last.fm answer: its JSON when it is one, else the outcome that ends the call.
fn lastfm_answer(a: &Answer) -> Result<Value, Outcome> {
    let v: Value = serde_json::from_str(&a.body).unwrap_or(Value::Null);
    if let Some(code) = v["error"].as_i64() {
        return Err(lastfm_error(code, &service_message(&a.body), a.wait));
    }
    if a.status == 429 {
        return Err(Outcome::Later {
            why: "Last.fm asked to slow down (HTTP 429)".into(),
            wait: a.wait,
        });
    }
    if a.status != 200 || !v.is_object() {
        return Err(Outcome::Later {
            why: format!(
                "Last.fm gave an answer Houseband does not understand (HTTP {})",
                a.status
            ),
            wait: a.wait,
        });
    }
    Ok(v)
}

/// The Last.fm user's name and session key from the answer to `auth.getSession`.
fn lastfm_session_answer(answer: Result<Value, Outcome>) -> Result<(String, String), LinkError> {
    match answer {
        Ok(v) => {
            let name = v["session"]["name"].as_str().unwrap_or("");
            let key = v["session"]["key"].as_str().unwrap_or("");
            if name.is_empty() || key.is_empty() {
                return Err(LinkError::Unreachable(
                    "Last.fm's answer had no session in it; try linking again".into(),
                ));
            }
            Ok((clip(name), key.to_string()))
        }
        Err(Outcome::Later { why, .. }) => Err(LinkError::Unreachable(format!(
            "cannot reach Last.fm ({why}); try linking again later"
        ))),
        Err(Outcome::Unlinked(why) | Outcome::Refused(why)) => Err(LinkError::Refused(format!(
            "Last.fm did not allow the link ({why}); start linking again"
        ))),
        Err(Outcome::Accepted) => unreachable!("errors only"),
    }
}

/// What Last.fm's answer to `track.scrobble` means for the listens.
fn lastfm_scrobble_answer(answer: Result<Value, Outcome>) -> Outcome {
    match answer {
        // Scrobbles Last.fm ignored (its filters) were still taken: sending them again
        // would be ignored again.
        Ok(v) if v.get("scrobbles").is_some() => Outcome::Accepted,
        Ok(_) => Outcome::Later {
            why: "Last.fm's answer did not say the scrobbles were taken".into(),
            wait: None,
        },
        Err(outcome) => outcome,
    }
}

/// An answer from either service as the HTTP client hands it over (status, the rate headers,
/// the body) run through every judgement above. The input is the status line's code, then
/// header lines, an empty line and the body, as on the wire.
pub(crate) fn judge_answer(bytes: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(bytes);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .or_else(|| text.split_once("\n\n"))
        .unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .and_then(|l| l.trim().parse().ok())
        .filter(|s| (100..=599).contains(s))
        .ok_or("an answer needs a status from 100 to 599 on its first line")?;
    let headers: Vec<(&str, &str)> = lines.filter_map(|l| l.split_once(':')).collect();
    let wait = wait_of(&|name| {
        headers
            .iter()
            .find(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| *v)
    });
    let a = Answer::new(status, body.as_bytes(), wait);
    let _ = listenbrainz_account_answer(&a);
    let _ = listenbrainz_submit_answer(&a);
    let _ = service_message(&a.body);
    let _ = lastfm_session_answer(lastfm_answer(&a));
    let _ = lastfm_scrobble_answer(lastfm_answer(&a));
    Ok(())
}

/// What Last.fm's error codes mean for what we do next.
fn lastfm_error(code: i64, message: &str, wait: Option<Duration>) -> Outcome {
    match code {
        // Invalid session key, authentication failed, token not authorised or expired,
        // invalid API key, suspended API key, invalid signature (a wrong secret).
        4 | 9 | 10 | 13 | 14 | 15 | 26 => Outcome::Unlinked(format!(
            "Last.fm refused the link (error {code}: {message}); link your account again"
        )),
        // Operation failed, service offline, temporarily unavailable, rate limit.
        8 | 11 | 16 | 29 => Outcome::Later {
            why: format!("Last.fm is busy (error {code}: {message})"),
            wait: wait.or(if code == 29 {
                Some(Duration::from_secs(60))
            } else {
                None
            }),
        },
        _ => Outcome::Refused(format!("Last.fm refused this (error {code}: {message})")),
    }
}

/// The signature Last.fm checks (see [`Services::lastfm_signed`]).
pub fn lastfm_signature(params: &[(String, String)], secret: &str) -> String {
    use md5::Digest;
    let mut sorted: Vec<&(String, String)> = params
        .iter()
        .filter(|(k, _)| k != "format" && k != "callback")
        .collect();
    sorted.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let mut md5 = md5::Md5::new();
    for (k, v) in sorted {
        md5.update(k.as_bytes());
        md5.update(v.as_bytes());
    }
    md5.update(secret.as_bytes());
    md5.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// A service's own message from an error answer, short and printable.
fn service_message(body: &str) -> String {
    let v: Value = serde_json::from_str(body).unwrap_or(Value::Null);
    let text = v["message"]
        .as_str()
        .or(v["error"].as_str())
        .unwrap_or("no message");
    clip(text)
}

/// At most 200 characters, no control characters: what a service says is shown to users.
fn clip(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_sorts_names_bytewise_and_leaves_out_format() {
        let p = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        let a = lastfm_signature(
            &p(&[
                ("track[1]", "b"),
                ("artist[10]", "c"),
                ("artist[1]", "a"),
                ("format", "json"),
            ]),
            "s",
        );
        use md5::Digest;
        let want: String = md5::Md5::digest(b"artist[10]cartist[1]atrack[1]bs")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(a, want);
    }

    #[test]
    fn lastfm_codes_sort_into_what_to_do() {
        assert!(matches!(lastfm_error(9, "x", None), Outcome::Unlinked(_)));
        assert!(matches!(
            lastfm_error(16, "x", None),
            Outcome::Later { wait: None, .. }
        ));
        assert!(matches!(
            lastfm_error(29, "x", None),
            Outcome::Later { wait: Some(_), .. }
        ));
        assert!(matches!(lastfm_error(6, "x", None), Outcome::Refused(_)));
    }
}
