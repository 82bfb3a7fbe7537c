//! Household queue benchmark: figures, not a pass/fail test. Run it with
//! `cargo bench --bench queue` (or `-- --subscribers 1000 --rounds 100`).
//!
//! Starts `houseband serve` on the demo library, opens N WebSocket subscribers to
//! `/api/queue/ws` (one thread each, on loopback), then measures: the time from an op sent over
//! HTTP to the last subscriber receiving the new state (p50/p99 over rounds), the ops/s the queue
//! sustains from one HTTP client while everyone watches, and the server's memory per idle
//! subscriber (RSS with N subscribers minus RSS with none, over N). Goals from issue 6: p99 <
//! 50 ms with 1,000 subscribers, < 20 KB per idle subscriber.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use houseband::testkit::client::rss_kb;

const BIN: &str = env!("CARGO_BIN_EXE_houseband");

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let (mut subscribers, mut rounds) = (1000usize, 100usize);
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = || args.next().unwrap_or_default().parse().expect("a number");
        match a.as_str() {
            "--subscribers" => subscribers = value(),
            "--rounds" => rounds = value(),
            "--bench" => {}
            other => panic!("unknown argument {other}"),
        }
    }
    // Two sockets per subscriber on this machine (client and server side), plus spare.
    houseband::testkit::client::raise_open_files();
    let dir = std::env::temp_dir().join("houseband-queue-bench");
    let _ = std::fs::remove_dir_all(&dir);
    let music = dir.join("music");
    copy_dir(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/library"),
        &music,
    );
    let data = dir.join("data");
    let (mut server, port) =
        houseband::testkit::bench_server(BIN, &music, &data, &[]).expect("the server starts");
    let api = format!("http://127.0.0.1:{port}/api");
    let t = Instant::now();
    while ureq::get(&format!("{api}/health"))
        .call()
        .ok()
        .and_then(|r| r.into_string().ok())
        .is_none_or(|b| !b.contains("\"scanning\":false"))
    {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let login: serde_json::Value = serde_json::from_reader(
        ureq::post(&format!("{api}/login"))
            .set("Content-Type", "application/json")
            .send_string(r#"{"username": "bench", "password": "bench-pw"}"#)
            .unwrap()
            .into_reader(),
    )
    .unwrap();
    let token = login["token"].as_str().unwrap().to_string();
    let bearer = format!("Bearer {token}");
    let agent = ureq::AgentBuilder::new().build();
    let op = |body: serde_json::Value| -> i64 {
        let r = agent
            .post(&format!("{api}/queue"))
            .set("Authorization", &bearer)
            .set("Content-Type", "application/json")
            .send_string(&body.to_string())
            .unwrap();
        let v: serde_json::Value = serde_json::from_reader(r.into_reader()).unwrap();
        v["version"].as_i64().unwrap()
    };
    // A queue to look at: the whole demo library.
    let songs: Vec<String> = (1..=22).map(|n| format!("tr-{n}")).collect();
    op(serde_json::json!({"op": "add", "songs": songs}));
    std::thread::sleep(Duration::from_millis(500));
    let rss_before = rss_kb(server.id());

    // The subscribers: each records the newest version it has seen.
    let seen: Arc<Vec<AtomicI64>> =
        Arc::new((0..subscribers).map(|_| AtomicI64::new(-1)).collect());
    let connected = Arc::new(Barrier::new(subscribers + 1));
    let failed = Arc::new(AtomicUsize::new(0));
    for i in 0..subscribers {
        let (seen, connected, failed) = (seen.clone(), connected.clone(), failed.clone());
        let url = format!("ws://127.0.0.1:{port}/api/queue/ws");
        let bearer = bearer.clone();
        std::thread::Builder::new()
            .stack_size(128 * 1024)
            .spawn(move || {
                use tungstenite::client::IntoClientRequest;
                let mut req = url.into_client_request().unwrap();
                req.headers_mut()
                    .insert("Authorization", bearer.parse().unwrap());
                let ws = tungstenite::connect(req);
                connected.wait();
                let Ok((mut ws, _)) = ws else {
                    failed.fetch_add(1, Ordering::SeqCst);
                    return;
                };
                while let Ok(m) = ws.read() {
                    if let tungstenite::Message::Text(t) = m {
                        // `{"type":"state","state":{...,"version":N,...}}`: find the version.
                        if let Some(at) = t.rfind("\"version\":") {
                            let rest = &t[at + 10..];
                            let end = rest
                                .find(|c: char| !c.is_ascii_digit())
                                .unwrap_or(rest.len());
                            if let Ok(v) = rest[..end].parse() {
                                seen[i].store(v, Ordering::SeqCst);
                            }
                        }
                    }
                }
            })
            .unwrap();
    }
    connected.wait();
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle = rss_kb(server.id());
    println!(
        "houseband queue benchmark: {subscribers} WebSocket subscribers ({} failed to connect)",
        failed.load(Ordering::SeqCst)
    );

    // Latency: an op, then wait until every subscriber has its version.
    let mut latencies = Vec::new();
    for r in 0..rounds {
        let start = Instant::now();
        let v = op(serde_json::json!({"op": "set_volume", "volume": (r % 100) as i64}));
        loop {
            if seen.iter().all(|s| s.load(Ordering::SeqCst) >= v) {
                break;
            }
            if start.elapsed() > Duration::from_secs(10) {
                let behind = seen.iter().filter(|s| s.load(Ordering::SeqCst) < v).count();
                println!("round {r}: {behind} subscribers never got version {v}");
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        latencies.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    latencies.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let p99 = percentile(&latencies, 0.99);
    println!(
        "op -> last of {subscribers} subscribers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms   goal p99 < 50 ms: {}",
        percentile(&latencies, 0.5),
        p99,
        latencies[latencies.len() - 1],
        if p99 < 50.0 { "met" } else { "NOT met" }
    );

    // Throughput: ops back to back from one client while everyone watches.
    let n = 1000;
    let start = Instant::now();
    for i in 0..n {
        op(serde_json::json!({"op": "set_volume", "volume": (i % 100) as i64}));
    }
    println!(
        "ops/s from one HTTP client with {subscribers} watching: {:.0}",
        n as f64 / start.elapsed().as_secs_f64()
    );

    let per = (rss_idle.saturating_sub(rss_before)) as f64 / subscribers as f64;
    println!(
        "server RSS: {} KB without subscribers, {} KB with {subscribers} idle: {:.1} KB each   goal < 20 KB: {}",
        rss_before,
        rss_idle,
        per,
        if per < 20.0 { "met" } else { "NOT met" }
    );
    let _ = server.kill();
    let _ = server.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
