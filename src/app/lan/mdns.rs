//! mDNS (Bonjour, zeroconf): announces the server as `_houseband._tcp` and `_http._tcp`, and
//! browses for Google Cast (`_googlecast._tcp`) and AirPlay (`_raop._tcp`, `_airplay._tcp`)
//! speakers, which become outputs.

use std::sync::Arc;

use anyhow::{anyhow, Result};
use mdns_sd::{ResolvedService, ServiceDaemon, ServiceEvent, ServiceInfo};

use super::caster::{Devices, Target};
use crate::app::outputs::{Output, Outputs};

const HOUSEBAND: &str = "_houseband._tcp.local.";
const HTTP: &str = "_http._tcp.local.";
const GOOGLECAST: &str = "_googlecast._tcp.local.";
const RAOP: &str = "_raop._tcp.local.";
const AIRPLAY: &str = "_airplay._tcp.local.";

/// What the server says about itself.
pub struct Announcement {
    pub name: String,
    pub port: u16,
    /// Stable across restarts: clients tell two servers with the same name apart by it.
    pub id: String,
    pub version: &'static str,
}

/// The running mDNS responder and browser.
pub struct Mdns {
    daemon: ServiceDaemon,
    announced: Vec<String>,
}

impl Mdns {
    pub fn start(me: &Announcement, outputs: Arc<Outputs>, devices: Devices) -> Result<Mdns> {
        let daemon = ServiceDaemon::new().map_err(|e| anyhow!("mDNS cannot start: {e}"))?;
        let host = format!("{}.local.", hostname_label());
        let properties = [
            ("version", me.version),
            ("path", "/"),
            ("id", me.id.as_str()),
        ];
        let mut announced = Vec::new();
        for ty in [HOUSEBAND, HTTP] {
            // No addresses given: the responder uses every interface's and follows changes.
            let info = ServiceInfo::new(ty, &me.name, &host, "", me.port, &properties[..])
                .map_err(|e| anyhow!("mDNS: {e}"))?
                .enable_addr_auto();
            announced.push(info.get_fullname().to_string());
            daemon
                .register(info)
                .map_err(|e| anyhow!("mDNS cannot announce {ty}: {e}"))?;
        }
        for ty in [GOOGLECAST, RAOP, AIRPLAY] {
            let events = daemon
                .browse(ty)
                .map_err(|e| anyhow!("mDNS cannot browse {ty}: {e}"))?;
            let (outputs, devices) = (outputs.clone(), devices.clone());
            std::thread::Builder::new()
                .name("lan-mdns-browse".into())
                .spawn(move || {
                    // The output each instance became (an AirPlay receiver's id comes from its
                    // record, not its name).
                    let mut ids = std::collections::HashMap::<String, String>::new();
                    while let Ok(event) = events.recv() {
                        match event {
                            ServiceEvent::ServiceResolved(s) => {
                                if let Some(id) = found(&outputs, &devices, &s) {
                                    if ids.len() < crate::app::outputs::MAX_SPEAKERS * 4 {
                                        ids.insert(s.fullname.clone(), id);
                                    }
                                }
                            }
                            ServiceEvent::ServiceRemoved(ty, fullname) => {
                                let id = ids
                                    .remove(&fullname)
                                    .unwrap_or_else(|| speaker_id(&ty, &fullname));
                                // An AirPlay 2 record leaving says nothing of the device's
                                // AirPlay 1 one, which is what plays.
                                let playable = devices
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .contains_key(&id);
                                if ty == AIRPLAY && playable {
                                    continue;
                                }
                                outputs.speaker_lost(&id, "it left the network");
                                devices
                                    .lock()
                                    .unwrap_or_else(|e| e.into_inner())
                                    .remove(&id);
                            }
                            _ => {}
                        }
                    }
                })?;
        }
        Ok(Mdns { daemon, announced })
    }

    /// Says goodbye on the network, so clients drop the server at once.
    pub fn stop(&self) {
        for name in &self.announced {
            if let Ok(done) = self.daemon.unregister(name) {
                let _ = done.recv_timeout(std::time::Duration::from_secs(1));
            }
        }
        if let Ok(done) = self.daemon.shutdown() {
            let _ = done.recv_timeout(std::time::Duration::from_secs(1));
        }
    }
}

/// The machine's name as a DNS label.
fn hostname_label() -> String {
    let raw = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "houseband".into());
    let label: String = raw
        .trim()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    if label.trim_matches('-').is_empty() {
        "houseband".into()
    } else {
        label
    }
}

/// The default name the server announces: "Houseband on <hostname>".
pub fn default_name() -> String {
    format!("Houseband on {}", hostname_label())
}

