//! How alike songs are, and what to play: similar songs, radio, mixes, similar artists and
//! albums, and paths through sound. Every answer is built from three signals, each optional:
//! the library's tags (shared artists, composers and credits, genres, years, label), how the
//! household listens (songs played in one session go together), and the sound summaries. A
//! library without history or analysis still gets answers from its tags.
//!
//! For a user, what they skipped lately or rated 1 star is left out, loved songs rank higher,
//! one artist never plays twice in a row, and songs they know are mixed with songs they rarely
//! or never played.

use std::collections::{HashMap, HashSet};

use rand::rngs::StdRng;
use rand::Rng;

use super::catalog::{Catalog, DIMS};
use super::history::{CoPlay, Taste};
use crate::app::library::browse::Scope;

/// Weights of the signals.
const W_ARTIST: f32 = 1.0;
const W_COMPOSER: f32 = 0.9;
const W_CREDIT: f32 = 0.4;
const W_GENRE: f32 = 0.7;
const W_ERA: f32 = 0.35;
const W_LABEL: f32 = 0.2;
const W_TOGETHER: f32 = 1.6;
const W_SOUND: f32 = 1.0;
/// How much a user's replays, and their share of listening of an artist and a genre, raise a
/// song.
const W_REPLAY: f32 = 1.0;
const W_ARTIST_TASTE: f32 = 2.0;
const W_GENRE_TASTE: f32 = 1.0;
/// How much the household's most played song is raised over a song nobody played.
const W_POPULAR: f32 = 0.5;
/// Songs looked at by their sound alone (nearest to the seeds' average sound).
const SOUND_NEIGHBOURS: usize = 300;
/// Seeds whose own sound is compared with each candidate.
const SOUND_SEEDS: usize = 8;
/// Genres of the seeds whose songs all become candidates (the heaviest ones).
const GENRES_LOOKED_AT: usize = 3;
/// Share of familiar songs (played before, or loved) in a personal list when there are enough of
/// both kinds; the rest they never played.
const FAMILIAR_SHARE: f64 = 0.7;
/// How much a draw favours the better picks (the power of the score in its weight): higher is
/// nearer a fixed top list, lower more varied. 5 was chosen on the offline evaluation
/// (docs/benchmarks.md): 3 gave fewer hits and fewer discoveries, 8 little more than 5 for far
/// less variety.
const DRAW_SHARPNESS: i32 = 5;

/// Why a song was picked: the strongest signal behind it.
#[derive(Debug, Clone, PartialEq)]
pub enum Why {
    Seed,
    SameArtist(i64),
    SameComposer(i64),
    SharedCredit(i64),
    PlayedAfter(i64),
    PlayedWith(i64),
    SoundsLike(i64),
    Genre(i64),
    Era(i32),
    Label(u32),
    Taste,
    Anything,
}

impl Why {
    /// In words, for people.
    pub fn text(&self, cat: &Catalog) -> String {
        let title = |id: &i64| {
            cat.song(*id)
                .map(|s| format!("“{}”", s.title))
                .unwrap_or_else(|| "a song you played".into())
        };
        match self {
            Why::Seed => "where this started".into(),
            Why::SameArtist(a) => format!("more by {}", cat.artist_name(*a)),
            Why::SameComposer(a) => format!("same composer: {}", cat.artist_name(*a)),
            Why::SharedCredit(a) => format!("also with {}", cat.artist_name(*a)),
            Why::PlayedAfter(s) => format!("often played after {}", title(s)),
            Why::PlayedWith(s) => format!("often played with {}", title(s)),
            Why::SoundsLike(s) => format!("sounds like {}", title(s)),
            Why::Genre(g) => format!("also {}", cat.genre_name(*g)),
            Why::Era(y) => format!("also from the {}s", y - y % 10),
            Why::Label(l) => format!(
                "same label: {}",
                cat.labels.get(*l as usize).map(|l| &**l).unwrap_or("?")
            ),
            Why::Taste => "one of your favourites".into(),
            Why::Anything => "from your library".into(),
        }
    }
}

/// A recommended song.
#[derive(Debug, Clone)]
pub struct Pick {
    pub place: u32,
    pub score: f32,
    pub why: Why,
}

