//! A podcast host on loopback for the podcast tests: a real HTTP/1.1 server (std `TcpListener`,
//! one thread per connection) that serves what each test sets per path: feed files (with
//! `{BASE}` replaced by the server's own address), audio files, redirects, and hostile answers
//! (endless bodies, lying lengths, a server that never answers). It stands in for the podcast
//! hosts of the internet, which tests never reach.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

#[derive(Clone)]
pub enum Answer {
    /// 200 with this body and content type.
    Body(Vec<u8>, String),
    /// A redirect (302) to this location, as given.
    Redirect(String),
    /// 200 with a body that never ends (zeros, or `chunk` repeated), no length.
    Endless(String, Vec<u8>),
    /// 200 announcing `claimed` bytes in `Content-Length` and sending `body`, then closing.
    Lying {
        claimed: u64,
        body: Vec<u8>,
        content_type: String,
    },
    /// Accepts the request and never answers (until the test ends).
    Hang,
    Status(u16),
}

pub struct FeedServer {
    pub port: u16,
    routes: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
}

pub fn podcast_fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/podcasts")
}

/// The folder of the demo library's MP3s, which the demo show's episodes are.
pub const MP3: &str = "The Testers/Tag Soup";

impl FeedServer {
    /// A host with the demo show's audio (the demo library's MP3s, FLAC and Ogg) and picture;
    /// the feeds are set by each test.
    pub fn demo() -> FeedServer {
        let host = FeedServer::start();
        let audio = |name: &str| super::fixtures().join("library").join(name);
        for (path, file) in [
            ("/audio/four.mp3", format!("{MP3}/01 - Four.mp3")),
            ("/audio/three.mp3", format!("{MP3}/02 - Three.mp3")),
            ("/audio/one.mp3", format!("{MP3}/03 - One.mp3")),
        ] {
            host.file(path, &audio(&file), "audio/mpeg");
        }
        let album = "Aurora Fields/Northern Lights (2019)";
        host.file(
            "/audio/polar.flac",
            &audio(&format!("{album}/01 - Polar Night.flac")),
            "audio/flac",
        );
        host.file(
            "/audio/ice.ogg",
            &audio(&format!("{album}/02 - Ice Road.ogg")),
            "audio/ogg",
        );
        host.file(
            "/art/cover.jpg",
            &audio(&format!("{album}/cover.jpg")),
            "image/jpeg",
        );
        host
    }

    pub fn start() -> FeedServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes: Arc<Mutex<HashMap<String, Answer>>> = Arc::default();
        let hits: Arc<Mutex<HashMap<String, usize>>> = Arc::default();
        let (r, h) = (routes.clone(), hits.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (r, h) = (r.clone(), h.clone());
                std::thread::spawn(move || serve(stream, &r, &h));
            }
        });
        FeedServer { port, routes, hits }
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base())
    }

    pub fn set(&self, path: &str, answer: Answer) {
        self.routes.lock().unwrap().insert(path.to_string(), answer);
    }

    /// Serves the feed file `name` from tests/fixtures/podcasts at `path`, its `{BASE}` made
    /// this server's address.
    pub fn feed(&self, path: &str, name: &str) {
        let text = std::fs::read_to_string(podcast_fixtures().join(name)).unwrap();
        let body = text.replace("{BASE}", &self.base()).into_bytes();
        self.set(path, Answer::Body(body, "application/rss+xml".into()));
    }

    /// Serves a file's bytes at `path`.
    pub fn file(&self, path: &str, file: &Path, content_type: &str) {
        let body = std::fs::read(file).unwrap();
        self.set(path, Answer::Body(body, content_type.into()));
    }

    pub fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }
}

fn serve(
    mut stream: TcpStream,
    routes: &Mutex<HashMap<String, Answer>>,
    hits: &Mutex<HashMap<String, usize>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).is_err() {
        return;
    }
    loop {
        let mut header = String::new();
        match reader.read_line(&mut header) {
            Ok(0) | Err(_) => return,
            Ok(_) if header.trim().is_empty() => break,
            Ok(_) => {}
        }
    }
    let target = line.split_whitespace().nth(1).unwrap_or("/");
    let path = target.split('?').next().unwrap_or("/").to_string();
    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
    let answer = routes.lock().unwrap().get(&path).cloned();
    let head = |status: &str, extra: &str| {
        format!("HTTP/1.1 {status}\r\nConnection: close\r\n{extra}\r\n").into_bytes()
    };
    let _ = match answer {
        None => stream.write_all(&head("404 Not Found", "Content-Length: 0\r\n")),
        Some(Answer::Status(code)) => {
            stream.write_all(&head(&format!("{code} Status"), "Content-Length: 0\r\n"))
        }
        Some(Answer::Body(body, ct)) => {
            let mut out = head(
                "200 OK",
                &format!("Content-Type: {ct}\r\nContent-Length: {}\r\n", body.len()),
            );
            out.extend_from_slice(&body);
            stream.write_all(&out)
        }
        Some(Answer::Redirect(to)) => stream.write_all(&head(
            "302 Found",
            &format!("Location: {to}\r\nContent-Length: 0\r\n"),
        )),
        Some(Answer::Endless(ct, chunk)) => {
            let chunk = if chunk.is_empty() {
                vec![0u8; 64 * 1024]
            } else {
                chunk
            };
            let _ = stream.write_all(&head("200 OK", &format!("Content-Type: {ct}\r\n")));
            // Until the client hangs up.
            loop {
                if stream.write_all(&chunk).is_err() {
                    break Ok(());
                }
            }
        }
        Some(Answer::Lying {
            claimed,
            body,
            content_type,
        }) => {
            let mut out = head(
                "200 OK",
                &format!("Content-Type: {content_type}\r\nContent-Length: {claimed}\r\n"),
            );
            out.extend_from_slice(&body);
            stream.write_all(&out)
        }
        Some(Answer::Hang) => {
            std::thread::sleep(Duration::from_secs(120));
            Ok(())
        }
    };
}
