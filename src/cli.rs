//! The command line: `houseband serve | scan | user ...`. Parses flags, resolves settings and calls
//! the app; exit code 2 means a usage or configuration mistake, 1 a failure while running.

use std::io::{BufRead, IsTerminal, Write};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};

use crate::app::library::{watcher, ScanRequest};
use crate::app::App;
use crate::config::{self, ConfigError, Flags, Settings};

#[derive(Parser, Debug)]
#[command(name = "houseband", version, about = "A self-hosted home music server")]
pub struct Cli {
    #[command(flatten)]
    common: Common,
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Debug)]
struct Common {
    /// Data directory (database, secret key, caches) [env: HOUSEBAND_DATA]
    #[arg(long, global = true, value_name = "DIR")]
    data: Option<String>,
    /// TOML config file [env: HOUSEBAND_CONFIG; default: <data>/houseband.toml]
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<String>,
    /// Log filter, e.g. debug or houseband=trace [env: HOUSEBAND_LOG]
    #[arg(long, global = true, value_name = "FILTER")]
    log: Option<String>,
}

#[derive(Args, Debug, Default)]
struct LibraryFlags {
    /// A music folder (repeat for several) [env: HOUSEBAND_MUSIC, ':'-separated]
    #[arg(long, value_name = "DIR")]
    music: Vec<String>,
    /// A separator that splits artist and genre tags (repeat for several) [env: HOUSEBAND_TAG_SEPARATORS]
    #[arg(long = "tag-separator", value_name = "TEXT")]
    tag_separator: Vec<String>,
    /// Threads reading tags during a scan, 0 = one per core [env: HOUSEBAND_SCAN_THREADS]
    #[arg(long, value_name = "N")]
    scan_threads: Option<String>,
    /// How long a vanished track is kept before purging, e.g. 30d [env: HOUSEBAND_MISSING_GRACE]
    #[arg(long, value_name = "DURATION")]
    missing_grace: Option<String>,
}