/// What the seeds have in common, weighted by how many seeds have it.
struct Profile {
    seeds: HashSet<u32>,
    artists: HashMap<i64, f32>,
    composers: HashMap<i64, f32>,
    credits: HashMap<i64, f32>,
    genres: HashMap<i64, f32>,
    labels: HashMap<u32, f32>,
    year: Option<f32>,
    sound_seeds: Vec<u32>,
    centroid: Option<[f32; DIMS]>,
}

fn add_all<K: Copy + Eq + std::hash::Hash>(map: &mut HashMap<K, f32>, keys: &[K], w: f32) {
    for k in keys {
        *map.entry(*k).or_default() += w;
    }
}

impl Profile {
    fn of(cat: &Catalog, seeds: &[u32]) -> Profile {
        let w = 1.0 / seeds.len().max(1) as f32;
        let mut p = Profile {
            seeds: seeds.iter().copied().collect(),
            artists: HashMap::new(),
            composers: HashMap::new(),
            credits: HashMap::new(),
            genres: HashMap::new(),
            labels: HashMap::new(),
            year: None,
            sound_seeds: Vec::new(),
            centroid: None,
        };
        let (mut years, mut n_years) = (0f32, 0f32);
        let mut centroid = [0f32; DIMS];
        let mut analysed = 0;
        for &i in seeds {
            let s = &cat.songs[i as usize];
            let mut people: Vec<i64> = s.artists.to_vec();
            for a in s.album_artists.iter() {
                // A compilation's album artist ("Various Artists") says nothing about the song.
                if !s.compilation && !people.contains(a) {
                    people.push(*a);
                }
            }
            add_all(&mut p.artists, &people, w);
            add_all(&mut p.composers, &s.composers, w);
            add_all(&mut p.credits, &s.credits, w);
            if !s.genres.is_empty() {
                add_all(&mut p.genres, &s.genres, w / s.genres.len() as f32);
            }
            if let Some(l) = s.label {
                *p.labels.entry(l).or_default() += w;
            }
            if let Some(y) = s.year {
                years += y as f32;
                n_years += 1.0;
            }
            if let Some(snd) = cat.sound(i) {
                analysed += 1;
                for d in 0..DIMS {
                    centroid[d] += snd[d];
                }
                if p.sound_seeds.len() < SOUND_SEEDS {
                    p.sound_seeds.push(i);
                }
            }
        }
        if n_years > 0.0 {
            p.year = Some(years / n_years);
        }
        if analysed > 0 {
            for c in centroid.iter_mut() {
                *c /= analysed as f32;
            }
            p.centroid = Some(centroid);
        }
        p
    }
}

/// Scores the songs that share anything with the seeds. `together` is what the household
/// played around them ([`super::history::Listening::played_with`]), by song id.
pub fn score(
    cat: &Catalog,
    seeds: &[u32],
    together: &HashMap<i64, CoPlay>,
    scope: &Scope,
) -> Vec<Pick> {
    let profile = Profile::of(cat, seeds);
    let mut candidates: HashSet<u32> = HashSet::new();
    let mut take = |list: Option<&Vec<u32>>| {
        if let Some(list) = list {
            candidates.extend(list.iter().copied());
        }
    };
    for a in profile.artists.keys() {
        take(cat.by_artist.get(a));
        take(cat.by_credit.get(a));
        take(cat.by_composer.get(a));
    }
    for a in profile.composers.keys().chain(profile.credits.keys()) {
        take(cat.by_composer.get(a));
        take(cat.by_credit.get(a));
        take(cat.by_artist.get(a));
    }
    let mut genres: Vec<(&i64, &f32)> = profile.genres.iter().collect();
    genres.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
    for (g, _) in genres.iter().take(GENRES_LOOKED_AT) {
        take(cat.by_genre.get(g));
    }
    for l in profile.labels.keys() {
        take(cat.by_label.get(l));
    }
    for id in together.keys() {
        if let Some(&i) = cat.place.get(id) {
            candidates.insert(i);
        }
    }
    if let Some(c) = &profile.centroid {
        candidates.extend(nearest(cat, c, SOUND_NEIGHBOURS));
    }
    let mut picks: Vec<Pick> = candidates
        .into_iter()
        .filter(|i| !profile.seeds.contains(i))
        .filter(|i| scope.allows(cat.songs[*i as usize].folder))
        .filter_map(|i| score_one(cat, &profile, together, i))
        .collect();
    picks.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.place.cmp(&b.place)));
    picks
}

