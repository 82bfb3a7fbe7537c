//! A listening simulator, to judge recommendations offline (issue 8) rather than by feel.
//!
//! It makes a library (artists with a genre, an era, a label and a sound of their own; albums;
//! songs with featured artists and composers now and then; sound summaries that follow genre
//! and artist) straight into a Houseband database, and households whose members have hidden
//! tastes: a few genres, an era, favourite artists, a tempo range. For some weeks they listen
//! in sessions: a song they like in one of their genres, then more of that album or artist,
//! something related, or a favourite again; songs they do not like are skipped, songs they
//! love are starred now and then. Everything but the last week goes into the database, as the
//! server would have recorded it; the last week is held out, and each way of recommending is
//! scored on how many of its songs the user went on to play that week.
//!
//! The settings live in `benches/reco-eval.toml` (the bench `reco_eval` prints the table), so
//! anyone can make the same table again: everything is drawn from one seeded generator.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::Result;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use crate::app::db::{now, Db};
use crate::app::library::browse::Scope;
use crate::app::library::Library;
use crate::app::reco::{Reco, Seed};

/// The simulation's settings (see `benches/reco-eval.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimSettings {
    pub seed: u64,
    pub tracks: usize,
    pub artists: usize,
    pub genres: usize,
    pub labels: usize,
    pub households: usize,
    pub members: usize,
    pub weeks: usize,
    pub sessions_per_week: usize,
    pub songs_per_session: usize,
}

struct Artist {
    name: String,
    genre: usize,
    second_genre: Option<usize>,
    era: i32,
    tempo: f32,
    label: usize,
    /// The artist's own sound, around its genre's.
    sound: [f32; 15],
}

/// A generated song (its database id is its index + 1).
pub struct Track {
    pub artist: usize,
    pub featured: Option<usize>,
    pub composer: Option<usize>,
    pub album: usize,
    pub genre: usize,
    pub year: i32,
    pub label: usize,
    pub tempo: f32,
    pub features: [f32; 15],
    /// How catchy, within its artist (some songs are everyone's favourite).
    pub appeal: f32,
    pub duration_ms: i64,
}

pub struct SimLibrary {
    artists: Vec<Artist>,
    pub tracks: Vec<Track>,
    albums: Vec<(usize, String, i32)>,
    /// People credited as composers only.
    composers: Vec<String>,
}

/// A member's hidden taste.
struct Member {
    user: i64,
    genres: Vec<(usize, f32)>,
    era: i32,
    favourites: HashSet<usize>,
    tempo: (f32, f32),
}

/// One play, as the server would record it.
#[derive(Clone)]
struct Play {
    user: i64,
    track: usize,
    at: i64,
    skipped: bool,
    starred: bool,
}

