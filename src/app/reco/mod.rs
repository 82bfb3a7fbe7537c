//! Recommendations (issue 8), from what can be known at home: the library's tags, the sound of
//! the music, and the household's listening. `sound` summarises a song's sound and `analysis`
//! makes that summary for every track in the background; `history` keeps who played what;
//! `catalog` holds the library in memory for ranking; `engine` ranks. [`Reco`] answers in ids,
//! for the Subsonic handlers, the native API and autoplay.

pub mod analysis;
pub mod catalog;
pub mod engine;
pub mod follow;
pub mod history;
pub mod sound;

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use anyhow::Result;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::app::db::{now, Db};
use crate::app::library::browse::Scope;
use crate::app::library::Library;
use catalog::{Catalog, Catalogs};
use engine::{Affinity, Pick, Why};
use history::{Listening, Taste};

/// What a recommendation starts from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Seed {
    Song(i64),
    Album(i64),
    Artist(i64),
    /// Several songs (autoplay: what the queue played last).
    Songs(Vec<i64>),
}

/// A recommended song and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Suggestion {
    pub song: i64,
    pub why: String,
    pub score: f32,
}

/// A recommended artist or album and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Related {
    pub id: i64,
    pub why: String,
    pub score: f32,
}

/// A mix: songs that follow one strand of a user's taste.
#[derive(Debug, Clone, PartialEq)]
pub struct Mix {
    /// Stable for the day (`mix-1`...).
    pub id: String,
    pub name: String,
    pub about: String,
    pub songs: Vec<Suggestion>,
}

/// (user, day, scope) of a day's mixes.
type MixesKey = (i64, i64, String);
/// A strand of a user's taste: a genre (true, genre id) or, for songs without one, an artist.
type StrandKey = (bool, i64);
/// A strand's weight and its songs with theirs.
type Strand = (f32, Vec<(u32, f32)>);

/// Songs in a mix.
pub const MIX_LENGTH: usize = 25;
/// Mixes made for one user.
const MIXES: usize = 4;
/// A mix's strand has at least this share of the main strand's weight.
const MIN_STRAND_SHARE: f32 = 0.15;
/// Seeds taken from an album or an artist.
const MAX_SEEDS: usize = 50;

pub struct Reco {
    db: Arc<Db>,
    pub listening: Arc<Listening>,
    catalogs: Arc<Catalogs>,
    /// Mixes of the day, by (user, day, scope).
    mixes: Mutex<HashMap<MixesKey, Arc<Vec<Mix>>>>,
    /// Whether the household queue goes on with radio at its end ([`follow`]).
    autoplay: AtomicBool,
    /// By user: (taste, catalog) it was made from, and the affinity.
    #[allow(clippy::type_complexity)]
    affinities: Mutex<HashMap<i64, (Weak<Taste>, Weak<Catalog>, Arc<Affinity>)>>,
}

fn rng_for(parts: impl Hash) -> StdRng {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    StdRng::seed_from_u64(h.finish())
}

fn suggestions(cat: &Catalog, picks: &[Pick]) -> Vec<Suggestion> {
    picks
        .iter()
        .map(|p| Suggestion {
            song: cat.songs[p.place as usize].id,
            why: p.why.text(cat),
            score: p.score,
        })
        .collect()
}

impl Reco {
    pub fn new(db: Arc<Db>, library: Arc<Library>) -> Reco {
        Reco {
            db: db.clone(),
            listening: Arc::new(Listening::new(db.clone())),
            catalogs: Arc::new(Catalogs::new(db, library)),
            mixes: Mutex::new(HashMap::new()),
            autoplay: AtomicBool::new(false),
            affinities: Mutex::new(HashMap::new()),
        }
    }

    pub fn autoplay(&self) -> bool {
        self.autoplay.load(Ordering::SeqCst)
    }

    pub fn set_autoplay(&self, on: bool) {
        self.autoplay.store(on, Ordering::SeqCst);
    }

    pub fn db(&self) -> &Arc<Db> {
        &self.db
    }

