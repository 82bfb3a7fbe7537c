//! SSDP: finds UPnP/DLNA media renderers. Searches (M-SEARCH) at start and every
//! [`SEARCH_EVERY`], listens to their NOTIFY alive/byebye, reads each new renderer's device
//! description, and keeps the outputs list up to date.
//!
//! The network is not trusted: packets are size-limited and parsed strictly, a LOCATION is
//! fetched only from the host that sent the packet (no request forgery through discovery), with
//! timeouts and a size limit, a few at a time, and the number of speakers is bounded.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use super::upnp::{self, Device};
use crate::app::outputs::{Output, Outputs};

const GROUP: Ipv4Addr = Ipv4Addr::new(239, 255, 255, 250);
const PORT: u16 = 1900;
pub const RENDERER: &str = "urn:schemas-upnp-org:device:MediaRenderer:1";
/// How often renderers are searched for again.
const SEARCH_EVERY: Duration = Duration::from_secs(30);
/// The largest SSDP packet read.
const MAX_PACKET: usize = 4096;
/// Descriptions fetched at once.
const FETCHERS: usize = 4;
/// Renderers waiting for their description to be read; more are dropped until there is room.
const FETCH_BACKLOG: usize = 64;

/// A renderer's announcement.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub uuid: String,
    /// The description's URL (checked to be on the sender's host).
    pub location: Option<String>,
    pub alive: bool,
    pub max_age: Duration,
}

/// Reads an SSDP packet from `from`: a renderer's NOTIFY or search answer, or nothing.
pub fn parse(packet: &[u8], from: IpAddr) -> Result<Option<Notice>> {
    if packet.len() > MAX_PACKET {
        bail!("an SSDP packet of {} bytes", packet.len());
    }
    let text = std::str::from_utf8(packet).context("an SSDP packet that is not text")?;
    let mut lines = text.split("\r\n");
    let start = lines.next().unwrap_or("");
    let answer = start.starts_with("HTTP/1.1 200");
    if !answer && !start.starts_with("NOTIFY * HTTP/1.1") {
        return Ok(None);
    }
    let mut headers: HashMap<String, &str> = HashMap::new();
    for line in lines.take(40) {
        if line.is_empty() {
            break;
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| anyhow!("an SSDP header without a colon"))?;
        headers.insert(name.trim().to_ascii_lowercase(), value.trim());
    }
    let kind = headers
        .get(if answer { "st" } else { "nt" })
        .copied()
        .unwrap_or("");
    if !kind.starts_with("urn:schemas-upnp-org:device:MediaRenderer:") {
        return Ok(None);
    }
    let usn = headers.get("usn").copied().unwrap_or("");
    let uuid = usn
        .strip_prefix("uuid:")
        .map(|u| u.split("::").next().unwrap_or(u))
        .filter(|u| !u.is_empty() && u.len() <= 128)
        .ok_or_else(|| anyhow!("an SSDP packet without a uuid USN"))?
        .to_string();
    let alive = answer || headers.get("nts").copied() == Some("ssdp:alive");
    if !alive && headers.get("nts").copied() != Some("ssdp:byebye") {
        return Ok(None);
    }
    let location = match headers.get("location") {
        Some(l) => {
            check_location(l, from)?;
            Some(l.to_string())
        }
        None if alive => bail!("a renderer's announcement without LOCATION"),
        None => None,
    };
    let max_age = headers
        .get("cache-control")
        .and_then(|c| c.split('=').nth(1))
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(1800)
        .clamp(60, 86_400);
    Ok(Some(Notice {
        uuid,
        location,
        alive,
        max_age: Duration::from_secs(max_age),
    }))
}

/// A LOCATION is fetched only if it is plain HTTP on the very address that sent the packet.
fn check_location(location: &str, from: IpAddr) -> Result<()> {
    let rest = location
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("LOCATION {location:?} is not http://"))?;
    let authority = rest.split('/').next().unwrap_or("");
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_matches(['[', ']']);
    let ip: IpAddr = host
        .parse()
        .map_err(|_| anyhow!("LOCATION {location:?} names a host, not an address"))?;
    if ip != from {
        bail!("LOCATION {location:?} points away from the sender {from}: not fetched");
    }
    Ok(())
}

/// What is known of a renderer.
struct Known {
    location: String,
    expires: Instant,
}

/// The SSDP side of the LAN: sockets and threads.
pub struct Ssdp {
    stop: Arc<std::sync::atomic::AtomicBool>,
}