// Parsed once at start: the size of the biggest variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand, Debug)]
enum Command {
    /// Run the server
    Serve {
        #[command(flatten)]
        library: LibraryFlags,
        /// Listen address [env: HOUSEBAND_BIND; default: 0.0.0.0:4545]
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<String>,
        /// Periodic full rescan, e.g. 1h; 0 = off [env: HOUSEBAND_SCAN_INTERVAL]
        #[arg(long, value_name = "DURATION")]
        scan_interval: Option<String>,
        /// Scan in the background at start (true/false) [env: HOUSEBAND_SCAN_ON_START]
        #[arg(long, value_name = "BOOL")]
        scan_on_start: Option<String>,
        /// Watch folders for changes (on/off) [env: HOUSEBAND_WATCH]
        #[arg(long, value_name = "on|off")]
        watch: Option<String>,
        /// Quiet time before a burst of changes is rescanned, e.g. 500ms [env: HOUSEBAND_WATCH_DEBOUNCE]
        #[arg(long, value_name = "DURATION")]
        watch_debounce: Option<String>,
        /// Leading words ignored when sorting artists [env: HOUSEBAND_IGNORED_ARTICLES]
        #[arg(long, value_name = "WORDS")]
        ignored_articles: Option<String>,
        /// Transcodes running at once [env: HOUSEBAND_TRANSCODE_SLOTS; default: 32]
        #[arg(long, value_name = "N")]
        transcode_slots: Option<String>,
        /// Disk space for cached transcodes, e.g. 2GB; 0 = off [env: HOUSEBAND_TRANSCODE_CACHE]
        #[arg(long, value_name = "SIZE")]
        transcode_cache: Option<String>,
        /// Memory for Subsonic song entries kept written out, e.g. 64MB; 0 = off [env: HOUSEBAND_SONG_CACHE; default: 16MB]
        #[arg(long, value_name = "SIZE")]
        song_cache: Option<String>,
        /// Serve files whose symlinks lead outside their music folder [env: HOUSEBAND_ALLOW_OUTSIDE_LINKS]
        #[arg(long, value_name = "BOOL")]
        allow_outside_links: Option<String>,
        /// A reverse proxy whose X-Forwarded-* headers are believed, an address or CIDR range (repeat) [env: HOUSEBAND_TRUSTED_PROXIES, separated by ,]
        #[arg(long = "trusted-proxy", value_name = "ADDR")]
        trusted_proxy: Vec<String>,
        /// Let podcasts come from this machine or the home network [env: HOUSEBAND_PODCAST_ALLOW_PRIVATE_ADDRESSES]
        #[arg(long, value_name = "BOOL")]
        podcast_allow_private_addresses: Option<String>,
        /// Where downloaded podcast episodes go [env: HOUSEBAND_PODCAST_FOLDER; default: <data>/podcasts]
        #[arg(long, value_name = "DIR")]
        podcast_folder: Option<String>,
        /// Largest podcast episode downloaded, e.g. 500MB [env: HOUSEBAND_PODCAST_MAX_EPISODE_SIZE]
        #[arg(long, value_name = "SIZE")]
        podcast_max_episode_size: Option<String>,
        /// Scheduled podcast refresh, e.g. 6h; 0 = off [env: HOUSEBAND_PODCAST_REFRESH_INTERVAL]
        #[arg(long, value_name = "DURATION")]
        podcast_refresh_interval: Option<String>,
        /// Newest episodes per channel downloaded by themselves; 0 = none [env: HOUSEBAND_PODCAST_AUTO_DOWNLOAD]
        #[arg(long, value_name = "N")]
        podcast_auto_download: Option<String>,
        /// ReplayGain for transcoded streams: off, track, album [env: HOUSEBAND_REPLAY_GAIN]
        #[arg(long, value_name = "MODE")]
        replay_gain: Option<String>,
        /// Offer this machine's sound card as an output [env: HOUSEBAND_LOCAL_OUTPUT]
        #[arg(long, value_name = "BOOL")]
        local_output: Option<String>,
        /// Analyse how tracks sound, in the background [env: HOUSEBAND_SOUND_ANALYSIS]
        #[arg(long, value_name = "BOOL")]
        sound_analysis: Option<String>,
        /// Continue the household queue with radio when it runs out [env: HOUSEBAND_AUTOPLAY]
        #[arg(long, value_name = "BOOL")]
        autoplay: Option<String>,
        /// Announce the server and find speakers on the LAN: on or off [env: HOUSEBAND_LAN]
        #[arg(long, value_name = "on|off")]
        lan: Option<String>,
        /// The name announced on the LAN [env: HOUSEBAND_LAN_NAME]
        #[arg(long, value_name = "NAME")]
        lan_name: Option<String>,
        /// Where the ListenBrainz API is [env: HOUSEBAND_LISTENBRAINZ_URL]
        #[arg(long, value_name = "URL")]
        listenbrainz_url: Option<String>,
        /// The server's Last.fm API key [env: HOUSEBAND_LASTFM_API_KEY]
        #[arg(long, value_name = "KEY")]
        lastfm_api_key: Option<String>,
        /// The Last.fm API key's shared secret [env: HOUSEBAND_LASTFM_SECRET]
        #[arg(long, value_name = "SECRET")]
        lastfm_secret: Option<String>,
        /// Where the Last.fm API is [env: HOUSEBAND_LASTFM_URL]
        #[arg(long, value_name = "URL")]
        lastfm_url: Option<String>,
        /// The Last.fm page where users allow scrobbling [env: HOUSEBAND_LASTFM_AUTH_URL]
        #[arg(long, value_name = "URL")]
        lastfm_auth_url: Option<String>,
        /// How long a call to a scrobbling service may take [env: HOUSEBAND_SCROBBLE_TIMEOUT]
        #[arg(long, value_name = "DURATION")]
        scrobble_timeout: Option<String>,
    },
    /// Scan the music folders once and exit
    Scan {
        #[command(flatten)]
        library: LibraryFlags,
        /// Read every file again, even unchanged ones
        #[arg(long)]
        full: bool,
    },
    /// Ask a running server whether it is healthy: exit 0 if it is, 1 if not (for health checks)
    Health {
        /// The server's listen address [env: HOUSEBAND_BIND; default: 0.0.0.0:4545]
        #[arg(long, value_name = "ADDR:PORT")]
        bind: Option<String>,
    },
    /// Manage users
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand, Debug)]
enum UserCommand {
    /// Create a user
    Add {
        name: String,
        /// Make the user an administrator
        #[arg(long)]
        admin: bool,
        #[command(flatten)]
        password: PasswordFlags,
    },
    /// List users
    List,
    /// Change a user's password (read from standard input unless --password is given)
    Passwd {
        name: String,
        #[command(flatten)]
        password: PasswordFlags,
    },
    /// Delete a user and everything that user made
    Delete { name: String },
    /// Manage a user's API keys (OpenSubsonic apiKey authentication)
    Apikey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
}

