//! The library as recommendations see it: every present song with its credits, genres, year,
//! label and sound, held in memory with an index by artist, genre, album and label, so that a
//! "similar songs" or a radio page is a few thousand additions, not a dozen queries. Made from
//! the database, and made again in the background after a scan or when the sound analysis has
//! done more; until then the last one serves.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Result;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};

use super::analysis::VERSION as SOUND_VERSION;
use crate::app::db::Db;
use crate::app::library::Library;

/// Numbers in a sound summary ([`super::sound::Features::to_vec`]).
pub const DIMS: usize = 15;
/// How much each number counts in sound distances: the eight band energies together as much as
/// the seven other numbers, so the spectrum does not drown tempo and loudness.
const DIM_WEIGHTS: [f32; DIMS] = [
    1.5, 1.0, 0.7, 1.0, 0.8, 0.8, 0.7, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4, 0.4,
];
/// The sum of the squared weights: the expected squared distance between two songs picked at
/// random is twice this, so distances are scaled by it.
const WEIGHT_SQUARES: f32 = {
    let mut sum = 0.0;
    let mut d = 0;
    while d < DIMS {
        sum += DIM_WEIGHTS[d] * DIM_WEIGHTS[d];
        d += 1;
    }
    sum
};
/// How often a catalog may be made again because the sound analysis went on.
const REFRESH_FOR_SOUNDS: Duration = Duration::from_secs(300);

/// One present song.
#[derive(Debug, Clone)]
pub struct Song {
    pub id: i64,
    pub folder: i64,
    pub album: i64,
    pub title: Box<str>,
    /// Credited artists (the main one first; featured artists after).
    pub artists: Box<[i64]>,
    pub album_artists: Box<[i64]>,
    pub composers: Box<[i64]>,
    /// Other credits: lyricist, arranger, conductor, producer, performer, remixer...
    pub credits: Box<[i64]>,
    pub genres: Box<[i64]>,
    pub year: Option<i32>,
    pub label: Option<u32>,
    pub compilation: bool,
    pub duration_ms: i64,
}

impl Song {
    /// The artist that decides "not the same artist twice in a row".
    pub fn main_artist(&self) -> i64 {
        self.artists
            .first()
            .or(self.album_artists.first())
            .copied()
            .unwrap_or(-1)
    }
}

/// The snapshot.
#[derive(Default)]
pub struct Catalog {
    pub songs: Vec<Song>,
    /// Song id to its place in `songs`.
    pub place: HashMap<i64, u32>,
    /// Sound summaries, `DIMS` numbers per song, standardised over the library and weighted
    /// (`NaN` first number: not analysed).
    sounds: Vec<f32>,
    pub analysed: usize,
    pub by_artist: HashMap<i64, Vec<u32>>,
    pub by_composer: HashMap<i64, Vec<u32>>,
    pub by_credit: HashMap<i64, Vec<u32>>,
    pub by_genre: HashMap<i64, Vec<u32>>,
    pub by_album: HashMap<i64, Vec<u32>>,
    pub by_label: HashMap<u32, Vec<u32>>,
    pub artist_names: HashMap<i64, Box<str>>,
    pub genre_names: HashMap<i64, Box<str>>,
    pub labels: Vec<Box<str>>,
}

#[derive(QueryableByName)]
struct TrackRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = BigInt)]
    folder_id: i64,
    #[diesel(sql_type = BigInt)]
    album_id: i64,
    #[diesel(sql_type = Text)]
    title: String,
    #[diesel(sql_type = Nullable<Integer>)]
    year: Option<i32>,
    #[diesel(sql_type = Nullable<Text>)]
    label: Option<String>,
    #[diesel(sql_type = Bool)]
    compilation: bool,
    #[diesel(sql_type = BigInt)]
    duration_ms: i64,
}

#[derive(QueryableByName)]
struct CreditRow {
    #[diesel(sql_type = BigInt)]
    track_id: i64,
    #[diesel(sql_type = BigInt)]
    artist_id: i64,
    #[diesel(sql_type = Text)]
    role: String,
}

