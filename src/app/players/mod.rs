//! Players: each client a user streams with (Subsonic's `c` parameter, "web" for the web app),
//! recorded when it streams, with its own transcoding choice (a format, or `raw` for never, and
//! a bit-rate cap), as Navidrome keeps them.

use std::sync::Arc;

use anyhow::Result;
use diesel::prelude::*;
use serde::Serialize;

use crate::app::db::schema::players;
use crate::app::db::{now, Db};

#[derive(Debug, Clone, Queryable, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Player {
    pub id: i64,
    pub user_id: i64,
    pub client: String,
    pub user_agent: String,
    pub ip: String,
    pub first_seen: i64,
    pub last_seen: i64,
    /// `None`: the user's default; `raw`: never transcode; else a format.
    pub transcode_format: Option<String>,
    /// kbit/s; 0: none.
    pub max_bit_rate: i32,
}

/// The longest client name and user agent kept.
const MAX_TEXT: usize = 200;

pub struct Players {
    db: Arc<Db>,
}

fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

impl Players {
    pub fn new(db: Arc<Db>) -> Players {
        Players { db }
    }

    /// Records that `client` of `user` is streaming now, and returns its player. Recording is
    /// bookkeeping: when it fails (a full disk), the stream goes on with the player as stored,
    /// or with no preferences for one never seen.
    pub fn seen(&self, user: i64, client: &str, user_agent: &str, ip: &str) -> Result<Player> {
        let t = now();
        let client = clip(if client.trim().is_empty() {
            "unknown"
        } else {
            client.trim()
        });
        let mut conn = self.db.write();
        let recorded = diesel::insert_into(players::table)
            .values((
                players::user_id.eq(user),
                players::client.eq(&client),
                players::user_agent.eq(clip(user_agent)),
                players::ip.eq(clip(ip)),
                players::first_seen.eq(t),
                players::last_seen.eq(t),
            ))
            .on_conflict((players::user_id, players::client))
            .do_update()
            .set((
                players::user_agent.eq(clip(user_agent)),
                players::ip.eq(clip(ip)),
                players::last_seen.eq(t),
            ))
            .execute(&mut *conn);
        let stored = players::table
            .filter(players::user_id.eq(user))
            .filter(players::client.eq(&client))
            .first(&mut *conn)
            .optional()?;
        if let Err(e) = &recorded {
            tracing::warn!("cannot record that {client:?} streams ({e}); streaming anyway");
        }
        match (recorded, stored) {
            (_, Some(p)) => Ok(p),
            (Err(_), None) => Ok(Player {
                id: 0,
                user_id: user,
                client,
                user_agent: clip(user_agent),
                ip: clip(ip),
                first_seen: t,
                last_seen: t,
                transcode_format: None,
                max_bit_rate: 0,
            }),
            (Ok(_), None) => anyhow::bail!("player {client:?} was recorded but cannot be read"),
        }
    }

    /// A user's players, most recently seen first.
    pub fn of(&self, user: i64) -> Result<Vec<Player>> {
        let mut conn = self.db.read()?;
        Ok(players::table
            .filter(players::user_id.eq(user))
            .order((players::last_seen.desc(), players::id))
            .load(&mut conn)?)
    }

    pub fn get(&self, id: i64) -> Result<Option<Player>> {
        let mut conn = self.db.read()?;
        Ok(players::table.find(id).first(&mut conn).optional()?)
    }

    /// Sets a player's transcoding choice.
    pub fn set(&self, id: i64, format: Option<&str>, max_bit_rate: i32) -> Result<()> {
        let mut conn = self.db.write();
        diesel::update(players::table.find(id))
            .set((
                players::transcode_format.eq(format),
                players::max_bit_rate.eq(max_bit_rate),
            ))
            .execute(&mut *conn)?;
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<()> {
        let mut conn = self.db.write();
        diesel::delete(players::table.find(id)).execute(&mut *conn)?;
        Ok(())
    }
}
