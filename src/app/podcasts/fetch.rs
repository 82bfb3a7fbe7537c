//! Fetching feeds and episodes from addresses users typed in, so every answer is treated as
//! hostile: only http and https, redirects followed by hand (at most [`Limits::max_redirects`],
//! each checked again, so a feed cannot send us to `file://` or `ftp://`), a cap on every body
//! read (a lying `Content-Length` or an endless body stops at the cap), a stall timeout on each
//! read and an overall deadline. Unless `podcast_allow_private_addresses` is on, every
//! connection (the first and each redirect's) goes only to public addresses, checked on the
//! addresses DNS gave, the ones connected to: a user with the podcast role must not be able to
//! make the server reach the router's admin page or another service of the home network.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

/// The bounds on one fetch.
#[derive(Debug, Clone)]
pub struct Limits {
    /// The largest feed document read.
    pub max_feed: u64,
    /// The largest episode downloaded (the `podcast_max_episode_size` setting).
    pub max_episode: u64,
    pub max_redirects: u32,
    pub connect_timeout: Duration,
    /// The longest wait for the next bytes.
    pub stall_timeout: Duration,
    /// The longest a feed may take to arrive, all of it.
    pub feed_timeout: Duration,
    /// The longest an episode may take to arrive, all of it.
    pub episode_timeout: Duration,
    /// Whether feeds and episodes may come from loopback, private or link-local addresses.
    pub allow_private: bool,
}

/// The cap on a feed: the biggest real podcast feeds (thousands of episodes with show notes)
/// stay under a few MB.
pub const MAX_FEED: u64 = 10 << 20;

impl Limits {
    pub fn new(max_episode: u64) -> Limits {
        Limits {
            max_feed: MAX_FEED,
            max_episode,
            max_redirects: 5,
            connect_timeout: Duration::from_secs(10),
            stall_timeout: Duration::from_secs(30),
            feed_timeout: Duration::from_secs(60),
            episode_timeout: Duration::from_secs(3 * 3600),
            allow_private: false,
        }
    }
}

/// `text` as an http(s) URL with a host, or why not.
pub fn web_url(text: &str) -> Result<url::Url> {
    let shown: String = text.chars().take(200).collect();
    if text.len() > 2048 {
        bail!("the address is longer than 2,048 characters");
    }
    let url = url::Url::parse(text.trim()).map_err(|e| {
        anyhow!("'{shown}' is not a web address ({e}); give an http:// or https:// URL")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "'{shown}' is a {}: address; only http:// and https:// feeds and episodes are fetched",
            url.scheme()
        );
    }
    if url.host_str().is_none_or(str::is_empty) {
        bail!("'{shown}' has no host");
    }
    Ok(url)
}

pub struct Fetcher {
    agent: ureq::Agent,
    pub limits: Limits,
}

/// An answer with its body still to read.
pub struct Opened {
    pub response: ureq::Response,
    /// Where the last redirect led.
    pub url: url::Url,
    deadline: Instant,
}

impl Fetcher {
    pub fn new(limits: Limits) -> Fetcher {
        let mut agent = ureq::AgentBuilder::new();
        if !limits.allow_private {
            agent = agent.resolver(PublicOnly);
        }
        let agent = agent
            .redirects(0)
            .timeout_connect(limits.connect_timeout)
            .timeout_read(limits.stall_timeout)
            .timeout_write(limits.stall_timeout)
            .user_agent(concat!(
                "Houseband/",
                env!("CARGO_PKG_VERSION"),
                " (podcasts)"
            ))
            .build();
        Fetcher { agent, limits }
    }

    /// GETs `url`, following redirects by hand.
    pub fn open(&self, url: &str, overall: Duration) -> Result<Opened> {
        let deadline = Instant::now() + overall;
        let mut current = web_url(url)?;
        for _ in 0..=self.limits.max_redirects {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!("{} did not answer within {overall:?}", host(&current));
            }
            let answer = self.agent.get(current.as_str()).timeout(left).call();
            let response = match answer {
                Ok(r) => r,
                Err(ureq::Error::Status(code, _)) => {
                    bail!("{} answered HTTP {code} for {current}", host(&current))
                }
                Err(ureq::Error::Transport(t)) => {
                    bail!("cannot fetch {current}: {}", transport(&t))
                }
            };
            if (300..400).contains(&response.status()) {
                let location = response.header("location").ok_or_else(|| {
                    anyhow!(
                        "{current} redirects (HTTP {}) without saying where",
                        response.status()
                    )
                })?;
                let next = current
                    .join(location)
                    .map_err(|e| anyhow!("{current} redirects to a bad address ({e})"))?;
                current = web_url(next.as_str()).with_context(|| {
                    format!(
                        "{} redirects somewhere Houseband does not go",
                        host(&current)
                    )
                })?;
                continue;
            }
            return Ok(Opened {
                response,
                url: current,
                deadline,
            });
        }
        bail!(
            "{url} redirects more than {} times (a redirect loop?)",
            self.limits.max_redirects
        )
    }

    /// The whole body of `url`, at most `max` bytes, within the feed timeout.
    pub fn get_small(&self, url: &str, max: u64) -> Result<(Vec<u8>, Option<String>)> {
        let opened = self.open(url, self.limits.feed_timeout)?;
        let content_type = opened.response.header("content-type").map(str::to_string);
        let mut body = Vec::new();
        copy_capped(opened, &mut body, max)?;
        Ok((body, content_type))
    }
}

