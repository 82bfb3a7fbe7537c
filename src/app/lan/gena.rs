//! UPnP eventing (GENA): the server subscribes to the AVTransport events of the renderer the
//! queue plays on, so that a change there (a song ending, the renderer's own pause button) is
//! acted on at once instead of at the next poll. Polling goes on beside it: events carry no
//! position, and a renderer whose events stop (or that has none) is still followed.
//!
//! Renderers send their events to `NOTIFY /upnp/events/<token>` on this server, where the
//! token is random per subscription and the SID must match: nothing else is taken.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Result};
use crossbeam_channel::{Receiver, Sender};
use rand::RngCore;

/// The subscription time asked for; renewed at half of what the renderer grants.
const ASK_FOR: Duration = Duration::from_secs(300);
/// The shortest renewal period, against renderers that grant no time at all.
const SHORTEST: Duration = Duration::from_secs(1);
/// The largest event body read.
pub const MAX_EVENT: usize = 64 * 1024;

/// The subscriptions under way, and the wake-up of whoever follows them.
pub struct Events {
    subscribed: Mutex<HashMap<String, Sub>>,
    wake_tx: Sender<()>,
    wake_rx: Receiver<()>,
}

struct Sub {
    sid: String,
    /// The renderer's transport state as its last event gave it.
    state: Option<String>,
    events: u64,
}

impl Default for Events {
    fn default() -> Events {
        let (wake_tx, wake_rx) = crossbeam_channel::bounded(1);
        Events {
            subscribed: Mutex::default(),
            wake_tx,
            wake_rx,
        }
    }
}

/// What became of an event sent to this server.
#[derive(Debug, PartialEq, Eq)]
pub enum Delivery {
    Taken,
    /// No such subscription (UPnP answers 412 Precondition Failed).
    Unknown,
    Invalid(String),
}

impl Events {
    /// Ticks when an event arrived.
    pub fn woken(&self) -> &Receiver<()> {
        &self.wake_rx
    }

    /// Takes an event sent to `/upnp/events/<token>` with header `SID: sid`.
    pub fn deliver(&self, token: &str, sid: &str, body: &[u8]) -> Delivery {
        let mut subs = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        // Before the renderer's answer gives the SID, the (secret) token alone is enough: the
        // first event may come before that answer.
        let Some(sub) = subs
            .get_mut(token)
            .filter(|s| s.sid == sid || s.sid.is_empty())
        else {
            return Delivery::Unknown;
        };
        if body.len() > MAX_EVENT {
            return Delivery::Invalid(format!("an event of {} bytes", body.len()));
        }
        match transport_state(body) {
            Ok(state) => {
                sub.events += 1;
                if sub.events == 1 {
                    tracing::info!("the renderer's events arrive");
                }
                tracing::debug!(?state, "a renderer's event");
                if state.is_some() {
                    sub.state = state;
                }
                let _ = self.wake_tx.try_send(());
                Delivery::Taken
            }
            Err(e) => Delivery::Invalid(format!("{e:#}")),
        }
    }

    /// The transport state the subscription's last event gave, and how many events came.
    pub fn last(&self, token: &str) -> Option<(Option<String>, u64)> {
        let subs = self.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        subs.get(token).map(|s| (s.state.clone(), s.events))
    }
}

/// A subscription to one service's events.
pub struct Subscription {
    event_url: String,
    token: String,
    sid: String,
    /// When to renew.
    renew_at: Instant,
}

impl Subscription {
    /// Subscribes to the events at `event_url`, to be sent to `callback_base` (this server as
    /// the renderer reaches it, `http://ip:port`) plus `/upnp/events/<token>`.
    pub fn start(
        events: &Events,
        agent: &ureq::Agent,
        event_url: &str,
        callback_base: &str,
    ) -> Result<Subscription> {
        let mut raw = [0u8; 16];
        rand::rng().fill_bytes(&mut raw);
        let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let callback = format!("<{callback_base}/upnp/events/{token}>");
        let subs = || events.subscribed.lock().unwrap_or_else(|e| e.into_inner());
        // Registered before asking: the renderer sends its first event right as it answers.
        subs().insert(
            token.clone(),
            Sub {
                sid: String::new(),
                state: None,
                events: 0,
            },
        );
        let answer = agent
            .request("SUBSCRIBE", event_url)
            .set("CALLBACK", &callback)
            .set("NT", "upnp:event")
            .set("TIMEOUT", &format!("Second-{}", ASK_FOR.as_secs()))
            .call()
            .map_err(|e| anyhow!("SUBSCRIBE: {e}"))
            .and_then(|r| {
                let sid = r
                    .header("SID")
                    .filter(|s| !s.is_empty() && s.len() <= 256)
                    .ok_or_else(|| anyhow!("SUBSCRIBE: the renderer gave no SID"))?
                    .to_string();
                Ok((sid, granted(r.header("TIMEOUT"))))
            });
        let (sid, granted) = match answer {
            Ok(a) => a,
            Err(e) => {
                subs().remove(&token);
                return Err(e);
            }
        };
        if let Some(s) = subs().get_mut(&token) {
            s.sid = sid.clone();
        }
        Ok(Subscription {
            event_url: event_url.to_string(),
            token,
            sid,
            renew_at: Instant::now() + renew_after(granted),
        })
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// Renews the subscription when half its time is gone.
    pub fn keep(&mut self, agent: &ureq::Agent) -> Result<()> {
        if Instant::now() < self.renew_at {
            return Ok(());
        }
        let response = agent
            .request("SUBSCRIBE", &self.event_url)
            .set("SID", &self.sid)
            .set("TIMEOUT", &format!("Second-{}", ASK_FOR.as_secs()))
            .call();
        match response {
            Ok(r) => {
                self.renew_at = Instant::now() + renew_after(granted(r.header("TIMEOUT")));
                Ok(())
            }
            // The renderer forgot it (restarted: 412) or is gone: the caller subscribes
            // afresh later; polling goes on meanwhile.
            Err(e) => bail!("renewing the event subscription: {e}"),
        }
    }

    /// Ends the subscription (the renderer may already be gone: errors are ignored).
    pub fn cancel(self, events: &Events, agent: &ureq::Agent) {
        events
            .subscribed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&self.token);
        let _ = agent
            .request("UNSUBSCRIBE", &self.event_url)
            .set("SID", &self.sid)
            .call();
    }
}

