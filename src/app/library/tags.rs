//! Reading one audio file's tags and properties with lofty into a [`TrackRecord`].
//!
//! Everything lofty reads is accepted: MP3 (ID3v1, ID3v2.3/2.4, APE), FLAC, Ogg Vorbis, Opus, Speex,
//! MP4 (AAC, ALAC), WAV, AIFF, Monkey's Audio, WavPack, Musepack and raw AAC (ADTS). The file type
//! comes from the content, not the name. All tags of a file are merged, the format's main tag first.
//! Hostile values (control characters, absurd numbers, thousands of artists, huge texts) are cleaned
//! or capped, never trusted, and each fix is reported as a warning on the record.

use std::path::Path;

use lofty::config::{ParseOptions, ParsingMode};
use lofty::file::{FileType, TaggedFileExt};
use lofty::prelude::AudioFile;
use lofty::probe::Probe;
use lofty::tag::{ItemKey, Tag};

use std::io::{Read, Seek, SeekFrom};

use super::head_tail::HeadTailFile;
use super::record::{role, Credit, TrackRecord};

/// The longest text kept from one tag field (titles, names); longer ones are cut with a warning.
const MAX_FIELD_CHARS: usize = 1_000;
/// The longest lyrics or comment kept.
const MAX_LONG_TEXT_CHARS: usize = 64 * 1024;
/// The most credits kept per role and the most genres per track.
const MAX_VALUES: usize = 100;

pub const UNKNOWN_ARTIST: &str = "[Unknown Artist]";
pub const UNKNOWN_ALBUM: &str = "[Unknown Album]";
pub const VARIOUS_ARTISTS: &str = "Various Artists";

/// Extensions the walker hands to the tag reader.
pub const AUDIO_EXTENSIONS: &[&str] = &[
    "mp3", "mp2", "flac", "ogg", "oga", "opus", "spx", "m4a", "m4b", "mp4", "aac", "wav", "aif",
    "aiff", "aifc", "ape", "wv", "mpc", "mp+", "mpp",
];

pub fn is_audio_extension(ext: &str) -> bool {
    AUDIO_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext))
}

#[derive(Debug, Clone)]
pub struct TagOptions {
    /// Separators that split one artist/genre value into several (never applied to titles).
    pub separators: Vec<String>,
}

impl Default for TagOptions {
    fn default() -> Self {
        TagOptions {
            separators: vec![";".into(), " / ".into()],
        }
    }
}

/// Reads a file. The error is a reason fit for a person: it goes into `scan_errors`.
pub fn read_track(path: &Path, options: &TagOptions) -> Result<TrackRecord, String> {
    let (file_type, tagged, tag_error, truncated, extras) = match open(path, true) {
        Ok((t, f, cut, x)) => (t, f, None, cut, x),
        // Unreadable tags (invalid UTF-8, a broken frame) must not cost the user the song: read
        // the audio alone and name the track after its file.
        Err(first) => match open(path, false) {
            Ok((t, f, cut, x)) => (t, f, Some(first), cut, x),
            Err(_) => return Err(first),
        },
    };
    let mut rec = TrackRecord::default();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let props = tagged.properties();
    describe_format(&mut rec, file_type, props.bit_depth().is_some(), &ext);

    rec.duration_ms = i64::try_from(props.duration().as_millis()).unwrap_or(0);
    rec.bit_rate = props
        .audio_bitrate()
        .or(props.overall_bitrate())
        .map(|b| b as i32);
    rec.sample_rate = props.sample_rate().map(|s| s as i32);
    rec.bit_depth = props.bit_depth().map(i32::from);
    rec.channels = props.channels().map(i32::from);
    if rec.duration_ms == 0 {
        rec.warnings
            .push("no audio length could be read: the file may be truncated".into());
    } else if let Some(why) = truncated.or_else(|| truncation(file_type, props)) {
        rec.warnings.push(why);
    }

    // The format's own tag first, then the others (e.g. ID3v1 behind ID3v2) to fill gaps.
    let primary = tagged.primary_tag_type();
    let mut tags: Vec<&Tag> = tagged.tags().iter().collect();
    tags.sort_by_key(|t| t.tag_type() != primary);
    let reader = Fields {
        tags: &tags,
        separators: &options.separators,
    };
    reader.fill(&mut rec, path, extras);
    if let Some(e) = tag_error {
        rec.warnings.push(format!(
            "the tags cannot be read ({e}): the track is named after its file"
        ));
    }
    Ok(rec)
}