fn gauss(rng: &mut StdRng) -> f32 {
    // Box-Muller.
    let u: f32 = rng.random_range(1e-6..1.0);
    let v: f32 = rng.random_range(0.0..1.0);
    (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
}

/// A library drawn from the settings.
pub fn make_library(s: &SimSettings, rng: &mut StdRng) -> SimLibrary {
    // Each genre: a tempo, a loudness, a brightness, a spectrum.
    let genre_sound: Vec<[f32; 15]> = (0..s.genres)
        .map(|_| {
            let mut v = [0f32; 15];
            v[0] = rng.random_range(70.0..170.0);
            v[1] = rng.random_range(-24.0..-8.0);
            v[2] = rng.random_range(3.0..14.0);
            v[3] = rng.random_range(800.0..4000.0);
            v[4] = v[3] * rng.random_range(1.5..2.5);
            v[5] = rng.random_range(0.05..0.4);
            v[6] = rng.random_range(0.02..0.15);
            for band in v.iter_mut().skip(7) {
                *band = rng.random_range(0.02..0.3);
            }
            v
        })
        .collect();
    let artists: Vec<Artist> = (0..s.artists)
        .map(|i| {
            let genre = rng.random_range(0..s.genres);
            let mut sound = genre_sound[genre];
            for (d, x) in sound.iter_mut().enumerate() {
                let spread = if d == 0 { 0.08 } else { 0.12 };
                *x *= 1.0 + spread * gauss(rng);
            }
            Artist {
                name: format!("Artist {i:04}"),
                genre,
                second_genre: rng.random_bool(0.2).then(|| rng.random_range(0..s.genres)),
                era: 1960 + 5 * rng.random_range(0..13),
                tempo: sound[0],
                // Labels lean to genres.
                label: (genre * 7 + rng.random_range(0..3)) % s.labels.max(1),
                sound,
            }
        })
        .collect();
    let composers: Vec<String> = (0..(s.artists / 20).max(2))
        .map(|i| format!("Composer {i:03}"))
        .collect();
    // Artists with songs of their own, more for some (popularity is uneven).
    let mut tracks = Vec::with_capacity(s.tracks);
    let mut albums = Vec::new();
    while tracks.len() < s.tracks {
        let artist = {
            // Zipf-ish: low numbers more often.
            let x: f64 = rng.random_range(0.0..1.0);
            ((x * x) * s.artists as f64) as usize
        }
        .min(s.artists - 1);
        let a = &artists[artist];
        let album = albums.len();
        let year = a.era + rng.random_range(0..8);
        albums.push((artist, format!("Album {album:05}"), year));
        let n = rng.random_range(8..14).min(s.tracks - tracks.len());
        for _ in 0..n {
            let genre = match a.second_genre {
                Some(g) if rng.random_bool(0.3) => g,
                _ => a.genre,
            };
            let mut features = a.sound;
            for (d, x) in features.iter_mut().enumerate() {
                let spread = if d == 0 { 0.05 } else { 0.08 };
                *x *= 1.0 + spread * gauss(rng);
            }
            if genre != a.genre {
                for (d, x) in features.iter_mut().enumerate() {
                    *x = 0.5 * *x + 0.5 * genre_sound[genre][d];
                }
            }
            let featured = rng
                .random_bool(0.08)
                .then(|| {
                    // Someone of the same genre.
                    (0..20)
                        .map(|_| rng.random_range(0..s.artists))
                        .find(|o| artists[*o].genre == a.genre && *o != artist)
                })
                .flatten();
            let composer = (genre % 4 == 0 && rng.random_bool(0.5))
                .then(|| (genre * 3 + rng.random_range(0..3)) % composers.len());
            tracks.push(Track {
                artist,
                featured,
                composer,
                album,
                genre,
                year,
                label: a.label,
                tempo: features[0],
                features,
                appeal: rng.random_range(0.2f32..1.0).powi(2),
                duration_ms: rng.random_range(150_000..330_000),
            });
        }
    }
    SimLibrary {
        artists,
        tracks,
        albums,
        composers,
    }
}

/// Writes the library into a new database as a scan would have (one music folder, present
/// songs, credits, genres, sound summaries).
pub fn write_library(db: &Db, lib: &SimLibrary, genres: usize) -> Result<()> {
    let mut conn = db.write();
    let t = now();
    conn.transaction(|c| {
        diesel::sql_query(
            "INSERT INTO music_folders (id, path, name, enabled) VALUES (1, '/sim', 'Simulated', 1)",
        )
        .execute(c)?;
        diesel::sql_query(
            "INSERT INTO directories (id, folder_id, path, name, created_at, updated_at)
             VALUES (1, 1, '/sim', 'sim', ?, ?)",
        )
        .bind::<BigInt, _>(t)
        .bind::<BigInt, _>(t)
        .execute(c)?;
        for g in 0..genres {
            diesel::sql_query("INSERT INTO genres (id, name) VALUES (?, ?)")
                .bind::<BigInt, _>(g as i64 + 1)
                .bind::<Text, _>(format!("Genre {g:02}"))
                .execute(c)?;
        }
        let people = lib
            .artists
            .iter()
            .map(|a| a.name.clone())
            .chain(lib.composers.iter().cloned());
        for (i, name) in people.enumerate() {
            diesel::sql_query(
                "INSERT INTO artists (id, key, name, search_name, created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?)",
            )
            .bind::<BigInt, _>(i as i64 + 1)
            .bind::<Text, _>(name.to_lowercase())
            .bind::<Text, _>(&name)
            .bind::<Text, _>(name.to_lowercase())
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(t)
            .execute(c)?;
        }
        for (i, (artist, name, year)) in lib.albums.iter().enumerate() {
            let by = &lib.artists[*artist].name;
            diesel::sql_query(
                "INSERT INTO albums (id, key, name, search_name, artist_display, year, folder_id,
                                     created_at, updated_at)
                 VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            )
            .bind::<BigInt, _>(i as i64 + 1)
            .bind::<Text, _>(format!("{by}\u{1f}{name}").to_lowercase())
            .bind::<Text, _>(name)
            .bind::<Text, _>(name.to_lowercase())
            .bind::<Text, _>(by)
            .bind::<Integer, _>(*year)
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(t)
            .execute(c)?;
            diesel::sql_query(
                "INSERT INTO album_artists (album_id, artist_id, position) VALUES (?, ?, 0)",
            )
            .bind::<BigInt, _>(i as i64 + 1)
            .bind::<BigInt, _>(*artist as i64 + 1)
            .execute(c)?;
        }
        for (i, tr) in lib.tracks.iter().enumerate() {
            let id = i as i64 + 1;
            let artist = &lib.artists[tr.artist];
            let album_name = &lib.albums[tr.album].1;
            diesel::sql_query(
                "INSERT INTO tracks (id, folder_id, directory_id, album_id, path, size, mtime,
                    suffix, content_type, format, duration_ms, title, artist_display, album_name,
                    album_artist_display, year, label, match_key, compilation, has_cover,
                    created_at, updated_at)
                 VALUES (?, 1, 1, ?, ?, 1000, ?, 'flac', 'audio/flac', 'FLAC', ?, ?, ?, ?, ?, ?, ?,
                         ?, 0, 0, ?, ?)",
            )
            .bind::<BigInt, _>(id)
            .bind::<BigInt, _>(tr.album as i64 + 1)
            .bind::<Text, _>(format!("/sim/{id}.flac"))
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(tr.duration_ms)
            .bind::<Text, _>(format!("Song {id}"))
            .bind::<Text, _>(&artist.name)
            .bind::<Text, _>(album_name)
            .bind::<Text, _>(&artist.name)
            .bind::<Nullable<Integer>, _>(Some(tr.year))
            .bind::<Nullable<Text>, _>(Some(format!("Label {}", tr.label)))
            .bind::<Text, _>(format!("sim-{id}"))
            .bind::<BigInt, _>(t)
            .bind::<BigInt, _>(t)
            .execute(c)?;
            let mut credits = vec![(tr.artist as i64 + 1, "artist", 0), (tr.artist as i64 + 1, "albumartist", 0)];
            if let Some(f) = tr.featured {
                credits.push((f as i64 + 1, "artist", 1));
            }
            if let Some(k) = tr.composer {
                credits.push(((lib.artists.len() + k) as i64 + 1, "composer", 0));
            }
            for (a, role, position) in credits {
                diesel::sql_query(
                    "INSERT INTO track_artists (track_id, artist_id, role, position)
                     VALUES (?, ?, ?, ?)",
                )
                .bind::<BigInt, _>(id)
                .bind::<BigInt, _>(a)
                .bind::<Text, _>(role)
                .bind::<Integer, _>(position)
                .execute(c)?;
            }
            diesel::sql_query(
                "INSERT INTO track_genres (track_id, genre_id, position) VALUES (?, ?, 0)",
            )
            .bind::<BigInt, _>(id)
            .bind::<BigInt, _>(tr.genre as i64 + 1)
            .execute(c)?;
            diesel::sql_query(
                "INSERT INTO track_sounds (track_id, version, size, mtime, features, analysed_at)
                 VALUES (?, ?, 1000, ?, ?, ?)",
            )
            .bind::<BigInt, _>(id)
            .bind::<Integer, _>(crate::app::reco::analysis::VERSION)
            .bind::<BigInt, _>(t)
            .bind::<Text, _>(serde_json::to_string(&tr.features.to_vec()).expect("numbers"))
            .bind::<BigInt, _>(t)
            .execute(c)?;
        }
        Ok::<_, anyhow::Error>(())
    })
}

