//! Request parameters: from the query string and, for form POSTs (the OpenSubsonic `formPost`
//! extension), from the body; a name may repeat (`id=1&id=2`). Typed getters turn a missing or
//! malformed value into the Subsonic error a client expects.

use std::str::FromStr;

use super::error::ApiError;

#[derive(Debug, Default, Clone)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    /// Query string first, then the form body; invalid UTF-8 becomes U+FFFD, never a failure.
    pub fn parse(query: &str, form_body: Option<&[u8]>) -> Params {
        let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        if let Some(body) = form_body {
            pairs.extend(
                form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())),
            );
        }
        Params { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn all(&self, name: &str) -> Vec<&str> {
        self.pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn required(&self, name: &str) -> Result<&str, ApiError> {
        match self.get(name) {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ApiError::missing(name)),
        }
    }

    /// An optional number; present but malformed (or out of range for `T`) is an error.
    pub fn number<T: FromStr>(&self, name: &str) -> Result<Option<T>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| ApiError::invalid(name)),
        }
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Ok(Some(true)),
                "false" | "0" => Ok(Some(false)),
                _ => Err(ApiError::invalid(name)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_and_form_body_merge_and_repeat() {
        let p = Params::parse("u=ann&id=1", Some(b"id=2&p=enc%3A70&x=%FF"));
        assert_eq!(p.get("u"), Some("ann"));
        assert_eq!(p.all("id"), vec!["1", "2"]);
        assert_eq!(p.get("p"), Some("enc:70"));
        assert_eq!(p.get("x"), Some("\u{fffd}"));
    }

    #[test]
    fn typed_getters() {
        let p = Params::parse("n=12&bad=abc&neg=-1&b=true&e=", None);
        assert_eq!(p.number::<u32>("n").unwrap(), Some(12));
        assert_eq!(p.number::<u32>("missing").unwrap(), None);
        assert_eq!(p.number::<u32>("e").unwrap(), None);
        assert_eq!(p.number::<u32>("bad").unwrap_err().code, 10);
        assert_eq!(p.number::<u32>("neg").unwrap_err().code, 10);
        assert_eq!(p.bool("b").unwrap(), Some(true));
        assert_eq!(p.required("e").unwrap_err().code, 10);
    }
}