type Opened = (FileType, lofty::file::TaggedFile, Option<String>, Extras);

/// Reads a file with lofty; for FLAC also checks the stream against its STREAMINFO.
fn open(path: &Path, with_tags: bool) -> Result<Opened, String> {
    guarded(|| open_unguarded(path, with_tags))
}

/// lofty on one file; a panic of the reader on a malformed file (fuzzing found an overflow in
/// its Speex length arithmetic) is that file's error, and the scan goes on.
pub(crate) fn guarded<T>(read: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    crate::app::survive(read).unwrap_or_else(|| {
        Err("the tag reader failed on this malformed file (a bug in it; see the log)".into())
    })
}

fn open_unguarded(path: &Path, with_tags: bool) -> Result<Opened, String> {
    let parse = ParseOptions::new()
        .parsing_mode(ParsingMode::BestAttempt)
        .read_tags(with_tags)
        .read_cover_art(with_tags);
    let file = HeadTailFile::open(path).map_err(|e| format!("cannot read file: {e}"))?;
    if file.is_empty() {
        return Err("empty file (0 bytes)".into());
    }
    let probe = Probe::new(file)
        .set_file_type_opt(FileType::from_path(path))
        .options(parse)
        .guess_file_type()
        .map_err(|e| format!("cannot read file: {e}"))?;
    let file_type = probe
        .file_type()
        .ok_or_else(|| "not an audio file this server can read".to_string())?;
    let mut reader = probe.into_inner();
    let truncated = if file_type == FileType::Flac {
        flac_truncation(&mut reader)
    } else {
        None
    };
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| format!("cannot read file: {e}"))?;
    let (tagged, extras) = read_with_extras(reader, file_type, parse)
        .map_err(|e| format!("not a readable {} file: {e}", format_name(file_type)))?;
    Ok((file_type, tagged, truncated, extras))
}

/// Values lofty's generic tag has no key for, read from the format's own tag.
#[derive(Debug, Default)]
struct Extras {
    explicit: Option<String>,
    bpm: Option<String>,
}

fn vorbis_extras(vc: &lofty::ogg::tag::VorbisComments) -> Extras {
    Extras {
        explicit: vc
            .get("ITUNESADVISORY")
            .or_else(|| vc.get("EXPLICIT"))
            .map(str::to_string),
        bpm: None,
    }
}

fn ape_extras(ape: &lofty::ape::ApeTag) -> Extras {
    Extras {
        explicit: None,
        bpm: ape
            .get("BPM")
            .and_then(|item| item.text_values())
            .and_then(|mut values| values.next())
            .map(str::to_string),
    }
}

fn read_with_extras(
    mut reader: HeadTailFile,
    file_type: FileType,
    parse: ParseOptions,
) -> Result<(lofty::file::TaggedFile, Extras), lofty::error::FileParseError> {
    use lofty::ape::ApeFile;
    use lofty::flac::FlacFile;
    use lofty::musepack::MpcFile;
    use lofty::ogg::{OpusFile, SpeexFile, VorbisFile};
    use lofty::wavpack::WavPackFile;

    /// Reads a file as its concrete lofty type, takes the extras, then converts it.
    fn typed<F: AudioFile + Into<lofty::file::TaggedFile>>(
        reader: &mut HeadTailFile,
        parse: ParseOptions,
        extras: impl FnOnce(&F) -> Extras,
    ) -> Result<(lofty::file::TaggedFile, Extras), lofty::error::FileParseError> {
        let file = F::read_from(reader, parse)?;
        let found = extras(&file);
        Ok((file.into(), found))
    }

    let r = &mut reader;
    match file_type {
        FileType::Flac => typed::<FlacFile>(r, parse, |f| {
            f.vorbis_comments().map(vorbis_extras).unwrap_or_default()
        }),
        FileType::Vorbis => typed::<VorbisFile>(r, parse, |f| vorbis_extras(f.vorbis_comments())),
        FileType::Opus => typed::<OpusFile>(r, parse, |f| vorbis_extras(f.vorbis_comments())),
        FileType::Speex => typed::<SpeexFile>(r, parse, |f| vorbis_extras(f.vorbis_comments())),
        FileType::Ape => {
            typed::<ApeFile>(r, parse, |f| f.ape().map(ape_extras).unwrap_or_default())
        }
        FileType::WavPack => {
            typed::<WavPackFile>(r, parse, |f| f.ape().map(ape_extras).unwrap_or_default())
        }
        FileType::Mpc => {
            typed::<MpcFile>(r, parse, |f| f.ape().map(ape_extras).unwrap_or_default())
        }
        _ => Ok((
            Probe::with_file_type(reader, file_type)
                .options(parse)
                .read()?,
            Extras::default(),
        )),
    }
}