#[derive(QueryableByName)]
struct PairRow {
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
}

#[derive(QueryableByName)]
struct NameRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SoundRow {
    #[diesel(sql_type = BigInt)]
    track_id: i64,
    #[diesel(sql_type = Text)]
    features: String,
}

impl Catalog {
    /// Reads the present songs of enabled folders.
    pub fn load(db: &Db) -> Result<Catalog> {
        let mut conn = db.read()?;
        let rows: Vec<TrackRow> = diesel::sql_query(
            "SELECT t.id, t.folder_id, t.album_id, t.title, t.year, t.label, t.compilation,
                    t.duration_ms
             FROM tracks t JOIN music_folders f ON f.id = t.folder_id
             WHERE t.missing_since IS NULL AND f.enabled ORDER BY t.id",
        )
        .load(&mut conn)?;
        let mut cat = Catalog::default();
        let mut label_ids: HashMap<String, u32> = HashMap::new();
        let mut artists: Vec<Vec<i64>> = vec![Vec::new(); rows.len()];
        let mut album_artists = artists.clone();
        let mut composers = artists.clone();
        let mut credits = artists.clone();
        let mut genres = artists.clone();
        for (i, r) in rows.iter().enumerate() {
            cat.place.insert(r.id, i as u32);
        }
        let credit_rows: Vec<CreditRow> = diesel::sql_query(
            "SELECT track_id, artist_id, role FROM track_artists ORDER BY track_id, role, position",
        )
        .load(&mut conn)?;
        for c in credit_rows {
            let Some(&i) = cat.place.get(&c.track_id) else {
                continue;
            };
            let list = match c.role.as_str() {
                "artist" => &mut artists[i as usize],
                "albumartist" => &mut album_artists[i as usize],
                "composer" => &mut composers[i as usize],
                _ => &mut credits[i as usize],
            };
            if !list.contains(&c.artist_id) {
                list.push(c.artist_id);
            }
        }
        let genre_rows: Vec<PairRow> = diesel::sql_query(
            "SELECT track_id AS a, genre_id AS b FROM track_genres ORDER BY track_id, position",
        )
        .load(&mut conn)?;
        for g in genre_rows {
            if let Some(&i) = cat.place.get(&g.a) {
                genres[i as usize].push(g.b);
            }
        }
        for (i, r) in rows.into_iter().enumerate() {
            let label = r.label.filter(|l| !l.trim().is_empty()).map(|l| {
                let key = l.trim().to_lowercase();
                let next = label_ids.len() as u32;
                *label_ids.entry(key).or_insert_with(|| {
                    cat.labels.push(l.trim().into());
                    next
                })
            });
            cat.songs.push(Song {
                id: r.id,
                folder: r.folder_id,
                album: r.album_id,
                title: r.title.into(),
                artists: std::mem::take(&mut artists[i]).into(),
                album_artists: std::mem::take(&mut album_artists[i]).into(),
                composers: std::mem::take(&mut composers[i]).into(),
                credits: std::mem::take(&mut credits[i]).into(),
                genres: std::mem::take(&mut genres[i]).into(),
                year: r.year.filter(|y| *y > 0),
                label,
                compilation: r.compilation,
                duration_ms: r.duration_ms,
            });
        }
        for (i, s) in cat.songs.iter().enumerate() {
            let i = i as u32;
            for a in s.artists.iter().chain(s.album_artists.iter()) {
                let list = cat.by_artist.entry(*a).or_default();
                if list.last() != Some(&i) {
                    list.push(i);
                }
            }
            for a in s.composers.iter() {
                cat.by_composer.entry(*a).or_default().push(i);
            }
            for a in s.credits.iter() {
                cat.by_credit.entry(*a).or_default().push(i);
            }
            for g in s.genres.iter() {
                cat.by_genre.entry(*g).or_default().push(i);
            }
            cat.by_album.entry(s.album).or_default().push(i);
            if let Some(l) = s.label {
                cat.by_label.entry(l).or_default().push(i);
            }
        }
        let names: Vec<NameRow> =
            diesel::sql_query("SELECT id, name FROM artists").load(&mut conn)?;
        cat.artist_names = names.into_iter().map(|n| (n.id, n.name.into())).collect();
        let names: Vec<NameRow> =
            diesel::sql_query("SELECT id, name FROM genres").load(&mut conn)?;
        cat.genre_names = names.into_iter().map(|n| (n.id, n.name.into())).collect();
        let sounds: Vec<SoundRow> = diesel::sql_query(
            "SELECT track_id, features FROM track_sounds WHERE version = ? AND features IS NOT NULL",
        )
        .bind::<Integer, _>(SOUND_VERSION)
        .load(&mut conn)?;
        cat.set_sounds(sounds.into_iter().filter_map(|s| {
            let v: Vec<f32> = serde_json::from_str(&s.features).ok()?;
            (v.len() == DIMS && v.iter().all(|x| x.is_finite())).then_some((s.track_id, v))
        }));
        Ok(cat)
    }

