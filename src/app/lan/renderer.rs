//! A UPnP/DLNA media renderer as a [`Speaker`]: AVTransport to load, play, pause and stop, with
//! SetNextAVTransportURI for no gap between songs; RenderingControl for the volume;
//! ConnectionManager's `GetProtocolInfo` for the formats it plays; DIDL-Lite for what it shows;
//! a GENA subscription to its AVTransport events (see [`super::gena`]) while it plays the queue.
//! It does not seek with UPnP Seek: gmediarender answers a Seek in our streams by stopping and
//! playing from the start, so a seek loads the song again from there (the default of
//! [`Speaker::seek`]), which every renderer follows.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context, Result};

use super::caster::{address_for, Media, Speaker, State, Status};
use super::gena::{Events, Subscription};
use super::upnp::{self, Device};

/// How long to wait for a new subscription's first event before going on.
const FIRST_EVENT_WITHIN: Duration = Duration::from_millis(500);
/// How long after a failed or lapsed event subscription to subscribe again.
const SUBSCRIBE_AGAIN: Duration = Duration::from_secs(30);
/// The pause between giving a renderer a new song and telling it to play.
const SETTLE: Duration = Duration::from_millis(200);

pub struct Renderer {
    device: Device,
    agent: ureq::Agent,
    /// The MIME types it says it plays, asked once when it becomes the queue's output.
    accepts: Vec<String>,
    events: Arc<Events>,
    /// This server's port, for the events' callback.
    port: u16,
    subscription: Option<Subscription>,
    /// When to try subscribing again after a subscription failed or lapsed.
    subscribe_again: Option<Instant>,
}

#[derive(Clone, Copy)]
enum Service {
    Transport,
    Rendering,
    Connections,
}

impl Renderer {
    pub fn new(device: Device, events: Arc<Events>, port: u16) -> Renderer {
        Renderer {
            device,
            agent: upnp::agent(),
            accepts: Vec::new(),
            events,
            port,
            subscription: None,
            subscribe_again: None,
        }
    }

    /// Subscribes to its AVTransport events, if it has them; without, it is polled only.
    fn subscribe(&mut self) {
        let Some(url) = self
            .device
            .av_transport
            .as_ref()
            .and_then(|s| s.event_url.clone())
        else {
            return;
        };
        let subscribed = address_for(self.address(), self.port).and_then(|me| {
            Subscription::start(&self.events, &self.agent, &url, &format!("http://{me}"))
        });
        match subscribed {
            Ok(s) => {
                tracing::info!(renderer = %self.device.friendly_name, "subscribed to the renderer's events");
                // A renderer sends its whole state as the first event, right after answering.
                // gmediarender aborts (an assertion in its event code) if an action changes its
                // state while it does: the next action waits for that event, a moment at most.
                let start = Instant::now();
                while start.elapsed() < FIRST_EVENT_WITHIN
                    && self.events.last(s.token()).is_some_and(|(_, n)| n == 0)
                {
                    std::thread::sleep(Duration::from_millis(5));
                }
                self.subscription = Some(s);
            }
            Err(e) => {
                tracing::info!(
                    renderer = %self.device.friendly_name,
                    "no events from the renderer (it is polled instead): {e:#}"
                );
                self.subscribe_again = Some(Instant::now() + SUBSCRIBE_AGAIN);
            }
        }
    }

    /// Ends the subscription off this thread (the renderer may be gone).
    fn unsubscribe(&mut self) {
        if let Some(s) = self.subscription.take() {
            let (events, agent) = (self.events.clone(), self.agent.clone());
            let _ = std::thread::Builder::new()
                .name("lan-unsubscribe".into())
                .spawn(move || s.cancel(&events, &agent));
        }
    }

    fn call(&self, action: &str, args: &[(&str, &str)]) -> Result<HashMap<String, String>> {
        self.call_service(Service::Transport, action, args)
    }

