//! Helpers shared by the integration tests: run the real `houseband` binary against temporary
//! folders and read the real SQLite file it writes.
#![allow(dead_code, unused_imports)]

pub mod standin;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use houseband::testkit::{exec, rows};

pub mod feeds;

pub const BIN: &str = env!("CARGO_BIN_EXE_houseband");

pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A data dir and a music dir in one temporary folder.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        Sandbox {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    /// A sandbox whose music folder holds a copy of the demo library.
    pub fn with_library() -> Sandbox {
        let sb = Sandbox::new();
        copy_dir(&fixtures().join("library"), &sb.music());
        sb
    }
    /// The demo library with its classical album moved out to a folder of its own (not a music
    /// folder unless the test makes it one): the sandbox and that folder.
    pub fn with_classical_apart() -> (Sandbox, PathBuf) {
        let sb = Sandbox::with_library();
        let classical = sb.dir.path().join("classical");
        std::fs::create_dir_all(&classical).unwrap();
        std::fs::rename(
            sb.music().join("Orchestra Nova"),
            classical.join("Orchestra Nova"),
        )
        .unwrap();
        (sb, classical)
    }
    pub fn music(&self) -> PathBuf {
        self.dir.path().join("music")
    }
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }
    pub fn db(&self) -> PathBuf {
        self.data().join("houseband.db")
    }
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .arg("--data")
            .arg(self.data())
            .env_remove("HOUSEBAND_MUSIC")
            .env_remove("HOUSEBAND_DATA")
            .env_remove("HOUSEBAND_CONFIG")
            .env("HOUSEBAND_LOG", "warn")
            // No test plays on this machine's sound card unless it asks to (with a fake one).
            .env("HOUSEBAND_LOCAL_OUTPUT", "false")
            // Nor sends multicast: LAN features run only inside network namespaces (tests/lan.rs).
            .env("HOUSEBAND_LAN", "off")
            // Nor analyses sound in the background (tests/reco.rs turns it on).
            .env("HOUSEBAND_SOUND_ANALYSIS", "false")
            .env("HOUSEBAND_AUTOPLAY", "false");
        c
    }
    /// `houseband scan --music <music> [extra]`, asserting success; returns stdout.
    pub fn scan(&self, extra: &[&str]) -> String {
        let out = self.scan_output(extra);
        assert!(
            out.status.success(),
            "scan failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }
    pub fn scan_output(&self, extra: &[&str]) -> Output {
        let music = self.music();
        let mut args = vec!["scan", "--music", music.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.cmd(&args).output().unwrap()
    }
    pub fn track_id(&self, file_name: &str) -> i64 {
        let found = rows(
            &self.db(),
            "id",
            &format!(
                "FROM tracks WHERE path LIKE '%/' || '{}'",
                file_name.replace('\'', "''")
            ),
        )
        .unwrap();
        assert_eq!(found.len(), 1, "expected one track named {file_name}");
        found[0][0].as_i64().unwrap()
    }
    pub fn count(&self, rest: &str) -> i64 {
        rows(&self.db(), "COUNT(*)", rest).unwrap()[0][0]
            .as_i64()
            .unwrap()
    }
}

/// The numbers from a scan's last line.
#[derive(Debug, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub added: u64,
    pub updated: u64,
    pub removed: u64,
    pub errors: u64,
}

pub fn summary(stdout: &str) -> Summary {
    let last = stdout.lines().last().expect("scan printed nothing");
    let nums: Vec<u64> = last
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .take(5)
        .map(|s| s.parse().unwrap())
        .collect();
    assert!(last.starts_with("scanned "), "unexpected last line: {last}");
    Summary {
        files: nums[0],
        added: nums[1],
        updated: nums[2],
        removed: nums[3],
        errors: nums[4],
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve` flags that keep a test's server to itself: no watcher, no multicast, no sound card,
/// no background analysis, no autoplay.
pub const QUIET: &[&str] = &[
    "--watch",
    "off",
    "--lan",
    "off",
    "--local-output",
    "false",
    "--sound-analysis",
    "false",
    "--autoplay",
    "false",
];

/// A running `houseband serve` on loopback, killed on drop.
pub struct Server {
    pub child: Child,
    pub port: u16,
}

impl Server {
    pub fn start(sb: &Sandbox, extra: &[&str]) -> Server {
        Server::start_with_env(sb, extra, &[])
    }

    pub fn start_with_env(sb: &Sandbox, extra: &[&str], env: &[(&str, &str)]) -> Server {
        let port = free_port();
        let bind = format!("127.0.0.1:{port}");
        let music = sb.music();
        let mut args = vec!["serve", "--music", music.to_str().unwrap(), "--bind", &bind];
        args.extend_from_slice(extra);
        let child = sb
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .envs(env.iter().copied())
            .spawn()
            .unwrap();
        let server = Server { child, port };
        server.wait_for(Duration::from_secs(20), |_| true);
        server
    }

    pub fn health(&self) -> Option<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}/api/health", self.port);
        let resp = ureq::get(&url)
            .timeout(Duration::from_secs(5))
            .call()
            .ok()?;
        serde_json::from_str(&resp.into_string().ok()?).ok()
    }

    /// Polls health until `pred` holds; returns the time it took. Panics after `limit`.
    pub fn wait_for(
        &self,
        limit: Duration,
        mut pred: impl FnMut(&serde_json::Value) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            if let Some(h) = self.health() {
                if pred(&h) {
                    return start.elapsed();
                }
            }
            assert!(
                start.elapsed() < limit,
                "condition not reached within {limit:?}: {:?}",
                self.health()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (30 s at most) for no scan to run and `tracks` songs to be in the library.
    pub fn wait_until_scanned(&self, tracks: i64) -> Duration {
        self.wait_for(Duration::from_secs(30), |h| {
            h["scanning"] == false && h["tracks"].as_i64() == Some(tracks)
        })
    }

    pub fn tracks(&self) -> i64 {
        self.health().unwrap()["tracks"].as_i64().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn is_root() -> bool {
    unsafe { libc::geteuid() == 0 }
}

/// A small tmpfs mounted for one test (needs root: CI runs as root).
pub struct SmallDisk {
    pub path: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl SmallDisk {
    pub fn mount(size: &str) -> SmallDisk {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("disk");
        std::fs::create_dir(&path).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs failed");
        SmallDisk { path, _dir: dir }
    }
    pub fn grow(&self, size: &str) {
        let ok = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.path)
            .status()
            .unwrap()
            .success();
        assert!(ok, "remount failed");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// A password as Subsonic's `p=enc:<hex>`.
pub fn enc(password: &str) -> String {
    format!(
        "enc:{}",
        password
            .bytes()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    )
}

/// The `Authorization` header for HTTP Basic with `login` (`name:password`).
pub fn basic(login: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(login)
    )
}

/// A native API call to the server on `port` as `login` (`name:password`), with a JSON body
/// unless it is a GET: (status, JSON body, or null when there is none).
pub fn api_call(
    port: u16,
    login: &str,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, serde_json::Value) {
    let url = format!("http://127.0.0.1:{port}{path}");
    let request = ureq::request(method, &url).set("Authorization", &basic(login));
    let r = if method == "GET" {
        request.call()
    } else {
        request
            .set("Content-Type", "application/json")
            .send_string(body)
    };
    let r = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{path}: {e}"),
    };
    let status = r.status();
    (
        status,
        serde_json::from_reader(r.into_reader()).unwrap_or(serde_json::Value::Null),
    )
}