#[derive(Subcommand, Debug)]
enum ApiKeyCommand {
    /// Make a new key for a user and print it (it is shown only this once)
    Add {
        name: String,
        /// What the key is for, e.g. the client or device
        #[arg(long, default_value = "api key")]
        label: String,
    },
    /// List a user's keys
    List { name: String },
    /// Revoke one of a user's keys
    Delete { name: String, id: i64 },
}

#[derive(Args, Debug)]
struct PasswordFlags {
    /// The password (visible to other local users in the process list: prefer --password-stdin)
    #[arg(long, conflicts_with = "password_stdin")]
    password: Option<String>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

/// Runs the program; returns the process exit code.
pub fn main() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() { 2 } else { 0 };
        }
    };
    let env = |k: &str| std::env::var(k).ok();
    let settings = match config::resolve(&flags_of(&cli), &env) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("houseband: {e}");
            return 2;
        }
    };
    init_logging(&settings);
    match run(cli.command, settings) {
        Ok(()) => 0,
        Err(e) => {
            if let Some(cfg) = e.downcast_ref::<ConfigError>() {
                eprintln!("houseband: {cfg}");
                return 2;
            }
            eprintln!("houseband: {e:#}");
            1
        }
    }
}

fn flags_of(cli: &Cli) -> Flags {
    let mut f = Flags::default();
    f.set("data", cli.common.data.clone());
    f.set("config", cli.common.config.clone());
    f.set("log", cli.common.log.clone());
    let library = |l: &LibraryFlags, f: &mut Flags| {
        f.set_list("music", l.music.clone());
        f.set_list("tag_separators", l.tag_separator.clone());
        f.set("scan_threads", l.scan_threads.clone());
        f.set("missing_grace", l.missing_grace.clone());
    };
    match &cli.command {
        Command::Serve {
            library: l,
            bind,
            scan_interval,
            scan_on_start,
            watch,
            watch_debounce,
            ignored_articles,
            transcode_slots,
            transcode_cache,
            song_cache,
            allow_outside_links,
            trusted_proxy,
            podcast_allow_private_addresses,
            podcast_folder,
            podcast_max_episode_size,
            podcast_refresh_interval,
            podcast_auto_download,
            replay_gain,
            local_output,
            sound_analysis,
            autoplay,
            lan,
            lan_name,
            listenbrainz_url,
            lastfm_api_key,
            lastfm_secret,
            lastfm_url,
            lastfm_auth_url,
            scrobble_timeout,
        } => {
            library(l, &mut f);
            f.set("bind", bind.clone());
            f.set("scan_interval", scan_interval.clone());
            f.set("scan_on_start", scan_on_start.clone());
            f.set("watch", watch.clone());
            f.set("watch_debounce", watch_debounce.clone());
            f.set("ignored_articles", ignored_articles.clone());
            f.set("transcode_slots", transcode_slots.clone());
            f.set("transcode_cache", transcode_cache.clone());
            f.set("song_cache", song_cache.clone());
            f.set("allow_outside_links", allow_outside_links.clone());
            f.set_list("trusted_proxies", trusted_proxy.clone());
            f.set(
                "podcast_allow_private_addresses",
                podcast_allow_private_addresses.clone(),
            );
            f.set("podcast_folder", podcast_folder.clone());
            f.set("podcast_max_episode_size", podcast_max_episode_size.clone());
            f.set("podcast_refresh_interval", podcast_refresh_interval.clone());
            f.set("podcast_auto_download", podcast_auto_download.clone());
            f.set("replay_gain", replay_gain.clone());
            f.set("local_output", local_output.clone());
            f.set("sound_analysis", sound_analysis.clone());
            f.set("autoplay", autoplay.clone());
            f.set("lan", lan.clone());
            f.set("lan_name", lan_name.clone());
            f.set("listenbrainz_url", listenbrainz_url.clone());
            f.set("lastfm_api_key", lastfm_api_key.clone());
            f.set("lastfm_secret", lastfm_secret.clone());
            f.set("lastfm_url", lastfm_url.clone());
            f.set("lastfm_auth_url", lastfm_auth_url.clone());
            f.set("scrobble_timeout", scrobble_timeout.clone());
        }
        Command::Scan { library: l, .. } => library(l, &mut f),
        Command::Health { bind } => f.set("bind", bind.clone()),
        Command::User { .. } => {}
    }
    f
}

