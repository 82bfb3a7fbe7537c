//! Text folding for identity keys, sorting and search: case- and accent-insensitive, so that
//! "Beyoncé", "BEYONCE" and "beyonce" are the same artist and find each other.

use unicode_normalization::char::is_combining_mark;
use unicode_normalization::UnicodeNormalization;

/// Lower-case, accents removed, inner white space collapsed, trimmed.
///
/// ```
/// use houseband::app::library::fold::fold;
/// assert_eq!(fold(" Beyoncé  Knowles"), "beyonce knowles");
/// assert_eq!(fold("Sigur Rós"), fold("SIGUR ROS"));
/// ```
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut space = false;
    for c in text.nfkd().filter(|c| !is_combining_mark(*c)) {
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            space = false;
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

    #[test]
    fn folds_case_accents_and_spaces() {
        assert_eq!(fold("  Beyoncé   Knowles "), "beyonce knowles");
        assert_eq!(fold("ÆON Flux"), "æon flux");
        assert_eq!(fold("Sigur Rós"), "sigur ros");
        assert_eq!(fold("ＡＢＣ"), "abc");
        assert_eq!(fold("AC/DC"), "ac/dc");
    }
}