impl Member {
    fn new(user: i64, lib: &SimLibrary, s: &SimSettings, rng: &mut StdRng) -> Member {
        let n = rng.random_range(1..=3);
        let mut genres: Vec<(usize, f32)> = Vec::new();
        while genres.len() < n {
            let g = rng.random_range(0..s.genres);
            if genres.iter().all(|(x, _)| *x != g) {
                genres.push((g, rng.random_range(0.3..1.0)));
            }
        }
        let era = 1960 + 5 * rng.random_range(0..13);
        let mut favourites = HashSet::new();
        for _ in 0..rng.random_range(3..9) {
            let g = genres[rng.random_range(0..genres.len())].0;
            if let Some(a) = (0..50)
                .map(|_| rng.random_range(0..lib.artists.len()))
                .find(|a| lib.artists[*a].genre == g)
            {
                favourites.insert(a);
            }
        }
        let centre = lib
            .artists
            .iter()
            .filter(|a| a.genre == genres[0].0)
            .map(|a| a.tempo)
            .next()
            .unwrap_or(120.0);
        let width = rng.random_range(20.0..50.0);
        Member {
            user,
            genres,
            era,
            favourites,
            tempo: (centre - width, centre + width),
        }
    }

    /// How much they like a song (0 to about 3): the hidden truth the recommendations try to
    /// guess.
    fn liking(&self, lib: &SimLibrary, t: &Track) -> f32 {
        let genre = self
            .genres
            .iter()
            .find(|(g, _)| *g == t.genre)
            .map(|(_, w)| *w)
            .unwrap_or(0.03);
        let era = (-((t.year - self.era).abs() as f32) / 15.0).exp() * 0.6 + 0.4;
        let fav = if self.favourites.contains(&t.artist) {
            3.0
        } else {
            1.0
        };
        let tempo = if t.tempo >= self.tempo.0 && t.tempo <= self.tempo.1 {
            1.0
        } else {
            0.35
        };
        let _ = lib;
        genre * era * fav * tempo * (0.4 + t.appeal)
    }
}

