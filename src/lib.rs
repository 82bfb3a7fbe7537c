//! Houseband: a self-hosted home music server.
//!
//! The flow is files -> [`app::library`] (scanner, watcher) -> [`app::db`] -> [`server`] (HTTP)
//! -> clients. `app` holds every domain without HTTP; `server` only translates requests.

pub mod app;
pub mod cli;
pub mod config;
#[doc(hidden)]
pub mod fuzzing;
pub mod server;
pub mod testkit;
pub mod xml;
