//! The transcode cache: finished transcodes kept on disk, bounded in bytes, the least recently
//! used removed first. A second play, or a seek in a cached stream, is then a plain file.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

struct Entry {
    size: u64,
    used: u64,
}

struct Index {
    entries: HashMap<String, Entry>,
    total: u64,
    clock: u64,
}

pub struct Cache {
    dir: PathBuf,
    max_bytes: u64,
    index: Mutex<Index>,
}

impl Cache {
    /// Opens the cache in `dir`, forgetting half-written files from a previous run.
    pub fn open(dir: PathBuf, max_bytes: u64) -> Cache {
        let mut found: Vec<(String, u64, std::time::SystemTime)> = Vec::new();
        if max_bytes > 0 {
            let _ = fs::create_dir_all(&dir);
        }
        if let Ok(list) = fs::read_dir(&dir) {
            for entry in list.flatten() {
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.ends_with(".part") {
                    let _ = fs::remove_file(entry.path());
                    continue;
                }
                if let Ok(meta) = entry.metadata() {
                    let when = meta.modified().unwrap_or(std::time::UNIX_EPOCH);
                    found.push((name, meta.len(), when));
                }
            }
        }
        // Older files count as less recently used.
        found.sort_by_key(|f| f.2);
        let mut index = Index {
            entries: HashMap::new(),
            total: 0,
            clock: 0,
        };
        for (name, size, _) in found {
            index.clock += 1;
            index.total += size;
            index.entries.insert(
                name,
                Entry {
                    size,
                    used: index.clock,
                },
            );
        }
        let cache = Cache {
            dir,
            max_bytes,
            index: Mutex::new(index),
        };
        cache.evict(&mut cache.lock());
        cache
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn enabled(&self) -> bool {
        self.max_bytes > 0
    }

    /// The cached file named `name`, marked as just used.
    pub fn get(&self, name: &str) -> Option<PathBuf> {
        let mut index = self.lock();
        index.clock += 1;
        let clock = index.clock;
        let entry = index.entries.get_mut(name)?;
        entry.used = clock;
        let path = self.dir.join(name);
        if path.exists() {
            Some(path)
        } else {
            let size = entry.size;
            index.entries.remove(name);
            index.total -= size;
            None
        }
    }

    /// Where to write a new entry before it is complete.
    pub fn part_path(&self, name: &str) -> PathBuf {
        self.dir
            .join(format!("{name}.{}.part", rand::random::<u32>()))
    }

    /// Adopts a complete file written at `part` as `name`, then trims the cache to its bound.
    pub fn insert(&self, name: &str, part: &Path) {
        let size = match fs::metadata(part) {
            Ok(m) => m.len(),
            Err(_) => return,
        };
        if size > self.max_bytes || fs::rename(part, self.dir.join(name)).is_err() {
            let _ = fs::remove_file(part);
            return;
        }
        let mut index = self.lock();
        index.clock += 1;
        let used = index.clock;
        if let Some(old) = index.entries.insert(name.to_string(), Entry { size, used }) {
            index.total -= old.size;
        }
        index.total += size;
        self.evict(&mut index);
    }

    fn evict(&self, index: &mut Index) {
        while index.total > self.max_bytes {
            let Some(oldest) = index
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(n, _)| n.clone())
            else {
                break;
            };
            if let Some(e) = index.entries.remove(&oldest) {
                index.total -= e.size;
                let _ = fs::remove_file(self.dir.join(&oldest));
            }
        }
    }

    /// Bytes held now.
    pub fn size(&self) -> u64 {
        self.lock().total
    }
}