/// An output id for a service instance: stable while the speaker keeps its name.
fn speaker_id(ty: &str, fullname: &str) -> String {
    let kind = if ty.starts_with("_googlecast") {
        "cast"
    } else {
        "airplay"
    };
    let instance = fullname.strip_suffix(ty).unwrap_or(fullname);
    let tidy: String = instance
        .trim_end_matches('.')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    format!("{kind}-{tidy}")
}

/// The address to reach an announced speaker at: one of the LAN's. Any device can answer
/// mDNS with any address; one naming this machine's loopback (or nothing reachable) would make
/// the server connect to services no LAN device can reach, so it is not used.
fn speaker_address(
    addresses: impl IntoIterator<Item = std::net::Ipv4Addr>,
) -> Option<std::net::Ipv4Addr> {
    let mut usable: Vec<_> = addresses
        .into_iter()
        .filter(|ip| {
            !(ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || ip.is_broadcast()
                || ip.octets()[0] == 0)
        })
        .collect();
    // The same choice every time an announcement repeats.
    usable.sort();
    usable.into_iter().next()
}

/// A speaker announced: listed as an output (its id), and kept to play on if it can be.
fn found(outputs: &Outputs, devices: &Devices, s: &ResolvedService) -> Option<String> {
    let ip = speaker_address(s.get_addresses_v4())?;
    let txt = |key: &str| {
        s.txt_properties
            .get_property_val_str(key)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let instance = s
        .fullname
        .strip_suffix(&s.ty_domain)
        .unwrap_or(&s.fullname)
        .trim_end_matches('.');
    let address = format!("{ip}:{}", s.port);
    let cast = s.ty_domain == GOOGLECAST;
    let mut id = speaker_id(&s.ty_domain, &s.fullname);
    let mut receiver = None;
    let mut speaker = if cast {
        let name = txt("fn").unwrap_or_else(|| instance.to_string());
        let mut o = Output::speaker(id.clone(), &name, "googlecast", address);
        o.model = txt("md");
        o
    } else {
        // RAOP instances are "<MAC>@<name>"; AirPlay 2 records carry the MAC as `deviceid`: one
        // device gets one id from both.
        let (mac, name) = match instance.split_once('@') {
            Some((mac, name)) if s.ty_domain == RAOP => (Some(mac.to_string()), name),
            _ => (txt("deviceid"), instance),
        };
        if let Some(mac) = mac.map(|m| tidy_mac(&m)).filter(|m| m.len() == 12) {
            id = format!("airplay-{mac}");
        }
        let mut o = Output::speaker(id.clone(), name, "airplay", address);
        o.model = txt("am").or_else(|| txt("model"));
        if s.ty_domain == RAOP {
            match raop_refusal(&txt) {
                Some(why) => {
                    o.available = false;
                    o.problem = Some(why.into());
                }
                None => {
                    let md = list(txt("md"));
                    receiver = Some(super::airplay::Receiver {
                        address: std::net::SocketAddr::from((ip, s.port)),
                        text: md.iter().any(|m| m == "0"),
                        artwork: md.iter().any(|m| m == "1"),
                        progress: md.iter().any(|m| m == "2"),
                    });
                }
            }
        } else {
            // The AirPlay 1 record, when the device has one, is what plays.
            if devices
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .contains_key(&id)
            {
                return Some(id);
            }
            o.available = false;
            o.problem = Some(
                "an AirPlay 2 speaker: Houseband plays on AirPlay 1 (RAOP) receivers only".into(),
            );
        }
        o
    };
    speaker.name = if speaker.name.is_empty() {
        "Unnamed speaker".into()
    } else {
        speaker.name
    };
    if !outputs.speaker_seen(speaker) {
        super::too_many(&s.fullname);
        return None;
    }
    let target = if cast {
        Some(Target::GoogleCast(std::net::SocketAddr::from((ip, s.port))))
    } else {
        receiver.map(|r| Target::AirPlay(Box::new(r)))
    };
    let mut devices = devices.lock().unwrap_or_else(|e| e.into_inner());
    match target {
        Some(t) => devices.insert(id.clone(), t),
        // No longer playable (a new record asks for a password, say).
        None if s.ty_domain == RAOP => devices.remove(&id),
        None => None,
    };
    Some(id)
}

/// A MAC address as 12 lowercase hex digits (from "AA:BB:..." or "AABB...").
fn tidy_mac(mac: &str) -> String {
    mac.chars()
        .filter(char::is_ascii_hexdigit)
        .map(|c| c.to_ascii_lowercase())
        .take(12)
        .collect()
}

/// A TXT list ("0,1,2") as its items.
fn list(value: Option<String>) -> Vec<String> {
    value
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
        .collect()
}

/// Why an AirPlay 1 receiver cannot be played on, from its record: Houseband sends ALAC over
/// UDP, unencrypted, without a password.
fn raop_refusal(txt: &dyn Fn(&str) -> Option<String>) -> Option<&'static str> {
    let encryption = list(txt("et"));
    let codecs = list(txt("cn"));
    let transports = list(txt("tp"));
    if txt("pw").is_some_and(|p| p.eq_ignore_ascii_case("true")) {
        Some("it asks for a password, which Houseband cannot give")
    } else if !encryption.is_empty() && !encryption.iter().any(|e| e == "0") {
        Some("it takes only encrypted streams (AirPlay 2 or FairPlay), which Houseband does not send")
    } else if !codecs.is_empty() && !codecs.iter().any(|c| c == "1") {
        Some("it does not take Apple Lossless, the format Houseband sends")
    } else if !transports.is_empty() && !transports.iter().any(|t| t.eq_ignore_ascii_case("UDP")) {
        Some("it takes audio over TCP only; Houseband sends it over UDP")
    } else {
        None
    }
}

