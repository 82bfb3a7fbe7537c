//! Users: accounts, with passwords kept encrypted (not hashed) because Subsonic token auth needs
//! the plain password to check md5(password + salt). The key is 32 random bytes in
//! `<data>/secret.key` (mode 0600), made on first use; it never lives in the code or the database.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use diesel::prelude::*;
use rand::RngCore;

use crate::app::db::schema::{api_keys, sessions, users};
use crate::app::db::{now, Db};

pub const KEY_FILE: &str = "secret.key";
/// A web session unused for this long (seconds: 30 days) has ended.
pub const SESSION_IDLE: i64 = 30 * 86_400;
const NONCE_LEN: usize = 12;

#[derive(Debug, Clone, Queryable)]
pub struct User {
    pub id: i64,
    pub name: String,
    pub is_admin: bool,
    pub created_at: i64,
    pub email: Option<String>,
    /// Comma-separated Subsonic role names (admin is `is_admin`).
    pub roles: String,
    /// Streaming cap in kbit/s; 0 means none.
    pub max_bit_rate: i32,
    /// The music folders this user may see, as stored: `None` is every folder (also those
    /// added later), otherwise comma-separated folder ids.
    pub folders: Option<String>,
    /// When the account last changed (seconds): its folders, roles or password.
    pub updated_at: i64,
    /// The format the user's streams are transcoded to when neither the request nor the player
    /// says (`None`: only when a bit-rate cap needs it; `raw`: never).
    pub transcode_format: Option<String>,
}

/// The Subsonic roles besides admin, in the order the protocol lists them.
pub const ROLES: &[&str] = &[
    "settings",
    "download",
    "upload",
    "playlist",
    "coverArt",
    "comment",
    "podcast",
    "stream",
    "jukebox",
    "share",
    "videoConversion",
];

/// The roles a new user gets unless told otherwise.
pub const DEFAULT_ROLES: &str = "settings,download,playlist,coverArt,comment,podcast,stream,share";

impl User {
    /// Admins hold every role.
    pub fn has_role(&self, role: &str) -> bool {
        self.is_admin || self.roles.split(',').any(|r| r == role)
    }

    /// The music folder ids this user may see; `None` means every folder (always, for admins).
    pub fn allowed_folders(&self) -> Option<Vec<i64>> {
        if self.is_admin {
            return None;
        }
        self.folders.as_ref().map(|list| {
            list.split(',')
                .filter_map(|id| id.trim().parse().ok())
                .collect()
        })
    }
}

/// An API key as listed: id, label, created, last used (seconds).
#[derive(Debug, Clone, Queryable)]
pub struct ApiKeyInfo {
    pub id: i64,
    pub label: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// What `update` changes; `None` leaves a field as it is.
#[derive(Debug, Default, Clone)]
pub struct UserChanges {
    pub email: Option<String>,
    pub is_admin: Option<bool>,
    /// Roles to grant (`true`) or take away (`false`).
    pub roles: Vec<(String, bool)>,
    pub max_bit_rate: Option<i32>,
    /// `Some(None)` gives every folder, `Some(Some(ids))` only those.
    pub folders: Option<Option<Vec<i64>>>,
}

type UserColumns = (
    users::id,
    users::name,
    users::is_admin,
    users::created_at,
    users::email,
    users::roles,
    users::max_bit_rate,
    users::folders,
    users::updated_at,
    users::transcode_format,
);

const USER_COLUMNS: UserColumns = (
    users::id,
    users::name,
    users::is_admin,
    users::created_at,
    users::email,
    users::roles,
    users::max_bit_rate,
    users::folders,
    users::updated_at,
    users::transcode_format,
);

/// What a speaker's link signs: its kind, song, user, format and expiry.
fn link_message(kind: &str, song: &str, user: &str, format: &str, expires: i64) -> String {
    format!("{kind}\n{song}\n{user}\n{format}\n{expires}")
}

/// What a speaker's link opens: a song's stream.
pub const LINK_STREAM: &str = "stream";
/// What a speaker's link opens: a song's picture.
pub const LINK_ART: &str = "art";

pub struct Users {
    db: Arc<Db>,
    cipher: ChaCha20Poly1305,
    /// Signs public links (artist and album images for clients), derived from the secret key.
    link_key: [u8; 32],
}

/// Reads the secret key, creating it (readable by the owner only) if it does not exist yet.
fn load_or_create_key(path: &Path) -> Result<[u8; 32]> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                anyhow!(
                    "{} is damaged (expected 32 bytes, found {}); restore it from a backup, or delete it and set every password again",
                    path.display(),
                    bytes.len()
                )
            })?;
            Ok(key)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut key = [0u8; 32];
            rand::rng().fill_bytes(&mut key);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt;
                options.mode(0o600);
            }
            let mut file = options
                .open(path)
                .with_context(|| format!("cannot create the secret key {}", path.display()))?;
            file.write_all(&key)?;
            file.sync_all()?;
            Ok(key)
        }
        Err(e) => Err(anyhow!(
            "cannot read the secret key {}: {e}",
            path.display()
        )),
    }
}

