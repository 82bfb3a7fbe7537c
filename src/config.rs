//! Settings: every knob Houseband has, and where each value came from.
//!
//! A setting is read from, in order of precedence, a command-line flag, an environment variable
//! `HOUSEBAND_<NAME>`, the TOML config file (`--config`, default `<data>/houseband.toml`), and
//! finally its default. A bad value stops the program with one line naming the setting and its
//! source (exit code 2). `docs/configuration.md` lists every setting; a test keeps the two in step.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where a value came from, for error messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Flag(String),
    Env(String),
    File(PathBuf),
    Default,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Flag(flag) => write!(f, "flag {flag}"),
            Source::Env(var) => write!(f, "environment variable {var}"),
            Source::File(path) => write!(f, "config file {}", path.display()),
            Source::Default => write!(f, "default"),
        }
    }
}

/// A configuration mistake: printed as one line, exit code 2.
#[derive(Debug)]
pub struct ConfigError(pub String);

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// One setting's description: the single list that flags, env vars, TOML keys and docs follow.
pub struct SettingInfo {
    pub key: &'static str,
    pub flag: Option<&'static str>,
    pub default: &'static str,
    pub help: &'static str,
}

impl SettingInfo {
    pub fn env_var(&self) -> String {
        format!("HOUSEBAND_{}", self.key.to_ascii_uppercase())
    }
}

