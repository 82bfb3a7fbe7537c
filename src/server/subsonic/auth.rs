//! Who is calling: Subsonic's `u` + `p` (plain or `enc:`-hex), `u` + `t` + `s` (token =
//! md5(password + salt)), with the protocol's error codes; and a brake on password guessing:
//! after a few failures from one address, each further failure is answered more slowly.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::error::{code, ApiError};
use super::params::Params;
use crate::app::users::{User, Users};

/// Failures forgiven before the brake: a user mistyping a password is not slowed down.
const FREE_FAILURES: u32 = 3;
const MAX_DELAY: Duration = Duration::from_secs(8);
const FORGET_AFTER: Duration = Duration::from_secs(15 * 60);

/// Checks the credentials in `params`. Blocking (reads the database).
/// The caller, from the request's Subsonic credentials or, when it carries none, from the web
/// app's session cookie (`session`: only given for same-origin requests).
pub fn authenticate(
    users: &Users,
    params: &Params,
    session: Option<&str>,
) -> Result<User, ApiError> {
    let no_credentials = ["apiKey", "u"].iter().all(|k| params.get(k).is_none());
    if let (Some(token), true) = (session, no_credentials) {
        return users
            .user_for_session(token)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                ApiError::new(
                    code::WRONG_CREDENTIALS,
                    "the session has ended: log in again",
                )
            });
    }
    if let Some(key) = params.get("apiKey") {
        if ["u", "p", "t", "s"].iter().any(|k| params.get(k).is_some()) {
            return Err(ApiError::new(
                code::CONFLICTING_AUTH,
                "give either an API key or a user name and password, not both",
            ));
        }
        check_version(params)?;
        return users
            .user_for_api_key(key)
            .map_err(|e| ApiError::internal(&e))?
            .ok_or_else(|| {
                ApiError::new(
                    code::INVALID_API_KEY,
                    "invalid API key; make one with `houseband user apikey add NAME`",
                )
            });
    }
    check_version(params)?;
    let name = params.required("u")?;
    let wrong = || ApiError::new(code::WRONG_CREDENTIALS, "wrong username or password");
    let stored = users.password(name).map_err(|e| ApiError::internal(&e))?;
    let ok = match (params.get("t"), params.get("s"), params.get("p")) {
        (Some(token), Some(salt), _) => stored.as_deref().is_some_and(|pw| {
            let expected = hex(&Md5::digest(format!("{pw}{salt}").as_bytes()));
            constant_time_eq(expected.as_bytes(), token.to_ascii_lowercase().as_bytes())
        }),
        (Some(_), None, _) => return Err(ApiError::missing("s")),
        (None, _, Some(p)) => {
            let given = decode_password(p).ok_or_else(wrong)?;
            stored
                .as_deref()
                .is_some_and(|pw| constant_time_eq(pw.as_bytes(), given.as_bytes()))
        }
        (None, _, None) => return Err(ApiError::missing("p")),
    };
    if !ok {
        return Err(wrong());
    }
    users
        .find(name)
        .map_err(|e| ApiError::internal(&e))?
        .ok_or_else(wrong)
}

/// Rejects clients that speak a newer protocol than this server (30) or a pre-1.0 one (20).
pub(super) fn check_version(params: &Params) -> Result<(), ApiError> {
    let Some(v) = params.get("v") else {
        return Ok(());
    };
    let mut parts = v.split('.').map(|p| p.parse::<u32>());
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return Err(ApiError::invalid("v"));
    };
    if major > 1 || (major == 1 && minor > 16) {
        return Err(ApiError::new(
            code::SERVER_TOO_OLD,
            format!("this server speaks protocol 1.16.1; the client wants {v}"),
        ));
    }
    if major < 1 {
        return Err(ApiError::new(
            code::CLIENT_TOO_OLD,
            format!("protocol {v} is too old; update the client"),
        ));
    }
    Ok(())
}

/// A password as Subsonic sends it: plain, or `enc:` and hex. `None` if the hex is broken.
pub fn decode_password(p: &str) -> Option<String> {
    match p.strip_prefix("enc:") {
        Some(h) => unhex(h),
        None => Some(p.to_string()),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<String> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Failed logins per address.
#[derive(Default)]
pub struct Brake {
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

impl Brake {
    /// Records a failure and returns how long to hold the answer back.
    pub fn failed(&self, addr: IpAddr) -> Duration {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, (_, last)| now.duration_since(*last) < FORGET_AFTER);
        let entry = map.entry(addr).or_insert((0, now));
        entry.0 += 1;
        entry.1 = now;
        delay_for(entry.0)
    }

    pub fn succeeded(&self, addr: IpAddr) {
        self.failures
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&addr);
    }
}

fn delay_for(failures: u32) -> Duration {
    if failures <= FREE_FAILURES {
        return Duration::ZERO;
    }
    let steps = (failures - FREE_FAILURES - 1).min(6);
    (Duration::from_millis(250) * 2u32.pow(steps)).min(MAX_DELAY)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enc_passwords_decode() {
        assert_eq!(unhex("73656372657421").as_deref(), Some("secret!"));
        assert_eq!(unhex("7"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn the_brake_grows_and_is_capped() {
        assert_eq!(delay_for(3), Duration::ZERO);
        assert_eq!(delay_for(4), Duration::from_millis(250));
        assert_eq!(delay_for(5), Duration::from_millis(500));
        assert_eq!(delay_for(50), MAX_DELAY);
        let brake = Brake::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..3 {
            assert_eq!(brake.failed(ip), Duration::ZERO);
        }
        assert!(brake.failed(ip) > Duration::ZERO);
        brake.succeeded(ip);
        assert_eq!(brake.failed(ip), Duration::ZERO);
    }
}