    /// Stores the sound summaries standardised (each number minus its library mean, over its
    /// spread) and weighted, so that a distance treats every number alike.
    fn set_sounds(&mut self, raw: impl Iterator<Item = (i64, Vec<f32>)>) {
        self.sounds = vec![f32::NAN; self.songs.len() * DIMS];
        let mut sum = [0f64; DIMS];
        let mut sq = [0f64; DIMS];
        let mut n = 0usize;
        for (id, v) in raw {
            let Some(&i) = self.place.get(&id) else {
                continue;
            };
            let at = i as usize * DIMS;
            for d in 0..DIMS {
                // Tempo halves and doubles are the usual error: compare on a log scale.
                let x = if d == 0 { v[d].max(1.0).log2() } else { v[d] };
                self.sounds[at + d] = x;
                sum[d] += x as f64;
                sq[d] += (x as f64) * (x as f64);
            }
            n += 1;
        }
        self.analysed = n;
        if n == 0 {
            return;
        }
        let mut mean = [0f32; DIMS];
        let mut scale = [0f32; DIMS];
        for d in 0..DIMS {
            let m = sum[d] / n as f64;
            let var = (sq[d] / n as f64 - m * m).max(0.0);
            mean[d] = m as f32;
            let sd = var.sqrt() as f32;
            scale[d] = if sd > 1e-6 { DIM_WEIGHTS[d] / sd } else { 0.0 };
        }
        for chunk in self.sounds.chunks_mut(DIMS) {
            if chunk[0].is_nan() {
                continue;
            }
            for d in 0..DIMS {
                chunk[d] = (chunk[d] - mean[d]) * scale[d];
            }
        }
    }

    pub fn song(&self, id: i64) -> Option<&Song> {
        self.place.get(&id).map(|&i| &self.songs[i as usize])
    }

    /// The song's standardised sound, if it was analysed.
    pub fn sound(&self, i: u32) -> Option<&[f32]> {
        let at = i as usize * DIMS;
        let s = self.sounds.get(at..at + DIMS)?;
        (!s[0].is_nan()).then_some(s)
    }

    /// How alike two sounds are, from 1 (the same) down toward 0; two songs picked at random
    /// are about 0.37 apart.
    pub fn sound_likeness(a: &[f32], b: &[f32]) -> f32 {
        let d2: f32 = a.iter().zip(b).map(|(x, y)| (x - y) * (x - y)).sum();
        (-d2 / WEIGHT_SQUARES).exp()
    }

    /// Every analysed song as (place, sound), for scans.
    pub fn sounds(&self) -> impl Iterator<Item = (u32, &[f32])> {
        self.sounds
            .chunks(DIMS)
            .enumerate()
            .filter(|(_, s)| !s[0].is_nan())
            .map(|(i, s)| (i as u32, s))
    }

    /// Memory held by the sound summaries, in bytes.
    pub fn sound_bytes(&self) -> usize {
        self.sounds.len() * std::mem::size_of::<f32>()
    }

    pub fn artist_name(&self, id: i64) -> &str {
        self.artist_names.get(&id).map(|n| &**n).unwrap_or("?")
    }