pub const SETTINGS: &[SettingInfo] = &[
    SettingInfo {
        key: "music",
        flag: Some("--music"),
        default: "(none)",
        help: "Music folders to scan. Repeat the flag; in the env var separate folders with ':'; in the file a list of strings.",
    },
    SettingInfo {
        key: "data",
        flag: Some("--data"),
        default: "$XDG_DATA_HOME/houseband, else ~/.local/share/houseband",
        help: "Where the database, the secret key and caches live. Not read from the config file (the file lives there).",
    },
    SettingInfo {
        key: "config",
        flag: Some("--config"),
        default: "<data>/houseband.toml",
        help: "The TOML config file. A missing default file is fine; a missing file named explicitly is an error.",
    },
    SettingInfo {
        key: "bind",
        flag: Some("--bind"),
        default: "0.0.0.0:4545",
        help: "Address and port the HTTP server listens on.",
    },
    SettingInfo {
        key: "scan_interval",
        flag: Some("--scan-interval"),
        default: "1h",
        help: "How often to rescan every folder (for network shares, which send no change events). A duration such as 30m, 1h, 1d; 0 turns it off.",
    },
    SettingInfo {
        key: "scan_on_start",
        flag: Some("--scan-on-start"),
        default: "true",
        help: "Scan the folders in the background when the server starts.",
    },
    SettingInfo {
        key: "watch",
        flag: Some("--watch"),
        default: "true",
        help: "Watch the music folders and pick up changes within seconds.",
    },
    SettingInfo {
        key: "watch_debounce",
        flag: Some("--watch-debounce"),
        default: "500ms",
        help: "How long the watcher waits for a burst of file events to settle before it rescans what changed.",
    },
    SettingInfo {
        key: "missing_grace",
        flag: Some("--missing-grace"),
        default: "30d",
        help: "How long a track that disappeared is kept (with its stars, plays and playlist entries) before it is purged. Returning within this time restores it with the same id.",
    },
    SettingInfo {
        key: "tag_separators",
        flag: Some("--tag-separator"),
        default: "\";\", \" / \"",
        help: "Separators that split one artist or genre tag into several values. Repeat the flag; in the env var separate them with ','; in the file a list of strings. Use an empty list to split nothing.",
    },
    SettingInfo {
        key: "scan_threads",
        flag: Some("--scan-threads"),
        default: "0",
        help: "Threads that read tags during a scan; 0 means one per CPU core.",
    },
    SettingInfo {
        key: "ignored_articles",
        flag: Some("--ignored-articles"),
        default: "The El La Los Las Le Les",
        help: "Leading words ignored when artists are sorted and indexed (Subsonic getArtists/getIndexes), separated by spaces.",
    },
    SettingInfo {
        key: "transcode_slots",
        flag: Some("--transcode-slots"),
        default: "32",
        help: "Transcodes that may run at once; a stream asked for beyond them gets an error (the original file is always served). About 25 per core stay ahead of real time for MP3 and Opus.",
    },
    SettingInfo {
        key: "transcode_cache",
        flag: Some("--transcode-cache"),
        default: "1GB",
        help: "Disk space for finished transcodes (in <data>/cache/transcodes), least recently used removed first: a size such as 500MB or 2GB; 0 turns the cache off.",
    },
    SettingInfo {
        key: "song_cache",
        flag: Some("--song-cache"),
        default: "16MB",
        help: "Memory for songs as the Subsonic API writes them out, kept so that big answers (a long playlist, a page of 500 songs while a client syncs) are copied rather than made again; emptied by every scan. A size such as 8MB; 0 turns it off.",
    },
    SettingInfo {
        key: "podcast_folder",
        flag: Some("--podcast-folder"),
        default: "<data>/podcasts",
        help: "Where downloaded podcast episodes are kept (one file per episode, named from its id).",
    },
    SettingInfo {
        key: "podcast_max_episode_size",
        flag: Some("--podcast-max-episode-size"),
        default: "500MB",
        help: "The largest podcast episode downloaded; a bigger or endless one is stopped there, marked as an error and its partial file removed.",
    },
    SettingInfo {
        key: "podcast_refresh_interval",
        flag: Some("--podcast-refresh-interval"),
        default: "6h",
        help: "How often every podcast feed is read again for new episodes; 0 turns the scheduled refresh off.",
    },
    SettingInfo {
        key: "podcast_auto_download",
        flag: Some("--podcast-auto-download"),
        default: "0",
        help: "How many of each channel's newest episodes are downloaded by themselves after a refresh; 0 keeps downloads manual.",
    },
    SettingInfo {
        key: "replay_gain",
        flag: Some("--replay-gain"),
        default: "off",
        help: "ReplayGain applied to transcoded streams: off, track or album (album falls back to track gain when a song has no album gain). Streams of original files are never changed.",
    },
    SettingInfo {
        key: "trusted_proxies",
        flag: Some("--trusted-proxy"),
        default: "none",
        help: "Addresses (or CIDR ranges) of reverse proxies in front of the server. Only a request whose connection comes from one of them may tell the client's address, scheme and host (X-Forwarded-For, -Proto, -Host); from anyone else those headers are ignored.",
    },
    SettingInfo {
        key: "podcast_allow_private_addresses",
        flag: Some("--podcast-allow-private-addresses"),
        default: "false",
        help: "Let podcast feeds and episodes come from this machine or the home network (loopback, private, link-local addresses). Off, such addresses are refused after DNS resolution and on every redirect, so the podcast role cannot reach the router or other LAN services.",
    },
    SettingInfo {
        key: "allow_outside_links",
        flag: Some("--allow-outside-links"),
        default: "false",
        help: "Serve songs whose real path (symlinks followed) is outside their music folder. Off, such files are refused.",
    },
    SettingInfo {
        key: "local_output",
        flag: Some("--local-output"),
        default: "true",
        help: "Offer this machine's sound card (the default ALSA device) as the `local` output of the household queue. Off, it is not listed and no sound device is opened.",
    },
    SettingInfo {
        key: "sound_analysis",
        flag: Some("--sound-analysis"),
        default: "true",
        help: "Analyse how every track sounds (tempo, loudness, brightness, timbre), once per file, in the background at the lowest CPU priority and paused during scans, for the \"sounds like\" recommendations. Off, nothing is analysed.",
    },
    SettingInfo {
        key: "autoplay",
        flag: Some("--autoplay"),
        default: "true",
        help: "When the household queue starts its last song, add radio from what it played, so the music goes on. Off, the queue stops at its end.",
    },
    SettingInfo {
        key: "lan",
        flag: Some("--lan"),
        default: "true",
        help: "The home-network features: announce the server by mDNS, find UPnP, Google Cast and AirPlay speakers (SSDP, mDNS). Off, no multicast is sent at all.",
    },
    SettingInfo {
        key: "lan_name",
        flag: Some("--lan-name"),
        default: "Houseband on <hostname>",
        help: "The name the server announces on the network.",
    },
    SettingInfo {
        key: "listenbrainz_url",
        flag: Some("--listenbrainz-url"),
        default: "https://api.listenbrainz.org",
        help: "Where the ListenBrainz API is (users link their accounts to it with a token).",
    },
    SettingInfo {
        key: "lastfm_api_key",
        flag: Some("--lastfm-api-key"),
        default: "(none)",
        help: "The server's Last.fm API key; with lastfm_secret, users can link their Last.fm accounts.",
    },
    SettingInfo {
        key: "lastfm_secret",
        flag: Some("--lastfm-secret"),
        default: "(none)",
        help: "The shared secret that comes with the Last.fm API key (prefer the env var or the file to the flag).",
    },
    SettingInfo {
        key: "lastfm_url",
        flag: Some("--lastfm-url"),
        default: "https://ws.audioscrobbler.com/2.0/",
        help: "Where the Last.fm API is.",
    },
    SettingInfo {
        key: "lastfm_auth_url",
        flag: Some("--lastfm-auth-url"),
        default: "https://www.last.fm/api/auth/",
        help: "The Last.fm page where a user allows the server to scrobble for them.",
    },
    SettingInfo {
        key: "scrobble_timeout",
        flag: Some("--scrobble-timeout"),
        default: "10s",
        help: "How long a call to ListenBrainz or Last.fm may take before it is given up (and retried later).",
    },
    SettingInfo {
        key: "log",
        flag: Some("--log"),
        default: "info",
        help: "Log filter in tracing's syntax: error, warn, info, debug, trace, or per module such as houseband=debug.",
    },
    SettingInfo {
        key: "admin_password",
        flag: None,
        default: "(none)",
        help: "If set and no user exists, `serve` creates the user `admin` with this password. Environment only (HOUSEBAND_ADMIN_PASSWORD).",
    },
];

