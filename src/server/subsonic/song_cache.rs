//! Song elements kept between requests, already written out.
//!
//! A page of 500 songs or a playlist of 1,000 spent most of its time on what only a scan
//! changes: each song's columns, credits and genres read from SQLite, the element built, then
//! written out as XML or JSON (about 8 us a song). This keeps the written text per song and
//! format, up to a memory budget (`song_cache`), so that such an answer is mostly copied; what
//! the calling user said about a song (stars, rating, plays) is still read and added per
//! request. Everything is dropped when the library's version changes (any scan), and nothing
//! read while a scan runs is kept.
//!
//! The budget is kept by two generations: new entries go to the young one; when it holds half
//! the budget, the old one is dropped and the young one becomes old. An entry found in the old
//! generation moves back to the young. That keeps what is asked for again without a per-entry
//! list to maintain, at up to the whole budget in use.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::response::Written;

/// Songs written out, by song id and format.
pub struct SongCache {
    /// Bytes of text kept at most; 0 keeps nothing.
    budget: usize,
    inner: Mutex<Generations>,
}

#[derive(Default)]
struct Generations {
    /// The library version the entries were read at.
    version: u64,
    young: HashMap<Key, Arc<Written>>,
    young_bytes: usize,
    old: HashMap<Key, Arc<Written>>,
}

/// A song id and whether its text is JSON (else XML).
type Key = (i64, bool);

/// What an entry costs besides its text: the map's slot, the `Arc` and the boxes.
const OVERHEAD: usize = 96;

impl SongCache {
    pub fn new(budget: u64) -> SongCache {
        SongCache {
            budget: usize::try_from(budget).unwrap_or(usize::MAX),
            inner: Mutex::new(Generations::default()),
        }
    }

    pub fn is_off(&self) -> bool {
        self.budget == 0
    }

    /// The kept text of each song in `ids` (in that order; `None` where there is none) as of
    /// the library's `version`. Entries of another version are dropped first.
    pub fn get(&self, version: u64, json: bool, ids: &[i64]) -> Vec<Option<Arc<Written>>> {
        if self.is_off() {
            return vec![None; ids.len()];
        }
        let mut guard = self.lock();
        let g = &mut *guard;
        g.forget_unless(version);
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            let key = (*id, json);
            let hit = match g.young.get(&key) {
                Some(w) => Some(w.clone()),
                None => g
                    .old
                    .remove(&key)
                    .inspect(|w| g.add(key, w.clone(), self.budget)),
            };
            found.push(hit);
        }
        found
    }

    /// Keeps songs written out from what the library said at `version`. The caller has checked
    /// that the library is still at that version after its reads.
    pub fn put(&self, version: u64, json: bool, written: Vec<(i64, Arc<Written>)>) {
        if self.is_off() || written.is_empty() {
            return;
        }
        let mut g = self.lock();
        g.forget_unless(version);
        for (id, w) in written {
            g.add((id, json), w, self.budget);
        }
    }

    /// Bytes of text kept now (both generations).
    #[cfg(test)]
    fn bytes(&self) -> usize {
        let g = self.lock();
        g.young_bytes + g.old.values().map(|w| cost(w)).sum::<usize>()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Generations> {
        // The maps stay whole when a holder panics (each step leaves them valid).
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn cost(w: &Written) -> usize {
    w.len() + OVERHEAD
}

impl Generations {
    fn forget_unless(&mut self, version: u64) {
        if self.version != version {
            *self = Generations {
                version,
                ..Generations::default()
            };
        }
    }

    fn add(&mut self, key: Key, w: Arc<Written>, budget: usize) {
        let size = cost(&w);
        if size > budget / 2 {
            return;
        }
        if self.young_bytes + size > budget / 2 {
            self.old = std::mem::take(&mut self.young);
            self.young_bytes = 0;
        }
        if let Some(before) = self.young.insert(key, w) {
            self.young_bytes -= cost(&before);
        }
        self.young_bytes += size;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::subsonic::response::{Format, Node};

    fn written(id: i64, pad: usize) -> Arc<Written> {
        Arc::new(
            Node::new()
                .attr("id", id)
                .attr("pad", "x".repeat(pad))
                .write_out(&Format::Json),
        )
    }

    #[test]
    fn keeps_what_it_is_given_per_format_and_version() {
        let cache = SongCache::new(1 << 20);
        cache.put(2, true, vec![(1, written(1, 10)), (2, written(2, 10))]);
        let got = cache.get(2, true, &[2, 3, 1]);
        assert!(got[0].is_some() && got[1].is_none() && got[2].is_some());
        // The other format is another entry.
        assert!(cache.get(2, false, &[1])[0].is_none());
        // A new library version drops everything.
        assert!(cache.get(4, true, &[1, 2]).iter().all(Option::is_none));
        assert_eq!(cache.bytes(), 0);
    }

    #[test]
    fn stays_within_its_budget_and_keeps_what_is_asked_for_again() {
        let budget = 64 * 1024;
        let cache = SongCache::new(budget);
        cache.put(0, true, vec![(0, written(0, 400))]);
        for id in 1..2_000 {
            cache.put(0, true, vec![(id, written(id, 400))]);
            // Song 0 is asked for all along: it stays.
            assert!(cache.get(0, true, &[0])[0].is_some(), "lost at {id}");
            assert!(cache.bytes() <= budget as usize, "{} bytes", cache.bytes());
        }
        // The first songs made room for the last ones.
        assert!(cache.get(0, true, &[1])[0].is_none());
        assert!(cache.get(0, true, &[1_999])[0].is_some());
    }

    #[test]
    fn off_keeps_nothing() {
        let cache = SongCache::new(0);
        cache.put(0, false, vec![(1, written(1, 1))]);
        assert!(cache.get(0, false, &[1])[0].is_none());
    }
}