/// Picks a song by liking among `pool` (weighted).
fn pick(rng: &mut StdRng, pool: &[(usize, f32)]) -> Option<usize> {
    let total: f32 = pool.iter().map(|p| p.1).sum();
    if total <= 0.0 {
        return None;
    }
    let mut x = rng.random_range(0.0..total);
    for (i, w) in pool {
        if x < *w {
            return Some(*i);
        }
        x -= w;
    }
    pool.last().map(|p| p.0)
}

/// A household's weeks of listening, oldest first; the last week's plays are marked by their
/// week number.
fn listen(
    lib: &SimLibrary,
    s: &SimSettings,
    members: &[Member],
    rng: &mut StdRng,
    start: i64,
) -> Vec<(usize, Play)> {
    let by_genre: Vec<Vec<usize>> = (0..s.genres)
        .map(|g| {
            (0..lib.tracks.len())
                .filter(|t| lib.tracks[*t].genre == g)
                .collect()
        })
        .collect();
    let mut by_artist: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, t) in lib.tracks.iter().enumerate() {
        by_artist.entry(t.artist).or_default().push(i);
    }
    let mut plays = Vec::new();
    for m in members {
        let likes: Vec<f32> = lib.tracks.iter().map(|t| m.liking(lib, t)).collect();
        let best = likes.iter().cloned().fold(0f32, f32::max).max(1e-6);
        // Ordered, so that the draw below is the same on every run.
        let mut played: std::collections::BTreeMap<usize, u32> = Default::default();
        for week in 0..s.weeks {
            for _ in 0..s.sessions_per_week {
                let mut at = start + week as i64 * 7 * 86_400 + rng.random_range(0..6 * 86_400);
                let g = pick(
                    rng,
                    &m.genres.iter().map(|(g, w)| (*g, *w)).collect::<Vec<_>>(),
                )
                .expect("a member likes a genre");
                let pool: Vec<(usize, f32)> = by_genre[g]
                    .iter()
                    .map(|t| (*t, likes[*t].powi(2)))
                    .collect();
                let Some(mut current) = pick(rng, &pool) else {
                    continue;
                };
                for _ in 0..s.songs_per_session {
                    let t = &lib.tracks[current];
                    let like = likes[current] / best;
                    let skipped = rng.random_bool((1.0 - like.sqrt()).clamp(0.05, 0.95) as f64);
                    let starred = !skipped && like > 0.6 && rng.random_bool(0.05);
                    plays.push((
                        week,
                        Play {
                            user: m.user,
                            track: current,
                            at,
                            skipped,
                            starred,
                        },
                    ));
                    if !skipped {
                        *played.entry(current).or_default() += 1;
                    }
                    at += if skipped { 20 } else { t.duration_ms / 1000 };
                    // What comes next: more of the artist, something of the genre, or a
                    // favourite again.
                    let r: f64 = rng.random_range(0.0..1.0);
                    let next = if r < 0.35 {
                        let own = &by_artist[&t.artist];
                        pick(
                            rng,
                            &own.iter().map(|x| (*x, likes[*x])).collect::<Vec<_>>(),
                        )
                    } else if r < 0.75 {
                        let near: Vec<(usize, f32)> = by_genre[t.genre]
                            .iter()
                            .map(|x| {
                                let dt = (lib.tracks[*x].tempo - t.tempo).abs();
                                (*x, likes[*x].powi(2) * (-dt / 25.0).exp())
                            })
                            .collect();
                        pick(rng, &near)
                    } else if !played.is_empty() {
                        let again: Vec<(usize, f32)> = played
                            .iter()
                            .map(|(x, n)| (*x, *n as f32 * likes[*x]))
                            .collect();
                        pick(rng, &again)
                    } else {
                        None
                    };
                    current = next.unwrap_or(current);
                }
            }
        }
    }
    plays
}