    /// The library as recommendations see it (made on first use).
    pub fn catalog(&self) -> Result<Arc<Catalog>> {
        self.catalogs.get()
    }

    /// Makes the catalog again now (after a scan, in tests and benches).
    pub fn refresh(&self) -> Result<()> {
        self.catalogs.build()?;
        self.mixes.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// The user's affinity for artists and genres, made again when their taste or the
    /// catalog changed.
    fn affinity(&self, cat: &Arc<Catalog>, taste: &Arc<Taste>) -> Arc<Affinity> {
        let mut cache = self.affinities.lock().unwrap_or_else(|p| p.into_inner());
        // Weak references: what they point to cannot be reused by another taste or catalog
        // while they are held, so equal pointers mean the same ones.
        if let Some((t, c, a)) = cache.get(&taste.user) {
            if std::ptr::eq(t.as_ptr(), Arc::as_ptr(taste))
                && std::ptr::eq(c.as_ptr(), Arc::as_ptr(cat))
            {
                return a.clone();
            }
        }
        let a = Arc::new(Affinity::of(cat, taste));
        cache.insert(
            taste.user,
            (Arc::downgrade(taste), Arc::downgrade(cat), a.clone()),
        );
        a
    }

    fn taste(&self, user: Option<i64>) -> Result<Option<Arc<Taste>>> {
        user.map(|u| self.listening.taste(u)).transpose()
    }

    /// The songs a seed stands for, in scope (an album's or artist's songs, at most
    /// [`MAX_SEEDS`] spread over them).
    fn seeds(cat: &Catalog, seed: &Seed, scope: &Scope) -> Vec<u32> {
        let list: Vec<u32> = match seed {
            Seed::Song(id) => engine::places(cat, &[*id], scope),
            Seed::Songs(ids) => engine::places(cat, ids, scope),
            Seed::Album(id) => cat.by_album.get(id).cloned().unwrap_or_default(),
            Seed::Artist(id) => cat.by_artist.get(id).cloned().unwrap_or_default(),
        };
        let list: Vec<u32> = list
            .into_iter()
            .filter(|i| scope.allows(cat.songs[*i as usize].folder))
            .collect();
        if list.len() <= MAX_SEEDS {
            return list;
        }
        let step = list.len() as f64 / MAX_SEEDS as f64;
        (0..MAX_SEEDS)
            .map(|k| list[(k as f64 * step) as usize])
            .collect()
    }

    /// Everything that shares something with the seeds, best first, for `user`.
    fn ranked(
        &self,
        cat: &Arc<Catalog>,
        seeds: &[u32],
        taste: Option<&Arc<Taste>>,
        scope: &Scope,
    ) -> Result<Vec<Pick>> {
        let ids: Vec<i64> = seeds.iter().map(|i| cat.songs[*i as usize].id).collect();
        let together = self.listening.played_with(&ids)?;
        let mut picks = engine::score(cat, seeds, &together, scope);
        engine::raise_popular(cat, &mut picks, &*self.listening.popularity()?);
        let affinity = taste.map(|t| self.affinity(cat, t));
        engine::personalise(cat, &mut picks, taste.map(|t| &**t), affinity.as_deref());
        Ok(picks)
    }

    /// Everything like the seed, ranked for `user`, with the catalog it came from; `None` for a
    /// seed with no songs the user can see.
    fn ranked_from(
        &self,
        user: Option<i64>,
        seed: &Seed,
        scope: &Scope,
    ) -> Result<Option<(Arc<Catalog>, Vec<Pick>)>> {
        let cat = self.catalog()?;
        let seeds = Self::seeds(&cat, seed, scope);
        if seeds.is_empty() {
            return Ok(None);
        }
        let taste = self.taste(user)?;
        let picks = self.ranked(&cat, &seeds, taste.as_ref(), scope)?;
        Ok(Some((cat, picks)))
    }

    /// The songs most like the seed, best first, no artist twice in a row (Subsonic's
    /// getSimilarSongs). Unknown seeds give an empty list.
    pub fn similar_songs(
        &self,
        user: Option<i64>,
        seed: &Seed,
        count: usize,
        scope: &Scope,
    ) -> Result<Vec<Suggestion>> {
        let Some((cat, picks)) = self.ranked_from(user, seed, scope)? else {
            return Ok(Vec::new());
        };
        Ok(suggestions(&cat, &engine::best_varied(&cat, &picks, count)))
    }

    /// A page of radio from the seed: a varied draw from everything like it, the `exclude`d
    /// songs (what the radio already gave) left out. Never runs dry while the library has
    /// songs left: when the seed's neighbourhood is used up it widens from the best of what it
    /// found, then takes anything. A song's radio starts with that song. `nonce` varies the
    /// draw (the same nonce gives the same page).
    pub fn radio(
        &self,
        user: Option<i64>,
        seed: &Seed,
        count: usize,
        exclude: &HashSet<i64>,
        scope: &Scope,
        nonce: u64,
    ) -> Result<Vec<Suggestion>> {
        let cat = self.catalog()?;
        let seeds = Self::seeds(&cat, seed, scope);
        if seeds.is_empty() || count == 0 {
            return Ok(Vec::new());
        }
        let taste_arc = self.taste(user)?;
        let taste = taste_arc.as_deref();
        let mut rng = rng_for((seed, user, exclude.len(), nonce));
        let keep = |p: &Pick| !exclude.contains(&cat.songs[p.place as usize].id);
        let near = self.ranked(&cat, &seeds, taste_arc.as_ref(), scope)?;
        let mut picks: Vec<Pick> = near.iter().filter(|p| keep(p)).cloned().collect();
        if picks.len() < count * 3 {
            // Widen: the best of what was found become seeds too; when everything near was
            // given already, the seeds' own best neighbours.
            let mut wider: Vec<u32> = seeds.clone();
            let best = if picks.is_empty() { &near } else { &picks };
            wider.extend(best.iter().take(5).map(|p| p.place));
            let known: HashSet<u32> = picks.iter().map(|p| p.place).collect();
            let seed_set: HashSet<u32> = seeds.iter().copied().collect();
            for mut p in self.ranked(&cat, &wider, taste_arc.as_ref(), scope)? {
                if !known.contains(&p.place) && !seed_set.contains(&p.place) && keep(&p) {
                    p.score *= 0.5;
                    picks.push(p);
                }
            }
        }
        if picks.len() < count {
            let known: HashSet<u32> = picks.iter().map(|p| p.place).collect();
            let rejected = |p: &Pick| {
                taste.is_some_and(|t| t.rejected.contains(&cat.songs[p.place as usize].id))
            };
            let seed_set: HashSet<u32> = seeds.iter().copied().collect();
            let wanted = |i: u32| {
                let p = Pick {
                    place: i,
                    score: 0.0,
                    why: Why::Anything,
                };
                !known.contains(&i) && !seed_set.contains(&i) && keep(&p) && !rejected(&p)
            };
            picks.extend(engine::anything(&cat, count, scope, wanted, &mut rng));
        }
        let mut out = Vec::with_capacity(count);
        if let Seed::Song(id) = seed {
            if !exclude.contains(id) {
                out.push(Pick {
                    place: seeds[0],
                    score: 1.0,
                    why: Why::Seed,
                });
            }
        }
        let want = count - out.len();
        out.extend(engine::draw(&cat, &picks, want, taste, &mut rng));
        let out = engine::no_artist_twice(&cat, out);
        Ok(suggestions(&cat, &out))
    }

    /// Artists most like `artist` (by their songs), best first.
    pub fn similar_artists(
        &self,
        user: Option<i64>,
        artist: i64,
        count: usize,
        scope: &Scope,
    ) -> Result<Vec<Related>> {
        self.related(user, &Seed::Artist(artist), count, scope, |s| {
            let mut people: Vec<i64> = s.artists.to_vec();
            if !s.compilation {
                people.extend(s.album_artists.iter().copied());
            }
            people.sort_unstable();
            people.dedup();
            people.retain(|a| *a != artist);
            people
        })
    }

    /// Albums most like `album` ("more like this album"), best first.
    pub fn similar_albums(
        &self,
        user: Option<i64>,
        album: i64,
        count: usize,
        scope: &Scope,
    ) -> Result<Vec<Related>> {
        self.related(user, &Seed::Album(album), count, scope, |s| {
            if s.album == album {
                Vec::new()
            } else {
                vec![s.album]
            }
        })
    }

    /// Items (artists, albums: `items_of` a song) ranked by their three best songs among
    /// those most like the seed, with the reason of the best.
    fn related(
        &self,
        user: Option<i64>,
        seed: &Seed,
        count: usize,
        scope: &Scope,
        items_of: impl Fn(&catalog::Song) -> Vec<i64>,
    ) -> Result<Vec<Related>> {
        let Some((cat, picks)) = self.ranked_from(user, seed, scope)? else {
            return Ok(Vec::new());
        };
        let mut by: HashMap<i64, (Vec<f32>, Why)> = HashMap::new();
        for p in &picks {
            for item in items_of(&cat.songs[p.place as usize]) {
                let e = by
                    .entry(item)
                    .or_insert_with(|| (Vec::new(), p.why.clone()));
                if e.0.len() < 3 {
                    e.0.push(p.score);
                }
            }
        }
        Ok(top_related(&cat, by, count))
    }

    /// Today's mixes for `user`: each follows one strand of their taste (the genres, or
    /// artists, they played lately and loved), and is the same all day. Without any history,
    /// mixes from the library's biggest genres.
    pub fn mixes(&self, user: i64, scope: &Scope) -> Result<Arc<Vec<Mix>>> {
        let day = now().div_euclid(86_400);
        let key = (user, day, format!("{scope:?}"));
        if let Some(m) = self
            .mixes
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(m.clone());
        }
        let mixes = Arc::new(self.make_mixes(user, day, scope)?);
        let mut cache = self.mixes.lock().unwrap_or_else(|p| p.into_inner());
        cache.retain(|k, _| k.1 == day);
        cache.insert(key, mixes.clone());
        Ok(mixes)
    }