fn format_name(t: FileType) -> &'static str {
    match t {
        FileType::Aac => "AAC",
        FileType::Aiff => "AIFF",
        FileType::Ape => "Monkey's Audio",
        FileType::Flac => "FLAC",
        FileType::Mpeg => "MPEG audio",
        FileType::Mp4 => "MP4",
        FileType::Mpc => "Musepack",
        FileType::Opus => "Opus",
        FileType::Vorbis => "Ogg Vorbis",
        FileType::Speex => "Speex",
        FileType::Wav => "WAV",
        FileType::WavPack => "WavPack",
        _ => "audio",
    }
}

trait SetFileTypeOpt {
    fn set_file_type_opt(self, t: Option<FileType>) -> Self;
}

impl<R: std::io::Read> SetFileTypeOpt for Probe<R> {
    fn set_file_type_opt(self, t: Option<FileType>) -> Self {
        match t {
            Some(t) => self.set_file_type(t),
            None => self,
        }
    }
}

/// Signs that a file was cut short (an interrupted copy): it still plays up to the cut, so it
/// stays in the library, with a warning.
fn truncation(file_type: FileType, props: &lofty::properties::FileProperties) -> Option<String> {
    match file_type {
        // The stream's own bit rate (from its headers) against what the file size allows.
        FileType::Mpeg | FileType::Aac | FileType::Mp4 => {
            let (overall, audio) = (props.overall_bitrate()?, props.audio_bitrate()?);
            (u64::from(overall) * 10 < u64::from(audio) * 9).then(|| {
                format!(
                    "the file holds less audio than its header claims ({:.1} s): it looks truncated",
                    props.duration().as_secs_f64()
                )
            })
        }
        _ => None,
    }
}

/// A FLAC stream cannot be shorter than its frame count times its smallest frame.
fn flac_truncation(f: &mut HeadTailFile) -> Option<String> {
    let (frames, min_frame, audio_start) = flac_stream_info(f)?;
    (frames * min_frame > f.len().saturating_sub(audio_start)).then(|| {
        format!("the FLAC stream is shorter than its {frames} frames of at least {min_frame} bytes: it looks truncated")
    })
}

/// From a FLAC file's STREAMINFO: (frame count, smallest frame size, offset of the audio).
fn flac_stream_info(f: &mut HeadTailFile) -> Option<(u64, u64, u64)> {
    let mut head = [0u8; 10];
    f.read_exact(&mut head).ok()?;
    // An ID3v2 tag may come first; its size is "syncsafe" (7 bits a byte).
    let mut offset = if &head[..3] == b"ID3" {
        let size = head[6..10]
            .iter()
            .fold(0u64, |acc, b| (acc << 7) | u64::from(b & 0x7f));
        10 + size
    } else {
        0
    };
    f.seek(SeekFrom::Start(offset)).ok()?;
    let mut magic = [0u8; 4];
    f.read_exact(&mut magic).ok()?;
    if &magic != b"fLaC" {
        return None;
    }
    offset += 4;
    let mut info = None;
    loop {
        let mut block = [0u8; 4];
        f.read_exact(&mut block).ok()?;
        let last = block[0] & 0x80 != 0;
        let kind = block[0] & 0x7f;
        let size = u64::from(block[1]) << 16 | u64::from(block[2]) << 8 | u64::from(block[3]);
        if kind == 0 && size >= 34 {
            let mut si = [0u8; 18];
            f.read_exact(&mut si).ok()?;
            f.seek(SeekFrom::Current(size as i64 - 18)).ok()?;
            let max_block = u64::from(si[2]) << 8 | u64::from(si[3]);
            let min_frame = u64::from(si[4]) << 16 | u64::from(si[5]) << 8 | u64::from(si[6]);
            let total = (u64::from(si[13] & 0x0f) << 32)
                | u64::from(si[14]) << 24
                | u64::from(si[15]) << 16
                | u64::from(si[16]) << 8
                | u64::from(si[17]);
            info = Some((max_block, min_frame, total));
        } else {
            f.seek(SeekFrom::Current(size as i64)).ok()?;
        }
        offset += 4 + size;
        if last {
            break;
        }
    }
    let (max_block, min_frame, total) = info?;
    if max_block == 0 || min_frame == 0 || total == 0 {
        return None;
    }
    Some((total.div_ceil(max_block), min_frame, offset))
}

