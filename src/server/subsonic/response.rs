//! The Subsonic response document and its three wire formats.
//!
//! Handlers build a small tree of [`Node`]s; this module writes it as XML (the default), JSON
//! (`f=json`) or JSONP (`f=jsonp&callback=`). The tree keeps what the formats need and a plain
//! map would lose: attribute order, typed values (JSON numbers and booleans where the schema has
//! them), and which children are lists (a JSON array even with one or zero items).

use std::fmt::Write as _;

pub use crate::xml::{escape, escape_into};

pub const PROTOCOL_VERSION: &str = "1.16.1";
pub const SERVER_TYPE: &str = "houseband";
const XMLNS: &str = "http://subsonic.org/restapi";

/// A scalar: an XML attribute or a JSON field.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    /// An id such as `tr-12` (kind, number), written without building a string first.
    Id(&'static str, i64),
    /// A time in seconds since 1970, written as ISO 8601 UTC.
    Time(i64),
}

impl From<&str> for Scalar {
    fn from(v: &str) -> Self {
        Scalar::Str(v.to_string())
    }
}
impl From<String> for Scalar {
    fn from(v: String) -> Self {
        Scalar::Str(v)
    }
}
impl From<&String> for Scalar {
    fn from(v: &String) -> Self {
        Scalar::Str(v.clone())
    }
}
impl From<i64> for Scalar {
    fn from(v: i64) -> Self {
        Scalar::Int(v)
    }
}
impl From<i32> for Scalar {
    fn from(v: i32) -> Self {
        Scalar::Int(i64::from(v))
    }
}
impl From<u64> for Scalar {
    fn from(v: u64) -> Self {
        Scalar::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<usize> for Scalar {
    fn from(v: usize) -> Self {
        Scalar::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<f64> for Scalar {
    fn from(v: f64) -> Self {
        Scalar::Float(v)
    }
}
impl From<bool> for Scalar {
    fn from(v: bool) -> Self {
        Scalar::Bool(v)
    }
}

impl Scalar {
    /// Appends the value as XML text, escaped.
    fn write_xml(&self, out: &mut String) {
        match self {
            Scalar::Str(s) => escape_into(s, out),
            Scalar::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Scalar::Float(f) => out.push_str(&format_float(*f)),
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Id(kind, n) => {
                let _ = write!(out, "{kind}-{n}");
            }
            Scalar::Time(secs) => write_iso8601(*secs, out),
        }
    }
    fn write_json(&self, out: &mut String) {
        match self {
            Scalar::Str(v) => write_json_str(v, out),
            Scalar::Int(i) => {
                let _ = write!(out, "{i}");
            }
            // JSON has no NaN or infinity.
            Scalar::Float(f) if !f.is_finite() => out.push_str("null"),
            Scalar::Float(f) => {
                let _ = write!(out, "{f}");
            }
            Scalar::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Scalar::Id(kind, n) => {
                let _ = write!(out, "\"{kind}-{n}\"");
            }
            Scalar::Time(secs) => {
                out.push('"');
                write_iso8601(*secs, out);
                out.push('"');
            }
        }
    }
}

/// Appends seconds since the epoch as ISO 8601 UTC (`2026-11-28T00:05:01Z`).
pub fn write_iso8601(secs: i64, out: &mut String) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    let _ = write!(
        out,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
fn write_json_str(s: &str, out: &mut String) {
    out.push('"');
    // Runs of plain bytes are copied whole; only ASCII bytes are ever escaped, so every cut
    // falls on a character boundary.
    let mut plain = 0;
    for (i, b) in s.bytes().enumerate() {
        let escaped = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[plain..i]);
        if escaped.is_empty() {
            let _ = write!(out, "\\u{b:04x}");
        } else {
            out.push_str(escaped);
        }
        plain = i + 1;
    }
    out.push_str(&s[plain..]);
    out.push('"');
}

fn format_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        format!("{f:.1}")
    } else {
        format!("{f}")
    }
}

#[derive(Debug, Clone)]
enum Child {
    One(Node),
    Many(Vec<Node>),
    Scalars(Vec<Scalar>),
    /// One element holding only text: `<notes>x</notes>`, JSON `"notes": "x"`.
    Text(Scalar),
}

/// One element: attributes, children (single, lists of elements, lists of scalars), text.
#[derive(Debug, Clone, Default)]
pub struct Node {
    /// Attributes and children already written out (see [`Written`]): they come first, before
    /// this node's own attributes and children.
    written: Option<std::sync::Arc<Written>>,
    attrs: Vec<(&'static str, Scalar)>,
    children: Vec<(&'static str, Child)>,
    text: Option<String>,
}

/// An element's attributes and children written out once in one format, to be written again
/// as they are: kept between requests by the song cache, with each request's own attributes
/// (a user's stars, say) added after them. In XML the two parts are the attributes
/// (` id="tr-1" title="A"`) and the child elements; in JSON, the fields from attributes and
/// the fields from children, each without a leading comma, so that the answer is the same text
/// the node itself would have written.
#[derive(Debug)]
pub struct Written {
    json: bool,
    attrs: Box<str>,
    children: Box<str>,
}

impl Written {
    /// The text this holds, in bytes (what it costs to keep).
    pub fn len(&self) -> usize {
        self.attrs.len() + self.children.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Node {
    pub fn new() -> Node {
        Node::default()
    }

    /// Sets an attribute (JSON: a field).
    pub fn attr(mut self, name: &'static str, value: impl Into<Scalar>) -> Node {
        self.attrs.push((name, value.into()));
        self
    }

    /// Sets an attribute when there is a value; absent otherwise.
    pub fn opt(self, name: &'static str, value: Option<impl Into<Scalar>>) -> Node {
        match value {
            Some(v) => self.attr(name, v),
            None => self,
        }
    }

    /// A single child element (JSON: an object).
    pub fn child(mut self, name: &'static str, node: Node) -> Node {
        self.children.push((name, Child::One(node)));
        self
    }

    /// A list of child elements (JSON: an array, also when empty).
    pub fn list(mut self, name: &'static str, nodes: Vec<Node>) -> Node {
        self.children.push((name, Child::Many(nodes)));
        self
    }

    /// A list of scalar children: `<isrc>X</isrc>` in XML, `"isrc": ["X"]` in JSON.
    pub fn values(mut self, name: &'static str, values: Vec<Scalar>) -> Node {
        self.children.push((name, Child::Scalars(values)));
        self
    }

    /// A child element with only text (XML `<name>value</name>`, JSON `"name": value`).
    pub fn text_child(mut self, name: &'static str, value: impl Into<Scalar>) -> Node {
        self.children.push((name, Child::Text(value.into())));
        self
    }

    /// Text content (XML: element text; JSON: the field `value`).
    pub fn text(mut self, text: impl Into<String>) -> Node {
        self.text = Some(text.into());
        self
    }

    /// A node that starts with what `written` holds; attributes and children set on it follow.
    pub fn from_written(written: std::sync::Arc<Written>) -> Node {
        Node {
            written: Some(written),
            ..Node::default()
        }
    }

    /// This node's attributes and children (not its text) written out in `format`, to be kept.
    pub fn write_out(&self, format: &Format) -> Written {
        debug_assert!(self.text.is_none(), "a written node has no text");
        let json = format != &Format::Xml;
        // About what a song takes, so that the text is not copied as it grows (the boxes below
        // then shrink in place).
        let (mut attrs, mut children) = (String::with_capacity(1024), String::with_capacity(512));
        if json {
            self.write_json_attrs(&mut attrs, &mut true);
            self.write_json_children(&mut children, &mut true);
        } else {
            self.write_xml_attrs(&mut attrs);
            self.write_xml_children(&mut children);
        }
        Written {
            json,
            attrs: attrs.into(),
            children: children.into(),
        }
    }

    fn write_xml_attrs(&self, out: &mut String) {
        if let Some(w) = &self.written {
            debug_assert!(!w.json, "JSON text written into XML");
            out.push_str(&w.attrs);
        }
        for (k, v) in &self.attrs {
            out.push(' ');
            out.push_str(k);
            out.push_str("=\"");
            v.write_xml(out);
            out.push('"');
        }
    }

    fn write_xml_children(&self, out: &mut String) {
        if let Some(t) = &self.text {
            escape_into(t, out);
        }
        if let Some(w) = &self.written {
            out.push_str(&w.children);
        }
        let text_element = |name: &str, v: &Scalar, out: &mut String| {
            out.push('<');
            out.push_str(name);
            out.push('>');
            v.write_xml(out);
            out.push_str("</");
            out.push_str(name);
            out.push('>');
        };
        for (child_name, child) in &self.children {
            match child {
                Child::One(n) => n.write_xml(child_name, out),
                Child::Many(ns) => ns.iter().for_each(|n| n.write_xml(child_name, out)),
                Child::Scalars(vs) => vs.iter().for_each(|v| text_element(child_name, v, out)),
                Child::Text(v) => text_element(child_name, v, out),
            }
        }
    }

    fn write_xml(&self, name: &str, out: &mut String) {
        out.push('<');
        out.push_str(name);
        self.write_xml_attrs(out);
        let written_children = self
            .written
            .as_ref()
            .is_some_and(|w| !w.children.is_empty());
        if self.children.is_empty() && self.text.is_none() && !written_children {
            out.push_str("/>");
            return;
        }
        out.push('>');
        self.write_xml_children(out);
        let _ = write!(out, "</{name}>");
    }

    /// Writes this element's fields (attributes, text as `value`, children) into an open JSON
    /// object; `first` tracks whether a comma is needed.
    fn write_json_fields(&self, out: &mut String, first: &mut bool) {
        self.write_json_attrs(out, first);
        if let Some(t) = &self.text {
            json_key("value", out, first);
            write_json_str(t, out);
        }
        self.write_json_children(out, first);
    }

    fn write_json_attrs(&self, out: &mut String, first: &mut bool) {
        if let Some(w) = &self.written {
            debug_assert!(w.json, "XML text written into JSON");
            json_raw(&w.attrs, out, first);
        }
        for (k, v) in &self.attrs {
            json_key(k, out, first);
            v.write_json(out);
        }
    }

    fn write_json_children(&self, out: &mut String, first: &mut bool) {
        if let Some(w) = &self.written {
            json_raw(&w.children, out, first);
        }
        for (k, child) in &self.children {
            json_key(k, out, first);
            match child {
                Child::One(n) => n.write_json(out),
                Child::Many(ns) => {
                    out.push('[');
                    for (i, n) in ns.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        n.write_json(out);
                    }
                    out.push(']');
                }
                Child::Scalars(vs) => {
                    out.push('[');
                    for (i, v) in vs.iter().enumerate() {
                        if i > 0 {
                            out.push(',');
                        }
                        v.write_json(out);
                    }
                    out.push(']');
                }
                Child::Text(v) => v.write_json(out),
            }
        }
    }

    fn write_json(&self, out: &mut String) {
        out.push('{');
        self.write_json_fields(out, &mut true);
        out.push('}');
    }
}

/// A field's name in an open JSON object, after a comma unless it is the `first`.
fn json_key(k: &str, out: &mut String, first: &mut bool) {
    if !*first {
        out.push(',');
    }
    *first = false;
    write_json_str(k, out);
    out.push(':');
}

/// Fields already written (`"a":1,"b":2`) into an open JSON object.
fn json_raw(fields: &str, out: &mut String, first: &mut bool) {
    if fields.is_empty() {
        return;
    }
    if !*first {
        out.push(',');
    }
    *first = false;
    out.push_str(fields);
}

/// The requested wire format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Format {
    Xml,
    Json,
    Jsonp(String),
}

impl Format {
    /// From `f` and `callback`. An unusable JSONP callback falls back to JSON: a callback name is
    /// written into JavaScript, so only a plain identifier path is accepted.
    pub fn from_params(f: Option<&str>, callback: Option<&str>) -> Format {
        match f {
            Some("json") => Format::Json,
            Some("jsonp") => match callback {
                Some(cb)
                    if !cb.is_empty()
                        && cb.len() <= 128
                        && cb
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "_.$".contains(c)) =>
                {
                    Format::Jsonp(cb.to_string())
                }
                _ => Format::Json,
            },
            _ => Format::Xml,
        }
    }
}

/// A complete response: `status="ok"` with its payload, or an error.
pub struct Envelope {
    pub ok: bool,
    /// The payload's elements, put under `subsonic-response`.
    body: Node,
}

impl Envelope {
    /// One payload element (most methods).
    pub fn ok(name: &'static str, node: Node) -> Envelope {
        Envelope {
            ok: true,
            body: Node::new().child(name, node),
        }
    }

    /// A payload that is a list (JSON: an array under `subsonic-response`).
    pub fn list(name: &'static str, nodes: Vec<Node>) -> Envelope {
        Envelope {
            ok: true,
            body: Node::new().list(name, nodes),
        }
    }

    pub fn empty() -> Envelope {
        Envelope {
            ok: true,
            body: Node::new(),
        }
    }

    pub fn error(code: i32, message: &str) -> Envelope {
        Envelope {
            ok: false,
            body: Node::new().child(
                "error",
                Node::new().attr("code", code).attr("message", message),
            ),
        }
    }

    /// The attributes of `subsonic-response`; the payload's elements follow them, written
    /// straight from `body` (a big answer is not copied).
    fn root(&self) -> Node {
        Node::new()
            .attr("status", if self.ok { "ok" } else { "failed" })
            .attr("version", PROTOCOL_VERSION)
            .attr("type", SERVER_TYPE)
            .attr("serverVersion", env!("CARGO_PKG_VERSION"))
            .attr("openSubsonic", true)
    }

    /// The body and its content type.
    pub fn render(&self, format: &Format) -> (String, &'static str) {
        match format {
            Format::Xml => {
                let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
                let mut root = self.root();
                root.attrs.insert(0, ("xmlns", Scalar::Str(XMLNS.into())));
                out.push_str("<subsonic-response");
                root.write_xml_attrs(&mut out);
                if self.body.children.is_empty() {
                    out.push_str("/>");
                } else {
                    out.push('>');
                    self.body.write_xml_children(&mut out);
                    out.push_str("</subsonic-response>");
                }
                (out, "text/xml; charset=utf-8")
            }
            Format::Json => (self.json_text(), "application/json"),
            Format::Jsonp(cb) => (
                format!("{cb}({});", self.json_text()),
                "application/javascript",
            ),
        }
    }

    fn json_text(&self) -> String {
        let mut out = String::from("{\"subsonic-response\":{");
        let mut first = true;
        self.root().write_json_fields(&mut out, &mut first);
        self.body.write_json_fields(&mut out, &mut first);
        out.push_str("}}");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_node_answers_the_same_text_as_the_node() {
        let song = || {
            Node::new()
                .attr("id", Scalar::Id("tr", 7))
                .attr("title", "A & \"B\"")
                .list("genres", vec![Node::new().attr("name", "Jazz")])
                .values("moods", Vec::new())
        };
        let bare = || Node::new().attr("id", 1);
        for format in [Format::Xml, Format::Json, Format::Jsonp("cb".into())] {
            for (make, extra) in [(song as fn() -> Node, true), (song, false), (bare, true)] {
                let mut direct = make();
                let mut kept = Node::from_written(std::sync::Arc::new(make().write_out(&format)));
                if extra {
                    direct = direct
                        .attr("starred", Scalar::Time(0))
                        .attr("userRating", 3);
                    kept = kept.attr("starred", Scalar::Time(0)).attr("userRating", 3);
                }
                let answer = |n: Node| Envelope::list("song", vec![n, Node::new()]).render(&format);
                assert_eq!(answer(kept), answer(direct), "{format:?}, extra {extra}");
            }
        }
    }

    fn sample() -> Envelope {
        Envelope::ok(
            "album",
            Node::new()
                .attr("id", "al-1")
                .attr("songCount", 2)
                .attr("isCompilation", false)
                .values("releaseTypes", vec!["album".into()])
                .list(
                    "song",
                    vec![Node::new().attr("id", "tr-1").attr("title", "A & <B>")],
                )
                .list("genres", vec![]),
        )
    }

    #[test]
    fn xml_keeps_types_as_text_and_escapes() {
        let (xml, ct) = sample().render(&Format::Xml);
        assert!(ct.starts_with("text/xml"));
        assert!(xml.contains(r#"<subsonic-response xmlns="http://subsonic.org/restapi" status="ok" version="1.16.1" type="houseband""#), "{xml}");
        assert!(xml.contains(r#"<album id="al-1" songCount="2" isCompilation="false"><releaseTypes>album</releaseTypes><song id="tr-1" title="A &amp; &lt;B&gt;"/></album>"#), "{xml}");
    }

    #[test]
    fn json_has_numbers_booleans_and_arrays() {
        let (json, _) = sample().render(&Format::Json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        let r = &v["subsonic-response"];
        assert_eq!(r["openSubsonic"], true);
        assert_eq!(r["album"]["songCount"], 2);
        assert_eq!(r["album"]["isCompilation"], false);
        assert_eq!(r["album"]["song"][0]["title"], "A & <B>");
        assert_eq!(r["album"]["genres"], serde_json::json!([]));
        assert_eq!(r["album"]["releaseTypes"], serde_json::json!(["album"]));
    }

    #[test]
    fn jsonp_accepts_only_identifiers() {
        assert_eq!(
            Format::from_params(Some("jsonp"), Some("cb_1.x")),
            Format::Jsonp("cb_1.x".into())
        );
        assert_eq!(
            Format::from_params(Some("jsonp"), Some("alert(1)//")),
            Format::Json
        );
        let (body, ct) = Envelope::empty().render(&Format::Jsonp("cb".into()));
        assert!(body.starts_with("cb({") && body.ends_with("});"), "{body}");
        assert_eq!(ct, "application/javascript");
    }

    #[test]
    fn json_strings_are_escaped_and_numbers_stay_numbers() {
        let env = Envelope::ok(
            "x",
            Node::new()
                .attr("s", "quote \" back \\ nl \n tab \t bell \u{7} é")
                .attr("f", 0.988)
                .attr("nan", f64::NAN)
                .attr("i", -5i64)
                .text_child("t", "text"),
        );
        let (json, _) = env.render(&Format::Json);
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        let x = &v["subsonic-response"]["x"];
        assert_eq!(x["s"], "quote \" back \\ nl \n tab \t bell \u{7} é");
        assert_eq!(x["f"], 0.988);
        assert!(x["nan"].is_null());
        assert_eq!(x["i"], -5);
        assert_eq!(x["t"], "text");
    }

    #[test]
    fn xml_drops_characters_it_cannot_carry() {
        assert_eq!(escape("a\u{1}b\u{0}c"), "abc");
        assert_eq!(escape("plain ünïcode"), "plain ünïcode");
        assert_eq!(escape("x\u{fffe}y'"), "xy&apos;");
        let mut json = String::new();
        write_json_str("a\"b\\c\n\u{1}é\t", &mut json);
        assert_eq!(json, "\"a\\\"b\\\\c\\n\\u0001é\\t\"");
    }
}
