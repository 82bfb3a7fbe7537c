//! Outputs: where the household queue can play. The server's own sound card ([`local`]), and
//! browser players, which register over the queue's socket and live as long as it does. LAN
//! speakers join this list with the LAN work.

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
}

/// The longest player name kept.
const MAX_NAME: usize = 100;

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
        let name: String = name.trim().chars().take(MAX_NAME).collect();
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
        });
        id
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
            });
        }
        list.extend(self.lock().iter().cloned());
        list
    }

    pub fn get(&self, id: &str) -> Option<Output> {
        self.list().into_iter().find(|o| o.id == id)
    }
}
