//! A podcast feed (RSS 2.0 with iTunes tags, or Atom) read by feed-rs into what Houseband keeps:
//! the channel's title, description and picture, and the episodes that have an audio enclosure.
//! Everything from the feed is cleaned (control characters out, lengths bounded) because it is
//! shown to every user of the household.

use anyhow::{anyhow, Result};

/// At most this many episodes are taken from one feed (the newest, in feed order).
pub const MAX_EPISODES: usize = 5_000;

#[derive(Debug, Clone, Default)]
pub struct Feed {
    pub title: Option<String>,
    pub description: Option<String>,
    pub image_url: Option<String>,
    pub episodes: Vec<Item>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Item {
    /// The guid, else the enclosure URL: what makes the episode the same across refreshes.
    pub key: String,
    pub url: String,
    pub title: String,
    pub description: Option<String>,
    pub published: Option<i64>,
    pub duration_s: Option<i64>,
    pub content_type: Option<String>,
    pub size: Option<i64>,
}

/// Parses a feed document.
pub fn parse(bytes: &[u8]) -> Result<Feed> {
    // An empty id means "the feed gave none": the enclosure URL is used instead, not a hash of
    // the title, which a feed may change.
    let parser = feed_rs::parser::Builder::new()
        .id_generator(|_, _, _| String::new())
        .build();
    // feed-rs panics on some malformed feeds (fuzzing found an iTunes duration too big for a
    // u64): that feed is refused, and the refresh goes on with the others.
    let parsed = crate::app::survive(|| parser.parse(bytes))
        .ok_or_else(|| {
            anyhow!("the feed could not be read: the feed reader failed on it (a malformed value, e.g. an episode's duration); tell the podcast's publisher")
        })?
        .map_err(|e| {
            anyhow!(
                "the feed is not RSS or Atom that can be read ({}); check the address is the feed's, not its web page",
                clean(&e.to_string(), 300)
            )
        })?;
    let image_url = parsed
        .logo
        .as_ref()
        .or(parsed.icon.as_ref())
        .map(|i| i.uri.trim().to_string())
        .filter(|u| super::fetch::web_url(u).is_ok());
    let mut episodes = Vec::new();
    let durations = itunes_durations(bytes);
    for entry in parsed.entries.iter() {
        if episodes.len() >= MAX_EPISODES {
            break;
        }
        if let Some(mut item) = item(entry) {
            if item.duration_s.is_none() {
                item.duration_s = durations.get(&normal_url(&item.url)).copied();
            }
            if !episodes.iter().any(|e: &Item| e.key == item.key) {
                episodes.push(item);
            }
        }
    }
    Ok(Feed {
        title: parsed
            .title
            .as_ref()
            .map(|t| clean(&t.content, 500))
            .filter(|t| !t.is_empty()),
        description: parsed
            .description
            .as_ref()
            .map(|t| clean(&t.content, 10_000))
            .filter(|t| !t.is_empty()),
        image_url,
        episodes,
    })
}

/// An entry with an http(s) enclosure (RSS `<enclosure>`, Atom `rel="enclosure"`, Media RSS).
fn item(entry: &feed_rs::model::Entry) -> Option<Item> {
    let from_media = entry.media.iter().find_map(|m| {
        m.content.iter().find_map(|c| {
            let url = c.url.as_ref()?.to_string();
            Some((
                url,
                c.content_type.as_ref().map(|t| t.to_string()),
                c.size,
                m.duration.or(c.duration),
            ))
        })
    });
    let from_links = || {
        entry
            .links
            .iter()
            .find(|l| l.rel.as_deref() == Some("enclosure"))
            .map(|l| (l.href.clone(), l.media_type.clone(), l.length, None))
    };
    let (url, content_type, size, duration) = from_media.or_else(from_links)?;
    let url = url.trim().to_string();
    super::fetch::web_url(&url).ok()?;
    let duration = duration.or_else(|| entry.media.iter().find_map(|m| m.duration));
    let guid = clean(&entry.id, 1000);
    let key = if guid.is_empty() { url.clone() } else { guid };
    let title = entry
        .title
        .as_ref()
        .map(|t| clean(&t.content, 500))
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "Untitled episode".into());
    let description = entry
        .summary
        .as_ref()
        .map(|t| t.content.clone())
        .or_else(|| {
            entry
                .media
                .iter()
                .find_map(|m| m.description.as_ref().map(|d| d.content.clone()))
        })
        .or_else(|| entry.content.as_ref().and_then(|c| c.body.clone()))
        .map(|d| clean(&d, 10_000))
        .filter(|d| !d.is_empty());
    Some(Item {
        key,
        url,
        title,
        description,
        published: entry.published.or(entry.updated).map(|d| d.timestamp()),
        duration_s: duration.map(|d| d.as_secs() as i64),
        content_type: content_type.map(|t| clean(&t, 100)),
        size: size.map(|s| s.min(i64::MAX as u64) as i64),
    })
}

