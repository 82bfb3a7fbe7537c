//! Internet radio stations (everyone lists them, admins manage them) and the household chat.

use super::error::{code, ApiError};
use super::ids;
use super::params::Params;
use super::response::{Envelope, Node};
use super::Ctx;

fn admin(ctx: &Ctx<'_>) -> Result<(), ApiError> {
    if ctx.user.is_admin {
        Ok(())
    } else {
        Err(ApiError::not_authorized("manage radio stations"))
    }
}

/// The manager refuses bad names and URLs with a message for people.
fn refused(e: anyhow::Error) -> ApiError {
    ApiError::new(code::MISSING_PARAMETER, e.to_string())
}

/// A station's name, stream URL and optional homepage, as create and update take them.
fn station_fields(params: &Params) -> Result<(&str, &str, Option<&str>), ApiError> {
    Ok((
        params.required("name")?,
        params.required("streamUrl")?,
        params.get("homepageUrl").filter(|h| !h.is_empty()),
    ))
}

pub fn get_internet_radio_stations(ctx: &Ctx<'_>, _: &Params) -> Result<Envelope, ApiError> {
    let stations = ctx.app.radio.list()?;
    Ok(Envelope::ok(
        "internetRadioStations",
        Node::new().list(
            "internetRadioStation",
            stations
                .iter()
                .map(|s| {
                    Node::new()
                        .attr("id", ids::id(ids::RADIO, s.id))
                        .attr("name", &s.name)
                        .attr("streamUrl", &s.stream_url)
                        .opt("homePageUrl", s.homepage_url.as_deref())
                })
                .collect(),
        ),
    ))
}

pub fn create_internet_radio_station(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    admin(ctx)?;
    let (name, stream, homepage) = station_fields(params)?;
    ctx.app
        .radio
        .create(name, stream, homepage)
        .map_err(refused)?;
    Ok(Envelope::empty())
}

pub fn update_internet_radio_station(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    admin(ctx)?;
    let id = ids::parse(ids::RADIO, params.required("id")?)?;
    ctx.app
        .radio
        .get(id)?
        .ok_or_else(|| ApiError::not_found("radio station"))?;
    let (name, stream, homepage) = station_fields(params)?;
    ctx.app
        .radio
        .update(id, name, stream, homepage)
        .map_err(refused)?;
    Ok(Envelope::empty())
}

pub fn delete_internet_radio_station(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    admin(ctx)?;
    let id = ids::parse(ids::RADIO, params.required("id")?)?;
    ctx.app
        .radio
        .get(id)?
        .ok_or_else(|| ApiError::not_found("radio station"))?;
    ctx.app.radio.delete(id)?;
    Ok(Envelope::empty())
}

pub fn get_chat_messages(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let since = params.number::<i64>("since")?.unwrap_or(0);
    let messages = ctx.app.chat.since(since)?;
    Ok(Envelope::ok(
        "chatMessages",
        Node::new().list(
            "chatMessage",
            messages
                .iter()
                .map(|m| {
                    Node::new()
                        .attr("username", &m.user)
                        .attr("time", m.time_ms)
                        .attr("message", &m.text)
                })
                .collect(),
        ),
    ))
}

pub fn add_chat_message(ctx: &Ctx<'_>, params: &Params) -> Result<Envelope, ApiError> {
    let message = params.required("message")?;
    ctx.app.chat.add(ctx.user.id, message).map_err(refused)?;
    Ok(Envelope::empty())
}