/// An IP address or a CIDR range (`10.0.0.0/8`, `fd00::/8`); a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl IpNet {
    pub fn parse(text: &str) -> Option<IpNet> {
        let text = text.trim();
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (text.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    /// Whether `ip` is in the range (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        let bits = |a: IpAddr| -> u128 {
            match a {
                IpAddr::V4(v4) => u128::from(u32::from(v4)) << 96,
                IpAddr::V6(v6) => u128::from(v6),
            }
        };
        if ip.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let mask = if self.prefix == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(self.prefix))
        };
        bits(ip) & mask == bits(self.addr) & mask
    }
}

impl fmt::Display for IpNet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Which ReplayGain transcoded streams apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayGain {
    Off,
    Track,
    Album,
}

/// The resolved settings.
#[derive(Debug, Clone)]
pub struct Settings {
    pub music: Vec<PathBuf>,
    pub data: PathBuf,
    pub config: PathBuf,
    pub bind: SocketAddr,
    pub scan_interval: Duration,
    pub scan_on_start: bool,
    pub watch: bool,
    pub watch_debounce: Duration,
    pub missing_grace: Duration,
    pub tag_separators: Vec<String>,
    pub scan_threads: usize,
    pub ignored_articles: Vec<String>,
    pub transcode_slots: usize,
    pub transcode_cache: u64,
    /// Bytes of Subsonic song elements kept written out (0: none).
    pub song_cache: u64,
    pub allow_outside_links: bool,
    /// Reverse proxies whose forwarding headers are believed (empty: nobody's).
    pub trusted_proxies: Vec<IpNet>,
    pub podcast_allow_private_addresses: bool,
    /// `None`: `<data>/podcasts`.
    pub podcast_folder: Option<PathBuf>,
    pub podcast_max_episode_size: u64,
    pub podcast_refresh_interval: Duration,
    pub podcast_auto_download: u32,
    pub replay_gain: ReplayGain,
    pub local_output: bool,
    pub sound_analysis: bool,
    pub autoplay: bool,
    pub lan: bool,
    /// `None`: "Houseband on <hostname>".
    pub lan_name: Option<String>,
    pub log: String,
    pub admin_password: Option<String>,
    pub scrobble: ScrobbleSettings,
}

/// Where the scrobbling services are, and the server's Last.fm API account.
#[derive(Debug, Clone)]
pub struct ScrobbleSettings {
    pub listenbrainz_url: String,
    pub lastfm_url: String,
    pub lastfm_auth_url: String,
    pub lastfm_api_key: Option<String>,
    pub lastfm_secret: Option<String>,
    pub timeout: Duration,
}