    fn call_service(
        &self,
        service: Service,
        action: &str,
        args: &[(&str, &str)],
    ) -> Result<HashMap<String, String>> {
        let s = match service {
            Service::Transport => self.device.av_transport.as_ref(),
            Service::Rendering => self.device.rendering_control.as_ref(),
            Service::Connections => self.device.connection_manager.as_ref(),
        }
        .ok_or_else(|| anyhow!("the renderer has no service for {action}"))?;
        upnp::action(&self.agent, s, action, args)
    }
}

impl Speaker for Renderer {
    fn address(&self) -> SocketAddr {
        let control = self
            .device
            .av_transport
            .as_ref()
            .map(|s| s.control_url.as_str())
            .unwrap_or("");
        control
            .strip_prefix("http://")
            .and_then(|r| r.split('/').next())
            .and_then(|a| a.parse().ok().or_else(|| format!("{a}:80").parse().ok()))
            // Descriptions are read only from where they were announced, and their control
            // URLs checked to be on that host: this never happens for a listed renderer.
            .unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 80)))
    }

    fn open(&mut self) -> Result<()> {
        if self.device.av_transport.is_none() {
            return Err(anyhow!("the renderer has no AVTransport service"));
        }
        self.accepts = self
            .call_service(Service::Connections, "GetProtocolInfo", &[])
            .ok()
            .and_then(|a| a.get("Sink").cloned())
            .unwrap_or_default()
            .split(',')
            .filter_map(|p| p.split(':').nth(2).map(|m| m.trim().to_string()))
            .collect();
        self.subscribe();
        Ok(())
    }

    fn plays(&self, mime: &str) -> bool {
        self.accepts.iter().any(|m| m == mime || m == "*")
    }

    fn load(&mut self, media: &Media, replacing: bool, play: bool) -> Result<()> {
        if replacing {
            // A new URI while one plays makes some renderers fail the next Play (gmediarender
            // answers 501): stop the old one first.
            let _ = self.call("Stop", &[("InstanceID", "0")]);
            std::thread::sleep(SETTLE);
        }
        self.call(
            "SetAVTransportURI",
            &[
                ("InstanceID", "0"),
                ("CurrentURI", &media.url),
                ("CurrentURIMetaData", &didl(media)),
            ],
        )?;
        if play {
            // Some renderers (gmediarender) crash on a Play that races their own handling of
            // the new URI: give them a moment.
            std::thread::sleep(SETTLE);
            if self.play().is_err() {
                // Once more, a moment later, before counting it as a failure.
                std::thread::sleep(SETTLE * 3);
                self.play()?;
            }
        }
        Ok(())
    }

    fn load_next(&mut self, next: Option<&Media>) -> Result<bool> {
        let (url, meta) = next.map_or((String::new(), String::new()), |m| (m.url.clone(), didl(m)));
        Ok(self
            .call(
                "SetNextAVTransportURI",
                &[
                    ("InstanceID", "0"),
                    ("NextURI", &url),
                    ("NextURIMetaData", &meta),
                ],
            )
            .is_ok())
    }

    fn play(&mut self) -> Result<()> {
        self.call("Play", &[("InstanceID", "0"), ("Speed", "1")])
            .map(drop)
    }

    fn pause(&mut self) -> Result<()> {
        self.call("Pause", &[("InstanceID", "0")]).map(drop)
    }

    fn stop(&mut self) -> Result<()> {
        self.call("Stop", &[("InstanceID", "0")]).map(drop)
    }

    fn set_volume(&mut self, volume: u8) -> Result<()> {
        if self.device.rendering_control.is_none() {
            return Ok(());
        }
        let volume = volume.to_string();
        self.call_service(
            Service::Rendering,
            "SetVolume",
            &[
                ("InstanceID", "0"),
                ("Channel", "Master"),
                ("DesiredVolume", &volume),
            ],
        )
        .map(drop)
    }

    fn tick(&mut self) -> Result<()> {
        if let Some(s) = self.subscription.as_mut() {
            if let Err(e) = s.keep(&self.agent) {
                tracing::info!(renderer = %self.device.friendly_name, "{e:#}");
                self.unsubscribe();
                self.subscribe_again = Some(Instant::now() + SUBSCRIBE_AGAIN);
            }
        } else if self.subscribe_again.is_some_and(|at| Instant::now() >= at) {
            self.subscribe_again = None;
            self.subscribe();
        }
        Ok(())
    }

    fn set_muted(&mut self, muted: bool) -> Result<()> {
        if self.device.rendering_control.is_none() {
            return Ok(());
        }
        self.call_service(
            Service::Rendering,
            "SetMute",
            &[
                ("InstanceID", "0"),
                ("Channel", "Master"),
                ("DesiredMute", if muted { "1" } else { "0" }),
            ],
        )
        .map(drop)
    }

    fn status(&mut self) -> Result<Status> {
        let state = self
            .call("GetTransportInfo", &[("InstanceID", "0")])?
            .remove("CurrentTransportState")
            .unwrap_or_default();
        let mut at = self
            .call("GetPositionInfo", &[("InstanceID", "0")])
            .context("GetPositionInfo")?;
        Ok(Status {
            state: match state.as_str() {
                "PLAYING" => State::Playing,
                "TRANSITIONING" => State::Loading,
                "STOPPED" | "NO_MEDIA_PRESENT" => State::Stopped,
                _ => State::Paused,
            },
            position_ms: at.get("RelTime").and_then(|t| parse_time(t)),
            track: at.remove("TrackURI").unwrap_or_default(),
        })
    }
}

