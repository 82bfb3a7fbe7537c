//! Fetching feeds and episodes from addresses users typed in, so every answer is treated as
//! hostile: only http and https, redirects followed by hand (at most [`Limits::max_redirects`],
//! each checked again, so a feed cannot send us to `file://` or `ftp://`), a cap on every body
//! read (a lying `Content-Length` or an endless body stops at the cap), a stall timeout on each
//! read and an overall deadline.

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
        let agent = ureq::AgentBuilder::new()
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

fn transport(t: &ureq::Transport) -> String {
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
}
