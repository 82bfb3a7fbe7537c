//! The home network, on a virtual LAN the test builds: two network namespaces joined by a veth
//! pair, with a route for multicast in each. The server runs in one ("house"), speakers and
//! peers in the other ("room"). Nothing here sends a packet on the machine's real interfaces.
//! Needs root (CI runs as root); elsewhere each test says it was skipped.

mod common;

use std::net::{Ipv4Addr, SocketAddr, TcpListener, UdpSocket};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::Sandbox;
use serde_json::Value;

const HOUSE_IP: &str = "10.77.0.1";
const ROOM_IP: &str = "10.77.0.2";
/// A second address in the room, for announcements that point away from their sender.
const ELSEWHERE_IP: &str = "10.77.0.3";

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("ip runs");
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The virtual LAN, torn down on drop.
struct Lan {
    house: String,
    room: String,
    room_if: String,
    children: Vec<Child>,
}

impl Lan {
    /// None (with a message) where namespaces cannot be made.
    fn build() -> Option<Lan> {
        if !common::is_root() || Command::new("ip").arg("-V").output().is_err() {
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
    fn inside<T: Send + 'static>(ns: &str, work: impl FnOnce() -> T + Send + 'static) -> T {
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

    /// Starts `houseband serve` in the house with the LAN features on.
    fn serve(&mut self, sb: &Sandbox, port: u16) {
        let music = sb.music();
        let child = Command::new("ip")
            .args(["netns", "exec", &self.house])
            .arg(env!("CARGO_BIN_EXE_houseband"))
            .args(["serve", "--music"])
            .arg(&music)
            .arg("--data")
            .arg(sb.data())
            .args(["--bind", &format!("0.0.0.0:{port}"), "--lan", "on"])
            .args(["--lan-name", "Test House", "--watch", "off"])
            .args(["--scan-interval", "0", "--local-output", "false"])
            .env(
                "HOUSEBAND_LOG",
                std::env::var("LAN_LOG").unwrap_or("warn".into()),
            )
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.children.push(child);
        let house = self.house.clone();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !Lan::inside(&house, move || {
            ureq::get(&format!("http://127.0.0.1:{port}/api/health"))
                .call()
                .is_ok()
        }) {
            assert!(Instant::now() < deadline, "the server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// `GET /api/outputs` from inside the house.
    fn outputs(&self, port: u16) -> Vec<Value> {
        Lan::inside(&self.house, move || {
            let r = ureq::get(&format!("http://127.0.0.1:{port}/api/outputs"))
                .set("Authorization", "Basic YW5uOnB3") // ann:pw
                .call()
                .unwrap();
            let v: Value = serde_json::from_reader(r.into_reader()).unwrap();
            v.as_array().unwrap().clone()
        })
    }

    fn wait_for_output(
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

const RENDERER_UUID: &str = "8d8f9a2e-1b4c-4f6e-9a1d-000000000001";
const RENDERER_ID: &str = "upnp-8d8f9a2e-1b4c-4f6e-9a1d-000000000001";
const RENDERER_PORT: u16 = 49494;

impl Lan {
    /// Starts Debian's gmediarender in the room, as "Living Room" (its index in `children`);
    /// None when it is not installed.
    fn renderer(&mut self) -> Option<usize> {
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
            .stderr(if std::env::var("LAN_LOG").is_ok() {
                Stdio::inherit()
            } else {
                Stdio::null()
            })
            .spawn()
            .unwrap();
        self.children.push(child);
        Some(self.children.len() - 1)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.house, &self.room] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn house_with_users() -> Sandbox {
    let sb = Sandbox::with_library();
    let ok = sb
        .cmd(&["user", "add", "ann", "--password", "pw", "--admin"])
        .output()
        .unwrap();
    assert!(ok.status.success());
    sb
}

#[test]
fn the_server_announces_itself_and_finds_cast_speakers_by_mdns() {
    let Some(mut lan) = Lan::build() else { return };
    let sb = house_with_users();
    let port = 4545;
    lan.serve(&sb, port);

    // A device in the room browses for Houseband and finds it, with its TXT record.
    let found = Lan::inside(&lan.room, || {
        let mdns = mdns_sd::ServiceDaemon::new().unwrap();
        let events = mdns.browse("_houseband._tcp.local.").unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let house: Ipv4Addr = HOUSE_IP.parse().unwrap();
        // Addresses may come in more than one answer: wait for the house's.
        while let Ok(e) = events.recv_deadline(deadline) {
            if let mdns_sd::ServiceEvent::ServiceResolved(s) = e {
                if s.get_addresses_v4().contains(&house) {
                    let _ = mdns.shutdown();
                    return Some(*s);
                }
            }
        }
        None
    })
    .expect("the server is found by mDNS");
    assert!(
        found.fullname.starts_with("Test House."),
        "{}",
        found.fullname
    );
    assert_eq!(found.port, port);
    let txt = |k: &str| {
        found
            .txt_properties
            .get_property_val_str(k)
            .map(str::to_string)
    };
    assert_eq!(txt("path").as_deref(), Some("/"));
    assert_eq!(txt("version").as_deref(), Some(env!("CARGO_PKG_VERSION")));
    let id = txt("id").unwrap();
    assert_eq!(id.len(), 24, "a stable id: {id}");

    // A Google Cast speaker in the room (announced the way a real one is) is found within 5 s;
    // when it leaves, it is kept but unavailable.
    let (tx, rx) = std::sync::mpsc::channel::<()>();
    let speaker = std::thread::spawn({
        let room = lan.room.clone();
        move || {
            Lan::inside(&room, move || {
                let mdns = mdns_sd::ServiceDaemon::new().unwrap();
                let info = mdns_sd::ServiceInfo::new(
                    "_googlecast._tcp.local.",
                    "Google-Home-Mini-4f2a",
                    "kitchen-cast.local.",
                    ROOM_IP,
                    8009,
                    &[
                        ("fn", "Kitchen speaker"),
                        ("md", "Google Home Mini"),
                        ("id", "4f2a"),
                    ][..],
                )
                .unwrap();
                let fullname = info.get_fullname().to_string();
                mdns.register(info).unwrap();
                let _ = rx.recv();
                let done = mdns.unregister(&fullname).unwrap();
                let _ = done.recv_timeout(Duration::from_secs(2));
                let _ = mdns.shutdown();
            })
        }
    });
    let (cast, took) = lan.wait_for_output(port, "the Cast speaker", |o| o["kind"] == "googlecast");
    assert!(took < Duration::from_secs(5), "listed after {took:?}");
    assert_eq!(cast["name"], "Kitchen speaker");
    assert_eq!(cast["model"], "Google Home Mini");
    assert_eq!(cast["address"], format!("{ROOM_IP}:8009"));
    assert!(cast["last_seen"].as_i64().unwrap() > 0);
    tx.send(()).unwrap();
    speaker.join().unwrap();
    let id = cast["id"].clone();
    lan.wait_for_output(port, "the Cast speaker gone", |o| {
        o["id"] == id && o["available"] == false
    });
}

/// A tiny web server in the room that hands out renderer descriptions, counting requests.
fn description_server(room: &str, ip: &'static str) -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = hits.clone();
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let room = room.to_string();
    std::thread::spawn(move || {
        Lan::inside(&room, move || {
            let listener = TcpListener::bind((ip, 0)).unwrap();
            port_tx.send(listener.local_addr().unwrap().port()).unwrap();
            for stream in listener.incoming().flatten() {
                use std::io::{BufRead, BufReader, Write};
                counted.fetch_add(1, Ordering::SeqCst);
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                // GET /<uuid>.xml
                let uuid = line
                    .split_whitespace()
                    .nth(1)
                    .unwrap_or("/x.xml")
                    .trim_start_matches('/')
                    .trim_end_matches(".xml")
                    .to_string();
                let body = format!(
                    r#"<?xml version="1.0"?><root xmlns="urn:schemas-upnp-org:device-1-0"><device><deviceType>urn:schemas-upnp-org:device:MediaRenderer:1</deviceType><friendlyName>Fake {uuid}</friendlyName><UDN>uuid:{uuid}</UDN><serviceList><service><serviceType>urn:schemas-upnp-org:service:AVTransport:1</serviceType><controlURL>/ctl</controlURL></service></serviceList></device></root>"#
                );
                let mut s = stream;
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        })
    });
    (port_rx.recv().unwrap(), hits)
}

/// Sends SSDP NOTIFYs from the room's main address.
fn announce(room: &str, packets: Vec<String>, pace: Duration) {
    Lan::inside(room, move || {
        let s = UdpSocket::bind((ROOM_IP, 0)).unwrap();
        let to: SocketAddr = "239.255.255.250:1900".parse().unwrap();
        for p in packets {
            s.send_to(p.as_bytes(), to).unwrap();
            if !pace.is_zero() {
                std::thread::sleep(pace);
            }
        }
    })
}

fn notify(uuid: &str, location: &str, nts: &str) -> String {
    format!(
        "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=1800\r\nLOCATION: {location}\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\nNTS: {nts}\r\nSERVER: Linux UPnP/1.0 fake/1\r\nUSN: uuid:{uuid}::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n"
    )
}

#[test]
fn renderers_are_found_by_ssdp_and_hostile_announcements_do_no_harm() {
    let Some(mut lan) = Lan::build() else { return };
    let sb = house_with_users();
    let port = 4545;
    let (desc_port, hits) = description_server(&lan.room, ROOM_IP);
    let (away_port, away_hits) = description_server(&lan.room, ELSEWHERE_IP);
    lan.serve(&sb, port);

    // A real renderer (Debian's gmediarender), when it is installed.
    if lan.renderer().is_some() {
        let (r, took) = lan.wait_for_output(port, "gmediarender", |o| o["name"] == "Living Room");
        assert!(took < Duration::from_secs(5), "listed after {took:?}");
        assert_eq!(r["kind"], "upnp");
        assert_eq!(r["id"], "upnp-8d8f9a2e-1b4c-4f6e-9a1d-000000000001");
        assert_eq!(r["address"], format!("{ROOM_IP}:49494"));
        assert!(r["model"].as_str().unwrap().contains("gmediarender"), "{r}");
    } else {
        eprintln!("gmediarender is not installed: the real-renderer part is skipped");
    }

    // An announcement whose LOCATION points away from its sender is never fetched; garbage
    // is ignored; a good one is read, and its byebye makes it unavailable.
    let location = |ip: &str, p: u16, uuid: &str| format!("http://{ip}:{p}/{uuid}.xml");
    announce(
        &lan.room,
        vec![
            notify(
                "away-1",
                &location(ELSEWHERE_IP, away_port, "away-1"),
                "ssdp:alive",
            ),
            "NOTIFY * HTTP/1.1\r\n\u{1}\u{2}garbage".into(),
            String::from_utf8_lossy(&[0xffu8; 3000]).into_owned(),
            notify(
                "good-1",
                &location(ROOM_IP, desc_port, "good-1"),
                "ssdp:alive",
            ),
        ],
        Duration::ZERO,
    );
    lan.wait_for_output(port, "the announced renderer", |o| o["id"] == "upnp-good-1");
    assert_eq!(
        away_hits.load(Ordering::SeqCst),
        0,
        "a LOCATION elsewhere was fetched"
    );
    announce(
        &lan.room,
        vec![notify(
            "good-1",
            &location(ROOM_IP, desc_port, "good-1"),
            "ssdp:byebye",
        )],
        Duration::ZERO,
    );
    lan.wait_for_output(port, "the renderer gone", |o| {
        o["id"] == "upnp-good-1" && o["available"] == false
    });

    // Thousands of fake renderers: the list stops at 256 speakers and the server keeps answering.
    let fakes = |range: std::ops::Range<usize>| -> Vec<String> {
        range
            .map(|i| {
                let uuid = format!("fake-{i}");
                notify(&uuid, &location(ROOM_IP, desc_port, &uuid), "ssdp:alive")
            })
            .collect()
    };
    announce(&lan.room, fakes(0..400), Duration::from_millis(5));
    announce(&lan.room, fakes(400..3000), Duration::ZERO);
    let start = Instant::now();
    let speakers = |outputs: &[Value]| outputs.iter().filter(|o| o["kind"] == "upnp").count();
    while speakers(&lan.outputs(port)) < 256 {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{} listed",
            speakers(&lan.outputs(port))
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    std::thread::sleep(Duration::from_secs(1));
    let t = Instant::now();
    let outputs = lan.outputs(port);
    assert!(
        t.elapsed() < Duration::from_secs(1),
        "the server is slow: {:?}",
        t.elapsed()
    );
    assert_eq!(speakers(&outputs), 256);
    assert!(hits.load(Ordering::SeqCst) >= 256);
}

/// A WAV file of `seconds` of a 440 Hz tone (16-bit stereo, 44.1 kHz).
fn long_tone(path: &std::path::Path, seconds: u32) {
    let frames = 44_100 * seconds;
    let mut wav = Vec::new();
    let data = frames * 4;
    wav.extend_from_slice(b"RIFF");
    wav.extend_from_slice(&(36 + data).to_le_bytes());
    wav.extend_from_slice(b"WAVEfmt ");
    wav.extend_from_slice(&16u32.to_le_bytes());
    for v in [1u16, 2] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    for v in [44_100u32, 44_100 * 4] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    for v in [4u16, 16] {
        wav.extend_from_slice(&v.to_le_bytes());
    }
    wav.extend_from_slice(b"data");
    wav.extend_from_slice(&data.to_le_bytes());
    for i in 0..frames {
        let s = ((i as f64 * 440.0 * std::f64::consts::TAU / 44_100.0).sin() * 8000.0) as i16;
        wav.extend_from_slice(&s.to_le_bytes());
        wav.extend_from_slice(&s.to_le_bytes());
    }
    std::fs::write(path, wav).unwrap();
}

/// An action on the renderer, straight from the test (to check what the server told it).
fn renderer_says(lan: &Lan, service: &str, action: &str, args: &str, field: &str) -> String {
    let (service, action, args, field) = (
        service.to_string(),
        action.to_string(),
        args.to_string(),
        field.to_string(),
    );
    Lan::inside(&lan.house, move || {
        let d = houseband::app::lan::upnp::fetch_description(&format!(
            "http://{ROOM_IP}:{RENDERER_PORT}/description.xml"
        ))
        .unwrap();
        let s = match service.as_str() {
            "AVTransport" => d.av_transport.unwrap(),
            _ => d.rendering_control.unwrap(),
        };
        let mut pairs: Vec<(&str, &str)> = vec![("InstanceID", "0")];
        for kv in args.split('&').filter(|a| !a.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap();
            pairs.push((k, v));
        }
        let agent = houseband::app::lan::upnp::agent();
        houseband::app::lan::upnp::action(&agent, &s, &action, &pairs).unwrap()[&field].clone()
    })
}

impl Lan {
    fn queue_op(&self, port: u16, op: Value) -> Value {
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

    fn queue(&self, port: u16) -> Value {
        Lan::inside(&self.house, move || {
            let r = ureq::get(&format!("http://127.0.0.1:{port}/api/queue"))
                .set("Authorization", "Basic YW5uOnB3")
                .call()
                .unwrap();
            serde_json::from_reader(r.into_reader()).unwrap()
        })
    }

    fn wait_queue(
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

#[test]
fn the_queue_plays_on_a_real_upnp_renderer() {
    let Some(mut lan) = Lan::build() else { return };
    let sb = house_with_users();
    long_tone(&sb.music().join("Long Tone.wav"), 8);
    let port = 4545;
    lan.serve(&sb, port);
    let Some(renderer) = lan.renderer() else {
        eprintln!("skipped: gmediarender is not installed");
        return;
    };
    lan.wait_for_output(port, "the renderer", |o| {
        o["id"] == RENDERER_ID && o["available"] == true
    });
    let start = Instant::now();
    while sb.count("FROM tracks WHERE path LIKE '%Long Tone.wav'") == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the long tone is not scanned"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let long = format!("tr-{}", sb.track_id("Long Tone.wav"));
    let state = lan.queue_op(
        port,
        serde_json::json!({"op": "add", "songs": [long, long]}),
    );
    let first = state["entries"][0]["id"].clone();
    let second = state["entries"][1]["id"].clone();
    lan.queue_op(
        port,
        serde_json::json!({"op": "set_output", "output": RENDERER_ID}),
    );

    // Play: the renderer fetches the stream and plays it; its position comes back to the queue.
    lan.queue_op(port, serde_json::json!({"op": "play", "entry": first}));
    let playing = lan.wait_queue(port, "the renderer playing", Duration::from_secs(5), |q| {
        q["position_ms"].as_i64().unwrap_or(0) >= 1000
    });
    eprintln!("renderer: play -> position reported after {playing:?}");
    assert_eq!(
        renderer_says(
            &lan,
            "AVTransport",
            "GetTransportInfo",
            "",
            "CurrentTransportState"
        ),
        "PLAYING"
    );
    let uri = renderer_says(&lan, "AVTransport", "GetMediaInfo", "", "CurrentURI");
    assert!(
        uri.starts_with(&format!("http://{HOUSE_IP}:{port}/api/stream/{long}?")),
        "{uri}"
    );
    assert!(uri.contains("sig="), "{uri}");

    // Pause, volume.
    lan.queue_op(port, serde_json::json!({"op": "pause"}));
    let start = Instant::now();
    while renderer_says(
        &lan,
        "AVTransport",
        "GetTransportInfo",
        "",
        "CurrentTransportState",
    ) != "PAUSED_PLAYBACK"
    {
        assert!(start.elapsed() < Duration::from_secs(2), "not paused");
        std::thread::sleep(Duration::from_millis(50));
    }
    lan.queue_op(port, serde_json::json!({"op": "set_volume", "volume": 30}));
    let start = Instant::now();
    while renderer_says(
        &lan,
        "RenderingControl",
        "GetVolume",
        "Channel=Master",
        "CurrentVolume",
    ) != "30"
    {
        assert!(start.elapsed() < Duration::from_secs(2), "volume not set");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Seek, then resume: it plays from there, and at the end the queue moves on by itself.
    lan.queue_op(port, serde_json::json!({"op": "seek", "position_ms": 6000}));
    lan.queue_op(port, serde_json::json!({"op": "resume"}));
    lan.wait_queue(
        port,
        "the position after the seek",
        Duration::from_secs(5),
        |q| q["position_ms"].as_i64().unwrap_or(0) >= 6500,
    );
    lan.wait_queue(port, "the next entry", Duration::from_secs(8), |q| {
        q["current"] == second && q["playing"] == true
    });
    lan.wait_queue(
        port,
        "the second entry playing",
        Duration::from_secs(5),
        |q| q["position_ms"].as_i64().unwrap_or(0) >= 1000,
    );

    // The renderer dies mid-song: the queue pauses where it was, the output is unavailable.
    let child = &mut lan.children[renderer];
    child.kill().unwrap();
    child.wait().unwrap();
    lan.wait_queue(port, "the queue paused", Duration::from_secs(10), |q| {
        q["playing"] == false
            && q["current"] == second
            && q["position_ms"].as_i64().unwrap_or(0) >= 1000
    });
    lan.wait_for_output(port, "the renderer unavailable", |o| {
        o["id"] == RENDERER_ID && o["available"] == false
    });
}