fn score_one(cat: &Catalog, p: &Profile, together: &HashMap<i64, CoPlay>, i: u32) -> Option<Pick> {
    let s = &cat.songs[i as usize];
    let mut parts: Vec<(f32, Why)> = Vec::with_capacity(8);
    let best = |map: &HashMap<i64, f32>, keys: &[i64]| -> Option<(f32, i64)> {
        keys.iter()
            .filter_map(|k| map.get(k).map(|w| (*w, *k)))
            .max_by(|a, b| a.0.total_cmp(&b.0))
    };
    let mut people: Vec<i64> = s.artists.to_vec();
    if !s.compilation {
        people.extend(s.album_artists.iter().copied());
    }
    if let Some((w, a)) = best(&p.artists, &people) {
        parts.push((W_ARTIST * w.min(1.0), Why::SameArtist(a)));
    }
    if let Some((w, a)) = best(&p.composers, &s.composers) {
        parts.push((W_COMPOSER * w.min(1.0), Why::SameComposer(a)));
    }
    // Credits match across roles: the seed's featured singer who leads this song.
    let credit = best(&p.credits, &people)
        .into_iter()
        .chain(best(&p.credits, &s.credits))
        .chain(best(&p.artists, &s.credits))
        .chain(best(&p.artists, &s.composers))
        .max_by(|a, b| a.0.total_cmp(&b.0));
    if let Some((w, a)) = credit {
        parts.push((W_CREDIT * w.min(1.0), Why::SharedCredit(a)));
    }
    if !s.genres.is_empty() {
        let (mut sum, mut top) = (0f32, None::<(f32, i64)>);
        for g in s.genres.iter() {
            if let Some(w) = p.genres.get(g) {
                sum += w;
                if top.is_none_or(|t| *w > t.0) {
                    top = Some((*w, *g));
                }
            }
        }
        if let Some((_, g)) = top {
            // Shared share of genres: a song in one of the seeds' genres and nothing else
            // scores fully.
            let overlap = (sum / s.genres.len() as f32).min(1.0);
            parts.push((W_GENRE * overlap.sqrt(), Why::Genre(g)));
        }
    }
    if let (Some(y), Some(mine)) = (p.year, s.year) {
        let near = (-(y - mine as f32).abs() / 6.0).exp();
        parts.push((W_ERA * near, Why::Era(mine)));
    }
    if let Some(l) = s.label {
        if let Some(w) = p.labels.get(&l) {
            parts.push((W_LABEL * w.min(1.0), Why::Label(l)));
        }
    }
    if let Some(co) = together.get(&s.id) {
        let strength = co.weight / (co.weight + 1.0);
        let why = match (co.after > 0, co.after_seed, co.with_seed) {
            (true, Some(seed), _) => Why::PlayedAfter(seed),
            (_, _, Some(seed)) => Why::PlayedWith(seed),
            _ => Why::Anything,
        };
        parts.push((W_TOGETHER * strength, why));
    }
    if let Some(mine) = cat.sound(i) {
        let mut best: Option<(f32, u32)> = None;
        for &seed in &p.sound_seeds {
            if let Some(theirs) = cat.sound(seed) {
                let like = Catalog::sound_likeness(mine, theirs);
                if best.is_none_or(|b| like > b.0) {
                    best = Some((like, seed));
                }
            }
        }
        if let Some((like, seed)) = best {
            // Below the likeness of two songs picked at random, sound says nothing.
            let strength = ((like - 0.4) / 0.6).max(0.0);
            if strength > 0.0 {
                let id = cat.songs[seed as usize].id;
                parts.push((W_SOUND * strength * strength, Why::SoundsLike(id)));
            }
        }
    }
    let score: f32 = parts.iter().map(|(w, _)| w).sum();
    if score <= 0.0 {
        return None;
    }
    let why = parts
        .into_iter()
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, w)| w)
        .unwrap_or(Why::Anything);
    Some(Pick {
        place: i,
        score,
        why,
    })
}

/// The `n` analysed songs whose sound is nearest `target`.
pub fn nearest(cat: &Catalog, target: &[f32], n: usize) -> Vec<u32> {
    let mut all: Vec<(f32, u32)> = cat
        .sounds()
        .map(|(i, s)| {
            let d2: f32 = s.iter().zip(target).map(|(a, b)| (a - b) * (a - b)).sum();
            (d2, i)
        })
        .collect();
    let n = n.min(all.len());
    if n == 0 {
        return Vec::new();
    }
    all.select_nth_unstable_by(n - 1, |a, b| a.0.total_cmp(&b.0));
    all.truncate(n);
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    all.into_iter().map(|(_, i)| i).collect()
}

