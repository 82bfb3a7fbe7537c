//! Who is on the other end of a request: the client's address, and the scheme and host it used to
//! reach the server. The one place that reads `X-Forwarded-For/-Proto/-Host`, and it believes
//! them only when the connection comes from a configured reverse proxy (`trusted_proxies`).
//! From anyone else they are ignored: otherwise a client could pick its own address to get
//! round the login brake, or make the server hand out links to another host.
//!
//! `Forwarded` (RFC 7239) is never read: nginx, Caddy, Traefik and Apache set the `X-` headers,
//! and a proxy that does not know `Forwarded` passes the one a client wrote untouched, which
//! would let the client choose its address again.

use std::net::{IpAddr, SocketAddr};

use actix_web::http::header::HeaderMap;
use actix_web::HttpRequest;

use crate::app::App;
use crate::config::IpNet;

/// The client as the server should see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Client {
    /// The client's address: the TCP peer, or what a trusted proxy says it is.
    pub ip: Option<IpAddr>,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as the client typed it.
    pub host: String,
}

impl Client {
    /// `scheme://host`, for links handed to the client.
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme, self.host)
    }

    /// The address as text for records and logs (empty when unknown).
    pub fn ip_text(&self) -> String {
        self.ip.map(|ip| ip.to_string()).unwrap_or_default()
    }
}

/// The client of an actix request, with the server's settings.
pub fn of(req: &HttpRequest) -> Client {
    let (trusted, bind) = match req.app_data::<actix_web::web::Data<App>>() {
        Some(app) => (
            app.settings.trusted_proxies.as_slice(),
            Some(app.settings.bind),
        ),
        None => (&[][..], None),
    };
    let fallback = req
        .uri()
        .authority()
        .map(|a| a.to_string())
        .or_else(|| bind.map(|b| b.to_string()))
        .unwrap_or_else(|| "localhost".into());
    resolve(req.headers(), req.peer_addr(), trusted, &fallback)
}

/// The client from the headers and the TCP peer; `fallback_host` when the request names none.
pub fn resolve(
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
    trusted: &[IpNet],
    fallback_host: &str,
) -> Client {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let own_host = header("host")
        .filter(|h| valid_host(h))
        .unwrap_or(fallback_host)
        .to_string();
    let peer_ip = peer.map(|p| p.ip());
    let is_trusted = |ip: IpAddr| trusted.iter().any(|n| n.contains(ip));
    let mut client = Client {
        ip: peer_ip,
        scheme: "http".into(),
        host: own_host,
    };
    if !peer_ip.is_some_and(is_trusted) {
        return client;
    }
    // The chain of addresses, client first; each proxy appends the one it heard from.
    let chain: Vec<IpAddr> = headers
        .get_all("x-forwarded-for")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(parse_ip)
        .collect();
    // The first address from the right that is not one of our proxies is the client: anything
    // left of it was written by the client itself and proves nothing.
    if let Some(ip) = chain
        .iter()
        .rev()
        .find(|ip| !is_trusted(**ip))
        .or(chain.first())
    {
        client.ip = Some(*ip);
    }
    let proto = header("x-forwarded-proto").map(|p| first_item(p).to_ascii_lowercase());
    if let Some(p) = proto.filter(|p| p == "http" || p == "https") {
        client.scheme = p;
    }
    if let Some(h) = header("x-forwarded-host")
        .map(first_item)
        .filter(|h| valid_host(h))
    {
        client.host = h.to_string();
    }
    client
}

fn first_item(list: &str) -> &str {
    list.split(',').next().unwrap_or("").trim()
}

/// A host as it may appear in a link: letters, digits, dots, dashes, an IPv6 literal in
/// brackets, a port. Anything else (a slash, a quote, `@`) would change what the link means.
fn valid_host(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 255
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']' | '_'))
}

