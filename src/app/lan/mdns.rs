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
                    while let Ok(event) = events.recv() {
                        match event {
                            ServiceEvent::ServiceResolved(s) => found(&outputs, &devices, &s),
                            ServiceEvent::ServiceRemoved(ty, fullname) => {
                                let id = speaker_id(&ty, &fullname);
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

fn found(outputs: &Outputs, devices: &Devices, s: &ResolvedService) {
    let Some(ip) = s.get_addresses_v4().into_iter().next() else {
        return;
    };
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
    let id = speaker_id(&s.ty_domain, &s.fullname);
    let cast = s.ty_domain == GOOGLECAST;
    let mut speaker = if cast {
        let name = txt("fn").unwrap_or_else(|| instance.to_string());
        let mut o = Output::speaker(id.clone(), &name, "googlecast", address);
        o.model = txt("md");
        o
    } else {
        // RAOP instances are "<MAC>@<name>".
        let name = instance.split_once('@').map_or(instance, |(_, n)| n);
        let mut o = Output::speaker(id.clone(), name, "airplay", address);
        o.model = txt("am").or_else(|| txt("model"));
        o.available = false;
        o.problem = Some("playing on AirPlay speakers is not built yet".into());
        o
    };
    speaker.name = if speaker.name.is_empty() {
        "Unnamed speaker".into()
    } else {
        speaker.name
    };
    if !outputs.speaker_seen(speaker) {
        super::too_many(&s.fullname);
        return;
    }
    if cast {
        let target = Target::GoogleCast(std::net::SocketAddr::from((ip, s.port)));
        devices
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(id, target);
    }
}