    fn make_mixes(&self, user: i64, day: i64, scope: &Scope) -> Result<Vec<Mix>> {
        let cat = self.catalog()?;
        let taste = self.listening.taste(user)?;
        let t = now();
        // Each song the user played or loved, weighted by how lately.
        let mut weight: HashMap<u32, f32> = HashMap::new();
        for (id, at) in &taste.recent {
            if let Some(&i) = cat.place.get(id) {
                let age_days = ((t - at).max(0) as f32) / 86_400.0;
                *weight.entry(i).or_default() += (-age_days / 30.0).exp();
            }
        }
        for id in &taste.loved {
            if let Some(&i) = cat.place.get(id) {
                *weight.entry(i).or_default() += 1.0;
            }
        }
        weight.retain(|i, _| scope.allows(cat.songs[*i as usize].folder));
        // Strands: the first genre of each song, or its artist when it has none.
        let mut strands: HashMap<StrandKey, Strand> = HashMap::new();
        for (&i, &w) in &weight {
            let s = &cat.songs[i as usize];
            let key = match s.genres.first() {
                Some(g) => (true, *g),
                None => (false, s.main_artist()),
            };
            let e = strands.entry(key).or_default();
            e.0 += w;
            e.1.push((i, w));
        }
        let mut strands: Vec<(StrandKey, Strand)> = strands.into_iter().collect();
        strands.sort_by(|a, b| b.1 .0.total_cmp(&a.1 .0).then(a.0.cmp(&b.0)));
        let mut mixes = Vec::new();
        let fresh = strands.is_empty();
        if fresh {
            // No history: the biggest genres of the library, from a few of their songs.
            let mut genres: Vec<(&i64, usize)> = cat
                .by_genre
                .iter()
                .map(|(g, l)| {
                    (
                        g,
                        l.iter()
                            .filter(|i| scope.allows(cat.songs[**i as usize].folder))
                            .count(),
                    )
                })
                .filter(|(_, n)| *n > 0)
                .collect();
            genres.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
            let mut rng = rng_for((user, day, "start"));
            for (g, _) in genres.into_iter().take(MIXES) {
                let songs: Vec<u32> = cat.by_genre[g]
                    .iter()
                    .copied()
                    .filter(|i| scope.allows(cat.songs[*i as usize].folder))
                    .collect();
                let seeds: Vec<(u32, f32)> = (0..10.min(songs.len()))
                    .map(|_| {
                        (
                            songs[rand::Rng::random_range(&mut rng, 0..songs.len())],
                            1.0,
                        )
                    })
                    .collect();
                strands.push(((true, *g), (1.0, seeds)));
            }
        }
        let heaviest = strands.first().map(|s| s.1 .0).unwrap_or(0.0);
        for (k, ((is_genre, key), (weight, mut songs))) in
            strands.into_iter().take(MIXES).enumerate()
        {
            songs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            songs.dedup_by_key(|s| s.0);
            // A strand is a real part of their listening, not a song or two they let play.
            if k > 0 && (songs.len() < 3 || weight < heaviest * MIN_STRAND_SHARE) {
                continue;
            }
            let seeds: Vec<u32> = songs.iter().take(10).map(|s| s.0).collect();
            let mut picks = self.ranked(&cat, &seeds, Some(&taste), scope)?;
            // The strand's own songs belong in it too: they are what it is made of. They rank
            // with the best of what is like them, the most played highest.
            let top = picks.first().map(|p| p.score).unwrap_or(1.0);
            let heaviest = songs.first().map(|s| s.1).unwrap_or(1.0).max(1e-6);
            for (i, w) in songs.iter().take(15) {
                if taste.rejected.contains(&cat.songs[*i as usize].id) {
                    continue;
                }
                let score = top * (0.6 + 0.4 * w / heaviest);
                match picks.iter_mut().find(|p| p.place == *i) {
                    Some(p) => {
                        if p.score < score {
                            p.score = score;
                            p.why = Why::Taste;
                        }
                    }
                    None => picks.push(Pick {
                        place: *i,
                        score,
                        why: Why::Taste,
                    }),
                }
            }
            let mut rng = rng_for((user, day, k));
            let chosen = engine::draw(&cat, &picks, MIX_LENGTH, Some(&taste), &mut rng);
            let mut artists: Vec<i64> = Vec::new();
            for (i, _) in &songs {
                let a = cat.songs[*i as usize].main_artist();
                if !artists.contains(&a) && artists.len() < 3 {
                    artists.push(a);
                }
            }
            let names: Vec<&str> = artists.iter().map(|a| cat.artist_name(*a)).collect();
            let (name, about) = if is_genre {
                let g = cat.genre_name(key);
                if fresh {
                    (
                        format!("{g} mix"),
                        "from your library's {g}: play music and mixes follow your taste"
                            .replace("{g}", g),
                    )
                } else {
                    (format!("{g} mix"), format!("with {}", names.join(", ")))
                }
            } else {
                (
                    format!("{} and more", cat.artist_name(key)),
                    format!("with {}", names.join(", ")),
                )
            };
            mixes.push(Mix {
                id: format!("mix-{}", mixes.len() + 1),
                name,
                about,
                songs: suggestions(&cat, &chosen),
            });
        }
        Ok(mixes)
    }

