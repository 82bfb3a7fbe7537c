//! User management: getUser, getUsers, createUser, updateUser, deleteUser, changePassword.
//! Admins manage everyone; a user may read their own account and change their own password
//! (with the settings role).

use super::auth::decode_password;
use super::browsing::{conn, db};
use super::error::ApiError;
use super::params::Params;
use super::response::{Envelope, Node, Scalar};
use super::Ctx;
use crate::app::library::browse::{self, Scope};
use crate::app::users::{User, UserChanges, ROLES};

/// `scrobbling`: whether the user's plays go to a scrobbling service (switched on and linked).
fn user_node(u: &User, folders: &[i64], scrobbling: bool) -> Node {
    let mut node = Node::new()
        .attr("username", &u.name)
        .opt("email", u.email.as_deref())
        .attr("scrobblingEnabled", scrobbling)
        .attr("maxBitRate", u.max_bit_rate)
        .attr("adminRole", u.is_admin);
    for role in ROLES {
        let attr: &'static str = match *role {
            "settings" => "settingsRole",
            "download" => "downloadRole",
            "upload" => "uploadRole",
            "playlist" => "playlistRole",
            "coverArt" => "coverArtRole",
            "comment" => "commentRole",
            "podcast" => "podcastRole",
            "stream" => "streamRole",
            "jukebox" => "jukeboxRole",
            "share" => "shareRole",
            _ => "videoConversionRole",
        };
        node = node.attr(attr, u.has_role(role));
    }
    node.values("folder", folders.iter().map(|f| Scalar::from(*f)).collect())
}

/// The music folders a user may see.
fn folder_ids(ctx: &Ctx<'_>, user: &User) -> Result<Vec<i64>, ApiError> {
    let scope = Scope::new(user.allowed_folders(), None);
    Ok(db(browse::folders(&mut *conn(ctx)?, &scope))?
        .iter()
        .map(|f| f.id)
        .collect())
}

fn require_admin(ctx: &Ctx<'_>, what: &str) -> Result<(), ApiError> {
    if ctx.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::not_authorized(what))
    }
}

pub fn get_user(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let name = params
        .get("username")
        .filter(|n| !n.is_empty())
        .unwrap_or(&ctx.user.name);
    if !name.eq_ignore_ascii_case(&ctx.user.name) {
        require_admin(ctx, "see other users")?;
    }
    let user = ctx
        .app
        .users
        .find(name)?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Envelope::ok(
        "user",
        user_node(
            &user,
            &folder_ids(ctx, &user)?,
            ctx.app.scrobbling.active(user.id)?,
        ),
    ))
}

pub fn get_users(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    require_admin(ctx, "list users")?;
    let mut nodes = Vec::new();
    for u in ctx.app.users.list()? {
        let scrobbling = ctx.app.scrobbling.active(u.id)?;
        nodes.push(user_node(&u, &folder_ids(ctx, &u)?, scrobbling));
    }
    Ok(Envelope::ok("users", Node::new().list("user", nodes)))
}

/// Role flags given as `<role>Role=true|false`, plus email, bit rate and music folders.
fn changes(ctx: &Ctx<'_>, params: &Params) -> Result<UserChanges, ApiError> {
    let mut c = UserChanges {
        email: params.get("email").map(str::to_string),
        is_admin: params.bool("adminRole")?,
        max_bit_rate: params.number::<i32>("maxBitRate")?,
        ..UserChanges::default()
    };
    if c.max_bit_rate.is_some_and(|b| !(0..=100_000).contains(&b)) {
        return Err(ApiError::invalid("maxBitRate"));
    }
    for role in ROLES {
        if let Some(v) = params.bool(&format!("{role}Role"))? {
            c.roles.push((role.to_string(), v));
        }
    }
    c.folders = folder_choice(ctx, params)?;
    Ok(c)
}

/// `musicFolderId` (repeated) chooses the folders a user may see; every folder chosen is kept as
/// "all folders", so folders added later are seen too.
fn folder_choice(ctx: &Ctx<'_>, params: &Params) -> Result<Option<Option<Vec<i64>>>, ApiError> {
    let given = params.all("musicFolderId");
    if given.is_empty() {
        return Ok(None);
    }
    let mut chosen = Vec::new();
    for raw in given {
        let id: i64 = raw
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("musicFolderId"))?;
        if !chosen.contains(&id) {
            chosen.push(id);
        }
    }
    let existing = db(browse::folders(&mut *conn(ctx)?, &Scope::all()))?;
    if let Some(unknown) = chosen
        .iter()
        .find(|id| !existing.iter().any(|f| f.id == **id))
    {
        return Err(ApiError::not_found(&format!("music folder {unknown}")));
    }
    chosen.sort_unstable();
    if existing.iter().all(|f| chosen.contains(&f.id)) {
        return Ok(Some(None));
    }
    Ok(Some(Some(chosen)))
}

/// The users manager refuses bad names, duplicates and bad passwords with a message meant for
/// people; pass it on (as error 0, the protocol has no closer code).
fn user_error(e: anyhow::Error) -> ApiError {
    if crate::app::db::is_disk_full(&e) {
        return ApiError::internal(&e);
    }
    ApiError::new(super::error::code::GENERIC, e.to_string())
}

/// The named user must exist (error 70 otherwise).
fn existing<'a>(ctx: &Ctx<'_>, params: &'a Params) -> Result<&'a str, ApiError> {
    let name = params.required("username")?;
    ctx.app
        .users
        .find(name)?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(name)
}

pub fn create_user(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    require_admin(ctx, "create users")?;
    let name = params.required("username")?;
    let password = decode_password(params.required("password")?)
        .ok_or_else(|| ApiError::invalid("password"))?;
    let changes = changes(ctx, params)?;
    if params.get("email").is_none() {
        return Err(ApiError::missing("email"));
    }
    ctx.app
        .users
        .add(name, &password, false)
        .map_err(user_error)?;
    ctx.app.users.update(name, &changes).map_err(user_error)?;
    Ok(Envelope::empty())
}

pub fn update_user(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    require_admin(ctx, "change users")?;
    let name = existing(ctx, params)?;
    let changes = changes(ctx, params)?;
    if let Some(p) = params.get("password") {
        let p = decode_password(p).ok_or_else(|| ApiError::invalid("password"))?;
        ctx.app.users.set_password(name, &p).map_err(user_error)?;
    }
    ctx.app.users.update(name, &changes).map_err(user_error)?;
    Ok(Envelope::empty())
}

pub fn delete_user(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    require_admin(ctx, "delete users")?;
    let name = existing(ctx, params)?;
    if name.eq_ignore_ascii_case(&ctx.user.name) {
        return Err(ApiError::not_authorized("delete their own account"));
    }
    ctx.app.users.delete(name).map_err(user_error)?;
    Ok(Envelope::empty())
}

pub fn change_password(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    // Permission first: a non-admin must not learn which other user names exist.
    let name = params.required("username")?;
    let own = name.eq_ignore_ascii_case(&ctx.user.name);
    if !(ctx.user.is_admin || own && ctx.user.has_role("settings")) {
        return Err(ApiError::not_authorized("change this password"));
    }
    existing(ctx, params)?;
    let password = decode_password(params.required("password")?)
        .ok_or_else(|| ApiError::invalid("password"))?;
    ctx.app
        .users
        .set_password(name, &password)
        .map_err(user_error)?;
    Ok(Envelope::empty())
}
