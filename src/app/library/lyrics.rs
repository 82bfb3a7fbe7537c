//! Lyrics: embedded in the tags or in a `.lrc` file beside the track, synced (timed lines) or
//! plain. LRC is parsed here: `[mm:ss.xx]` time tags (several per line allowed), `[offset:±ms]`
//! and `[la:xxx]` (language); other `[tag:...]` lines are metadata and skipped.

use std::path::Path;

/// The largest `.lrc` file read; lyrics are text, a bigger file is not lyrics.
const MAX_LRC_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, PartialEq)]
pub struct Lyrics {
    /// ISO 639 code, or "xxx" when unknown.
    pub lang: String,
    pub synced: bool,
    pub offset_ms: i64,
    /// (start in ms for synced lyrics, text).
    pub lines: Vec<(Option<i64>, String)>,
}

impl Lyrics {
    pub fn plain_text(&self) -> String {
        self.lines
            .iter()
            .map(|(_, t)| t.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// "mm:ss", "mm:ss.xx", "mm:ss.xxx" or "mm:ss:xx" to milliseconds.
fn time_tag(tag: &str) -> Option<i64> {
    let (min, rest) = tag.split_once(':')?;
    let min: i64 = min.trim().parse().ok()?;
    let (sec, frac) = match rest.split_once(['.', ':']) {
        Some((s, f)) => (s, f),
        None => (rest, ""),
    };
    let sec: i64 = sec.trim().parse().ok()?;
    if !(0..60).contains(&sec) || min < 0 {
        return None;
    }
    let frac_ms = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 100,
        2 => frac.parse::<i64>().ok()? * 10,
        _ => frac.get(..3)?.parse::<i64>().ok()?,
    };
    // Checked: a tag of absurd minutes is not a time (fuzzing found the overflow).
    min.checked_mul(60_000)?.checked_add(sec * 1000 + frac_ms)
}

/// Parses lyrics text; it is synced when at least one line carries a time tag.
pub fn parse(text: &str) -> Lyrics {
    let mut lang = "xxx".to_string();
    let mut offset_ms = 0;
    let mut timed: Vec<(i64, String)> = Vec::new();
    let mut plain: Vec<String> = Vec::new();
    for raw in text.lines() {
        let mut rest = raw.trim_end_matches('\r');
        let mut times = Vec::new();
        let mut meta = false;
        while let Some(stripped) = rest.strip_prefix('[') {
            let Some(end) = stripped.find(']') else { break };
            let tag = &stripped[..end];
            if let Some(t) = time_tag(tag) {
                times.push(t);
            } else if let Some((key, value)) = tag.split_once(':') {
                match key.trim().to_ascii_lowercase().as_str() {
                    "offset" => offset_ms = value.trim().parse().unwrap_or(0),
                    "la" | "lang" | "language" => lang = value.trim().to_string(),
                    _ => {}
                }
                meta = true;
            } else {
                break;
            }
            rest = &stripped[end + 1..];
        }
        let line = rest.trim().to_string();
        if !times.is_empty() {
            timed.extend(times.into_iter().map(|t| (t, line.clone())));
        } else if !meta {
            plain.push(line);
        }
    }
    if timed.is_empty() {
        while plain.last().is_some_and(|l| l.is_empty()) {
            plain.pop();
        }
        return Lyrics {
            lang,
            synced: false,
            offset_ms,
            lines: plain.into_iter().map(|l| (None, l)).collect(),
        };
    }
    timed.sort_by_key(|(t, _)| *t);
    Lyrics {
        lang,
        synced: true,
        offset_ms,
        lines: timed.into_iter().map(|(t, l)| (Some(t), l)).collect(),
    }
}

/// Every version of a track's lyrics: the `.lrc` file first (usually synced), then the tags.
pub fn for_track(embedded: Option<&str>, lrc_path: Option<&str>) -> Vec<Lyrics> {
    let mut out = Vec::new();
    if let Some(path) = lrc_path {
        let path = Path::new(path);
        let small = std::fs::metadata(path).is_ok_and(|m| m.len() <= MAX_LRC_BYTES);
        if small {
            if let Ok(bytes) = std::fs::read(path) {
                let lyrics = parse(&String::from_utf8_lossy(&bytes));
                if !lyrics.lines.is_empty() {
                    out.push(lyrics);
                }
            }
        }
    }
    if let Some(text) = embedded.filter(|t| !t.trim().is_empty()) {
        let lyrics = parse(text);
        if !out.contains(&lyrics) {
            out.push(lyrics);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lrc_lines_tags_and_repeats() {
        let l = parse("[ar:Someone]\n[la:eng]\n[offset:-250]\n[00:01.50][00:10.00]Chorus\n[00:05.2]Verse\nnot timed\n");
        assert!(l.synced);
        assert_eq!(l.lang, "eng");
        assert_eq!(l.offset_ms, -250);
        assert_eq!(
            l.lines,
            vec![
                (Some(1500), "Chorus".to_string()),
                (Some(5200), "Verse".to_string()),
                (Some(10_000), "Chorus".to_string())
            ]
        );
    }

    #[test]
    fn absurd_minutes_are_not_a_time() {
        // Found by fuzzing: minutes * 60,000 overflowed.
        let l = parse("[153722867280912931:00]x\n[00:01.00]y\n");
        assert!(l.synced);
        assert_eq!(l.lines, vec![(Some(1000), "y".to_string())]);
    }

    #[test]
    fn plain_text_stays_plain() {
        let l = parse("Polar night,\npolar light\n\n");
        assert!(!l.synced);
        assert_eq!(l.plain_text(), "Polar night,\npolar light");
        assert_eq!(time_tag("1:75"), None);
        assert_eq!(time_tag("00:00.123"), Some(123));
    }
}
