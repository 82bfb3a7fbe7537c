//! The household chat: short messages everyone logged in can read (Subsonic's chat).

use std::sync::Arc;

use anyhow::{bail, Result};
use diesel::prelude::*;

use crate::app::db::schema::{chat_messages, users};
use crate::app::db::Db;

/// The longest message kept.
pub const MAX_MESSAGE_CHARS: usize = 2000;
/// The most messages one answer returns (the newest ones).
const MAX_LISTED: i64 = 500;

#[derive(Debug, Clone, Queryable)]
pub struct Message {
    pub user: String,
    pub time_ms: i64,
    pub text: String,
}

pub struct Chat {
    db: Arc<Db>,
}

impl Chat {
    pub fn new(db: Arc<Db>) -> Chat {
        Chat { db }
    }

    pub fn add(&self, user: i64, text: &str) -> Result<()> {
        let text: String = text
            .chars()
            .filter(|c| !c.is_control() || *c == '\n')
            .collect();
        if text.trim().is_empty() {
            bail!("the message is empty");
        }
        if text.chars().count() > MAX_MESSAGE_CHARS {
            bail!("a message has at most {MAX_MESSAGE_CHARS} characters");
        }
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let mut c = self.db.write();
        diesel::insert_into(chat_messages::table)
            .values((
                chat_messages::user_id.eq(user),
                chat_messages::message.eq(&text),
                chat_messages::created_ms.eq(ms),
            ))
            .execute(&mut *c)?;
        Ok(())
    }

    /// Messages newer than `since_ms`, newest first.
    pub fn since(&self, since_ms: i64) -> Result<Vec<Message>> {
        let mut c = self.db.read()?;
        Ok(chat_messages::table
            .inner_join(users::table)
            .filter(chat_messages::created_ms.gt(since_ms))
            .order((chat_messages::created_ms.desc(), chat_messages::id.desc()))
            .limit(MAX_LISTED)
            .select((
                users::name,
                chat_messages::created_ms,
                chat_messages::message,
            ))
            .load(&mut c)?)
    }
}
