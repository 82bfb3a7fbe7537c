//! The home network: the server announces itself by mDNS and finds speakers by itself, SSDP for
//! UPnP/DLNA renderers and mDNS for Google Cast and AirPlay, each becoming an output, and plays
//! the household queue on them ([`caster`]). Everything here sends multicast: the `lan` setting
//! turns it all off.

pub mod caster;
pub mod castv2;
pub mod gena;
pub mod googlecast;
pub mod mdns;
pub mod renderer;
pub mod ssdp;
pub mod upnp;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use anyhow::Result;

use crate::app::outputs::Outputs;

/// The LAN features, running.
pub struct Lan {
    mdns: Option<mdns::Mdns>,
    ssdp: Option<ssdp::Ssdp>,
}

impl Lan {
    /// Starts announcing and discovering. A part that cannot start (no multicast on this
    /// machine, port 1900 taken) is logged and left out; the rest runs.
    pub fn start(
        me: &mdns::Announcement,
        outputs: Arc<Outputs>,
        queue: Arc<crate::app::queue::Queue>,
        db: Arc<crate::app::db::Db>,
        users: Arc<crate::app::users::Users>,
        events: Arc<gena::Events>,
        podcasts: Arc<crate::app::podcasts::Podcasts>,
    ) -> Result<Lan> {
        let devices: caster::Devices = Arc::default();
        let mdns = match mdns::Mdns::start(me, outputs.clone(), devices.clone()) {
            Ok(m) => {
                tracing::info!(name = %me.name, "announced on the LAN by mDNS");
                Some(m)
            }
            Err(e) => {
                tracing::warn!("mDNS is off: {e:#}");
                None
            }
        };
        let context = caster::Context {
            queue,
            db,
            users,
            outputs: outputs.clone(),
            devices: devices.clone(),
            events,
            podcasts,
            port: me.port,
        };
        if let Err(e) = caster::Caster::start(context) {
            tracing::warn!("playing on renderers is off: {e:#}");
        }
        let revive = (outputs.clone(), devices.clone());
        if let Err(e) = std::thread::Builder::new()
            .name("lan-cast-revive".into())
            .spawn(move || loop {
                std::thread::sleep(REVIVE_EVERY);
                revive_cast_devices(&revive.0, &revive.1);
            })
        {
            tracing::warn!("lost Cast devices will not be looked for: {e}");
        }
        let ssdp = match ssdp::Ssdp::start(outputs, devices) {
            Ok(s) => Some(s),
            Err(e) => {
                tracing::warn!("UPnP renderers will not be found: {e:#}");
                None
            }
        };
        Ok(Lan { mdns, ssdp })
    }

    /// Says goodbye on the network and stops.
    pub fn stop(&self) {
        if let Some(m) = &self.mdns {
            m.stop();
        }
        if let Some(s) = &self.ssdp {
            s.stop();
        }
    }
}

/// How often lost Cast devices are looked for.
const REVIVE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// Cast devices that stopped answering are listed again once they take a connection: mDNS
/// announces a device again only when its records change or expire, which may be long after it
/// is back. (Renderers come back by SSDP, which the server searches every 30 s.)
pub fn revive_cast_devices(outputs: &Outputs, devices: &caster::Devices) {
    let lost: Vec<(String, std::net::SocketAddr)> = devices
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .filter_map(|(id, t)| match t {
            caster::Target::GoogleCast(address) => Some((id.clone(), *address)),
            caster::Target::Upnp(_) => None,
        })
        .filter(|(id, _)| outputs.get(id).is_some_and(|o| !o.available))
        .collect();
    for (id, address) in lost {
        let back =
            std::net::TcpStream::connect_timeout(&address, std::time::Duration::from_secs(1));
        if back.is_ok() {
            if let Some(mut o) = outputs.get(&id) {
                tracing::info!(speaker = id, "a lost Cast device answers again");
                o.available = true;
                o.problem = None;
                o.last_seen = Some(crate::app::db::now());
                outputs.speaker_seen(o);
            }
        }
    }
}

/// One log line a minute when the network announces more speakers than are kept.
fn too_many(which: &str) {
    static LAST: AtomicI64 = AtomicI64::new(0);
    let now = crate::app::db::now();
    if now - LAST.swap(now, Ordering::Relaxed) >= 60 {
        tracing::warn!(
            which,
            "more than {} speakers on the network: the others are ignored",
            crate::app::outputs::MAX_SPEAKERS
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::outputs::Output;

    #[test]
    fn a_lost_cast_device_is_listed_again_once_it_takes_a_connection() {
        let outputs = Outputs::default();
        let devices: caster::Devices = Arc::default();
        // A port on loopback that is closed, then open.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        let o = Output::speaker(
            "cast-kitchen".into(),
            "Kitchen",
            "googlecast",
            address.to_string(),
        );
        outputs.speaker_seen(o);
        devices
            .lock()
            .unwrap()
            .insert("cast-kitchen".into(), caster::Target::GoogleCast(address));
        outputs.speaker_lost("cast-kitchen", "it stopped answering");
        revive_cast_devices(&outputs, &devices);
        assert!(!outputs.get("cast-kitchen").unwrap().available);
        let _back = std::net::TcpListener::bind(address).unwrap();
        revive_cast_devices(&outputs, &devices);
        let o = outputs.get("cast-kitchen").unwrap();
        assert!(o.available && o.problem.is_none(), "{o:?}");
    }
}