/// The time a renderer granted (`Second-N` or `infinite`).
fn granted(header: Option<&str>) -> Duration {
    match header.map(|h| h.trim().to_ascii_lowercase()) {
        Some(h) if h == "second-infinite" || h == "infinite" => ASK_FOR,
        Some(h) => h
            .strip_prefix("second-")
            .and_then(|s| s.parse::<u64>().ok())
            .map_or(ASK_FOR, Duration::from_secs),
        None => ASK_FOR,
    }
}

fn renew_after(granted: Duration) -> Duration {
    (granted / 2).max(SHORTEST)
}

/// The `TransportState` in an AVTransport event (its `LastChange`, an XML document of its
/// own inside the property), if it has one.
fn transport_state(body: &[u8]) -> Result<Option<String>> {
    let text = std::str::from_utf8(body).map_err(|_| anyhow!("an event that is not UTF-8"))?;
    let doc =
        roxmltree::Document::parse(text).map_err(|e| anyhow!("an event that is not XML: {e}"))?;
    let Some(last_change) = doc
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "LastChange")
        .and_then(|n| n.text())
    else {
        return Ok(None);
    };
    let inner = roxmltree::Document::parse(last_change)
        .map_err(|e| anyhow!("a LastChange that is not XML: {e}"))?;
    Ok(inner
        .descendants()
        .find(|n| n.is_element() && n.tag_name().name() == "TransportState")
        .and_then(|n| n.attribute("val"))
        .map(str::to_string))
}

/// An event body as a renderer sends it, delivered to a subscription that expects it, and
/// the subscription's time header (the body's first line) read as an answer to SUBSCRIBE.
pub(crate) fn deliver_event(bytes: &[u8]) -> Result<(), String> {
    let events = Events::default();
    events
        .subscribed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(
            "t".into(),
            Sub {
                sid: "uuid:s".into(),
                state: None,
                events: 0,
            },
        );
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let _ = renew_after(granted(std::str::from_utf8(first).ok()));
    match events.deliver("t", "uuid:s", bytes) {
        Delivery::Invalid(why) => Err(why),
        Delivery::Taken => Ok(()),
        Delivery::Unknown => Err("the subscription was not found".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EVENT: &str = r#"<?xml version="1.0"?>
<e:propertyset xmlns:e="urn:schemas-upnp-org:event-1-0"><e:property><LastChange>&lt;Event xmlns=&quot;urn:schemas-upnp-org:metadata-1-0/AVT/&quot;&gt;&lt;InstanceID val=&quot;0&quot;&gt;&lt;TransportState val=&quot;PAUSED_PLAYBACK&quot;/&gt;&lt;/InstanceID&gt;&lt;/Event&gt;</LastChange></e:property></e:propertyset>"#;

    fn subscribed(events: &Events) {
        events.subscribed.lock().unwrap().insert(
            "t1".into(),
            Sub {
                sid: "uuid:s1".into(),
                state: None,
                events: 0,
            },
        );
    }

    #[test]
    fn events_are_taken_only_for_a_known_token_and_sid() {
        let events = Events::default();
        subscribed(&events);
        assert_eq!(
            events.deliver("t2", "uuid:s1", EVENT.as_bytes()),
            Delivery::Unknown
        );
        assert_eq!(
            events.deliver("t1", "uuid:s2", EVENT.as_bytes()),
            Delivery::Unknown
        );
        assert_eq!(
            events.deliver("t1", "uuid:s1", EVENT.as_bytes()),
            Delivery::Taken
        );
        assert_eq!(events.last("t1"), Some((Some("PAUSED_PLAYBACK".into()), 1)));
        assert!(events.woken().try_recv().is_ok());
    }

    #[test]
    fn hostile_events_are_refused_and_change_nothing() {
        let events = Events::default();
        subscribed(&events);
        let huge = vec![b' '; MAX_EVENT + 1];
        for body in [
            &b"not xml"[..],
            &[0xff, 0xfe][..],
            &huge[..],
            &b"<a><LastChange>&lt;b</LastChange></a>"[..],
        ] {
            assert!(matches!(
                events.deliver("t1", "uuid:s1", body),
                Delivery::Invalid(_)
            ));
        }
        assert_eq!(events.last("t1"), Some((None, 0)));
    }

    #[test]
    fn subscriptions_are_renewed_at_half_their_time() {
        assert_eq!(granted(Some("Second-1800")), Duration::from_secs(1800));
        assert_eq!(granted(Some("second-infinite")), ASK_FOR);
        assert_eq!(granted(Some("soon")), ASK_FOR);
        assert_eq!(granted(None), ASK_FOR);
        assert_eq!(
            renew_after(Duration::from_secs(300)),
            Duration::from_secs(150)
        );
        assert_eq!(renew_after(Duration::from_secs(4)), Duration::from_secs(2));
        // A renderer that grants no time is not asked again in a tight loop.
        assert_eq!(renew_after(Duration::ZERO), Duration::from_secs(1));
    }
}
