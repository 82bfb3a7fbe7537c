//! Shares: public links to some songs that anyone with the link can open and play without a
//! login, until the share expires. A share keeps the songs it was made with (an album or a
//! playlist shared today stays what it was today). User data: a rescan never changes a share; a
//! song that goes missing is hidden while it is gone.

use std::sync::Arc;

use anyhow::Result;
use diesel::prelude::*;
use rand::distr::{Alphanumeric, SampleString};

use crate::app::db::schema::{share_entries, shares, users};
use crate::app::db::{now, Db};

#[derive(Debug, Clone, Queryable)]
pub struct Share {
    pub id: i64,
    /// The secret part of the public URL.
    pub token: String,
    pub owner_id: i64,
    pub owner: String,
    pub description: Option<String>,
    pub created_at: i64,
    /// Seconds; `None` never expires.
    pub expires_at: Option<i64>,
    pub last_visited_at: Option<i64>,
    pub visit_count: i32,
}

impl Share {
    pub fn expired(&self, at: i64) -> bool {
        self.expires_at.is_some_and(|e| e <= at)
    }
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes {
    pub description: Option<String>,
    /// `Some(None)` removes the expiry.
    pub expires_at: Option<Option<i64>>,
}

/// How long a share's secret is: 20 letters and digits, about 119 bits.
const TOKEN_LEN: usize = 20;

type Columns = (
    shares::id,
    shares::token,
    shares::owner_id,
    users::name,
    shares::description,
    shares::created_at,
    shares::expires_at,
    shares::last_visited_at,
    shares::visit_count,
);

const COLUMNS: Columns = (
    shares::id,
    shares::token,
    shares::owner_id,
    users::name,
    shares::description,
    shares::created_at,
    shares::expires_at,
    shares::last_visited_at,
    shares::visit_count,
);

pub struct Shares {
    db: Arc<Db>,
}

impl Shares {
    pub fn new(db: Arc<Db>) -> Shares {
        Shares { db }
    }

    /// Makes a share of `tracks` (in order) owned by `owner`.
    pub fn create(
        &self,
        owner: i64,
        description: Option<&str>,
        expires_at: Option<i64>,
        tracks: &[i64],
    ) -> Result<Share> {
        let token = Alphanumeric.sample_string(&mut rand::rng(), TOKEN_LEN);
        let id = {
            let mut c = self.db.write();
            c.transaction(|c| {
                let id: i64 = diesel::insert_into(shares::table)
                    .values((
                        shares::token.eq(&token),
                        shares::owner_id.eq(owner),
                        shares::description.eq(description),
                        shares::created_at.eq(now()),
                        shares::expires_at.eq(expires_at),
                    ))
                    .returning(shares::id)
                    .get_result(c)?;
                for (i, track) in tracks.iter().enumerate() {
                    diesel::insert_into(share_entries::table)
                        .values((
                            share_entries::share_id.eq(id),
                            share_entries::position.eq(i as i32),
                            share_entries::track_id.eq(track),
                        ))
                        .execute(c)?;
                }
                QueryResult::Ok(id)
            })?
        };
        self.get(id)?
            .ok_or_else(|| anyhow::anyhow!("share {id} was deleted while it was being made"))
    }

    pub fn get(&self, id: i64) -> Result<Option<Share>> {
        let mut c = self.db.read()?;
        Ok(shares::table
            .inner_join(users::table)
            .filter(shares::id.eq(id))
            .select(COLUMNS)
            .first(&mut c)
            .optional()?)
    }

    /// The share a public URL names, if it exists (expired or not: the caller says which).
    pub fn by_token(&self, token: &str) -> Result<Option<Share>> {
        let mut c = self.db.read()?;
        Ok(shares::table
            .inner_join(users::table)
            .filter(shares::token.eq(token))
            .select(COLUMNS)
            .first(&mut c)
            .optional()?)
    }

    /// A user's shares, newest first.
    pub fn of_user(&self, owner: i64) -> Result<Vec<Share>> {
        let mut c = self.db.read()?;
        Ok(shares::table
            .inner_join(users::table)
            .filter(shares::owner_id.eq(owner))
            .order(shares::id.desc())
            .select(COLUMNS)
            .load(&mut c)?)
    }

    /// The songs of a share, in order.
    pub fn tracks(&self, share: i64) -> Result<Vec<i64>> {
        let mut c = self.db.read()?;
        Ok(share_entries::table
            .filter(share_entries::share_id.eq(share))
            .order(share_entries::position)
            .select(share_entries::track_id)
            .load(&mut c)?)
    }

    pub fn update(&self, id: i64, changes: &Changes) -> Result<()> {
        let mut c = self.db.write();
        if let Some(d) = &changes.description {
            diesel::update(shares::table.find(id))
                .set(shares::description.eq(d))
                .execute(&mut *c)?;
        }
        if let Some(e) = changes.expires_at {
            diesel::update(shares::table.find(id))
                .set(shares::expires_at.eq(e))
                .execute(&mut *c)?;
        }
        Ok(())
    }

    pub fn delete(&self, id: i64) -> Result<()> {
        let mut c = self.db.write();
        diesel::delete(shares::table.find(id)).execute(&mut *c)?;
        Ok(())
    }

    /// Counts a visit of the public page.
    pub fn visited(&self, id: i64) -> Result<()> {
        let mut c = self.db.write();
        diesel::update(shares::table.find(id))
            .set((
                shares::visit_count.eq(shares::visit_count + 1),
                shares::last_visited_at.eq(now()),
            ))
            .execute(&mut *c)?;
        Ok(())
    }
}
