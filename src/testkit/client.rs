//! For the reliability drivers (`crash_rounds`, `soak`): the real `houseband serve` started on
//! loopback with every background feature off, and a small blocking client for the Subsonic and
//! native APIs over ureq. Every call goes to 127.0.0.1.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde_json::Value;

/// `houseband serve` on a free loopback port, with no watcher, periodic or start-up scan,
/// multicast, sound card, analysis or autoplay; its log (warnings) appended to `log`.
pub struct Served {
    pub child: Child,
    pub port: u16,
}

impl Served {
    pub fn start(bin: &Path, music: &Path, data: &Path, log: &Path) -> Result<Served> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .context("the server's log file")?;
        let child = super::serve_command(bin, music, data, port)
            .args(["--scan-on-start", "false"])
            .env_remove("HOUSEBAND_MUSIC")
            .env_remove("HOUSEBAND_DATA")
            .env_remove("HOUSEBAND_CONFIG")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .context("starting houseband serve")?;
        let mut served = Served { child, port };
        let started = Instant::now();
        let health = format!("http://127.0.0.1:{port}/api/health");
        while ureq::get(&health)
            .timeout(Duration::from_secs(2))
            .call()
            .is_err()
        {
            if let Some(status) = served.child.try_wait()? {
                bail!("the server exited at start ({status}); see its log");
            }
            if started.elapsed() > Duration::from_secs(60) {
                served.kill();
                bail!("the server did not answer within 60 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(served)
    }

    /// SIGKILL, then reaps the process.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's resident memory now (VmRSS), in KiB.
    pub fn rss_kb(&self) -> u64 {
        rss_kb(self.child.id())
    }
}

/// A process's resident memory now (VmRSS from /proc), in KiB; 0 when it is gone.
pub fn rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

impl Drop for Served {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `houseband scan --music <music> --data <data> [extra]`, failing with its error output.
pub fn scan(bin: &Path, music: &Path, data: &Path, extra: &[&str]) -> Result<()> {
    let out = Command::new(bin)
        .arg("scan")
        .arg("--music")
        .arg(music)
        .arg("--data")
        .arg(data)
        .args(extra)
        .env("HOUSEBAND_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!("the scan failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(())
}

/// Raises this process's limit of open files to the hard limit (at most 65,536): load runs hold
/// two sockets per client on this machine.
pub fn raise_open_files() {
    // SAFETY: plain calls on a struct owned here.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = lim.rlim_max.min(1 << 16);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

/// `houseband user add <name> --admin --password <password>` on `data`.
pub fn add_admin(bin: &Path, data: &Path, name: &str, password: &str) -> Result<()> {
    let out = Command::new(bin)
        .args(["user", "add", name, "--admin", "--password", password])
        .arg("--data")
        .arg(data)
        .env("HOUSEBAND_LOG", "warn")
        .output()?;
    if !out.status.success() {
        bail!(
            "houseband user add {name} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

/// What a call came back with.
#[derive(Debug)]
pub enum Answer {
    /// A Subsonic `status: ok` (its `subsonic-response`), or a native 2xx (its JSON body).
    Ok(Value),
    /// An answer that refused the call: a Subsonic `failed` or a native 4xx/5xx (status, text).
    Refused(u16, String),
    /// No answer: the connection failed or broke (the server may or may not have done it).
    NoAnswer(String),
}

impl Answer {
    pub fn is_ok(&self) -> bool {
        matches!(self, Answer::Ok(_))
    }
}

/// One user's blocking client for one server.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub user: String,
    pub password: String,
    agent: ureq::Agent,
}

impl Client {
    pub fn new(port: u16, user: &str, password: &str) -> Client {
        Client {
            base: format!("http://127.0.0.1:{port}"),
            user: user.into(),
            password: password.into(),
            agent: ureq::AgentBuilder::new()
                .timeout(Duration::from_secs(30))
                .build(),
        }
    }

    /// The address of a Subsonic method with its parameters, logged in as this client's user.
    pub fn rest_url(&self, method: &str, params: &[(&str, &str)]) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("u", &self.user)
            .append_pair("p", &self.password)
            .append_pair("v", "1.16.1")
            .append_pair("c", "houseband-rely")
            .append_pair("f", "json");
        for (k, v) in params {
            q.append_pair(k, v);
        }
        format!("{}/rest/{method}?{}", self.base, q.finish())
    }

    /// A Subsonic call answered in JSON.
    pub fn rest(&self, method: &str, params: &[(&str, &str)]) -> Answer {
        match self.agent.get(&self.rest_url(method, params)).call() {
            Ok(r) => {
                let status = r.status();
                let body = match r.into_string() {
                    Ok(b) => b,
                    Err(e) => return Answer::NoAnswer(format!("{method}: body: {e}")),
                };
                let v: Value = match serde_json::from_str(&body) {
                    Ok(v) => v,
                    Err(_) => return Answer::Refused(status, shorten(&body)),
                };
                let resp = v["subsonic-response"].clone();
                if resp["status"] == "ok" {
                    Answer::Ok(resp)
                } else {
                    Answer::Refused(status, resp["error"]["message"].to_string())
                }
            }
            Err(ureq::Error::Status(code, r)) => {
                Answer::Refused(code, shorten(&r.into_string().unwrap_or_default()))
            }
            Err(e) => Answer::NoAnswer(format!("{method}: {e}")),
        }
    }

    /// A Subsonic call whose answer is a file (stream, cover art): reads it all and returns the
    /// HTTP status and the number of bytes. `range` is sent as the `Range` header.
    pub fn rest_bytes(
        &self,
        method: &str,
        params: &[(&str, &str)],
        range: Option<&str>,
    ) -> Result<(u16, u64)> {
        let mut req = self.agent.get(&self.rest_url(method, params));
        if let Some(r) = range {
            req = req.set("Range", r);
        }
        let r = match req.call() {
            Ok(r) => r,
            Err(ureq::Error::Status(code, r)) => {
                bail!("{method}: HTTP {code}: {}", shorten(&r.into_string()?))
            }
            Err(e) => bail!("{method}: {e}"),
        };
        let status = r.status();
        if r.content_type() == "application/json" || r.content_type() == "text/xml" {
            bail!("{method}: an error instead of a file: {}", r.into_string()?);
        }
        let n = std::io::copy(&mut r.into_reader(), &mut std::io::sink())
            .with_context(|| format!("{method}: reading the file"))?;
        Ok((status, n))
    }

    /// A native API call (HTTP Basic) with a JSON body unless it is a GET.
    pub fn api(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        use base64::Engine;
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{}:{}", self.user, self.password));
        let req = self
            .agent
            .request(method, &format!("{}{path}", self.base))
            .set("Authorization", &format!("Basic {auth}"));
        let r = match body {
            Some(b) => req
                .set("Content-Type", "application/json")
                .send_string(&b.to_string()),
            None => req.call(),
        };
        match r {
            Ok(r) => match serde_json::from_reader::<_, Value>(r.into_reader()) {
                Ok(v) => Answer::Ok(v),
                Err(e) => Answer::NoAnswer(format!("{path}: body: {e}")),
            },
            Err(ureq::Error::Status(code, r)) => {
                Answer::Refused(code, shorten(&r.into_string().unwrap_or_default()))
            }
            Err(e) => Answer::NoAnswer(format!("{path}: {e}")),
        }
    }
}

fn shorten(s: &str) -> String {
    s.chars().take(300).collect()
}

/// Copies a folder tree (the fixture library into a run's music folder).
pub fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let target = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &target)?;
        } else {
            std::fs::copy(e.path(), &target)?;
        }
    }
    Ok(())
}

/// A small deterministic generator (xorshift), so a run repeats from its printed seed.
#[derive(Clone)]
pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// A seed from the clock, for runs not given one.
pub fn clock_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1
}

/// The path of a fixture file, relative to the demo library.
pub fn fixture(rel: &str) -> PathBuf {
    super::fixtures_library().join(rel)
}