    /// Songs that sound most like `song`, with their likeness (1: the same, toward 0: nothing
    /// alike). A song without a sound summary gets its tag-based neighbours, their likeness
    /// capped at 0.5 to say it is a guess.
    pub fn sonic_similar(&self, song: i64, count: usize, scope: &Scope) -> Result<Vec<(i64, f32)>> {
        let cat = self.catalog()?;
        let Some(&i) = cat.place.get(&song) else {
            return Ok(Vec::new());
        };
        let Some(me) = cat.sound(i) else {
            let picks = self.ranked(&cat, &[i], None, scope)?;
            let top = picks.first().map(|p| p.score).unwrap_or(1.0).max(1e-6);
            return Ok(engine::best_varied(&cat, &picks, count)
                .into_iter()
                .map(|p| (cat.songs[p.place as usize].id, 0.5 * p.score / top))
                .collect());
        };
        let mut near = engine::nearest(&cat, me, count + 1);
        near.retain(|j| *j != i && scope.allows(cat.songs[*j as usize].folder));
        if near.len() < count {
            // Out-of-scope songs took places: look further.
            near = engine::nearest(&cat, me, count * 4 + 8);
            near.retain(|j| *j != i && scope.allows(cat.songs[*j as usize].folder));
        }
        near.truncate(count);
        Ok(near
            .into_iter()
            .map(|j| {
                let like = cat.sound(j).map(|s| Catalog::sound_likeness(me, s));
                (cat.songs[j as usize].id, like.unwrap_or(0.0))
            })
            .collect())
    }

