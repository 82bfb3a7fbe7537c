//! Outputs: where the household queue can play. The server's own sound card ([`local`]),
//! browser players, which register over the queue's socket and live as long as it does, and the
//! speakers `app::lan` finds on the network.

pub mod local;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    pub id: String,
    pub name: String,
    /// `local` or `browser` (later also `upnp`, `googlecast`, `airplay`).
    pub kind: &'static str,
    pub available: bool,
    /// Why it is unavailable, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem: Option<String>,
    /// 0 to 100.
    pub volume: u8,
    /// A speaker's network address (`ip:port`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// A speaker's make and model, as it announces them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// When a speaker was last heard from (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_seen: Option<i64>,
}

impl Output {
    /// A speaker found on the network.
    pub fn speaker(id: String, name: &str, kind: &'static str, address: String) -> Output {
        Output {
            id,
            name: clean_name(name),
            kind,
            available: true,
            problem: None,
            volume: 100,
            address: Some(address),
            model: None,
            last_seen: Some(crate::app::db::now()),
        }
    }
}

/// A name as shown: trimmed, without control characters, at most [`MAX_NAME`] characters.
fn clean_name(name: &str) -> String {
    name.trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME)
        .collect()
}

/// The longest player name kept.
const MAX_NAME: usize = 100;
/// The most speakers listed: a network that announces thousands is refused the rest.
pub const MAX_SPEAKERS: usize = 256;

#[derive(Default)]
pub struct Outputs {
    list: Mutex<Vec<Output>>,
    next: AtomicU64,
    local: OnceLock<local::Local>,
}

impl Outputs {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Output>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A browser that will play what it is told; its id lasts until [`Outputs::remove`].
    pub fn add_browser(&self, name: &str) -> String {
        let n = self.next.fetch_add(1, Ordering::SeqCst) + 1;
        let id = format!("browser-{n}");
        let name = clean_name(name);
        self.lock().push(Output {
            id: id.clone(),
            name: if name.is_empty() {
                format!("Browser {n}")
            } else {
                name
            },
            kind: "browser",
            available: true,
            problem: None,
            volume: 100,
            address: None,
            model: None,
            last_seen: None,
        });
        id
    }

    /// A speaker was heard from: added, or its entry refreshed. False when the list of speakers
    /// is full and this one is new.
    pub fn speaker_seen(&self, speaker: Output) -> bool {
        let mut list = self.lock();
        if let Some(known) = list.iter_mut().find(|o| o.id == speaker.id) {
            let volume = known.volume;
            *known = Output { volume, ..speaker };
            return true;
        }
        let speakers = list
            .iter()
            .filter(|o| !matches!(o.kind, "browser" | "local"))
            .count();
        if speakers >= MAX_SPEAKERS {
            return false;
        }
        list.push(speaker);
        true
    }

    /// A speaker announced itself again, unchanged.
    pub fn touch(&self, id: &str) {
        if let Some(o) = self.lock().iter_mut().find(|o| o.id == id) {
            o.last_seen = Some(crate::app::db::now());
        }
    }

    /// A speaker said goodbye or stopped answering: kept in the list, unavailable, with why.
    pub fn speaker_lost(&self, id: &str, why: &str) {
        if let Some(o) = self.lock().iter_mut().find(|o| o.id == id) {
            o.available = false;
            o.problem = Some(why.to_string());
        }
    }

    pub fn remove(&self, id: &str) {
        self.lock().retain(|o| o.id != id);
    }

    /// Puts the server's own sound card in the list (once; it follows the queue from then on).
    pub fn add_local(&self, local: local::Local) {
        let _ = self.local.set(local);
    }

    pub fn list(&self) -> Vec<Output> {
        let mut list = Vec::new();
        if let Some(local) = self.local.get() {
            let status = local.status();
            list.push(Output {
                id: local::ID.into(),
                name: "This server's sound card".into(),
                kind: "local",
                available: status.available,
                problem: (!status.available).then_some(status.detail),
                volume: 100,
                address: None,
                model: None,
                last_seen: None,
            });
        }
        list.extend(self.lock().iter().cloned());
        list
    }

    pub fn get(&self, id: &str) -> Option<Output> {
        self.list().into_iter().find(|o| o.id == id)
    }
}