/// A household on its own server: the library, its members, and their listening up to the
/// held-out last week written into the database, as the server would have recorded it.
pub struct Household {
    pub db: Arc<Db>,
    pub reco: Reco,
    members: Vec<Member>,
    /// Every week's plays, the held-out one included (week, play).
    plays: Vec<(usize, Play)>,
}

impl Household {
    pub fn make(
        data: &Path,
        lib: &SimLibrary,
        s: &SimSettings,
        rng: &mut StdRng,
    ) -> Result<Household> {
        std::fs::create_dir_all(data)?;
        let db = Arc::new(Db::open(data)?);
        write_library(&db, lib, s.genres)?;
        let settings = crate::config::Settings::for_dirs(data, &[]);
        let users = crate::app::users::Users::new(db.clone(), data)?;
        let members: Vec<Member> = (0..s.members)
            .map(|k| {
                let u = users.add(&format!("member{k}"), "pw", false)?;
                Ok(Member::new(u.id, lib, s, rng))
            })
            .collect::<Result<_>>()?;
        // Training weeks end now; the held-out week is what comes next.
        let start = now() - (s.weeks as i64 - 1) * 7 * 86_400;
        let plays = listen(lib, s, &members, rng, start);
        let held_week = s.weeks - 1;
        let library = Arc::new(Library::new(db.clone(), &settings));
        let reco = Reco::new(db.clone(), library);
        {
            let mut conn = db.write();
            conn.transaction(|c| {
                for (_, p) in plays.iter().filter(|(w, _)| *w < held_week) {
                    let t = &lib.tracks[p.track];
                    let played = if p.skipped { 20_000 } else { t.duration_ms };
                    diesel::sql_query(
                        "INSERT INTO listens (user_id, track_id, at, played_ms, skipped, source)
                         VALUES (?, ?, ?, ?, ?, 'queue')",
                    )
                    .bind::<BigInt, _>(p.user)
                    .bind::<BigInt, _>(p.track as i64 + 1)
                    .bind::<BigInt, _>(p.at)
                    .bind::<BigInt, _>(played)
                    .bind::<Bool, _>(p.skipped)
                    .execute(c)?;
                    if !p.skipped {
                        diesel::sql_query(
                            "INSERT INTO annotations (user_id, item_kind, item_id, play_count,
                                                      last_played_at, starred_at)
                             VALUES (?, 'track', ?, 1, ?, ?)
                             ON CONFLICT (user_id, item_kind, item_id) DO UPDATE SET
                               play_count = play_count + 1, last_played_at = excluded.last_played_at,
                               starred_at = COALESCE(starred_at, excluded.starred_at)",
                        )
                        .bind::<BigInt, _>(p.user)
                        .bind::<BigInt, _>(p.track as i64 + 1)
                        .bind::<BigInt, _>(p.at)
                        .bind::<Nullable<BigInt>, _>(p.starred.then_some(p.at))
                        .execute(c)?;
                    }
                }
                Ok::<_, anyhow::Error>(())
            })?;
        }
        reco.refresh()?;
        Ok(Household {
            db,
            reco,
            members,
            plays,
        })
    }

    /// The members' user ids.
    pub fn users(&self) -> Vec<i64> {
        self.members.iter().map(|m| m.user).collect()
    }

    /// Plays recorded (the held-out week left out).
    pub fn recorded_plays(&self, s: &SimSettings) -> usize {
        self.plays.iter().filter(|(w, _)| *w + 1 < s.weeks).count()
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Score {
    pub list: &'static str,
    pub method: &'static str,
    pub hit_rate: f64,
    pub ndcg: f64,
    /// Hit rate counting only songs the user had never played before the held-out week:
    /// discovery, where replaying favourites earns nothing.
    pub new_hit_rate: f64,
    pub lists: usize,
}

/// Hits among the first 10, and NDCG@10 with "played in the held-out week" as relevance.
fn judge(list: &[i64], truth: &HashSet<i64>) -> (f64, f64) {
    let list = &list[..list.len().min(10)];
    let mut dcg = 0.0;
    let mut hits = 0;
    for (k, id) in list.iter().enumerate() {
        if truth.contains(id) {
            hits += 1;
            dcg += 1.0 / ((k + 2) as f64).log2();
        }
    }
    let ideal: f64 = (0..truth.len().min(10))
        .map(|k| 1.0 / ((k + 2) as f64).log2())
        .sum();
    let ndcg = if ideal > 0.0 { dcg / ideal } else { 0.0 };
    (hits as f64 / 10.0, ndcg)
}

/// Runs the whole evaluation in `dir` (one database per household) and returns the table.
pub fn evaluate(s: &SimSettings, dir: &Path) -> Result<Vec<Score>> {
    let mut rng = StdRng::seed_from_u64(s.seed);
    let lib = make_library(s, &mut rng);
    #[allow(clippy::type_complexity)]
    let mut sums: HashMap<(&'static str, &'static str), (f64, f64, f64, usize)> = HashMap::new();
    for h in 0..s.households {
        let data = dir.join(format!("household-{h}"));
        let house = Household::make(&data, &lib, s, &mut rng)?;
        let (reco, members, plays) = (&house.reco, &house.members, &house.plays);
        let held_week = s.weeks - 1;
        // The household's most played songs before the held-out week.
        let mut counts: HashMap<i64, u32> = HashMap::new();
        for (_, p) in plays.iter().filter(|(w, p)| *w < held_week && !p.skipped) {
            *counts.entry(p.track as i64 + 1).or_default() += 1;
        }
        let mut most: Vec<(i64, u32)> = counts.into_iter().collect();
        most.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        let most_played: Vec<i64> = most.iter().take(10).map(|m| m.0).collect();
        let scope = Scope::all();
        for m in members {
            let truth: HashSet<i64> = plays
                .iter()
                .filter(|(w, p)| *w == held_week && p.user == m.user && !p.skipped)
                .map(|(_, p)| p.track as i64 + 1)
                .collect();
            let before: HashSet<i64> = plays
                .iter()
                .filter(|(w, p)| *w < held_week && p.user == m.user && !p.skipped)
                .map(|(_, p)| p.track as i64 + 1)
                .collect();
            let new: HashSet<i64> = truth.difference(&before).copied().collect();
            let Some(last) = plays
                .iter()
                .filter(|(w, p)| *w < held_week && p.user == m.user && !p.skipped)
                .max_by_key(|(_, p)| p.at)
                .map(|(_, p)| p.track as i64 + 1)
            else {
                continue;
            };
            if truth.is_empty() {
                continue;
            }
            let seed_genre = lib.tracks[last as usize - 1].genre;
            // The user's favourite genre so far, for the genre baseline of mixes.
            let mut genre_plays: HashMap<usize, u32> = HashMap::new();
            for (_, p) in plays
                .iter()
                .filter(|(w, p)| *w < held_week && p.user == m.user && !p.skipped)
            {
                *genre_plays.entry(lib.tracks[p.track].genre).or_default() += 1;
            }
            let top_genre = genre_plays
                .iter()
                .max_by_key(|(g, n)| (**n, std::cmp::Reverse(**g)))
                .map(|(g, _)| *g)
                .unwrap_or(seed_genre);
            let random = |rng: &mut StdRng, genre: Option<usize>| -> Vec<i64> {
                let pool: Vec<i64> = (0..lib.tracks.len())
                    .filter(|t| genre.is_none_or(|g| lib.tracks[*t].genre == g))
                    .map(|t| t as i64 + 1)
                    .collect();
                let mut out = Vec::new();
                while out.len() < 10.min(pool.len()) {
                    let x = pool[rng.random_range(0..pool.len())];
                    if !out.contains(&x) {
                        out.push(x);
                    }
                }
                out
            };
            let similar: Vec<i64> = reco
                .similar_songs(Some(m.user), &Seed::Song(last), 10, &scope)?
                .iter()
                .map(|p| p.song)
                .collect();
            let radio: Vec<i64> = reco
                .radio(
                    Some(m.user),
                    &Seed::Song(last),
                    11,
                    &HashSet::new(),
                    &scope,
                    s.seed,
                )?
                .iter()
                .map(|p| p.song)
                // The seed itself opens a radio: it is what was just played, not a pick.
                .filter(|id| *id != last)
                .collect();
            let mixes = reco.mixes(m.user, &scope)?;
            let mut mix: Vec<i64> = Vec::new();
            for k in 0..crate::app::reco::MIX_LENGTH {
                for one in mixes.iter() {
                    if let Some(x) = one.songs.get(k) {
                        if mix.len() < 10 && !mix.contains(&x.song) {
                            mix.push(x.song);
                        }
                    }
                }
            }
            // The user's own most played: a stronger baseline than the household's, shown too.
            let mut own: HashMap<i64, u32> = HashMap::new();
            for (_, p) in plays
                .iter()
                .filter(|(w, p)| *w < held_week && p.user == m.user && !p.skipped)
            {
                *own.entry(p.track as i64 + 1).or_default() += 1;
            }
            let mut own: Vec<(i64, u32)> = own.into_iter().collect();
            own.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            let own: Vec<i64> = own.iter().take(10).map(|o| o.0).collect();
            let rows: Vec<(&'static str, &'static str, Vec<i64>)> = vec![
                ("similar songs", "houseband", similar),
                ("radio", "houseband", radio),
                ("mixes", "houseband", mix),
                ("similar songs", "random", random(&mut rng, None)),
                (
                    "similar songs",
                    "same genre",
                    random(&mut rng, Some(seed_genre)),
                ),
                ("similar songs", "most played", most_played.clone()),
                ("radio", "random", random(&mut rng, None)),
                ("radio", "same genre", random(&mut rng, Some(seed_genre))),
                ("radio", "most played", most_played.clone()),
                ("mixes", "random", random(&mut rng, None)),
                ("mixes", "same genre", random(&mut rng, Some(top_genre))),
                ("mixes", "most played", most_played.clone()),
                ("similar songs", "own most played", own.clone()),
                ("radio", "own most played", own.clone()),
                ("mixes", "own most played", own),
            ];
            for (list, method, ids) in rows {
                let (hit, ndcg) = judge(&ids, &truth);
                let (new_hit, _) = judge(&ids, &new);
                let e = sums.entry((list, method)).or_default();
                e.0 += hit;
                e.1 += ndcg;
                e.2 += new_hit;
                e.3 += 1;
            }
        }
    }
    let mut table: Vec<Score> = sums
        .into_iter()
        .map(|((list, method), (hit, ndcg, new_hit, n))| Score {
            list,
            method,
            hit_rate: hit / n.max(1) as f64,
            ndcg: ndcg / n.max(1) as f64,
            new_hit_rate: new_hit / n.max(1) as f64,
            lists: n,
        })
        .collect();
    let order = |m: &str| match m {
        "houseband" => 0,
        "random" => 1,
        "same genre" => 2,
        "most played" => 3,
        _ => 4,
    };
    let list_order = |l: &str| match l {
        "similar songs" => 0,
        "radio" => 1,
        _ => 2,
    };
    table.sort_by_key(|s| (list_order(s.list), order(s.method)));
    Ok(table)
}

/// The table as text.
pub fn format_table(table: &[Score]) -> String {
    let mut out = String::from(
        "| list | method | hit rate@10 | NDCG@10 | new-song hit rate@10 | lists |\n\
         | --- | --- | --- | --- | --- | --- |\n",
    );
    for s in table {
        out.push_str(&format!(
            "| {} | {} | {:.3} | {:.3} | {:.3} | {} |\n",
            s.list, s.method, s.hit_rate, s.ndcg, s.new_hit_rate, s.lists
        ));
    }
    out
}