fn init_logging(settings: &Settings) {
    let filter = tracing_subscriber::EnvFilter::try_new(&settings.log)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(command: Command, settings: Settings) -> Result<()> {
    match command {
        Command::Serve { .. } => serve(settings),
        Command::Scan { full, .. } => scan(settings, full),
        Command::Health { .. } => health(&settings),
        Command::User { command } => user(settings, command),
    }
}

fn require_music(settings: &Settings) -> Result<()> {
    if settings.music.is_empty() {
        return Err(ConfigError(
            "no music folders: pass --music DIR, set HOUSEBAND_MUSIC, or add `music = [\"...\"]` to the config file".into(),
        )
        .into());
    }
    Ok(())
}

fn scan(settings: Settings, full: bool) -> Result<()> {
    require_music(&settings)?;
    let app = App::open(settings)?;
    let report = app.library.scan(&ScanRequest { full, paths: None })?;
    let mut out = std::io::stdout().lock();
    for (folder, reason) in &report.skipped_folders {
        writeln!(out, "skipped folder {folder}: {reason}")?;
    }
    for (path, reason) in &report.warnings {
        writeln!(out, "warning: {path}: {reason}")?;
    }
    for (path, reason) in &report.errors {
        writeln!(out, "error: {path}: {reason}")?;
    }
    writeln!(out, "{}", report.summary())?;
    Ok(())
}

/// Asks the server at the `bind` setting for `/api/health`, the way a container's health check
/// or a monitoring script would: it reads the same settings as `serve`, so it finds the server
/// the config file and environment describe. Opens no database.
fn health(settings: &Settings) -> Result<()> {
    let mut addr = settings.bind;
    // A server listening on every address is reached on this machine's loopback.
    if addr.ip().is_unspecified() {
        addr.set_ip(match addr {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    let url = format!("http://{addr}/api/health");
    let body = match ureq::get(&url).timeout(Duration::from_secs(5)).call() {
        Ok(resp) => resp.into_string(),
        Err(ureq::Error::Status(code, resp)) => {
            let text = resp.into_string().unwrap_or_default();
            bail!("{url} answered HTTP {code}: {}", text.trim());
        }
        Err(e) => bail!(
            "no server answers at {url} ({e}); is `houseband serve` running, and does --bind (or HOUSEBAND_BIND, or bind in the config file) name its address?"
        ),
    }
    .with_context(|| format!("cannot read the answer of {url}"))?;
    let health: serde_json::Value = serde_json::from_str(&body)
        .with_context(|| format!("{url} did not answer Houseband's health JSON: {body:.200}"))?;
    if health["status"] != "ok" {
        bail!("the server at {url} is unhealthy: {body}");
    }
    println!(
        "ok: Houseband {} at {addr}, {} tracks{}",
        health["version"].as_str().unwrap_or("?"),
        health["tracks"],
        if health["scanning"] == true {
            ", scanning"
        } else {
            ""
        }
    );
    Ok(())
}

/// The server answers with buffers of a megabyte or more (a 1,000-song playlist); glibc would
/// map and unmap each one, and the page faults cost more than the work. Keep them in the heap.
/// With that, each of glibc's per-thread arenas (up to 8 per core) may keep 64 MB it freed, and
/// under 200 clients the blocking threads spread over many of them: RSS grew 18 MB a minute in
/// the soak. Two arenas hold it flat (+1.3 MB/min, same soak with MALLOC_ARENA_MAX=2).
fn tune_allocator() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 * 1024 * 1024);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 64 * 1024 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn serve(settings: Settings) -> Result<()> {
    tune_allocator();
    if settings.music.is_empty() {
        tracing::warn!("no music folders configured: pass --music DIR or set HOUSEBAND_MUSIC");
    }
    let app = Arc::new(App::open(settings)?);
    if let Some(password) = &app.settings.admin_password {
        if app.users.count()? == 0 {
            app.users.add("admin", password, true)?;
            tracing::info!("created the user admin from HOUSEBAND_ADMIN_PASSWORD");
        }
    }
    let system = actix_web::rt::System::new();
    system.block_on(async move {
        let server = crate::server::bind(app.clone())?;
        tracing::info!(bind = %app.settings.bind, db = %app.db.path().display(), "listening");
        start_background(&app)?;
        let lan = if app.settings.lan {
            let me = crate::app::lan::mdns::Announcement {
                name: app
                    .settings
                    .lan_name
                    .clone()
                    .unwrap_or_else(crate::app::lan::mdns::default_name),
                port: app.settings.bind.port(),
                id: app.users.sign("server-id"),
                version: env!("CARGO_PKG_VERSION"),
            };
            let context = crate::app::lan::caster::Context {
                queue: app.queues.home().clone(),
                db: app.db.clone(),
                users: app.users.clone(),
                outputs: app.outputs.clone(),
                devices: Default::default(),
                events: app.upnp_events.clone(),
                podcasts: app.podcasts.clone(),
                port: me.port,
                library: crate::app::lan::airplay::Library {
                    db: app.db.clone(),
                    media: app.media.clone(),
                    podcasts: app.podcasts.clone(),
                    replay_gain: app.settings.replay_gain,
                },
            };
            Some(crate::app::lan::Lan::start(&me, context)?)
        } else {
            None
        };
        app.scrobbling.start()?;
        if app.settings.sound_analysis {
            crate::app::reco::analysis::start(app.db.clone(), app.library.clone())?;
        }
        let counts = app.clone();
        crate::app::reco::follow::start(
            app.reco.clone(),
            app.queues.home().clone(),
            app.db.clone(),
            Box::new(move |user, song, at| {
                if let Err(e) = counts.count_play(user, song, at) {
                    tracing::warn!("a play of the household queue was not counted: {e:#}");
                }
            }),
            {
                let app = app.clone();
                Box::new(move |user, song| app.queue_started(user, song))
            },
            {
                let users = app.users.clone();
                Box::new(move |user| {
                    let found = users.by_id(user).ok().flatten();
                    // A user who is gone sees nothing.
                    let folders = found.map_or(Some(Vec::new()), |u| u.allowed_folders());
                    crate::app::library::browse::Scope::new(folders, None)
                })
            },
        )?;
        if app.settings.local_output {
            app.outputs
                .add_local(crate::app::outputs::local::Local::start(
                    app.queues.home().clone(),
                    app.db.clone(),
                    app.media.clone(),
                    app.podcasts.clone(),
                    app.settings.replay_gain,
                )?);
        }
        let served = server
            .await
            .context("the HTTP server stopped with an error");
        if let Some(lan) = lan {
            lan.stop();
        }
        served
    })
}

/// The first scan, the watcher and the periodic scan: all off the HTTP workers.
fn start_background(app: &Arc<App>) -> Result<()> {
    app.podcasts.start(app.settings.podcast_refresh_interval)?;
    let library = app.library.clone();
    let settings = app.settings.clone();
    if settings.watch {
        // Started even with no folder yet: folders added in the app are watched as they come.
        *app.watcher.lock().unwrap_or_else(|p| p.into_inner()) =
            Some(watcher::start(library.clone(), settings.watch_debounce)?);
    }
    let app = app.clone();
    std::thread::Builder::new()
        .name("library-scan".into())
        .spawn(move || {
            if settings.scan_on_start && !library.roots().is_empty() {
                let _ = library.scan(&ScanRequest::default());
            }
            if settings.scan_interval.is_zero() {
                return;
            }
            // Runs with no folder too: one added in the app is rescanned like the others.
            loop {
                std::thread::sleep(settings.scan_interval.max(Duration::from_secs(1)));
                if library.roots().is_empty() {
                    continue;
                }
                let _ = library.scan(&ScanRequest::default());
                if let Some(w) = app
                    .watcher
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .as_mut()
                {
                    w.retry();
                }
            }
        })
        .context("cannot start the scan thread")?;
    Ok(())
}

fn read_password(flags: &PasswordFlags, prompt_if_tty: bool) -> Result<String> {
    if let Some(p) = &flags.password {
        return Ok(p.clone());
    }
    if !flags.password_stdin && !prompt_if_tty {
        return Err(ConfigError(
            "give the password with --password-stdin (preferred) or --password".into(),
        )
        .into());
    }
    let stdin = std::io::stdin();
    if !flags.password_stdin && stdin.is_terminal() {
        eprint!("new password: ");
    }
    let mut line = String::new();
    stdin
        .lock()
        .read_line(&mut line)
        .context("cannot read the password")?;
    let password = line.trim_end_matches(['\n', '\r']).to_string();
    if password.is_empty() {
        bail!("no password given on standard input");
    }
    Ok(password)
}

fn user(settings: Settings, command: UserCommand) -> Result<()> {
    let app = App::open(settings)?;
    match command {
        UserCommand::Add {
            name,
            admin,
            password,
        } => {
            let password = read_password(&password, false)?;
            let user = app.users.add(&name, &password, admin)?;
            println!(
                "added user {}{}",
                user.name,
                if admin { " (admin)" } else { "" }
            );
        }
        UserCommand::List => {
            for u in app.users.list()? {
                println!("{}\t{}", u.name, if u.is_admin { "admin" } else { "user" });
            }
        }
        UserCommand::Passwd { name, password } => {
            let password = read_password(&password, true)?;
            app.users.set_password(&name, &password)?;
            println!("changed the password of {name}");
        }
        UserCommand::Delete { name } => {
            app.users.delete(&name)?;
            println!("deleted user {name}");
        }
        UserCommand::Apikey { command } => match command {
            ApiKeyCommand::Add { name, label } => {
                let (id, key) = app.users.create_api_key(&name, &label)?;
                eprintln!("API key {id} for {name} (store it now: it cannot be shown again):");
                println!("{key}");
            }
            ApiKeyCommand::List { name } => {
                for k in app.users.api_keys(&name)? {
                    let used = k
                        .last_used_at
                        .map_or("never used".to_string(), |u| format!("last used {u}"));
                    println!("{}\t{}\tcreated {}\t{used}", k.id, k.label, k.created_at);
                }
            }
            ApiKeyCommand::Delete { name, id } => {
                app.users.delete_api_key(&name, id)?;
                println!("revoked API key {id} of {name}");
            }
        },
    }
    Ok(())
}