impl Ssdp {
    pub fn start(outputs: Arc<Outputs>, devices: super::caster::Devices) -> Result<Ssdp> {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let listener = listen_socket().context("SSDP cannot listen on port 1900")?;
        let searcher = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
        searcher.set_read_timeout(Some(Duration::from_secs(1)))?;
        listener.set_read_timeout(Some(Duration::from_secs(1)))?;
        let known: Arc<Mutex<HashMap<String, Known>>> = Arc::default();
        let (fetch_tx, fetch_rx) = crossbeam_channel::bounded::<(Notice, IpAddr)>(FETCH_BACKLOG);
        for _ in 0..FETCHERS {
            let (rx, outputs, known, devices) = (
                fetch_rx.clone(),
                outputs.clone(),
                known.clone(),
                devices.clone(),
            );
            std::thread::Builder::new()
                .name("lan-ssdp-fetch".into())
                .spawn(move || {
                    for (notice, _) in rx {
                        describe(&notice, &outputs, &known, &devices);
                    }
                })?;
        }
        // Packets from both sockets go through one handler.
        let handle = {
            let (outputs, known, devices) = (outputs.clone(), known.clone(), devices.clone());
            move |packet: &[u8], from: SocketAddr| {
                let notice = match parse(packet, from.ip()) {
                    Ok(Some(n)) => n,
                    Ok(None) => return,
                    Err(e) => {
                        tracing::debug!(%from, "SSDP packet ignored: {e:#}");
                        return;
                    }
                };
                let id = output_id(&notice.uuid);
                if !notice.alive {
                    known
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .remove(&notice.uuid);
                    outputs.speaker_lost(&id, "it said goodbye (switched off or left the network)");
                    return;
                }
                let location = notice.location.clone().unwrap_or_default();
                let fresh = {
                    let mut k = known.lock().unwrap_or_else(|p| p.into_inner());
                    match k.get_mut(&notice.uuid) {
                        Some(entry) if entry.location == location => {
                            entry.expires = Instant::now() + notice.max_age;
                            true
                        }
                        _ => false,
                    }
                };
                // A renderer dropped by the caster (it stopped answering) is read again.
                let fresh = fresh
                    && devices
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .contains_key(&id);
                if fresh {
                    outputs.touch(&id);
                } else if fetch_tx.try_send((notice, from.ip())).is_err() {
                    tracing::debug!(%from, "SSDP: too many renderers to read at once; this one waits for its next announcement");
                }
            }
        };
        for (name, socket) in [("lan-ssdp-notify", listener), ("lan-ssdp-search", searcher)] {
            let (handle, stop, outputs, known) =
                (handle.clone(), stop.clone(), outputs.clone(), known.clone());
            let searching = name == "lan-ssdp-search";
            std::thread::Builder::new()
                .name(name.into())
                .spawn(move || {
                    let mut buf = vec![0u8; MAX_PACKET + 1];
                    let mut searched: Option<Instant> = None;
                    let mut joined = Instant::now();
                    let mut searches = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        if searching {
                            // Twice at start (UDP gets lost), then now and then.
                            let due = match searched {
                                None => true,
                                Some(t) if searches < 2 => t.elapsed() >= Duration::from_secs(1),
                                Some(t) => t.elapsed() >= SEARCH_EVERY,
                            };
                            if due {
                                search(&socket);
                                searched = Some(Instant::now());
                                searches += 1;
                                expire(&outputs, &known);
                            }
                        } else if joined.elapsed() >= SEARCH_EVERY {
                            // Interfaces come and go (a cable, a Wi-Fi that reconnects).
                            join_all(&socket);
                            joined = Instant::now();
                        }
                        match socket.recv_from(&mut buf) {
                            Ok((n, from)) => handle(&buf[..n], from),
                            Err(e)
                                if matches!(
                                    e.kind(),
                                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                ) => {}
                            Err(e) => {
                                tracing::warn!("SSDP socket failed: {e}");
                                std::thread::sleep(Duration::from_secs(1));
                            }
                        }
                    }
                })?;
        }
        Ok(Ssdp { stop })
    }

    pub fn stop(&self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

pub fn output_id(uuid: &str) -> String {
    let tidy: String = uuid
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(64)
        .collect();
    format!("upnp-{}", tidy.to_ascii_lowercase())
}

/// Renderers not heard from within their max-age are unavailable.
fn expire(outputs: &Outputs, known: &Mutex<HashMap<String, Known>>) {
    let now = Instant::now();
    let mut k = known.lock().unwrap_or_else(|p| p.into_inner());
    k.retain(|uuid, entry| {
        if entry.expires > now {
            return true;
        }
        outputs.speaker_lost(&output_id(uuid), "it stopped announcing itself");
        false
    });
}

/// Reads a new renderer's description and lists it.
fn describe(
    notice: &Notice,
    outputs: &Outputs,
    known: &Mutex<HashMap<String, Known>>,
    devices: &super::caster::Devices,
) {
    let Some(location) = &notice.location else {
        return;
    };
    let device = match upnp::fetch_description(location) {
        Ok(d) => d,
        Err(e) => {
            tracing::info!(
                location,
                "a renderer's description could not be read: {e:#}"
            );
            return;
        }
    };
    if device.udn.trim_start_matches("uuid:") != notice.uuid {
        tracing::info!(
            location,
            "a renderer's description names another device; ignored"
        );
        return;
    }
    let address = location
        .strip_prefix("http://")
        .and_then(|r| r.split('/').next())
        .unwrap_or("")
        .to_string();
    if !outputs.speaker_seen(speaker(notice, &device, address)) {
        super::too_many(&notice.uuid);
        return;
    }
    devices.lock().unwrap_or_else(|p| p.into_inner()).insert(
        output_id(&notice.uuid),
        super::caster::Target::Upnp(Box::new(device)),
    );
    known.lock().unwrap_or_else(|p| p.into_inner()).insert(
        notice.uuid.clone(),
        Known {
            location: location.clone(),
            expires: Instant::now() + notice.max_age,
        },
    );
}

fn speaker(notice: &Notice, device: &Device, address: String) -> Output {
    let mut o = Output::speaker(
        output_id(&notice.uuid),
        &device.friendly_name,
        "upnp",
        address,
    );
    let model = [device.manufacturer.as_str(), device.model_name.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    o.model = (!model.is_empty()).then_some(model);
    if o.name.is_empty() {
        o.name = "Unnamed renderer".into();
    }
    if device.av_transport.is_none() {
        o.available = false;
        o.problem = Some("it offers no AVTransport service to play with".into());
    }
    o
}

/// The socket on port 1900 that hears NOTIFYs, joined to the group on every interface.
fn listen_socket() -> Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.bind(&SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::UNSPECIFIED, PORT)).into())?;
    let s: UdpSocket = s.into();
    join_all(&s);
    Ok(s)
}

