//! Internet radio stations the household listens to: a name and a stream URL (and a homepage).
//! Only http and https URLs are accepted: clients open them as they are.

use std::sync::Arc;

use anyhow::{bail, Result};
use diesel::prelude::*;

use crate::app::db::schema::radio_stations;
use crate::app::db::{now, Db};

#[derive(Debug, Clone, Queryable)]
pub struct Station {
    pub id: i64,
    pub name: String,
    pub stream_url: String,
    pub homepage_url: Option<String>,
}

const COLUMNS: (
    radio_stations::id,
    radio_stations::name,
    radio_stations::stream_url,
    radio_stations::homepage_url,
) = (
    radio_stations::id,
    radio_stations::name,
    radio_stations::stream_url,
    radio_stations::homepage_url,
);

/// An http(s) URL of sane length, with a host.
pub fn valid_url(url: &str) -> bool {
    let rest = url
        .strip_prefix("http://")
        .or_else(|| url.strip_prefix("https://"));
    url.len() <= 2048
        && rest.is_some_and(|r| {
            let host = r.split(['/', '?', '#']).next().unwrap_or("");
            !host.is_empty() && !r.chars().any(|c| c.is_whitespace() || c.is_control())
        })
}

fn check(name: &str, stream: &str, homepage: Option<&str>) -> Result<()> {
    if name.trim().is_empty() || name.chars().count() > 500 {
        bail!("a station needs a name of at most 500 characters");
    }
    if !valid_url(stream) {
        bail!("the stream URL must be an http:// or https:// address");
    }
    if homepage.is_some_and(|h| !valid_url(h)) {
        bail!("the homepage URL must be an http:// or https:// address");
    }
    Ok(())
}

pub struct Radio {
    db: Arc<Db>,
}

impl Radio {
    pub fn new(db: Arc<Db>) -> Radio {
        Radio { db }
    }

    pub fn list(&self) -> Result<Vec<Station>> {
        let mut c = self.db.read()?;
        Ok(radio_stations::table
            .select(COLUMNS)
            .order((radio_stations::name, radio_stations::id))
            .load(&mut c)?)
    }

    pub fn get(&self, id: i64) -> Result<Option<Station>> {
        let mut c = self.db.read()?;
        Ok(radio_stations::table
            .find(id)
            .select(COLUMNS)
            .first(&mut c)
            .optional()?)
    }

    pub fn create(&self, name: &str, stream: &str, homepage: Option<&str>) -> Result<i64> {
        check(name, stream, homepage)?;
        let mut c = self.db.write();
        let t = now();
        // In a transaction, so a failed commit is reported (see "RETURNING" in app/db/mod.rs).
        Ok(c.transaction(|c| {
            diesel::insert_into(radio_stations::table)
                .values((
                    radio_stations::name.eq(name),
                    radio_stations::stream_url.eq(stream),
                    radio_stations::homepage_url.eq(homepage),
                    radio_stations::created_at.eq(t),
                    radio_stations::updated_at.eq(t),
                ))
                .returning(radio_stations::id)
                .get_result::<i64>(c)
        })?)
    }

    pub fn update(&self, id: i64, name: &str, stream: &str, homepage: Option<&str>) -> Result<()> {
        check(name, stream, homepage)?;
        let mut c = self.db.write();
        diesel::update(radio_stations::table.find(id))
            .set((
                radio_stations::name.eq(name),
                radio_stations::stream_url.eq(stream),
                radio_stations::homepage_url.eq(homepage),
                radio_stations::updated_at.eq(now()),
            ))
            .execute(&mut *c)?;
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<()> {
        let mut c = self.db.write();
        diesel::delete(radio_stations::table.find(id)).execute(&mut *c)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::valid_url;

    #[test]
    fn only_web_urls() {
        assert!(valid_url("http://radio.example/stream.mp3"));
        assert!(valid_url("https://radio.example:8000/live?x=1"));
        for bad in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "http://",
            "https:// spaces",
            "ftp://x",
            "",
        ] {
            assert!(!valid_url(bad), "{bad}");
        }
    }
}
