//! Subsonic errors: a code from the protocol and a message that tells the user what to do.
//! They travel in an HTTP 200 response with `status="failed"`, as the protocol wants.

/// The protocol's error codes.
pub mod code {
    pub const GENERIC: i32 = 0;
    pub const MISSING_PARAMETER: i32 = 10;
    pub const CLIENT_TOO_OLD: i32 = 20;
    pub const SERVER_TOO_OLD: i32 = 30;
    pub const WRONG_CREDENTIALS: i32 = 40;
    pub const TOKEN_AUTH_UNSUPPORTED: i32 = 41;
    pub const AUTH_MECHANISM_UNSUPPORTED: i32 = 42;
    pub const CONFLICTING_AUTH: i32 = 43;
    pub const INVALID_API_KEY: i32 = 44;
    pub const NOT_AUTHORIZED: i32 = 50;
    pub const NOT_FOUND: i32 = 70;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: i32,
    pub message: String,
}

impl ApiError {
    pub fn new(code: i32, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
        }
    }

    pub fn missing(param: &str) -> ApiError {
        ApiError::new(
            code::MISSING_PARAMETER,
            format!("required parameter '{param}' is missing"),
        )
    }

    pub fn invalid(param: &str) -> ApiError {
        ApiError::new(
            code::MISSING_PARAMETER,
            format!("parameter '{param}' has an invalid value"),
        )
    }

    pub fn not_found(what: &str) -> ApiError {
        ApiError::new(code::NOT_FOUND, format!("{what} not found"))
    }

    pub fn not_authorized(what: &str) -> ApiError {
        ApiError::new(
            code::NOT_AUTHORIZED,
            format!("user is not authorized to {what}"),
        )
    }

    pub fn internal(err: &anyhow::Error) -> ApiError {
        if crate::app::db::is_disk_full(err) {
            tracing::error!(
                "the disk holding the data folder is full: a change was refused ({err:#}); free some space on it"
            );
            return ApiError::new(code::GENERIC, crate::app::db::DISK_FULL);
        }
        tracing::error!("subsonic request failed: {err:#}");
        ApiError::new(
            code::GENERIC,
            "internal server error; the server log has the details",
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(&e)
    }
}