impl Default for ScrobbleSettings {
    fn default() -> ScrobbleSettings {
        ScrobbleSettings {
            listenbrainz_url: "https://api.listenbrainz.org".into(),
            lastfm_url: "https://ws.audioscrobbler.com/2.0/".into(),
            lastfm_auth_url: "https://www.last.fm/api/auth/".into(),
            lastfm_api_key: None,
            lastfm_secret: None,
            timeout: Duration::from_secs(10),
        }
    }
}

impl Settings {
    /// The podcast folder: the setting, else `<data>/podcasts`.
    pub fn podcast_dir(&self) -> PathBuf {
        self.podcast_folder
            .clone()
            .unwrap_or_else(|| self.data.join("podcasts"))
    }

    /// Settings for tests and tools: defaults, with the given data dir and music folders.
    pub fn for_dirs(data: &Path, music: &[PathBuf]) -> Settings {
        Settings {
            music: music.to_vec(),
            data: data.to_path_buf(),
            config: data.join("houseband.toml"),
            bind: "127.0.0.1:4545".parse().expect("literal address"),
            scan_interval: Duration::from_secs(3600),
            scan_on_start: true,
            watch: true,
            watch_debounce: Duration::from_millis(500),
            missing_grace: Duration::from_secs(30 * 86400),
            tag_separators: vec![";".into(), " / ".into()],
            scan_threads: 0,
            ignored_articles: default_articles(),
            transcode_slots: 32,
            transcode_cache: 1 << 30,
            song_cache: 16 << 20,
            allow_outside_links: false,
            trusted_proxies: Vec::new(),
            podcast_allow_private_addresses: false,
            podcast_folder: None,
            podcast_max_episode_size: 500 << 20,
            podcast_refresh_interval: Duration::from_secs(6 * 3600),
            podcast_auto_download: 0,
            replay_gain: ReplayGain::Off,
            local_output: true,
            sound_analysis: true,
            autoplay: true,
            lan: true,
            lan_name: None,
            log: "info".into(),
            admin_password: None,
            scrobble: ScrobbleSettings::default(),
        }
    }
}

/// Values given on the command line; `None`/empty means "not given".
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub values: BTreeMap<&'static str, Vec<String>>,
}

impl Flags {
    pub fn set(&mut self, key: &'static str, value: Option<String>) {
        if let Some(v) = value {
            self.values.insert(key, vec![v]);
        }
    }
    pub fn set_list(&mut self, key: &'static str, values: Vec<String>) {
        if !values.is_empty() {
            self.values.insert(key, values);
        }
    }
}

/// A raw value before parsing: one string, or a list (repeated flags, TOML arrays, split env vars).
#[derive(Debug, Clone)]
enum Raw {
    One(String),
    Many(Vec<String>),
}

struct Resolver<'a> {
    flags: &'a Flags,
    env: &'a dyn Fn(&str) -> Option<String>,
    file: BTreeMap<String, toml::Value>,
    file_path: PathBuf,
}

fn info(key: &str) -> &'static SettingInfo {
    SETTINGS
        .iter()
        .find(|s| s.key == key)
        .expect("every setting is listed in SETTINGS")
}

fn bad(key: &str, value: &str, source: &Source, expected: &str) -> ConfigError {
    ConfigError(format!(
        "invalid value {value:?} for setting `{key}` (from {source}): expected {expected}"
    ))
}

