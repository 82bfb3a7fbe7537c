//! A virtual LAN for tests and benchmarks of the home-network features: two network namespaces
//! ("house" for the server, "room" for speakers and peers) joined by a veth pair, with a
//! multicast route in each, so mDNS and SSDP flow between them and never reach the machine's
//! real interfaces. Needs root and iproute2; [`Lan::build`] says so and gives nothing elsewhere.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

pub const HOUSE_IP: &str = "10.77.0.1";
pub const ROOM_IP: &str = "10.77.0.2";
/// A second address in the room, for announcements that point away from their sender.
pub const ELSEWHERE_IP: &str = "10.77.0.3";

/// Where the LAN's own programs log: to the test's output when `LAN_LOG` is set, else nowhere.
fn lan_log() -> Stdio {
    if std::env::var("LAN_LOG").is_ok() {
        Stdio::inherit()
    } else {
        Stdio::null()
    }
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtual LAN, torn down on drop.
pub struct Lan {
    pub house: String,
    pub room: String,
    pub room_if: String,
    pub children: Vec<Child>,
    /// The servers' logs, printed on drop when `LAN_LOG` is set.
    logs: Vec<std::path::PathBuf>,
}

impl Lan {
    /// None (with a message) where namespaces cannot be made.
    pub fn build() -> Option<Lan> {
        if unsafe { libc::geteuid() } != 0 || Command::new("ip").arg("-V").output().is_err() {
            eprintln!("skipped: building network namespaces needs root and iproute2 (CI has both)");
            return None;
        }
        let n = std::process::id() % 100_000;
        // Several tests build their LANs at once: a counter keeps the names apart.
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let k = NEXT.fetch_add(1, Ordering::SeqCst);
        let lan = Lan {
            house: format!("hb-house-{n}-{k}"),
            room: format!("hb-room-{n}-{k}"),
            room_if: format!("hbr{n}{k}"),
            children: Vec::new(),
            logs: Vec::new(),
        };
        let house_if = format!("hbh{n}{k}");
        ip(&["netns", "add", &lan.house]);
        ip(&["netns", "add", &lan.room]);
        ip(&[
            "link",
            "add",
            &house_if,
            "type",
            "veth",
            "peer",
            "name",
            &lan.room_if,
        ]);
        ip(&["link", "set", &house_if, "netns", &lan.house]);
        ip(&["link", "set", &lan.room_if, "netns", &lan.room]);
        for (ns, dev, addrs) in [
            (&lan.house, &house_if, vec![HOUSE_IP]),
            (&lan.room, &lan.room_if, vec![ROOM_IP, ELSEWHERE_IP]),
        ] {
            let exec = |args: &[&str]| {
                let mut all = vec!["netns", "exec", ns.as_str(), "ip"];
                all.extend_from_slice(args);
                ip(&all);
            };
            exec(&["link", "set", "lo", "up"]);
            // An IPv4 LAN: IPv6 link-local answers would race the IPv4 ones in what a browser
            // resolves first.
            let sysctl = Command::new("ip")
                .args(["netns", "exec", ns, "sh", "-c"])
                .arg("echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6")
                .status()
                .expect("sysctl runs");
            assert!(sysctl.success());
            for a in addrs {
                exec(&["addr", "add", &format!("{a}/24"), "dev", dev]);
            }
            exec(&["link", "set", dev, "up", "multicast", "on"]);
            // No default route in a namespace: multicast needs its own.
            exec(&["route", "add", "224.0.0.0/4", "dev", dev]);
        }
        Some(lan)
    }

    /// Runs `work` on a thread inside namespace `ns`; threads it starts stay there too.
    pub fn inside<T: Send + 'static>(ns: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
        let path = format!("/run/netns/{ns}");
        std::thread::spawn(move || {
            use std::os::fd::AsRawFd;
            let f = std::fs::File::open(&path).expect("the namespace exists");
            assert_eq!(
                unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) },
                0,
                "setns into {path}"
            );
            work()
        })
        .join()
        .expect("the work inside the namespace")
    }

    /// Starts `bin serve` in the house with the LAN features on, and waits until it answers.
    /// Its log (warnings, and the LAN's news; `LAN_LOG` sets the level, and prints it at the end)
    /// is [`Lan::server_log`].
    pub fn serve(&mut self, bin: &str, music: &Path, data: &Path, port: u16) {
        self.serve_with(bin, music, data, port, &[]);
    }

    /// As [`Lan::serve`], with more environment (e.g. a sound card's, which turns the local
    /// output on).
    pub fn serve_with(
        &mut self,
        bin: &str,
        music: &Path,
        data: &Path,
        port: u16,
        env: &[(&str, &str)],
    ) {
        let local = env.iter().any(|(k, _)| *k == "HOUSEBAND_LOCAL_OUTPUT");
        // Beside the LAN, not in `data`: a test's data folder may be gone before the LAN is.
        let log =
            std::env::temp_dir().join(format!("{}-server-{}.log", self.house, self.logs.len()));
        let child = Command::new("ip")
            .args(["netns", "exec", &self.house])
            .arg(bin)
            .args(["serve", "--music"])
            .arg(music)
            .arg("--data")
            .arg(data)
            .args(["--bind", &format!("0.0.0.0:{port}"), "--lan", "on"])
            .args(["--lan-name", "Test House", "--watch", "off"])
            .args([
                "--scan-interval",
                "0",
                "--sound-analysis",
                "false",
                "--autoplay",
                "false",
            ])
            .args(if local {
                &[][..]
            } else {
                &["--local-output", "false"][..]
            })
            .envs(env.iter().copied())
            .env("HOUSEBAND_LOG", {
                // The LAN's news at info at least: tests read it.
                let level = std::env::var("LAN_LOG").unwrap_or("warn".into());
                if level.contains("houseband::app::lan") {
                    level
                } else {
                    format!("{level},houseband::app::lan=info")
                }
            })
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        self.logs.push(log);
        self.children.push(child);
        // Up, and done with its first scan when there is music: the server answers before its
        // scan thread has begun, and a test that looks up a song at once (on a loaded machine)
        // would find none.
        let music_to_scan = std::fs::read_dir(music).is_ok_and(|mut d| d.next().is_some());
        let house = self.house.clone();
        let deadline = Instant::now() + Duration::from_secs(60);
        while !Lan::inside(&house, move || {
            let health = ureq::get(&format!("http://127.0.0.1:{port}/api/health"))
                .call()
                .ok()
                .and_then(|r| serde_json::from_reader::<_, Value>(r.into_reader()).ok());
            health.is_some_and(|h| {
                !music_to_scan || (h["scanning"] == false && h["tracks"].as_i64() > Some(0))
            })
        }) {
            assert!(
                Instant::now() < deadline,
                "the server did not start, or did not scan its music"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What the last server started has logged so far.
    pub fn server_log(&self) -> String {
        self.logs
            .last()
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default()
    }

    /// `GET /api/outputs` from inside the house.
    pub fn outputs(&self, port: u16) -> Vec<Value> {
        Lan::inside(&self.house, move || {
            let r = ureq::get(&format!("http://127.0.0.1:{port}/api/outputs"))
                .set("Authorization", "Basic YW5uOnB3") // ann:pw
                .call()
                .unwrap();
            let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
            v.as_array().unwrap().clone()
        })
    }

    pub fn wait_for_output(
        &self,
        port: u16,
        what: &str,
        test: impl Fn(&Value) -> bool,
    ) -> (Value, Duration) {
        let start = Instant::now();
        loop {
            if let Some(o) = self.outputs(port).into_iter().find(|o| test(o)) {
                return (o, start.elapsed());
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "{what} not listed: {:?}",
                self.outputs(port)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

pub const RENDERER_UUID: &str = "8d8f9a2e-1b4c-4f6e-9a1d-000000000001";
pub const RENDERER_ID: &str = "upnp-8d8f9a2e-1b4c-4f6e-9a1d-000000000001";
pub const RENDERER_PORT: u16 = 49494;

impl Lan {
    /// Starts Debian's gmediarender in the room, as "Living Room" (its index in `children`);
    /// None when it is not installed.
    pub fn renderer(&mut self) -> Option<usize> {
        if Command::new("gmediarender")
            .arg("--version")
            .output()
            .is_err()
        {
            return None;
        }
        let child = Command::new("ip")
            .args(["netns", "exec", &self.room, "gmediarender"])
            .args(["-f", "Living Room", "-u", RENDERER_UUID])
            .args(["-I", &self.room_if, "-p", &RENDERER_PORT.to_string()])
            // A sink that keeps time (a plain fakesink "plays" a song in milliseconds).
            .arg("--gstout-audiopipe=fakesink sync=true")
            .args(if std::env::var("LAN_LOG").is_ok() {
                vec!["--logfile", "stderr"]
            } else {
                vec![]
            })
            .stdout(Stdio::null())
            .stderr(lan_log())
            .spawn()
            .unwrap();
        self.children.push(child);
        Some(self.children.len() - 1)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        if std::env::var("LAN_LOG").is_ok() {
            for log in &self.logs {
                eprintln!("{}", std::fs::read_to_string(log).unwrap_or_default());
            }
        }
        for log in &self.logs {
            let _ = std::fs::remove_file(log);
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.house, &self.room] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

/// A WAV file of `seconds` of a 440 Hz tone (16-bit stereo, 44.1 kHz).
pub fn long_tone(path: &std::path::Path, seconds: u32) {
    tone(path, seconds, 440.0);
}

/// A WAV file of `seconds` of a `hz` tone (16-bit stereo, 44.1 kHz, amplitude 8000).
pub fn tone(path: &std::path::Path, seconds: u32, hz: f64) {
    let samples = (0..44_100 * seconds).flat_map(|i| {
        let s = ((i as f64 * hz * std::f64::consts::TAU / 44_100.0).sin() * 8000.0) as i16;
        [s, s]
    });
    super::write_wav(path, 44_100, 2, samples);
}

/// The renderer's transport state (`PLAYING`, `STOPPED`, ...).
pub fn renderer_state(lan: &Lan) -> String {
    renderer_says(
        lan,
        "AVTransport",
        "GetTransportInfo",
        "",
        "CurrentTransportState",
    )
}

/// Waits until the renderer reports `state`, checking every 25 ms; how long it took. Panics
/// after `limit`.
pub fn renderer_reaches(lan: &Lan, state: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    while renderer_state(lan) != state {
        assert!(
            start.elapsed() < limit,
            "the renderer never reached {state}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
    start.elapsed()
}

/// An action on the renderer, straight from the test (to check what the server told it): the
/// answer's `field`.
pub fn renderer_says(lan: &Lan, service: &str, action: &str, args: &str, field: &str) -> String {
    renderer_does(lan, service, action, args)[field].clone()
}

/// An action on the renderer, straight from the test (as its own remote would): its answer.
pub fn renderer_does(
    lan: &Lan,
    service: &str,
    action: &str,
    args: &str,
) -> std::collections::HashMap<String, String> {
    let (service, action, args) = (service.to_string(), action.to_string(), args.to_string());
    Lan::inside(&lan.house, move || {
        // Read once: the renderer's description is the same at every start, and asking for it
        // at every check would add to the load on a renderer that copes with little.
        static DESCRIPTION: std::sync::OnceLock<crate::app::lan::upnp::Device> =
            std::sync::OnceLock::new();
        let d = DESCRIPTION.get_or_init(|| {
            crate::app::lan::upnp::fetch_description(&format!(
                "http://{ROOM_IP}:{RENDERER_PORT}/description.xml"
            ))
            .unwrap()
        });
        let s = match service.as_str() {
            "AVTransport" => d.av_transport.clone().unwrap(),
            _ => d.rendering_control.clone().unwrap(),
        };
        let mut pairs: Vec<(&str, &str)> = vec![("InstanceID", "0")];
        for kv in args.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            pairs.push((k, v));
        }
        let agent = crate::app::lan::upnp::agent();
        // gmediarender now and then takes longer than the 5 s a request is given while its
        // pipeline starts a song (seen in CI runs, on a GetMediaInfo just after Play; once for
        // 15 s while ten LAN tests shared the two cores): as a remote would, ask again, five
        // times at most, before calling the renderer broken.
        let mut tries = 0;
        loop {
            match crate::app::lan::upnp::action(&agent, &s, &action, &pairs) {
                Ok(answer) => return answer,
                Err(e) if tries < 5 && format!("{e:#}").contains("timed out") => {
                    eprintln!("renderer: {action} timed out, asking again ({e:#})");
                    tries += 1;
                }
                Err(e) => panic!("the renderer does not answer {action}: {e:#}"),
            }
        }
    })
}

impl Lan {
    pub fn queue_op(&self, port: u16, op: Value) -> Value {
        Lan::inside(&self.house, move || {
            let r = ureq::post(&format!("http://127.0.0.1:{port}/api/queue"))
                .set("Authorization", "Basic YW5uOnB3")
                .set("Content-Type", "application/json")
                .send_string(&op.to_string());
            let r = match r {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(e) => panic!("{e}"),
            };
            serde_json::from_reader(r.into_reader()).unwrap()
        })
    }

    pub fn queue(&self, port: u16) -> Value {
        Lan::inside(&self.house, move || {
            let r = ureq::get(&format!("http://127.0.0.1:{port}/api/queue"))
                .set("Authorization", "Basic YW5uOnB3")
                .call()
                .unwrap();
            serde_json::from_reader(r.into_reader()).unwrap()
        })
    }

    pub fn wait_queue(
        &self,
        port: u16,
        what: &str,
        limit: Duration,
        test: impl Fn(&Value) -> bool,
    ) -> Duration {
        let start = Instant::now();
        loop {
            let q = self.queue(port);
            if test(&q) {
                return start.elapsed();
            }
            assert!(start.elapsed() < limit, "{what} within {limit:?}: {q}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

pub const CAST_PORT: u16 = 8009;

/// The stand-in Google Cast device (`tests/cast-receiver/receiver.js`), running in the room and
/// announced there by mDNS the way a real one announces itself. What it does comes back as
/// events, one JSON object each.
pub struct CastReceiver {
    /// Its index in the LAN's `children`.
    pub child: usize,
    pub events: std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    /// Events up to here were looked at by [`CastReceiver::next`].
    seen: usize,
    announced: Option<std::sync::mpsc::Sender<()>>,
}

impl Lan {
    /// Starts the stand-in Cast device in the room as "Kitchen Cast". Panics with what to do
    /// when its npm package is not installed (`.ci/run` installs it).
    pub fn cast_receiver(&mut self) -> CastReceiver {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cast-receiver");
        assert!(
            dir.join("node_modules/castv2").is_dir(),
            "the stand-in Cast device needs its npm package: run `npm ci --ignore-scripts --prefix tests/cast-receiver` (.ci/run does)"
        );
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.room, "node"])
            .arg(dir.join("receiver.js"))
            .args(["--port", &CAST_PORT.to_string()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn({
            let events = events.clone();
            move || {
                use std::io::BufRead;
                for line in std::io::BufReader::new(out).lines() {
                    let Ok(line) = line else { break };
                    let Ok(v) = serde_json::from_str::<Value>(&line) else {
                        continue;
                    };
                    if std::env::var("LAN_LOG").is_ok() {
                        eprintln!("cast receiver: {v}");
                    }
                    if v["event"] == "listening" {
                        let _ = ready_tx.send(());
                    }
                    events.lock().unwrap().push(v);
                }
            }
        });
        self.children.push(child);
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .expect("the stand-in Cast device listens");
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let room = self.room.clone();
        std::thread::spawn(move || {
            Lan::inside(&room, move || {
                let mdns = mdns_sd::ServiceDaemon::new().unwrap();
                let info = mdns_sd::ServiceInfo::new(
                    "_googlecast._tcp.local.",
                    "Chromecast-Audio-7d1e",
                    "kitchen-cast.local.",
                    ROOM_IP,
                    CAST_PORT,
                    &[
                        ("fn", "Kitchen Cast"),
                        ("md", "Chromecast Audio"),
                        ("id", "7d1e"),
                    ][..],
                )
                .unwrap();
                mdns.register(info).unwrap();
                let _ = stop_rx.recv();
                let _ = mdns.shutdown();
            })
        });
        CastReceiver {
            child: self.children.len() - 1,
            events,
            seen: 0,
            announced: Some(stop_tx),
        }
    }
}

pub const CAST_ID: &str = "cast-chromecast-audio-7d1e";

impl CastReceiver {
    /// The next event (after those already looked at) that passes `test`, waiting up to
    /// `limit`; the wait is returned too.
    pub fn next(
        &mut self,
        what: &str,
        limit: Duration,
        test: impl Fn(&Value) -> bool,
    ) -> (Value, Duration) {
        let start = Instant::now();
        loop {
            {
                let events = self.events.lock().unwrap();
                if let Some(i) = events[self.seen..].iter().position(&test) {
                    self.seen += i + 1;
                    return (events[self.seen - 1].clone(), start.elapsed());
                }
            }
            assert!(
                start.elapsed() < limit,
                "the Cast device: {what} within {limit:?}; it said {:?}",
                &self.events.lock().unwrap()[self.seen..]
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The first event of all (looked at or not) that passes `test`, waiting up to `limit`:
    /// for what may come before or after the events around it.
    pub fn any(&self, what: &str, limit: Duration, test: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(e) = self.events.lock().unwrap().iter().find(|e| test(e)) {
                return e.clone();
            }
            assert!(
                start.elapsed() < limit,
                "the Cast device: {what} within {limit:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Whether any event after those looked at passes `test` (without moving on).
    pub fn said(&self, test: impl Fn(&Value) -> bool) -> bool {
        self.events.lock().unwrap()[self.seen..].iter().any(test)
    }
}

impl Drop for CastReceiver {
    fn drop(&mut self) {
        if let Some(stop) = self.announced.take() {
            let _ = stop.send(());
        }
    }
}

pub const AIRPLAY_PORT: u16 = 5000;

/// Debian's shairport-sync, a real AirPlay 1 receiver, running in the room. It announces itself
/// only through avahi-daemon, which talks to its clients over the D-Bus system bus: both run
/// beside it, in the room's own mount namespace (a private `/run`), so nothing touches the
/// machine's own. The audio it plays goes to a file (its `stdout` backend: raw 44.1 kHz 16-bit
/// stereo), and what it is told about the songs to its metadata pipe. All of it is stopped on
/// drop.
pub struct AirPlayReceiver {
    child: Child,
    dir: std::path::PathBuf,
    metadata: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Lan {
    /// Starts shairport-sync in the room as `name`; None when it is not installed.
    pub fn airplay_receiver(&mut self, name: &str) -> Option<AirPlayReceiver> {
        if Command::new("shairport-sync").arg("-V").output().is_err() {
            return None;
        }
        let dir = std::env::temp_dir().join(format!("{}-airplay", self.room));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fifo = dir.join("metadata");
        let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
        assert!(made.success());
        let avahi = dir.join("avahi.conf");
        std::fs::write(
            &avahi,
            "[server]\nuse-ipv6=no\nenable-dbus=yes\n[publish]\npublish-workstation=no\npublish-hinfo=no\n",
        )
        .unwrap();
        let config = dir.join("shairport-sync.conf");
        std::fs::write(
            &config,
            format!(
                "general = {{ name = \"{name}\"; port = {AIRPLAY_PORT}; mdns_backend = \"avahi\"; }};\n\
                 metadata = {{ enabled = \"yes\"; include_cover_art = \"yes\"; pipe_name = \"{}\"; }};\n",
                fifo.display()
            ),
        )
        .unwrap();
        // Read before shairport-sync opens it (it drops metadata nobody reads). Opened for
        // writing too, so the read never ends while shairport-sync reopens it.
        let metadata = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        {
            let (metadata, fifo) = (metadata.clone(), fifo.clone());
            std::thread::spawn(move || {
                use std::io::Read;
                let Ok(mut f) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&fifo)
                else {
                    return;
                };
                let mut buf = [0u8; 65536];
                while let Ok(n) = f.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    metadata.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            });
        }
        let script = format!(
            "set -e\n\
             mount -t tmpfs tmpfs /run\n\
             mkdir -p /run/dbus /run/avahi-daemon\n\
             dbus-daemon --system --nofork --nopidfile &\n\
             for i in $(seq 100); do [ -S /run/dbus/system_bus_socket ] && break; sleep 0.05; done\n\
             avahi-daemon -f '{avahi}' --no-drop-root --no-chroot --no-rlimits {quiet} &\n\
             for i in $(seq 100); do [ -f /run/avahi-daemon/pid ] && break; sleep 0.05; done\n\
             exec shairport-sync -c '{config}' -u {verbose} -o stdout > '{out}'\n",
            avahi = avahi.display(),
            config = config.display(),
            out = dir.join("audio.raw").display(),
            quiet = if std::env::var("LAN_LOG").is_ok() { "" } else { "-s" },
            verbose = if std::env::var("LAN_LOG").is_ok() { "-v" } else { "" },
        );
        use std::os::unix::process::CommandExt;
        let child = Command::new("ip")
            .args(["netns", "exec", &self.room, "sh", "-c", &script])
            .process_group(0)
            .stdout(Stdio::null())
            .stderr(lan_log())
            .spawn()
            .unwrap();
        Some(AirPlayReceiver {
            child,
            dir,
            metadata,
        })
    }
}

impl AirPlayReceiver {
    /// The audio it played so far: interleaved 16-bit stereo samples at 44.1 kHz.
    pub fn audio(&self) -> Vec<i16> {
        std::fs::read(self.dir.join("audio.raw"))
            .unwrap_or_default()
            .chunks_exact(2)
            .map(|b| i16::from_le_bytes([b[0], b[1]]))
            .collect()
    }

    /// What it was told about the songs (shairport-sync's metadata pipe, XML items).
    pub fn metadata(&self) -> String {
        String::from_utf8_lossy(&self.metadata.lock().unwrap()).into_owned()
    }
}

impl Drop for AirPlayReceiver {
    fn drop(&mut self) {
        let group = self.child.id() as i32;
        unsafe {
            libc::kill(-group, libc::SIGKILL);
        }
        let _ = self.child.wait();
        // The others in its group are the room's daemons' (reaped by init): wait until gone.
        let deadline = Instant::now() + Duration::from_secs(5);
        while unsafe { libc::kill(-group, 0) } == 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