/// A speaker's record as it comes off the LAN, taken in as [`found`] takes a resolved one.
/// The input is one byte for the service type (Google Cast, AirPlay 1, AirPlay 2), the
/// instance name up to a NUL byte, then the TXT record's data as on the wire (length-prefixed
/// `key=value` strings, decoded by mdns-sd as for a real record).
pub(crate) fn take_record(bytes: &[u8]) -> Result<Option<String>, String> {
    let (&kind, rest) = bytes.split_first().ok_or("an empty record")?;
    let ty = [GOOGLECAST, RAOP, AIRPLAY][usize::from(kind % 3)];
    let end = rest.iter().position(|b| *b == 0).unwrap_or(rest.len());
    let instance = String::from_utf8_lossy(&rest[..end]);
    let txt = rest.get(end + 1..).unwrap_or_default();
    // Made by mdns-sd as for a record it resolved, then given the name and TXT that came.
    let mut service = ServiceInfo::new(
        ty,
        "speaker",
        "speaker.local.",
        std::net::IpAddr::from([192, 168, 1, 40]),
        7000,
        None::<std::collections::HashMap<String, String>>,
    )
    .map_err(|e| e.to_string())?
    .as_resolved_service();
    service.fullname = format!("{instance}.{ty}");
    service.txt_properties = txt.into();
    let outputs = Outputs::default();
    let devices = Devices::default();
    Ok(found(&outputs, &devices, &service))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_speaker_is_never_reached_on_this_machine() {
        let ip = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
        assert_eq!(speaker_address([ip("127.0.0.1")]), None);
        assert_eq!(speaker_address([ip("0.0.0.0"), ip("224.0.0.251")]), None);
        assert_eq!(
            speaker_address([ip("127.0.0.1"), ip("192.168.1.40")]),
            Some(ip("192.168.1.40"))
        );
    }

    fn refusal(pairs: &[(&str, &str)]) -> Option<&'static str> {
        let txt = |k: &str| {
            pairs
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.to_string())
        };
        raop_refusal(&txt)
    }

    #[test]
    fn airplay_receivers_that_cannot_be_played_on_say_why() {
        // shairport-sync's record, and an old AirPort Express's.
        assert_eq!(
            refusal(&[("et", "0,1"), ("cn", "0,1"), ("tp", "UDP")]),
            None
        );
        assert_eq!(
            refusal(&[("et", "0,4"), ("cn", "0,1,2,3"), ("tp", "UDP")]),
            None
        );
        assert_eq!(refusal(&[]), None);
        assert!(refusal(&[("et", "0,3,5"), ("pw", "TRUE")])
            .unwrap()
            .contains("password"));
        assert!(refusal(&[("et", "3,5")]).unwrap().contains("encrypted"));
        assert!(refusal(&[("et", "1")]).unwrap().contains("encrypted"));
        assert!(refusal(&[("cn", "2,3")])
            .unwrap()
            .contains("Apple Lossless"));
        assert!(refusal(&[("tp", "TCP")]).unwrap().contains("TCP"));
    }

    #[test]
    fn one_airplay_device_gets_one_id_from_both_its_records() {
        assert_eq!(tidy_mac("AA:BB:CC:00:11:22"), "aabbcc001122");
        assert_eq!(tidy_mac("AABBCC001122"), "aabbcc001122");
        assert_eq!(list(Some(" 0, 1,,2 ".into())), ["0", "1", "2"]);
        assert!(list(None).is_empty());
    }
}