impl Resolver<'_> {
    /// The highest-precedence raw value of a setting and where it came from.
    fn raw(
        &self,
        key: &str,
        env_list_sep: Option<char>,
    ) -> Result<Option<(Raw, Source)>, ConfigError> {
        let info = info(key);
        if let Some(values) = self.flags.values.get(key) {
            let flag = info.flag.unwrap_or(key).to_string();
            return Ok(Some(match values.as_slice() {
                [one] if env_list_sep.is_none() => (Raw::One(one.clone()), Source::Flag(flag)),
                many => (Raw::Many(many.to_vec()), Source::Flag(flag)),
            }));
        }
        let var = info.env_var();
        if let Some(value) = (self.env)(&var) {
            let raw = match env_list_sep {
                Some(sep) => Raw::Many(
                    value
                        .split(sep)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect(),
                ),
                None => Raw::One(value),
            };
            return Ok(Some((raw, Source::Env(var))));
        }
        if let Some(value) = self.file.get(key) {
            let source = Source::File(self.file_path.clone());
            let raw = match value {
                toml::Value::String(s) => Raw::One(s.clone()),
                toml::Value::Integer(i) => Raw::One(i.to_string()),
                toml::Value::Float(f) => Raw::One(f.to_string()),
                toml::Value::Boolean(b) => Raw::One(b.to_string()),
                toml::Value::Array(items) => {
                    let mut out = Vec::new();
                    for item in items {
                        match item {
                            toml::Value::String(s) => out.push(s.clone()),
                            other => {
                                return Err(bad(
                                    key,
                                    &other.to_string(),
                                    &source,
                                    "a list of strings",
                                ))
                            }
                        }
                    }
                    Raw::Many(out)
                }
                other => {
                    return Err(bad(
                        key,
                        &other.to_string(),
                        &source,
                        "a string, number or list",
                    ))
                }
            };
            return Ok(Some((raw, source)));
        }
        Ok(None)
    }

    fn one<T>(
        &self,
        key: &str,
        default: T,
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<T, ConfigError> {
        match self.raw(key, None)? {
            None => Ok(default),
            Some((Raw::One(s), source)) => {
                parse(s.trim()).ok_or_else(|| bad(key, &s, &source, expected))
            }
            Some((Raw::Many(v), source)) => Err(bad(key, &v.join(","), &source, expected)),
        }
    }

    fn list(&self, key: &str, env_sep: char) -> Result<Option<Vec<String>>, ConfigError> {
        Ok(self.raw(key, Some(env_sep))?.map(|(raw, _)| match raw {
            Raw::One(s) => vec![s],
            Raw::Many(v) => v,
        }))
    }
}

fn default_articles() -> Vec<String> {
    "The El La Los Las Le Les"
        .split(' ')
        .map(str::to_string)
        .collect()
}

/// Parses a duration such as `0`, `90` (seconds), `500ms`, `30s`, `15m`, `1h`, `30d`.
///
/// ```
/// use std::time::Duration;
/// use houseband::config::parse_duration;
/// assert_eq!(parse_duration("90"), Some(Duration::from_secs(90)));
/// assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
/// assert_eq!(parse_duration("soon"), None);
/// ```
pub fn parse_duration(text: &str) -> Option<Duration> {
    let (n, unit) = number_and_unit(text)?;
    let ms = match unit.trim() {
        "ms" => 1,
        "" | "s" => 1000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(ms).map(Duration::from_millis)
}

/// "30s" as (30, "s"): the leading whole number and what follows it.
fn number_and_unit(text: &str) -> Option<(u64, &str)> {
    let text = text.trim();
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    Some((number.parse().ok()?, unit))
}

/// Parses a size in bytes such as `0`, `4096`, `500KB`, `500MB`, `2GB` (powers of 1024).
///
/// ```
/// use houseband::config::parse_size;
/// assert_eq!(parse_size("2GB"), Some(2 << 30));
/// assert_eq!(parse_size("0"), Some(0));
/// assert_eq!(parse_size("lots"), None);
/// ```
pub fn parse_size(text: &str) -> Option<u64> {
    let (n, unit) = number_and_unit(text)?;
    let unit: u64 = match unit.trim().to_ascii_uppercase().as_str() {
        "" | "B" => 1,
        "K" | "KB" => 1 << 10,
        "M" | "MB" => 1 << 20,
        "G" | "GB" => 1 << 30,
        "T" | "TB" => 1 << 40,
        _ => return None,
    };
    n.checked_mul(unit)
}

pub fn parse_bool(text: &str) -> Option<bool> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "on" | "yes" => Some(true),
        "0" | "false" | "off" | "no" => Some(false),
        _ => None,
    }
}