/// Sets format, suffix and content type. The suffix is the file's own extension when it fits the
/// content (so ".oga" stays ".oga"), else the content's usual one: clients pick a decoder by it.
fn describe_format(rec: &mut TrackRecord, t: FileType, has_bit_depth: bool, ext: &str) {
    let (format, suffixes, mime): (&str, &[&str], &str) = match t {
        FileType::Aac => ("aac", &["aac"], "audio/aac"),
        FileType::Aiff => ("aiff", &["aiff", "aif", "aifc"], "audio/aiff"),
        FileType::Ape => ("ape", &["ape"], "audio/x-ape"),
        FileType::Flac => ("flac", &["flac"], "audio/flac"),
        FileType::Mpeg => ("mp3", &["mp3", "mp2"], "audio/mpeg"),
        // lofty's generic properties carry a bit depth for ALAC and none for AAC.
        FileType::Mp4 if has_bit_depth => ("alac", &["m4a", "m4b", "mp4"], "audio/mp4"),
        FileType::Mp4 => ("aac", &["m4a", "m4b", "mp4"], "audio/mp4"),
        FileType::Mpc => ("mpc", &["mpc", "mp+", "mpp"], "audio/x-musepack"),
        FileType::Opus => ("opus", &["opus", "ogg", "oga"], "audio/ogg"),
        FileType::Vorbis => ("vorbis", &["ogg", "oga"], "audio/ogg"),
        FileType::Speex => ("speex", &["spx", "ogg", "oga"], "audio/ogg"),
        FileType::Wav => ("wav", &["wav"], "audio/wav"),
        FileType::WavPack => ("wavpack", &["wv"], "audio/x-wavpack"),
        _ => ("unknown", &[], "application/octet-stream"),
    };
    rec.format = format.to_string();
    rec.content_type = mime.to_string();
    if suffixes.contains(&ext) {
        rec.suffix = ext.to_string();
    } else {
        let real = suffixes.first().copied().unwrap_or("bin");
        rec.warnings.push(format!(
            "the file name says .{ext} but the content is {}: served as .{real}",
            format_name(t)
        ));
        rec.suffix = real.to_string();
    }
}

struct Fields<'a> {
    tags: &'a [&'a Tag],
    separators: &'a [String],
}