fn valid_name(name: &str) -> Result<()> {
    if name.is_empty() || name.len() > 64 {
        bail!("a user name must be 1 to 64 characters long");
    }
    if name.chars().any(|c| c.is_control() || c.is_whitespace()) {
        bail!("a user name cannot contain spaces or control characters");
    }
    Ok(())
}

fn valid_password(password: &str) -> Result<()> {
    if password.is_empty() {
        bail!("the password cannot be empty");
    }
    if password.len() > 1024 {
        bail!("the password is longer than 1024 bytes");
    }
    Ok(())
}

impl Users {
    pub fn new(db: Arc<Db>, data_dir: &Path) -> Result<Users> {
        let key = load_or_create_key(&data_dir.join(KEY_FILE))?;
        use sha2::Digest;
        let link_key: [u8; 32] = sha2::Sha256::new()
            .chain_update(b"houseband public links")
            .chain_update(key)
            .finalize()
            .into();
        Ok(Users {
            db,
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            link_key,
        })
    }

    /// A signature for `text` in a public link (HMAC-SHA256, 96 bits, hex): only this server
    /// makes them, so a link is proof that a logged-in user was given it.
    pub fn sign(&self, text: &str) -> String {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.link_key)
            .expect("HMAC takes keys of any length");
        mac.update(text.as_bytes());
        mac.finalize().into_bytes()[..12]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    /// Whether `signature` is this server's for `text` (compared in constant time).
    pub fn signed(&self, text: &str, signature: &str) -> bool {
        let want = self.sign(text);
        want.len() == signature.len()
            && want
                .bytes()
                .zip(signature.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The query of a link for devices that cannot log in (network speakers): to `kind`
    /// ([`LINK_STREAM`] or [`LINK_ART`]) of song `song` as `user`, in `format` (empty: the file
    /// as it is), until `expires` (Unix seconds).
    pub fn stream_link(
        &self,
        kind: &str,
        song: &str,
        user: &str,
        format: &str,
        expires: i64,
    ) -> String {
        let sig = self.sign(&link_message(kind, song, user, format, expires));
        let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        format!(
            "u={}&format={}&exp={expires}&sig={sig}",
            enc(user),
            enc(if format.is_empty() { "raw" } else { format })
        )
    }

    /// Whether a link's signature and time hold.
    pub fn stream_link_valid(
        &self,
        kind: &str,
        song: &str,
        user: &str,
        format: &str,
        expires: i64,
        sig: &str,
    ) -> bool {
        let format = if format == "raw" { "" } else { format };
        expires >= crate::app::db::now()
            && self.signed(&link_message(kind, song, user, format, expires), sig)
    }

    pub fn key_path(data_dir: &Path) -> PathBuf {
        data_dir.join(KEY_FILE)
    }

    /// `text` (a password, or a scrobbling service's token) encrypted under `secret.key`, with
    /// a fresh nonce in front: what the database keeps instead of the text.
    pub fn seal(&self, password: &str) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), password.as_bytes())
            .map_err(|_| anyhow!("cannot encrypt the password"))?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// The text [`Users::seal`] sealed.
    pub fn open(&self, sealed: &[u8]) -> Result<String> {
        if sealed.len() < NONCE_LEN {
            bail!("stored password is damaged");
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), body)
            .map_err(|_| {
                anyhow!("stored password cannot be decrypted: was secret.key replaced?")
            })?;
        String::from_utf8(plain).map_err(|_| anyhow!("stored password is damaged"))
    }

    pub fn add(&self, name: &str, password: &str, admin: bool) -> Result<User> {
        valid_name(name)?;
        valid_password(password)?;
        let sealed = self.seal(password)?;
        let mut conn = self.db.write();
        let t = now();
        let exists: i64 = users::table
            .filter(users::name.eq(name))
            .count()
            .get_result(&mut *conn)?;
        if exists > 0 {
            bail!("user {name:?} already exists; use `houseband user passwd {name}` to change the password");
        }
        // In a transaction, so a failed commit is reported (see "RETURNING" in app/db/mod.rs).
        let id = conn.transaction(|c| {
            diesel::insert_into(users::table)
                .values((
                    users::name.eq(name),
                    users::password_enc.eq(&sealed),
                    users::is_admin.eq(admin),
                    users::created_at.eq(t),
                    users::updated_at.eq(t),
                ))
                .returning(users::id)
                .get_result::<i64>(c)
        })?;
        Ok(User {
            id,
            name: name.to_string(),
            is_admin: admin,
            created_at: t,
            email: None,
            roles: DEFAULT_ROLES.to_string(),
            max_bit_rate: 0,
            folders: None,
            updated_at: t,
            transcode_format: None,
        })
    }

    /// Sets the user's default transcoding format (`None`: only when a cap needs it).
    pub fn set_transcode_format(&self, user: i64, format: Option<&str>) -> Result<()> {
        let mut conn = self.db.write();
        diesel::update(users::table.find(user))
            .set((
                users::transcode_format.eq(format),
                users::updated_at.eq(now()),
            ))
            .execute(&mut *conn)?;
        Ok(())
    }

    pub fn list(&self) -> Result<Vec<User>> {
        let mut conn = self.db.read()?;
        Ok(users::table
            .select(USER_COLUMNS)
            .order(users::name)
            .load(&mut conn)?)
    }

    pub fn count(&self) -> Result<i64> {
        let mut conn = self.db.read()?;
        Ok(users::table.count().get_result(&mut conn)?)
    }

    pub fn set_password(&self, name: &str, password: &str) -> Result<()> {
        valid_password(password)?;
        let sealed = self.seal(password)?;
        let mut conn = self.db.write();
        let n = diesel::update(users::table.filter(users::name.eq(name)))
            .set((users::password_enc.eq(&sealed), users::updated_at.eq(now())))
            .execute(&mut *conn)?;
        if n == 0 {
            bail!("no user named {name:?}; `houseband user list` shows who exists");
        }
        Ok(())
    }

    /// Changes a user's email, admin flag, roles, bit rate cap or music folders.
    pub fn update(&self, name: &str, changes: &UserChanges) -> Result<()> {
        let user = self
            .find(name)?
            .ok_or_else(|| anyhow!("no user named {name:?}"))?;
        let mut roles: Vec<String> = user
            .roles
            .split(',')
            .filter(|r| !r.is_empty())
            .map(str::to_string)
            .collect();
        for (role, grant) in &changes.roles {
            roles.retain(|r| r != role);
            if *grant {
                roles.push(role.clone());
            }
        }
        roles.sort_by_key(|r| ROLES.iter().position(|k| k == r));
        let mut conn = self.db.write();
        diesel::update(users::table.find(user.id))
            .set((
                users::email.eq(changes.email.clone().or(user.email)),
                users::is_admin.eq(changes.is_admin.unwrap_or(user.is_admin)),
                users::roles.eq(roles.join(",")),
                users::max_bit_rate.eq(changes.max_bit_rate.unwrap_or(user.max_bit_rate)),
                users::folders.eq(match &changes.folders {
                    None => user.folders.clone(),
                    Some(None) => None,
                    Some(Some(ids)) => {
                        Some(ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","))
                    }
                }),
                users::updated_at.eq(now()),
            ))
            .execute(&mut *conn)?;
        Ok(())
    }

    /// Deletes a user and everything that user made (stars, plays, playlists, queues).
    pub fn delete(&self, name: &str) -> Result<()> {
        let mut conn = self.db.write();
        let n = diesel::delete(users::table.filter(users::name.eq(name))).execute(&mut *conn)?;
        if n == 0 {
            bail!("no user named {name:?}; `houseband user list` shows who exists");
        }
        Ok(())
    }

    pub fn find(&self, name: &str) -> Result<Option<User>> {
        let mut conn = self.db.read()?;
        Ok(users::table
            .filter(users::name.eq(name))
            .select(USER_COLUMNS)
            .first(&mut conn)
            .optional()?)
    }

    pub fn by_id(&self, id: i64) -> Result<Option<User>> {
        let mut conn = self.db.read()?;
        Ok(users::table
            .find(id)
            .select(USER_COLUMNS)
            .first(&mut conn)
            .optional()?)
    }

    /// The stored password of a user (for token authentication), if the user exists.
    pub fn password(&self, name: &str) -> Result<Option<String>> {
        let mut conn = self.db.read()?;
        let sealed: Option<Vec<u8>> = users::table
            .filter(users::name.eq(name))
            .select(users::password_enc)
            .first(&mut conn)
            .optional()?;
        sealed.map(|s| self.open(&s)).transpose()
    }

    /// Makes a new API key for a user and returns it; only its hash is kept.
    pub fn create_api_key(&self, name: &str, label: &str) -> Result<(i64, String)> {
        let user = self.find(name)?.ok_or_else(|| {
            anyhow!("no user named {name:?}; `houseband user list` shows who exists")
        })?;
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let key = format!("hb_{}", hex(&secret));
        let mut conn = self.db.write();
        // In a transaction, so a failed commit is reported (see "RETURNING" in app/db/mod.rs).
        let id = conn.transaction(|c| {
            diesel::insert_into(api_keys::table)
                .values((
                    api_keys::user_id.eq(user.id),
                    api_keys::name.eq(label),
                    api_keys::key_hash.eq(hash_key(&key)),
                    api_keys::created_at.eq(now()),
                ))
                .returning(api_keys::id)
                .get_result::<i64>(c)
        })?;
        Ok((id, key))
    }

    /// A user's keys (never the keys themselves: only their labels and dates are known).
    pub fn api_keys(&self, name: &str) -> Result<Vec<ApiKeyInfo>> {
        let mut conn = self.db.read()?;
        Ok(api_keys::table
            .inner_join(users::table)
            .filter(users::name.eq(name))
            .select((
                api_keys::id,
                api_keys::name,
                api_keys::created_at,
                api_keys::last_used_at,
            ))
            .order(api_keys::id)
            .load(&mut conn)?)
    }

    /// Revokes one of a user's keys.
    pub fn delete_api_key(&self, name: &str, id: i64) -> Result<()> {
        let user = self
            .find(name)?
            .ok_or_else(|| anyhow!("no user named {name:?}"))?;
        let mut conn = self.db.write();
        let n = diesel::delete(
            api_keys::table
                .filter(api_keys::id.eq(id))
                .filter(api_keys::user_id.eq(user.id)),
        )
        .execute(&mut *conn)?;
        if n == 0 {
            bail!("{name} has no API key {id}; `houseband user apikey list {name}` shows them");
        }
        Ok(())
    }

    /// The user an API key belongs to. Its last use is noted at most once an hour, so that
    /// authenticating stays a read.
    pub fn user_for_api_key(&self, key: &str) -> Result<Option<User>> {
        let hash = hash_key(key);
        let found: Option<(User, Option<i64>)> = {
            let mut conn = self.db.read()?;
            api_keys::table
                .inner_join(users::table)
                .filter(api_keys::key_hash.eq(&hash))
                .select((USER_COLUMNS, api_keys::last_used_at))
                .first(&mut conn)
                .optional()?
        };
        let Some((user, last_used)) = found else {
            return Ok(None);
        };
        let t = now();
        if last_used.is_none_or(|l| t - l > 3600) {
            let mut conn = self.db.write();
            diesel::update(api_keys::table.filter(api_keys::key_hash.eq(&hash)))
                .set(api_keys::last_used_at.eq(t))
                .execute(&mut *conn)?;
        }
        Ok(Some(user))
    }

    /// Starts a web session for a user: the token to hand out (`hs_` + 64 hex digits).
    pub fn create_session(&self, user: i64) -> Result<String> {
        let mut secret = [0u8; 32];
        rand::rng().fill_bytes(&mut secret);
        let token = format!("hs_{}", hex(&secret));
        let t = now();
        let mut conn = self.db.write();
        diesel::insert_into(sessions::table)
            .values((
                sessions::token_hash.eq(hash_key(&token)),
                sessions::user_id.eq(user),
                sessions::created_at.eq(t),
                sessions::last_used_at.eq(t),
            ))
            .execute(&mut *conn)?;
        Ok(token)
    }

    /// The user of a session token still in use: sessions end after [`SESSION_IDLE`] seconds
    /// without use.
    pub fn user_for_session(&self, token: &str) -> Result<Option<User>> {
        let hash = hash_key(token);
        let found: Option<(User, i64)> = {
            let mut conn = self.db.read()?;
            sessions::table
                .inner_join(users::table)
                .filter(sessions::token_hash.eq(&hash))
                .select((USER_COLUMNS, sessions::last_used_at))
                .first(&mut conn)
                .optional()?
        };
        let Some((user, last_used)) = found else {
            return Ok(None);
        };
        let t = now();
        if t - last_used > SESSION_IDLE {
            self.end_session(token)?;
            return Ok(None);
        }
        if t - last_used > 3600 {
            let mut conn = self.db.write();
            diesel::update(sessions::table.find(&hash))
                .set(sessions::last_used_at.eq(t))
                .execute(&mut *conn)?;
        }
        Ok(Some(user))
    }

    pub fn end_session(&self, token: &str) -> Result<()> {
        let mut conn = self.db.write();
        diesel::delete(sessions::table.find(hash_key(token))).execute(&mut *conn)?;
        Ok(())
    }

    /// Checks a user's password; constant-time in the password's content.
    pub fn verify(&self, name: &str, password: &str) -> Result<bool> {
        Ok(match self.password(name)? {
            Some(stored) => constant_time_eq(stored.as_bytes(), password.as_bytes()),
            None => false,
        })
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hash_key(key: &str) -> String {
    use sha2::Digest;
    hex(&sha2::Sha256::digest(key.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_encrypted_and_verifiable() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(dir.path()).unwrap());
        let users = Users::new(db.clone(), dir.path()).unwrap();
        users.add("alice", "s3cret!", true).unwrap();
        assert!(users.verify("alice", "s3cret!").unwrap());
        assert!(!users.verify("alice", "wrong").unwrap());
        assert!(!users.verify("bob", "s3cret!").unwrap());
        assert!(
            users.add("Alice", "x", false).is_err(),
            "names are case-insensitive"
        );

        let mut conn = db.read().unwrap();
        let stored: Vec<u8> = users::table
            .select(users::password_enc)
            .first(&mut conn)
            .unwrap();
        assert!(
            !stored.windows(7).any(|w| w == b"s3cret!"),
            "never stored in plain text"
        );

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Users::key_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // A second manager reads the same key back.
        let again = Users::new(db, dir.path()).unwrap();
        assert!(again.verify("alice", "s3cret!").unwrap());
        again.set_password("alice", "new").unwrap();
        assert!(again.verify("alice", "new").unwrap());
        again.delete("alice").unwrap();
        assert!(again.list().unwrap().is_empty());
    }
}