/// How much of a user's listening went to each artist and genre (shares of their plays).
#[derive(Debug, Default)]
pub struct Affinity {
    pub artists: HashMap<i64, f32>,
    pub genres: HashMap<i64, f32>,
}

impl Affinity {
    pub fn of(cat: &Catalog, taste: &Taste) -> Affinity {
        let mut a = Affinity::default();
        let mut total = 0f32;
        for (id, n) in &taste.plays {
            let Some(s) = cat.song(*id) else {
                continue;
            };
            let n = *n as f32;
            total += n;
            *a.artists.entry(s.main_artist()).or_default() += n;
            for g in s.genres.iter() {
                *a.genres.entry(*g).or_default() += n / s.genres.len() as f32;
            }
        }
        if total > 0.0 {
            a.artists.values_mut().for_each(|v| *v /= total);
            a.genres.values_mut().for_each(|v| *v /= total);
        }
        a
    }
}

/// A user's view of a pick list: their rejections left out; songs they love or play again and
/// again, and songs of the artists and genres they listen to most, raised.
pub fn personalise(
    cat: &Catalog,
    picks: &mut Vec<Pick>,
    taste: Option<&Taste>,
    affinity: Option<&Affinity>,
) {
    let Some(taste) = taste else {
        return;
    };
    picks.retain(|p| !taste.rejected.contains(&cat.songs[p.place as usize].id));
    for p in picks.iter_mut() {
        let s = &cat.songs[p.place as usize];
        if taste.loved.contains(&s.id) {
            p.score *= 1.3;
        }
        if let Some(n) = taste.plays.get(&s.id) {
            // What they play again and again, higher; diminishing.
            p.score *= 1.0 + W_REPLAY * (*n as f32).ln_1p().min(3.0);
        }
        if let Some(a) = affinity {
            let artist = a.artists.get(&s.main_artist()).copied().unwrap_or(0.0);
            let genre = s
                .genres
                .iter()
                .filter_map(|g| a.genres.get(g))
                .fold(0f32, |m, x| m.max(*x));
            p.score *= 1.0 + W_ARTIST_TASTE * artist.sqrt() + W_GENRE_TASTE * genre;
        }
    }
    picks.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.place.cmp(&b.place)));
}

/// Songs the household plays a lot, a little higher: what everyone at home enjoys is a good
/// guess for anyone at home (log-scaled against the most played song). Re-sorts.
pub fn raise_popular(cat: &Catalog, picks: &mut [Pick], plays: &HashMap<i64, u32>) {
    let most = plays.values().copied().max().unwrap_or(0);
    if most == 0 {
        return;
    }
    let scale = (most as f32).ln_1p();
    for p in picks.iter_mut() {
        if let Some(n) = plays.get(&cat.songs[p.place as usize].id) {
            p.score *= 1.0 + W_POPULAR * (*n as f32).ln_1p() / scale;
        }
    }
    picks.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.place.cmp(&b.place)));
}

/// The best `count` picks in order, never the same artist twice in a row, and each further song
/// of an artist already in the list counted down, so one artist cannot fill it.
pub fn best_varied(cat: &Catalog, picks: &[Pick], count: usize) -> Vec<Pick> {
    let mut pool: Vec<Pick> = picks.iter().take(count * 6 + 20).cloned().collect();
    let mut used: HashMap<i64, u32> = HashMap::new();
    let mut out: Vec<Pick> = Vec::with_capacity(count);
    let mut last_artist = None;
    while out.len() < count && !pool.is_empty() {
        let (at, _) = pool
            .iter()
            .enumerate()
            .map(|(k, p)| {
                let artist = cat.songs[p.place as usize].main_artist();
                let mut s = p.score * 0.6f32.powi(*used.get(&artist).unwrap_or(&0) as i32);
                if Some(artist) == last_artist {
                    s *= 0.01;
                }
                (k, s)
            })
            .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)))
            .expect("the pool is not empty");
        let p = pool.remove(at);
        let artist = cat.songs[p.place as usize].main_artist();
        *used.entry(artist).or_default() += 1;
        last_artist = Some(artist);
        out.push(p);
    }
    out
}

