//! XML text escaping, shared by the Subsonic writer and the UPnP control messages.

/// XML-escapes text, dropping characters XML 1.0 cannot carry at all (also right for HTML).
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

/// Appends `s` XML-escaped (see [`escape`]).
pub fn escape_into(s: &str, out: &mut String) {
    // Most text needs nothing: copy it whole. 0xEF starts U+FFFE and U+FFFF (and other
    // characters, which the slow path keeps).
    if !s
        .bytes()
        .any(|b| matches!(b, b'&' | b'<' | b'>' | b'"' | b'\'' | 0..=0x1f | 0xef))
    {
        out.push_str(s);
        return;
    }
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => {}
            c => out.push(c),
        }
    }
}
