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
            port: me.port,
        };
        if let Err(e) = caster::Caster::start(context) {
            tracing::warn!("playing on renderers is off: {e:#}");
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