/// The data dir when none is given: `$XDG_DATA_HOME/houseband`, else `~/.local/share/houseband`.
pub fn default_data_dir(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(xdg) = env("XDG_DATA_HOME").filter(|s| !s.is_empty()) {
        return PathBuf::from(xdg).join("houseband");
    }
    let home = env("HOME").unwrap_or_else(|| ".".into());
    PathBuf::from(home).join(".local/share/houseband")
}

/// Resolves every setting from flags, the environment (through `env`) and the config file.
pub fn resolve(
    flags: &Flags,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Settings, ConfigError> {
    let mut resolver = Resolver {
        flags,
        env,
        file: BTreeMap::new(),
        file_path: PathBuf::new(),
    };
    // The data dir and the config file decide where the file is, so they never come from it.
    let data = match resolver.raw("data", None)? {
        Some((Raw::One(s), _)) if !s.trim().is_empty() => PathBuf::from(s),
        Some((raw, source)) => {
            let shown = match raw {
                Raw::One(s) => s,
                Raw::Many(v) => v.join(","),
            };
            return Err(bad("data", &shown, &source, "one directory path"));
        }
        None => default_data_dir(env),
    };
    let (config, explicit) = match resolver.raw("config", None)? {
        Some((Raw::One(s), _)) => (PathBuf::from(s), true),
        Some((Raw::Many(v), source)) => {
            return Err(bad("config", &v.join(","), &source, "one file path"))
        }
        None => (data.join("houseband.toml"), false),
    };
    match std::fs::read_to_string(&config) {
        Ok(text) => {
            let table: toml::Table = toml::from_str(&text).map_err(|e| {
                ConfigError(format!(
                    "config file {} is not valid TOML: {}",
                    config.display(),
                    e.message()
                ))
            })?;
            for key in table.keys() {
                let known = SETTINGS.iter().any(|s| s.key == key && s.flag.is_some());
                if !known || key == "data" || key == "config" {
                    return Err(ConfigError(format!(
                        "config file {} sets unknown setting `{key}`; see docs/configuration.md for the list",
                        config.display()
                    )));
                }
            }
            resolver.file = table.into_iter().collect();
            resolver.file_path = config.clone();
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => {}
        Err(e) => {
            return Err(ConfigError(format!(
                "cannot read config file {}: {e}",
                config.display()
            )))
        }
    }

    let music = resolver
        .list("music", ':')?
        .unwrap_or_default()
        .into_iter()
        .map(PathBuf::from)
        .collect();
    let tag_separators = resolver
        .list("tag_separators", ',')?
        .unwrap_or_else(|| vec![";".into(), " / ".into()]);
    if let Some(sep) = tag_separators.iter().find(|s| s.is_empty()) {
        return Err(ConfigError(format!(
            "invalid value {sep:?} for setting `tag_separators`: an empty separator would split every character"
        )));
    }
    let mut trusted_proxies = Vec::new();
    let proxies = resolver.list("trusted_proxies", ',')?.unwrap_or_default();
    for text in proxies.iter().filter(|t| !t.trim().is_empty()) {
        let net = IpNet::parse(text).ok_or_else(|| {
            ConfigError(format!(
                "invalid value {text:?} for setting `trusted_proxies`: expected IP addresses or CIDR ranges such as 127.0.0.1 or 10.0.0.0/8, separated by commas"
            ))
        })?;
        trusted_proxies.push(net);
    }
    Ok(Settings {
        music,
        data,
        config,
        bind: resolver.one(
            "bind",
            "0.0.0.0:4545".parse().expect("literal address"),
            "ADDR:PORT such as 0.0.0.0:4545 or [::]:4545",
            |s| s.parse().ok(),
        )?,
        scan_interval: resolver.one(
            "scan_interval",
            Duration::from_secs(3600),
            "a duration such as 30m, 1h, 1d, or 0 for off",
            parse_duration,
        )?,
        scan_on_start: resolver.one("scan_on_start", true, "true or false", parse_bool)?,
        watch: resolver.one("watch", true, "on or off", parse_bool)?,
        watch_debounce: resolver.one(
            "watch_debounce",
            Duration::from_millis(500),
            "a duration such as 500ms or 2s",
            parse_duration,
        )?,
        missing_grace: resolver.one(
            "missing_grace",
            Duration::from_secs(30 * 86400),
            "a duration such as 30d or 12h",
            parse_duration,
        )?,
        tag_separators,
        scan_threads: resolver.one(
            "scan_threads",
            0,
            "a number of threads (0 = one per core)",
            |s| s.parse::<usize>().ok().filter(|n| *n <= 1024),
        )?,
        ignored_articles: resolver.one(
            "ignored_articles",
            default_articles(),
            "words separated by spaces, such as \"The El La\"",
            |s| Some(s.split_whitespace().map(str::to_string).collect()),
        )?,
        transcode_slots: resolver.one(
            "transcode_slots",
            32,
            "a number of transcodes (at least 1)",
            |s| s.parse::<usize>().ok().filter(|n| (1..=10_000).contains(n)),
        )?,
        transcode_cache: resolver.one(
            "transcode_cache",
            1 << 30,
            "a size such as 500MB or 2GB (0 = off)",
            parse_size,
        )?,
        song_cache: resolver.one(
            "song_cache",
            16 << 20,
            "a size such as 8MB or 64MB (0 = off)",
            parse_size,
        )?,
        allow_outside_links: resolver.one(
            "allow_outside_links",
            false,
            "true or false",
            parse_bool,
        )?,
        trusted_proxies,
        podcast_allow_private_addresses: resolver.one(
            "podcast_allow_private_addresses",
            false,
            "true or false",
            parse_bool,
        )?,
        podcast_folder: resolver.one("podcast_folder", None, "a directory path", |s| {
            (!s.is_empty()).then(|| Some(PathBuf::from(s)))
        })?,
        podcast_max_episode_size: resolver.one(
            "podcast_max_episode_size",
            500 << 20,
            "a size such as 200MB or 1GB",
            |s| parse_size(s).filter(|n| *n > 0),
        )?,
        podcast_refresh_interval: resolver.one(
            "podcast_refresh_interval",
            Duration::from_secs(6 * 3600),
            "a duration such as 1h or 1d, or 0 for off",
            parse_duration,
        )?,
        podcast_auto_download: resolver.one(
            "podcast_auto_download",
            0,
            "a number of episodes (0 = none)",
            |s| s.parse::<u32>().ok().filter(|n| *n <= 1000),
        )?,
        replay_gain: resolver.one("replay_gain", ReplayGain::Off, "off, track or album", |s| {
            match s.to_ascii_lowercase().as_str() {
                "off" => Some(ReplayGain::Off),
                "track" => Some(ReplayGain::Track),
                "album" => Some(ReplayGain::Album),
                _ => None,
            }
        })?,
        local_output: resolver.one("local_output", true, "true or false", parse_bool)?,
        sound_analysis: resolver.one("sound_analysis", true, "true or false", parse_bool)?,
        autoplay: resolver.one("autoplay", true, "true or false", parse_bool)?,
        lan: resolver.one("lan", true, "on or off", parse_bool)?,
        lan_name: resolver.one("lan_name", None, "a name of 1 to 63 characters", |s| {
            let s = s.trim();
            (1..=63)
                .contains(&s.chars().count())
                .then(|| Some(s.to_string()))
        })?,
        log: resolver.one(
            "log",
            "info".to_string(),
            "a log filter such as info or houseband=debug",
            |s| {
                tracing_subscriber::EnvFilter::try_new(s)
                    .ok()
                    .map(|_| s.to_string())
            },
        )?,
        admin_password: env("HOUSEBAND_ADMIN_PASSWORD").filter(|p| !p.is_empty()),
        scrobble: scrobble_settings(&resolver)?,
    })
}

fn scrobble_settings(resolver: &Resolver<'_>) -> Result<ScrobbleSettings, ConfigError> {
    let d = ScrobbleSettings::default();
    let url = |s: &str| {
        let s = s.trim();
        (s.starts_with("http://") || s.starts_with("https://")).then(|| s.to_string())
    };
    let text = |s: &str| {
        let s = s.trim();
        (!s.is_empty() && s.len() <= 200 && !s.contains(char::is_whitespace))
            .then(|| Some(s.to_string()))
    };
    let expected_url = "an http:// or https:// address";
    Ok(ScrobbleSettings {
        listenbrainz_url: resolver.one(
            "listenbrainz_url",
            d.listenbrainz_url,
            expected_url,
            url,
        )?,
        lastfm_url: resolver.one("lastfm_url", d.lastfm_url, expected_url, url)?,
        lastfm_auth_url: resolver.one("lastfm_auth_url", d.lastfm_auth_url, expected_url, url)?,
        lastfm_api_key: resolver.one("lastfm_api_key", None, "the key Last.fm gave", text)?,
        lastfm_secret: resolver.one("lastfm_secret", None, "the secret Last.fm gave", text)?,
        timeout: resolver.one(
            "scrobble_timeout",
            d.timeout,
            "a duration from 1s to 5m such as 10s",
            |s| {
                parse_duration(s)
                    .filter(|t| *t >= Duration::from_secs(1) && *t <= Duration::from_secs(300))
            },
        )?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: BTreeMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k: &str| map.get(k).cloned()
    }

    #[test]
    fn precedence_is_flag_env_file_default() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("houseband.toml"),
            "bind = \"127.0.0.1:1111\"\nscan_interval = \"2h\"\nwatch = false\nmusic = [\"/a\", \"/b\"]\n",
        )
        .unwrap();
        let data = dir.path().to_str().unwrap();
        let env = env_of(&[("HOUSEBAND_DATA", data), ("HOUSEBAND_SCAN_INTERVAL", "5m")]);
        let mut flags = Flags::default();
        flags.set("bind", Some("127.0.0.1:2222".into()));
        let s = resolve(&flags, &env).unwrap();
        assert_eq!(s.bind.port(), 2222, "flag beats file");
        assert_eq!(s.scan_interval, Duration::from_secs(300), "env beats file");
        assert!(!s.watch, "file beats default");
        assert_eq!(s.music, vec![PathBuf::from("/a"), PathBuf::from("/b")]);
        assert_eq!(s.missing_grace, Duration::from_secs(30 * 86400), "default");
        assert_eq!(s.tag_separators, vec![";".to_string(), " / ".to_string()]);
    }

    #[test]
    fn env_music_splits_on_colon() {
        let env = env_of(&[("HOUSEBAND_MUSIC", "/x:/y"), ("HOME", "/nonexistent-home")]);
        let s = resolve(&Flags::default(), &env).unwrap();
        assert_eq!(s.music, vec![PathBuf::from("/x"), PathBuf::from("/y")]);
        assert_eq!(
            s.data,
            PathBuf::from("/nonexistent-home/.local/share/houseband")
        );
    }

    #[test]
    fn xdg_data_home_wins_over_home() {
        let env = env_of(&[("XDG_DATA_HOME", "/xdg"), ("HOME", "/h")]);
        assert_eq!(
            resolve(&Flags::default(), &env).unwrap().data,
            PathBuf::from("/xdg/houseband")
        );
    }

    #[test]
    fn bad_values_name_the_setting_and_source() {
        let env = env_of(&[("HOUSEBAND_BIND", "nowhere"), ("HOME", "/nonexistent-home")]);
        let err = resolve(&Flags::default(), &env).unwrap_err().to_string();
        assert!(
            err.contains("`bind`") && err.contains("HOUSEBAND_BIND"),
            "{err}"
        );

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "scan_interval = \"soon\"\n").unwrap();
        let mut flags = Flags::default();
        flags.set("config", Some(file.to_str().unwrap().into()));
        let err = resolve(&flags, &env_of(&[("HOME", "/h")]))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`scan_interval`") && err.contains("c.toml"),
            "{err}"
        );

        std::fs::write(&file, "scna_interval = \"1h\"\n").unwrap();
        let err = resolve(&flags, &env_of(&[("HOME", "/h")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown setting `scna_interval`"), "{err}");
    }

    #[test]
    fn explicit_missing_config_file_is_an_error() {
        let mut flags = Flags::default();
        flags.set("config", Some("/nonexistent/houseband.toml".into()));
        let err = resolve(&flags, &env_of(&[("HOME", "/h")]))
            .unwrap_err()
            .to_string();
        assert!(err.contains("cannot read config file"), "{err}");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("0"), Some(Duration::ZERO));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_duration("30d"), Some(Duration::from_secs(30 * 86400)));
        assert_eq!(parse_duration("-1h"), None);
        assert_eq!(parse_duration("1y"), None);
    }
}