impl Fields<'_> {
    /// All values of a key from the first tag that has any, split at ID3v2.4 null separators.
    fn values(&self, key: ItemKey) -> Vec<String> {
        for tag in self.tags {
            let found: Vec<String> = tag
                .get_strings(key)
                .flat_map(|v| v.split('\0'))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_string)
                .collect();
            if !found.is_empty() {
                return found;
            }
        }
        Vec::new()
    }

    fn first(&self, key: ItemKey) -> Option<String> {
        self.values(key).into_iter().next()
    }

    /// Values split at the configured separators ("A; B", "A / B"), for names and genres.
    fn split_values(&self, key: ItemKey) -> Vec<String> {
        self.values(key)
            .iter()
            .flat_map(|v| split_multi(v, self.separators))
            .collect()
    }

    fn fill(&self, rec: &mut TrackRecord, path: &Path, extras: Extras) {
        let mut w = Vec::new();
        let text = |v: Option<String>, what: &str, w: &mut Vec<String>| -> Option<String> {
            v.map(|s| clean(&s, MAX_FIELD_CHARS, what, w))
                .filter(|s| !s.is_empty())
        };

        rec.title = text(self.first(ItemKey::TrackTitle), "title", &mut w).unwrap_or_else(|| {
            path.file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default()
        });
        rec.sort_title = text(
            self.first(ItemKey::TrackTitleSortOrder),
            "title sort",
            &mut w,
        );
        rec.album = text(self.first(ItemKey::AlbumTitle), "album", &mut w)
            .unwrap_or_else(|| UNKNOWN_ALBUM.to_string());
        rec.album_sort = text(
            self.first(ItemKey::AlbumTitleSortOrder),
            "album sort",
            &mut w,
        );

        // Artists: the multi-valued ARTISTS tag wins; else ARTIST, split at the separators.
        let artist_tag = self.values(ItemKey::TrackArtist);
        let explicit_artists = self.values(ItemKey::TrackArtists);
        let artists = if explicit_artists.is_empty() {
            self.split_values(ItemKey::TrackArtist)
        } else {
            explicit_artists
        };
        let artists = clean_names(artists, "artists", &mut w);
        rec.artist_display = if artist_tag.is_empty() {
            artists.join(" / ")
        } else {
            clean(
                &artist_tag[..artist_tag.len().min(MAX_VALUES)].join(" / "),
                MAX_FIELD_CHARS,
                "artist",
                &mut w,
            )
        };
        let artists = if artists.is_empty() {
            vec![UNKNOWN_ARTIST.to_string()]
        } else {
            artists
        };
        if rec.artist_display.is_empty() {
            rec.artist_display = artists.join(" / ");
        }
        rec.artist_sort = text(
            self.first(ItemKey::TrackArtistSortOrder),
            "artist sort",
            &mut w,
        );
        rec.mbz_artist_ids = mbids(self.values(ItemKey::MusicBrainzArtistId));
        push_credits(
            rec,
            role::ARTIST,
            &artists,
            rec.artist_sort.clone(),
            &rec.mbz_artist_ids.clone(),
        );

        // Compilations: the flag, or an album artist that says so.
        let album_artist_tag = self.values(ItemKey::AlbumArtist);
        rec.compilation = self
            .first(ItemKey::FlagCompilation)
            .is_some_and(|v| matches!(v.as_str(), "1" | "true" | "True" | "TRUE" | "yes"))
            || album_artist_tag
                .iter()
                .any(|a| is_various(&super::fold::fold(a)));
        let explicit_album_artists = self.values(ItemKey::AlbumArtists);
        let mut album_artists = if explicit_album_artists.is_empty() {
            self.split_values(ItemKey::AlbumArtist)
        } else {
            explicit_album_artists
        };
        album_artists = clean_names(album_artists, "album artists", &mut w);
        if album_artists.is_empty() {
            album_artists = if rec.compilation {
                vec![VARIOUS_ARTISTS.to_string()]
            } else {
                artists.clone()
            };
        }
        rec.album_artist_display = if album_artist_tag.is_empty() {
            album_artists.join(" / ")
        } else {
            clean(
                &album_artist_tag[..album_artist_tag.len().min(MAX_VALUES)].join(" / "),
                MAX_FIELD_CHARS,
                "album artist",
                &mut w,
            )
        };
        rec.album_artist_sort = text(
            self.first(ItemKey::AlbumArtistSortOrder),
            "album artist sort",
            &mut w,
        );
        rec.mbz_album_artist_ids = mbids(self.values(ItemKey::MusicBrainzReleaseArtistId));
        push_credits(
            rec,
            role::ALBUM_ARTIST,
            &album_artists,
            rec.album_artist_sort.clone(),
            &rec.mbz_album_artist_ids.clone(),
        );

        for (key, role) in [
            (ItemKey::Composer, role::COMPOSER),
            (ItemKey::Conductor, role::CONDUCTOR),
            (ItemKey::Lyricist, role::LYRICIST),
            (ItemKey::Arranger, role::ARRANGER),
            (ItemKey::Producer, role::PRODUCER),
            (ItemKey::Remixer, role::REMIXER),
            (ItemKey::MixEngineer, role::MIXER),
            (ItemKey::MixDj, role::MIXER),
            (ItemKey::Engineer, role::ENGINEER),
            (ItemKey::Director, role::DIRECTOR),
            (ItemKey::Writer, role::WRITER),
        ] {
            let names = clean_names(self.split_values(key), role, &mut w);
            let sort = if role == role::COMPOSER {
                self.first(ItemKey::ComposerSortOrder)
            } else {
                None
            };
            push_credits(rec, role, &names, sort, &[]);
        }
        // Performers: "Name (instrument)".
        let performers = clean_names(self.split_values(ItemKey::Performer), "performers", &mut w);
        for p in performers {
            let (name, sub_role) = split_performer(&p);
            rec.credits.push(Credit {
                role: role::PERFORMER,
                name,
                sub_role,
                sort_name: None,
                mbid: None,
            });
        }

        let mut genres: Vec<String> = Vec::new();
        for g in clean_names(self.split_values(ItemKey::Genre), "genres", &mut w) {
            if !genres.iter().any(|x| x.eq_ignore_ascii_case(&g)) {
                genres.push(g);
            }
        }
        rec.genres = genres;
        rec.moods = clean_names(self.split_values(ItemKey::Mood), "moods", &mut w);

        let (n, t) = self.number_pair(ItemKey::TrackNumber, ItemKey::TrackTotal, "track", &mut w);
        rec.track_number = n;
        rec.track_total = t;
        let (n, t) = self.number_pair(ItemKey::DiscNumber, ItemKey::DiscTotal, "disc", &mut w);
        rec.disc_number = n;
        rec.disc_total = t;
        rec.disc_subtitle = text(self.first(ItemKey::SetSubtitle), "disc subtitle", &mut w);

        rec.date = self.date(&[ItemKey::RecordingDate, ItemKey::Year], "date", &mut w);
        rec.original_date = self.date(&[ItemKey::OriginalReleaseDate], "original date", &mut w);
        rec.release_date = self.date(&[ItemKey::ReleaseDate], "release date", &mut w);
        rec.year = rec
            .date
            .as_deref()
            .or(rec.release_date.as_deref())
            .or(rec.original_date.as_deref())
            .and_then(|d| d.get(..4))
            .and_then(|y| y.parse().ok());

        rec.bpm = self
            .first(ItemKey::Bpm)
            .or_else(|| self.first(ItemKey::IntegerBpm))
            .or(extras.bpm)
            .and_then(|v| {
                let bpm = v.parse::<f64>().ok().filter(|b| *b > 0.0 && *b < 1000.0);
                if bpm.is_none() {
                    w.push(format!("ignored impossible BPM {:?}", short(&v)));
                }
                bpm.map(|b| b.round() as i32)
            });
        rec.comment = self
            .first(ItemKey::Comment)
            .map(|s| clean(&s, MAX_LONG_TEXT_CHARS, "comment", &mut w))
            .filter(|s| !s.is_empty());
        let isrcs: Vec<String> = self
            .values(ItemKey::Isrc)
            .iter()
            .map(|s| clean(s, 64, "ISRC", &mut w))
            .filter(|s| !s.is_empty())
            .take(MAX_VALUES)
            .collect();
        rec.isrc = (!isrcs.is_empty()).then(|| isrcs.join(";"));
        rec.label = text(
            self.first(ItemKey::Label)
                .or_else(|| self.first(ItemKey::Publisher)),
            "label",
            &mut w,
        );
        let types: Vec<String> = self
            .split_values(ItemKey::MusicBrainzReleaseType)
            .iter()
            .map(|s| clean(s, 64, "release type", &mut w).to_lowercase())
            .filter(|s| !s.is_empty())
            .take(MAX_VALUES)
            .collect();
        rec.release_types = (!types.is_empty()).then(|| types.join(";"));
        rec.explicit = self
            .first(ItemKey::ParentalAdvisory)
            .or(extras.explicit)
            .and_then(|v| match v.trim() {
                "1" | "4" | "explicit" => Some(true),
                "2" | "clean" => Some(false),
                _ => None,
            });

        rec.rg_track_gain = self.gain(ItemKey::ReplayGainTrackGain, ItemKey::R128TrackGain, &mut w);
        rec.rg_album_gain = self.gain(ItemKey::ReplayGainAlbumGain, ItemKey::R128AlbumGain, &mut w);
        rec.rg_track_peak = self.peak(ItemKey::ReplayGainTrackPeak, &mut w);
        rec.rg_album_peak = self.peak(ItemKey::ReplayGainAlbumPeak, &mut w);

        rec.mbz_recording_id = mbids(self.values(ItemKey::MusicBrainzRecordingId))
            .into_iter()
            .next();
        rec.mbz_release_track_id = mbids(self.values(ItemKey::MusicBrainzTrackId))
            .into_iter()
            .next();
        rec.mbz_album_id = mbids(self.values(ItemKey::MusicBrainzReleaseId))
            .into_iter()
            .next();
        rec.mbz_release_group_id = mbids(self.values(ItemKey::MusicBrainzReleaseGroupId))
            .into_iter()
            .next();

        rec.lyrics = self
            .first(ItemKey::Lyrics)
            .or_else(|| self.first(ItemKey::UnsyncLyrics))
            .map(|s| clean(&s, MAX_LONG_TEXT_CHARS, "lyrics", &mut w))
            .filter(|s| !s.is_empty());
        rec.has_cover = self.tags.iter().any(|t| t.picture_count() > 0);
        rec.warnings.extend(w);
    }

    /// "3", "3/12", with a separate total key as fallback. Negative or absurd numbers are dropped.
    fn number_pair(
        &self,
        number_key: ItemKey,
        total_key: ItemKey,
        what: &str,
        w: &mut Vec<String>,
    ) -> (Option<i32>, Option<i32>) {
        let mut parse = |raw: Option<String>, what: &str| -> (Option<i32>, Option<i32>) {
            let Some(raw) = raw else { return (None, None) };
            let mut parts = raw.splitn(2, '/');
            let mut one = |s: Option<&str>| -> Option<i32> {
                let s = s?.trim();
                if s.is_empty() {
                    return None;
                }
                match s.parse::<i64>() {
                    Ok(n) if (0..=100_000).contains(&n) => Some(n as i32),
                    _ => {
                        w.push(format!("ignored impossible {what} {:?}", short(s)));
                        None
                    }
                }
            };
            (one(parts.next()), one(parts.next()))
        };
        let (number, total_in_number) = parse(self.first(number_key), &format!("{what} number"));
        let (total, _) = parse(self.first(total_key), &format!("{what} total"));
        (number, total.or(total_in_number))
    }

    /// A date as YYYY, YYYY-MM or YYYY-MM-DD; anything else is dropped with a warning.
    fn date(&self, keys: &[ItemKey], what: &str, w: &mut Vec<String>) -> Option<String> {
        let raw = keys.iter().find_map(|k| self.first(*k))?;
        let parsed = parse_date(&raw);
        if parsed.is_none() {
            w.push(format!("ignored unreadable {what} {:?}", short(&raw)));
        }
        parsed
    }

    fn gain(&self, key: ItemKey, r128_key: ItemKey, w: &mut Vec<String>) -> Option<f64> {
        if let Some(raw) = self.first(key) {
            let number = raw
                .trim()
                .trim_end_matches(|c: char| c.is_alphabetic() || c.is_whitespace());
            match number.parse::<f64>() {
                Ok(g) if g.is_finite() && g.abs() <= 100.0 => return Some(g),
                _ => w.push(format!("ignored unreadable ReplayGain {:?}", short(&raw))),
            }
        }
        // Opus R128 gains are Q7.8 fixed point relative to -23 LUFS; ReplayGain uses -18 LUFS.
        let raw = self.first(r128_key)?;
        raw.trim()
            .parse::<i32>()
            .ok()
            .map(|q| f64::from(q) / 256.0 + 5.0)
    }

    fn peak(&self, key: ItemKey, w: &mut Vec<String>) -> Option<f64> {
        let raw = self.first(key)?;
        match raw.trim().parse::<f64>() {
            Ok(p) if p.is_finite() && (0.0..=100.0).contains(&p) => Some(p),
            _ => {
                w.push(format!(
                    "ignored unreadable ReplayGain peak {:?}",
                    short(&raw)
                ));
                None
            }
        }
    }
}