    pub fn genre_name(&self, id: i64) -> &str {
        self.genre_names.get(&id).map(|n| &**n).unwrap_or("?")
    }
}

/// What the current catalog was made from.
struct Made {
    scans: u64,
    sound_rows: i64,
    /// When the sound analysis's progress was last looked at (at most every
    /// [`REFRESH_FOR_SOUNDS`]: counting rows is not free at 100k tracks).
    looked: Instant,
}

/// The current catalog, made again in the background when the library changed.
pub struct Catalogs {
    db: Arc<Db>,
    library: Arc<Library>,
    current: RwLock<Option<Arc<Catalog>>>,
    made: Mutex<Made>,
    building: Arc<AtomicBool>,
    /// Held while a catalog is made: one at a time.
    one_build: Mutex<()>,
}

impl Catalogs {
    pub fn new(db: Arc<Db>, library: Arc<Library>) -> Catalogs {
        Catalogs {
            db,
            library,
            current: RwLock::new(None),
            made: Mutex::new(Made {
                scans: 0,
                sound_rows: 0,
                looked: Instant::now(),
            }),
            building: Arc::new(AtomicBool::new(false)),
            one_build: Mutex::new(()),
        }
    }

    fn sound_rows(db: &Db) -> Option<i64> {
        #[derive(QueryableByName)]
        struct N {
            #[diesel(sql_type = BigInt)]
            n: i64,
        }
        db.read()
            .ok()
            .and_then(|mut c| {
                diesel::sql_query("SELECT COUNT(*) AS n FROM track_sounds")
                    .get_result::<N>(&mut c)
                    .ok()
            })
            .map(|n| n.n)
    }

    /// The catalog: the first call makes it; later calls get the last one made, and start a
    /// new one in the background if the library changed since.
    pub fn get(self: &Arc<Self>) -> Result<Arc<Catalog>> {
        let current = self
            .current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let Some(current) = current else {
            // The first: made here, once (callers arriving meanwhile wait for it).
            let _one = self.one_build.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(made) = self
                .current
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
            {
                return Ok(made);
            }
            return self.make();
        };
        let (scanned, look) = {
            let mut made = self.made.lock().unwrap_or_else(|p| p.into_inner());
            let look = made.looked.elapsed() >= REFRESH_FOR_SOUNDS;
            if look {
                made.looked = Instant::now();
            }
            (made.scans != self.library.scans_done(), look)
        };
        // Counted outside the lock: it is a query.
        let analysed = look && {
            let rows = Self::sound_rows(&self.db);
            rows.is_some_and(|n| {
                n != self
                    .made
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .sound_rows
            })
        };
        if (scanned || analysed) && !self.building.swap(true, Ordering::SeqCst) {
            let me = self.clone();
            let started = std::thread::Builder::new()
                .name("reco-catalog".into())
                .spawn(move || {
                    // Cleared however the build ends, a panic included.
                    struct Done<'a>(&'a AtomicBool);
                    impl Drop for Done<'_> {
                        fn drop(&mut self) {
                            self.0.store(false, Ordering::SeqCst);
                        }
                    }
                    let _done = Done(&me.building);
                    if let Err(e) = me.build() {
                        tracing::warn!("recommendations keep the previous library view: {e:#}");
                    }
                });
            if started.is_err() {
                self.building.store(false, Ordering::SeqCst);
            }
        }
        Ok(current)
    }

    /// Makes the catalog now, one build at a time (used when there is none yet, in the
    /// background after a change, and by tests and benches).
    pub fn build(&self) -> Result<Arc<Catalog>> {
        let _one = self.one_build.lock().unwrap_or_else(|p| p.into_inner());
        self.make()
    }

    fn make(&self) -> Result<Arc<Catalog>> {
        let scans = self.library.scans_done();
        let sounds = Self::sound_rows(&self.db);
        let cat = Arc::new(Catalog::load(&self.db)?);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some(cat.clone());
        *self.made.lock().unwrap_or_else(|p| p.into_inner()) = Made {
            scans,
            sound_rows: sounds.unwrap_or(0),
            looked: Instant::now(),
        };
        Ok(cat)
    }
}