/// A varied draw of `count` songs from the picks, the better ones more likely (weighted
/// sampling without replacement), then put in an order where one artist never follows
/// itself; familiar songs and songs the user never played are mixed (about 70/30) when there
/// are enough of both.
pub fn draw(
    cat: &Catalog,
    picks: &[Pick],
    count: usize,
    taste: Option<&Taste>,
    rng: &mut StdRng,
) -> Vec<Pick> {
    // Efraimidis-Spirakis keys: u^(1/w), largest first, is a weighted draw without replacement.
    // Compared as ln(u)/w, the same order, which does not round to 0 for small weights.
    let mut keyed: Vec<(f64, &Pick)> = picks
        .iter()
        .map(|p| {
            let w = (p.score as f64).max(1e-6).powi(DRAW_SHARPNESS);
            let u: f64 = rng.random_range(f64::EPSILON..1.0);
            (u.ln() / w, p)
        })
        .collect();
    keyed.sort_by(|a, b| b.0.total_cmp(&a.0));
    let familiar = |p: &Pick| {
        taste.is_some_and(|t| {
            let id = cat.songs[p.place as usize].id;
            t.plays.contains_key(&id) || t.loved.contains(&id)
        })
    };
    let (known, fresh): (Vec<&Pick>, Vec<&Pick>) =
        keyed.iter().map(|(_, p)| *p).partition(|p| familiar(p));
    let chosen: Vec<Pick> = if known.is_empty() || fresh.is_empty() {
        keyed
            .iter()
            .take(count)
            .map(|(_, p)| (*p).clone())
            .collect()
    } else {
        let want_known = ((count as f64 * FAMILIAR_SHARE).round() as usize).min(known.len());
        let want_fresh = (count - want_known).min(fresh.len());
        let want_known = (count - want_fresh).min(known.len());
        // Interleaved in draw order, so the list starts with the best of both.
        let mut out = Vec::with_capacity(count);
        let (mut k, mut f) = (0, 0);
        while k < want_known || f < want_fresh {
            let known_due = (k as f64) * (want_fresh as f64) <= (f as f64) * (want_known as f64);
            if k < want_known && (known_due || f >= want_fresh) {
                out.push(known[k].clone());
                k += 1;
            } else {
                out.push(fresh[f].clone());
                f += 1;
            }
        }
        out
    };
    no_artist_twice(cat, chosen)
}

/// Reorders so that no artist follows itself, where the list allows it (moving each song
/// that would repeat the previous artist to the first later place where it does not).
pub fn no_artist_twice(cat: &Catalog, mut list: Vec<Pick>) -> Vec<Pick> {
    let artist = |p: &Pick| cat.songs[p.place as usize].main_artist();
    for i in 1..list.len() {
        if artist(&list[i]) == artist(&list[i - 1]) {
            let prev = artist(&list[i - 1]);
            if let Some(j) = (i + 1..list.len()).find(|&j| artist(&list[j]) != prev) {
                let p = list.remove(j);
                list.insert(i, p);
            }
        }
    }
    list
}

/// Seeds' places for song ids (unknown or out-of-scope ids dropped).
pub fn places(cat: &Catalog, ids: &[i64], scope: &Scope) -> Vec<u32> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter_map(|id| cat.place.get(id).copied())
        .filter(|i| scope.allows(cat.songs[*i as usize].folder) && seen.insert(*i))
        .collect()
}