fn is_various(folded: &str) -> bool {
    matches!(
        folded,
        "various artists" | "various" | "va" | "v.a." | "various artist"
    )
}

fn push_credits(
    rec: &mut TrackRecord,
    role: &'static str,
    names: &[String],
    first_sort: Option<String>,
    ids: &[String],
) {
    let ids_fit = ids.len() == names.len();
    for (i, name) in names.iter().enumerate() {
        rec.credits.push(Credit {
            role,
            name: name.clone(),
            sub_role: None,
            // A sort tag names the whole credit; it belongs to a lone artist only.
            sort_name: if names.len() == 1 {
                first_sort.clone()
            } else {
                None
            },
            mbid: if ids_fit { Some(ids[i].clone()) } else { None },
        });
    }
}

/// Splits a value at any of the separators. "AC/DC" stays whole: the default " / " needs spaces.
pub fn split_multi(value: &str, separators: &[String]) -> Vec<String> {
    let mut parts = vec![value.to_string()];
    for sep in separators {
        parts = parts
            .iter()
            .flat_map(|p| {
                p.split(sep.as_str())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

fn split_performer(value: &str) -> (String, Option<String>) {
    if let Some(open) = value.rfind('(') {
        if value.ends_with(')') && open > 0 {
            let name = value[..open].trim().to_string();
            let part = value[open + 1..value.len() - 1].trim().to_string();
            if !name.is_empty() && !part.is_empty() {
                return (name, Some(part));
            }
        }
    }
    (value.to_string(), None)
}

/// MusicBrainz ids: several may share one value, separated by '/' or ';'. Junk is dropped.
fn mbids(values: Vec<String>) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(['/', ';']))
        .map(str::trim)
        .filter(|v| v.len() == 36 && v.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        .map(|v| v.to_ascii_lowercase())
        .take(MAX_VALUES)
        .collect()
}

fn clean_names(names: Vec<String>, what: &str, w: &mut Vec<String>) -> Vec<String> {
    let total = names.len();
    let mut out: Vec<String> = Vec::new();
    for n in names {
        let n = clean(&n, MAX_FIELD_CHARS, what, w);
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
        if out.len() == MAX_VALUES {
            break;
        }
    }
    if total > MAX_VALUES {
        w.push(format!(
            "{total} {what} in the tags: kept the first {MAX_VALUES}"
        ));
    }
    out
}

/// Drops control characters (keeping line breaks and tabs), trims, and caps the length.
fn clean(value: &str, max_chars: usize, what: &str, w: &mut Vec<String>) -> String {
    let mut removed = false;
    let mut out: String = value
        .chars()
        .filter(|c| {
            let bad = (c.is_control() && !matches!(c, '\n' | '\t' | '\r')) || *c == '\u{fffd}';
            removed |= bad;
            !bad
        })
        .collect();
    if removed {
        w.push(format!(
            "removed control or invalid characters from the {what}"
        ));
    }
    if out.chars().count() > max_chars {
        out = out.chars().take(max_chars).collect();
        w.push(format!(
            "the {what} was longer than {max_chars} characters: cut"
        ));
    }
    out.trim().to_string()
}

fn short(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Accepts YYYY, YYYY-MM, YYYY-MM-DD (and longer ISO timestamps, cut to the day).
pub fn parse_date(raw: &str) -> Option<String> {
    let s = raw.trim();
    let bytes = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let year = digits(0..4).filter(|y| (1..=9999).contains(y))?;
    if bytes.len() > 4 && !matches!(bytes[4], b'-' | b'.' | b'/') && !bytes[4].is_ascii_whitespace()
    {
        return None;
    }
    let month = if bytes.len() >= 7 && bytes[4] == b'-' {
        digits(5..7).filter(|m| (1..=12).contains(m))
    } else {
        None
    };
    let day = match month {
        Some(_) if bytes.len() >= 10 && bytes[7] == b'-' => {
            digits(8..10).filter(|d| (1..=31).contains(d))
        }
        _ => None,
    };
    Some(match (month, day) {
        (Some(m), Some(d)) => format!("{year:04}-{m:02}-{d:02}"),
        (Some(m), None) => format!("{year:04}-{m:02}"),
        _ => format!("{year:04}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_at_separators_but_not_inside_names() {
        let seps = TagOptions::default().separators;
        assert_eq!(split_multi("AC/DC", &seps), vec!["AC/DC"]);
        assert_eq!(split_multi("A / B; C", &seps), vec!["A", "B", "C"]);
        assert_eq!(split_multi(" ; ", &seps), Vec::<String>::new());
    }

    #[test]
    fn dates() {
        assert_eq!(parse_date("2019-03-14"), Some("2019-03-14".into()));
        assert_eq!(parse_date("2019-03-14T10:00:00"), Some("2019-03-14".into()));
        assert_eq!(parse_date("2005"), Some("2005".into()));
        assert_eq!(parse_date("1999-13"), Some("1999".into()));
        assert_eq!(parse_date("99999-99-99"), None);
        assert_eq!(parse_date("junk"), None);
        assert_eq!(parse_date("0000"), None);
    }

    #[test]
    fn performers_and_mbids() {
        assert_eq!(
            split_performer("Maria Solo (violin)"),
            ("Maria Solo".to_string(), Some("violin".to_string()))
        );
        assert_eq!(split_performer("(solo)"), ("(solo)".to_string(), None));
        assert_eq!(
            mbids(vec![
                "30000000-0000-4000-8000-000000000001/30000000-0000-4000-8000-000000000002".into(),
                "junk".into()
            ])
            .len(),
            2
        );
    }

    #[test]
    fn cleans_control_characters_and_caps() {
        let mut w = Vec::new();
        assert_eq!(clean("a\u{0}b\u{7}c", 10, "title", &mut w), "abc");
        assert_eq!(w.len(), 1);
        assert_eq!(clean(&"x".repeat(20), 10, "title", &mut w).len(), 10);
    }
}