impl Drop for Renderer {
    /// Ends the event subscription, off the caller's thread: the renderer may be gone, and
    /// waiting for it would hold up the queue's next speaker.
    fn drop(&mut self) {
        self.unsubscribe();
    }
}

/// What the renderer shows about a song (DIDL-Lite).
fn didl(m: &Media) -> String {
    let e = upnp::escape;
    let seconds = m.duration_ms / 1000;
    let duration = format!(
        "{}:{:02}:{:02}.000",
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    );
    let art = m.art.as_deref().map_or(String::new(), |a| {
        format!("<upnp:albumArtURI>{}</upnp:albumArtURI>", e(a))
    });
    format!(
        r#"<DIDL-Lite xmlns="urn:schemas-upnp-org:metadata-1-0/DIDL-Lite/" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:upnp="urn:schemas-upnp-org:metadata-1-0/upnp/"><item id="{}" parentID="0" restricted="1"><dc:title>{}</dc:title><upnp:artist>{}</upnp:artist><upnp:album>{}</upnp:album>{art}<upnp:class>object.item.audioItem.musicTrack</upnp:class><res protocolInfo="http-get:*:{}:*" duration="{duration}">{}</res></item></DIDL-Lite>"#,
        e(&m.id),
        e(&m.title),
        e(&m.artist),
        e(&m.album),
        e(&m.mime),
        e(&m.url),
    )
}

/// `H:MM:SS(.fff)` in ms.
fn parse_time(t: &str) -> Option<i64> {
    let mut parts = t.trim().split(':');
    let h: f64 = parts.next()?.parse::<u32>().ok()?.into();
    let m: f64 = parts.next()?.parse::<u32>().ok()?.into();
    let s: f64 = parts.next()?.parse().ok()?;
    // In f64 (saturating when cast back): a hostile renderer's hours cannot overflow.
    Some(((h * 3600.0 + m * 60.0 + s) * 1000.0) as i64)
}

#[cfg(test)]
mod tests {
    #[test]
    fn renderer_times_are_read() {
        assert_eq!(super::parse_time("0:01:02"), Some(62_000));
        assert_eq!(super::parse_time("1:00:00.500"), Some(3_600_500));
        assert_eq!(super::parse_time("NOT_IMPLEMENTED"), None);
        assert_eq!(super::parse_time("4294967295:00:1e300"), Some(i64::MAX));
        assert_eq!(super::parse_time("-1:00:00"), None);
    }
}