/// Up to `count` random songs in scope that `keep` accepts, for when nothing else is left.
pub fn anything(
    cat: &Catalog,
    count: usize,
    scope: &Scope,
    keep: impl Fn(u32) -> bool,
    rng: &mut StdRng,
) -> Vec<Pick> {
    use rand::seq::SliceRandom;
    let mut left: Vec<u32> = (0..cat.songs.len() as u32)
        .filter(|i| scope.allows(cat.songs[*i as usize].folder) && keep(*i))
        .collect();
    let (chosen, _) = left.partial_shuffle(rng, count);
    chosen
        .iter()
        .map(|i| Pick {
            place: *i,
            score: 0.01,
            why: Why::Anything,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::reco::catalog::Song;
    use rand::SeedableRng;

    /// A catalog of `n` songs; song `i` is by artist `artist(i)`.
    fn catalog(n: usize, artist: impl Fn(usize) -> i64) -> Catalog {
        let mut cat = Catalog::default();
        for i in 0..n {
            cat.songs.push(Song {
                id: i as i64 + 1,
                folder: 1,
                album: 1,
                title: format!("Song {i}").into(),
                artists: vec![artist(i)].into(),
                album_artists: Vec::new().into(),
                composers: Vec::new().into(),
                credits: Vec::new().into(),
                genres: vec![1].into(),
                year: None,
                label: None,
                compilation: false,
                duration_ms: 200_000,
            });
            cat.place.insert(i as i64 + 1, i as u32);
        }
        cat
    }

    fn picks(n: usize) -> Vec<Pick> {
        (0..n)
            .map(|i| Pick {
                place: i as u32,
                score: 1.0 + (n - i) as f32,
                why: Why::Anything,
            })
            .collect()
    }

    fn artists(cat: &Catalog, list: &[Pick]) -> Vec<i64> {
        list.iter()
            .map(|p| cat.songs[p.place as usize].main_artist())
            .collect()
    }

    #[test]
    fn one_artist_never_plays_twice_in_a_row_when_others_are_there() {
        // Artist 1 has the six best songs; two other artists one each.
        let cat = catalog(8, |i| if i < 6 { 1 } else { i as i64 });
        let ordered = no_artist_twice(&cat, picks(8));
        let a = artists(&cat, &ordered);
        assert_eq!(ordered.len(), 8);
        // Only two others to put between six: at most the tail may repeat.
        assert!(a[..5].windows(2).all(|w| w[0] != w[1]), "{a:?}");
        let varied = best_varied(&cat, &picks(8), 4);
        let a = artists(&cat, &varied);
        assert!(a.windows(2).all(|w| w[0] != w[1]), "{a:?}");
    }

    #[test]
    fn a_draw_mixes_familiar_and_rarely_played_songs() {
        let cat = catalog(60, |i| i as i64);
        let mut taste = Taste::default();
        for id in 1..=30 {
            taste.plays.insert(id, 5);
        }
        let mut rng = StdRng::seed_from_u64(1);
        let drawn = draw(&cat, &picks(60), 10, Some(&taste), &mut rng);
        assert_eq!(drawn.len(), 10);
        let known = drawn
            .iter()
            .filter(|p| taste.plays.contains_key(&cat.songs[p.place as usize].id))
            .count();
        assert_eq!(known, 7, "70% familiar");
        let unique: HashSet<u32> = drawn.iter().map(|p| p.place).collect();
        assert_eq!(unique.len(), 10);
        // Another draw is another order: radio is varied.
        let again = draw(&cat, &picks(60), 10, Some(&taste), &mut rng);
        assert_ne!(
            drawn.iter().map(|p| p.place).collect::<Vec<_>>(),
            again.iter().map(|p| p.place).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_draw_of_weak_picks_is_still_a_draw() {
        let cat = catalog(40, |i| i as i64);
        let weak: Vec<Pick> = (0..40)
            .map(|i| Pick {
                place: i,
                score: 0.05 + 0.001 * i as f32,
                why: Why::Anything,
            })
            .collect();
        let mut rng = StdRng::seed_from_u64(3);
        let a: Vec<u32> = draw(&cat, &weak, 10, None, &mut rng)
            .iter()
            .map(|p| p.place)
            .collect();
        let b: Vec<u32> = draw(&cat, &weak, 10, None, &mut rng)
            .iter()
            .map(|p| p.place)
            .collect();
        assert_ne!(a, b, "weights this small must not round to a fixed order");
        assert_ne!(a, (0..10).collect::<Vec<u32>>());
    }

    #[test]
    fn a_users_rejections_are_left_out_and_favourites_raised() {
        let cat = catalog(5, |i| i as i64);
        let mut taste = Taste::default();
        taste.rejected.insert(1);
        taste.plays.insert(5, 20);
        let mut list = picks(5);
        personalise(&cat, &mut list, Some(&taste), None);
        let ids: Vec<i64> = list
            .iter()
            .map(|p| cat.songs[p.place as usize].id)
            .collect();
        assert!(!ids.contains(&1));
        assert_eq!(ids[0], 5, "played twenty times, it comes first: {ids:?}");
    }

    #[test]
    fn nothing_in_nothing_out() {
        let cat = catalog(0, |_| 0);
        assert!(score(&cat, &[], &HashMap::new(), &Scope::all()).is_empty());
        assert!(nearest(&cat, &[0.0; DIMS], 10).is_empty());
        let mut rng = StdRng::seed_from_u64(1);
        assert!(draw(&cat, &[], 10, None, &mut rng).is_empty());
        assert!(anything(&cat, 10, &Scope::all(), |_| true, &mut rng).is_empty());
    }
}