/// Each RSS item's `<itunes:duration>` by its enclosure URL. feed-rs keeps an iTunes duration
/// only when the item has other iTunes tags too; most feeds give the duration alone. A document
/// with a DTD is not read here (no entity expansion from hostile feeds): it just has no
/// durations until its episodes are downloaded.
fn itunes_durations(bytes: &[u8]) -> std::collections::HashMap<String, i64> {
    const ITUNES: &str = "http://www.itunes.com/dtds/podcast-1.0.dtd";
    let mut found = std::collections::HashMap::new();
    let Ok(text) = std::str::from_utf8(bytes) else {
        return found;
    };
    let Ok(doc) = roxmltree::Document::parse(text) else {
        return found;
    };
    for item in doc.descendants().filter(|n| n.has_tag_name("item")) {
        let child = |test: &dyn Fn(&roxmltree::Node) -> bool| item.children().find(|c| test(c));
        let url = child(&|c| c.has_tag_name("enclosure")).and_then(|e| e.attribute("url"));
        let duration = child(&|c| c.has_tag_name((ITUNES, "duration")))
            .and_then(|d| d.text())
            .and_then(duration_seconds);
        if let (Some(url), Some(seconds)) = (url, duration) {
            found.insert(normal_url(url.trim()), seconds);
        }
    }
    found
}

/// An iTunes duration: `SS`, `MM:SS` or `HH:MM:SS`, maybe with a fraction of a second.
fn duration_seconds(text: &str) -> Option<i64> {
    let parts: Vec<&str> = text.trim().split(':').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let mut seconds = 0i64;
    for (i, part) in parts.iter().enumerate() {
        let n: f64 = part.trim().parse().ok()?;
        if !n.is_finite() || n < 0.0 || (i > 0 && n >= 60.0) {
            return None;
        }
        seconds = seconds.checked_mul(60)?.checked_add(n as i64)?;
    }
    Some(seconds)
}

/// A URL written the way feed-rs writes it, so the two readings of a feed meet.
fn normal_url(text: &str) -> String {
    url::Url::parse(text).map_or_else(|_| text.to_string(), String::from)
}

/// Text from a feed: control characters out (newlines and tabs kept), trimmed, at most `max`
/// characters.
pub fn clean(text: &str, max: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() || *c == '\n' || *c == '\t')
        .take(max)
        .collect::<String>()
        .trim()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_feed_the_reader_panics_on_is_refused_cleanly() {
        // Found by fuzzing: feed-rs unwraps an iTunes duration too big for a u64.
        let feed = include_bytes!(
            "../../../fuzz/artifacts-fixed/podcast_feed/itunes-duration-overflow.rss"
        );
        let e = parse(feed).unwrap_err().to_string();
        assert!(e.contains("the feed reader failed on it"), "{e}");
    }

    const RSS: &str = r#"<?xml version="1.0"?>
<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd"><channel>
<title>T</title><itunes:image href="https://pics.example/a.jpg"/>
<item><title>A</title><guid>g-1</guid><itunes:duration>01:02:03</itunes:duration>
<itunes:summary>Notes</itunes:summary>
<enclosure url="https://media.example/a.mp3" length="10" type="audio/mpeg"/></item>
<item><title>B</title><itunes:duration>75</itunes:duration>
<enclosure url="https://media.example/b.mp3" type="audio/mpeg"/></item>
<item><title>C</title><enclosure url="file:///etc/passwd" type="audio/mpeg"/></item>
</channel></rss>"#;

    #[test]
    fn rss_with_itunes_tags() {
        let f = parse(RSS.as_bytes()).unwrap();
        assert_eq!(f.title.as_deref(), Some("T"));
        assert_eq!(f.image_url.as_deref(), Some("https://pics.example/a.jpg"));
        assert_eq!(f.episodes.len(), 2, "{:?}", f.episodes);
        assert_eq!(f.episodes[0].key, "g-1");
        assert_eq!(f.episodes[0].duration_s, Some(3723));
        assert_eq!(f.episodes[0].size, Some(10));
        assert_eq!(f.episodes[1].key, "https://media.example/b.mp3");
        // An iTunes duration alone (feed-rs keeps it only with other iTunes tags).
        assert_eq!(f.episodes[1].duration_s, Some(75));
    }

    #[test]
    fn itunes_durations_in_every_form() {
        for (text, want) in [
            ("75", Some(75)),
            ("01:15", Some(75)),
            ("1:01:15", Some(3675)),
            ("00:00:01.5", Some(1)),
            ("1:75", None),
            ("-3", None),
            ("soon", None),
            ("1:2:3:4", None),
        ] {
            assert_eq!(duration_seconds(text), want, "{text}");
        }
    }

    #[test]
    fn bad_xml_is_a_clear_error() {
        let err = parse(b"<rss><channel><title>x</channel>").unwrap_err();
        assert!(err.to_string().contains("not RSS or Atom"), "{err}");
    }
}
