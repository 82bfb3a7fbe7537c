//! Outputs: where the household queue can play. Today: browser players, which register over the
//! queue's socket and live as long as it does. The server's own sound card and LAN speakers join
//! this list with the rest of the queue work.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Output {
    pub id: String,
    pub name: String,
    /// `browser` (later also `local`, `upnp`, `googlecast`, `airplay`).
    pub kind: &'static str,
    pub available: bool,
    /// 0 to 100.
    pub volume: u8,
}

/// The longest player name kept.
const MAX_NAME: usize = 100;

#[derive(Default)]
pub struct Outputs {
    list: Mutex<Vec<Output>>,
    next: AtomicU64,
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
            volume: 100,
        });
        id
    }

    pub fn remove(&self, id: &str) {
        self.lock().retain(|o| o.id != id);
    }

    pub fn list(&self) -> Vec<Output> {
        self.lock().clone()
    }

    pub fn exists(&self, id: &str) -> bool {
        self.lock().iter().any(|o| o.id == id)
    }
}