/// `1.2.3.4`, `1.2.3.4:5678`, `[::1]`, `[::1]:5678` or `::1`.
fn parse_ip(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse() {
        return Some(ip);
    }
    if let Ok(sock) = text.parse::<SocketAddr>() {
        return Some(sock.ip());
    }
    text.strip_prefix('[')
        .and_then(|t| t.split_once(']'))
        .and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn peer(ip: &str) -> Option<SocketAddr> {
        Some(SocketAddr::new(ip.parse().unwrap(), 40000))
    }

    #[test]
    fn forwarding_headers_from_anyone_else_are_ignored() {
        let h = headers(&[
            ("host", "music.lan:4545"),
            ("x-forwarded-for", "10.9.9.9"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("forwarded", "for=10.8.8.8;proto=https;host=evil.example"),
        ]);
        let c = resolve(&h, peer("192.168.1.20"), &[], "x");
        assert_eq!(c.ip, Some("192.168.1.20".parse().unwrap()));
        assert_eq!(c.base_url(), "http://music.lan:4545");
        let proxy = [IpNet::parse("127.0.0.1").unwrap()];
        let c = resolve(&h, peer("192.168.1.20"), &proxy, "x");
        assert_eq!(c.ip, Some("192.168.1.20".parse().unwrap()));
    }

    #[test]
    fn a_trusted_proxy_names_the_client_scheme_and_host() {
        let proxy = [IpNet::parse("10.0.0.0/8").unwrap()];
        let h = headers(&[
            ("host", "127.0.0.1:4545"),
            // The client wrote the first address itself; the proxy appended the second.
            ("x-forwarded-for", "6.6.6.6, 203.0.113.7"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "music.example.org"),
        ]);
        let c = resolve(&h, peer("10.0.0.2"), &proxy, "x");
        assert_eq!(c.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(c.base_url(), "https://music.example.org");
        let h = headers(&[("x-forwarded-for", "[2001:db8::1]:4711")]);
        let c = resolve(&h, peer("10.1.2.3"), &proxy, "fallback:1");
        assert_eq!(c.ip, Some("2001:db8::1".parse().unwrap()));
        // `Forwarded` is not read, even from a proxy: one that does not set it passes on the
        // client's own.
        let h = headers(&[
            ("forwarded", "for=6.6.6.6;proto=https;host=evil.example"),
            ("x-forwarded-for", "203.0.113.7"),
        ]);
        let c = resolve(&h, peer("10.1.2.3"), &proxy, "fallback:1");
        assert_eq!(c.ip, Some("203.0.113.7".parse().unwrap()));
        assert_eq!(c.base_url(), "http://fallback:1");
        // A chain of trusted proxies only: the leftmost is the client.
        let h = headers(&[("x-forwarded-for", "10.0.0.9, 10.0.0.8")]);
        let c = resolve(&h, peer("10.0.0.2"), &proxy, "fallback:1");
        assert_eq!(c.ip, Some("10.0.0.9".parse().unwrap()));
        assert_eq!(c.base_url(), "http://fallback:1");
    }

    #[test]
    fn hosts_that_would_change_a_link_are_not_used() {
        let proxy = [IpNet::parse("127.0.0.1").unwrap()];
        for bad in ["evil.example/x", "a@b", "a\"b", "a b"] {
            let h = headers(&[("host", bad), ("x-forwarded-host", bad)]);
            let c = resolve(&h, peer("127.0.0.1"), &proxy, "music.lan:4545");
            assert_eq!(c.host, "music.lan:4545", "{bad}");
        }
        let h = headers(&[("x-forwarded-proto", "javascript")]);
        let c = resolve(&h, peer("127.0.0.1"), &proxy, "h");
        assert_eq!(c.scheme, "http");
    }

    #[test]
    fn ranges_hold_what_they_say() {
        let net = IpNet::parse("192.168.0.0/16").unwrap();
        assert!(net.contains("192.168.4.5".parse().unwrap()));
        assert!(net.contains("::ffff:192.168.4.5".parse().unwrap()));
        assert!(!net.contains("192.169.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        assert!(IpNet::parse("::1")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(IpNet::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        for bad in ["", "10.0.0.0/33", "nope", "10.0.0/8", "::1/129"] {
            assert!(IpNet::parse(bad).is_none(), "{bad}");
        }
    }
}