/// Copies `opened`'s body into `out`, stopping with an error past `max` bytes or its deadline,
/// or when the body ends before its `Content-Length`. The number of bytes copied.
pub fn copy_capped(opened: Opened, out: &mut impl Write, max: u64) -> Result<u64> {
    let url = opened.url.clone();
    let declared: Option<u64> = opened
        .response
        .header("content-length")
        .and_then(|v| v.trim().parse().ok());
    if let Some(n) = declared.filter(|n| *n > max) {
        bail!("{url} is {} but the limit is {}", human(n), human(max));
    }
    let mut reader = opened.response.into_reader();
    let mut buf = vec![0u8; 64 * 1024];
    let mut total: u64 = 0;
    loop {
        if Instant::now() > opened.deadline {
            bail!(
                "{url} took too long to arrive; stopped after {}",
                human(total)
            );
        }
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The body ended before its Content-Length: said below.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && declared.is_some() => break,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
                ) =>
            {
                bail!(
                    "{url} stopped sending (no data for a while); stopped after {}",
                    human(total)
                )
            }
            Err(e) => bail!("reading {url} failed after {}: {e}", human(total)),
        };
        total += n as u64;
        if total > max {
            bail!(
                "{url} is bigger than the limit of {}; stopped there",
                human(max)
            );
        }
        out.write_all(&buf[..n])
            .with_context(|| format!("cannot write what {url} sent"))?;
    }
    if let Some(n) = declared.filter(|n| total < *n) {
        bail!(
            "{url} ended after {} of the {} it announced",
            human(total),
            human(n)
        );
    }
    Ok(total)
}

fn host(url: &url::Url) -> String {
    url.host_str().unwrap_or("the server").to_string()
}

/// Resolves host names as the system does, then keeps only public addresses.
struct PublicOnly;

impl ureq::Resolver for PublicOnly {
    fn resolve(&self, netloc: &str) -> std::io::Result<Vec<std::net::SocketAddr>> {
        let all: Vec<_> = std::net::ToSocketAddrs::to_socket_addrs(netloc)?.collect();
        let public: Vec<_> = all.iter().copied().filter(|a| is_public(a.ip())).collect();
        if public.is_empty() && !all.is_empty() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!(
                    "{netloc} is on this machine or the home network ({}); podcasts are fetched \
                     only from the internet unless the admin turns on the setting \
                     podcast_allow_private_addresses",
                    all[0].ip()
                ),
            ));
        }
        Ok(public)
    }
}

/// Whether `ip` is an address of the internet: not loopback, private, link-local, shared
/// (carrier NAT), unspecified, broadcast, multicast or documentation.
pub fn is_public(ip: std::net::IpAddr) -> bool {
    use std::net::IpAddr;
    match ip {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || a == 0
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b == 18 || b == 19))
                || a >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let first = v6.segments()[0];
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00
                || (first & 0xffc0) == 0xfe80
                || first == 0x2001 && v6.segments()[1] == 0x0db8
                || first == 0x0064 && v6.segments()[1] == 0xff9b)
        }
    }
}

fn transport(t: &ureq::Transport) -> String {
    let refused = std::error::Error::source(t)
        .and_then(|e| e.downcast_ref::<std::io::Error>())
        .filter(|e| e.kind() == std::io::ErrorKind::PermissionDenied);
    if let Some(e) = refused {
        return e.to_string();
    }
    match t.kind() {
        ureq::ErrorKind::Dns => "the host name is unknown".into(),
        ureq::ErrorKind::ConnectionFailed => "the connection was refused or timed out".into(),
        ureq::ErrorKind::Io => format!("{t} (the server stopped answering?)"),
        _ => t.to_string(),
    }
}

/// `n` bytes for people: "12.0 MB".
pub fn human(n: u64) -> String {
    if n >= 1 << 20 {
        format!("{:.1} MB", n as f64 / (1u64 << 20) as f64)
    } else if n >= 1 << 10 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_web_addresses() {
        assert!(web_url("https://feeds.example/show.xml").is_ok());
        assert!(web_url("http://127.0.0.1:8080/a?b=c").is_ok());
        for bad in [
            "file:///etc/passwd",
            "ftp://x/y",
            "javascript:alert(1)",
            "http://",
            "",
            "feed",
        ] {
            assert!(web_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn home_network_addresses_are_not_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.251",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.1",
            "64:ff9b::c0a8:101",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
        for public in [
            "93.184.215.14",
            "1.1.1.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn a_feed_on_the_home_network_is_refused_with_the_setting_named() {
        // A listener on loopback that would answer; the fetcher must not even connect.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let fetcher = Fetcher::new(Limits::new(1 << 20));
        for url in [
            format!("http://127.0.0.1:{port}/feed.xml"),
            format!("http://localhost:{port}/feed.xml"),
            format!("http://[::ffff:127.0.0.1]:{port}/feed.xml"),
        ] {
            let e = fetcher.get_small(&url, 1000).expect_err("refused");
            assert!(
                e.to_string().contains("podcast_allow_private_addresses"),
                "{url}: {e}"
            );
        }
        assert!(listener.accept().is_err(), "a connection was made");
    }
}