    /// A path of at most `count` songs from `from` to `to`, each step the unused song nearest
    /// the point that far along the straight line between their sounds; with the likeness of
    /// each to the first. Without sound summaries for both ends: the first half of the way
    /// from `from`'s neighbours by tags, the second from `to`'s, each said to be 0.5 alike (a
    /// guess). From a song to itself, the path is that song.
    pub fn sonic_path(
        &self,
        from: i64,
        to: i64,
        count: usize,
        scope: &Scope,
    ) -> Result<Vec<(i64, f32)>> {
        let cat = self.catalog()?;
        let (Some(&a), Some(&b)) = (cat.place.get(&from), cat.place.get(&to)) else {
            return Ok(Vec::new());
        };
        if a == b {
            return Ok(vec![(from, 1.0)]);
        }
        let count = count.max(2);
        let mut used: HashSet<u32> = [a, b].into_iter().collect();
        let mut path = vec![a];
        match (cat.sound(a), cat.sound(b)) {
            (Some(sa), Some(sb)) => {
                let steps = count - 2;
                for k in 1..=steps {
                    let t = k as f32 / (steps + 1) as f32;
                    let target: Vec<f32> =
                        sa.iter().zip(sb).map(|(x, y)| x + (y - x) * t).collect();
                    let pick = engine::nearest(&cat, &target, steps + 3)
                        .into_iter()
                        .find(|j| !used.contains(j) && scope.allows(cat.songs[*j as usize].folder));
                    if let Some(j) = pick {
                        used.insert(j);
                        path.push(j);
                    }
                }
            }
            _ => {
                let half = (count - 2) / 2;
                for (seed, n) in [(a, half), (b, count - 2 - half)] {
                    let picks = self.ranked(&cat, &[seed], None, scope)?;
                    let mut part: Vec<u32> = Vec::new();
                    for p in picks {
                        if part.len() >= n {
                            break;
                        }
                        if used.insert(p.place) {
                            part.push(p.place);
                        }
                    }
                    if seed == b {
                        part.reverse();
                    }
                    path.extend(part);
                }
            }
        }
        path.push(b);
        let start = cat.sound(a);
        Ok(path
            .into_iter()
            .map(|i| {
                let like = match (start, cat.sound(i)) {
                    _ if i == a => 1.0,
                    (Some(x), Some(y)) => Catalog::sound_likeness(x, y),
                    // Not analysed: a guess, as for `sonic_similar`.
                    _ => 0.5,
                };
                (cat.songs[i as usize].id, like)
            })
            .collect())
    }
}

fn top_related(cat: &Catalog, by: HashMap<i64, (Vec<f32>, Why)>, count: usize) -> Vec<Related> {
    let mut list: Vec<Related> = by
        .into_iter()
        .map(|(id, (scores, why))| Related {
            id,
            why: why.text(cat),
            score: scores.iter().sum::<f32>() / 3.0,
        })
        .collect();
    list.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
    list.truncate(count);
    list
}