/// The IPv4 interfaces that can multicast (up, not loopback).
fn interfaces() -> Vec<Ipv4Addr> {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback() && i.is_oper_up())
        .filter_map(|i| match i.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
        .collect()
}

fn join_all(s: &UdpSocket) {
    for ip in interfaces() {
        // Joining twice fails with "address in use": that interface is joined already.
        let _ = s.join_multicast_v4(&GROUP, &ip);
    }
}

/// Sends M-SEARCH for renderers out of every interface.
fn search(s: &UdpSocket) {
    let request = format!(
        "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: \"ssdp:discover\"\r\nMX: 2\r\nST: {RENDERER}\r\nUSER-AGENT: Linux UPnP/1.1 Houseband/{}\r\n\r\n",
        env!("CARGO_PKG_VERSION")
    );
    let s2 = socket2::SockRef::from(s);
    let _ = s2.set_multicast_ttl_v4(2);
    for ip in interfaces() {
        if s2.set_multicast_if_v4(&ip).is_ok() {
            if let Err(e) = s.send_to(request.as_bytes(), (GROUP, PORT)) {
                tracing::debug!(%ip, "SSDP search not sent: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from() -> IpAddr {
        "10.0.0.7".parse().unwrap()
    }

    #[test]
    fn renderer_announcements_are_read_and_others_ignored() {
        let alive = "NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nCACHE-CONTROL: max-age=120\r\nLOCATION: http://10.0.0.7:49494/description.xml\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\nNTS: ssdp:alive\r\nUSN: uuid:abc-1::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n";
        let n = parse(alive.as_bytes(), from()).unwrap().unwrap();
        assert_eq!(n.uuid, "abc-1");
        assert!(n.alive);
        assert_eq!(n.max_age, Duration::from_secs(120));
        let bye = alive.replace("ssdp:alive", "ssdp:byebye");
        assert!(!parse(bye.as_bytes(), from()).unwrap().unwrap().alive);
        let answer = "HTTP/1.1 200 OK\r\nST: urn:schemas-upnp-org:device:MediaRenderer:1\r\nLOCATION: http://10.0.0.7:80/d.xml\r\nUSN: uuid:x::urn:schemas-upnp-org:device:MediaRenderer:1\r\n\r\n";
        assert_eq!(parse(answer.as_bytes(), from()).unwrap().unwrap().uuid, "x");
        let printer = alive.replace("MediaRenderer", "Printer");
        assert_eq!(parse(printer.as_bytes(), from()).unwrap(), None);
        assert_eq!(parse(b"M-SEARCH * HTTP/1.1\r\n\r\n", from()).unwrap(), None);
    }

    #[test]
    fn hostile_packets_are_refused() {
        let alive = "NOTIFY * HTTP/1.1\r\nLOCATION: http://10.0.0.7:49494/d.xml\r\nNT: urn:schemas-upnp-org:device:MediaRenderer:1\r\nNTS: ssdp:alive\r\nUSN: uuid:abc\r\n\r\n";
        for (bad, why) in [
            (alive.replace("10.0.0.7", "10.0.0.8"), "points away"),
            (alive.replace("10.0.0.7", "localhost"), "names a host"),
            (alive.replace("http://", "file://"), "not http"),
            (alive.replace("USN: uuid:abc", "USN: abc"), "uuid"),
            (
                alive.replace("NTS: ssdp:alive\r\n", "NTS: ssdp:alive\r\nbroken\r\n"),
                "colon",
            ),
        ] {
            let e = parse(bad.as_bytes(), from()).unwrap_err();
            assert!(format!("{e:#}").contains(why), "{e:#} for {bad}");
        }
        assert!(parse(&vec![b'x'; 5000], from()).is_err());
        assert!(parse(&[0xff, 0xfe, 0x00], from()).is_err());
    }
}
