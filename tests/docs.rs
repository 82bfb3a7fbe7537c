//! The docs hold together: the configuration reference names every setting the code has, with
//! its flag and variable, and links between pages lead somewhere.

use houseband::config::SETTINGS;

#[test]
fn every_setting_is_documented() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/docs/configuration.md"
    ))
    .unwrap();
    for s in SETTINGS {
        let row = doc
            .lines()
            .find(|l| l.starts_with(&format!("| `{}` |", s.key)))
            .unwrap_or_else(|| panic!("docs/configuration.md has no row for `{}`", s.key));
        assert!(
            row.contains(&s.env_var()),
            "row for {} lacks {}",
            s.key,
            s.env_var()
        );
        if let Some(flag) = s.flag {
            assert!(
                row.contains(&format!("`{flag}")),
                "row for {} lacks {flag}",
                s.key
            );
        }
    }
    let rows = doc.lines().filter(|l| l.starts_with("| `")).count();
    assert_eq!(
        rows,
        SETTINGS.len(),
        "the table lists a setting the code does not have"
    );
}

/// The anchor GitHub gives a heading: lower case, punctuation dropped, spaces to dashes.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// Every relative link in the README and the docs leads to a file that exists, and a `#part` of
/// a link to a heading in it, so a page renamed or a heading reworded cannot strand a reader.
#[test]
fn links_between_the_docs_lead_somewhere() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut pages = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        // `](target)`: Markdown links and images, minus web addresses.
        for (at, _) in text.match_indices("](") {
            let rest = &text[at + 2..];
            let Some(end) = rest.find(')') else { continue };
            let target = &rest[..end];
            if target.contains("://") || target.starts_with("mailto:") || target.contains(' ') {
                continue;
            }
            let (file, part) = target.split_once('#').unwrap_or((target, ""));
            let linked = if file.is_empty() {
                page.clone()
            } else {
                page.parent().unwrap().join(file)
            };
            assert!(
                linked.exists(),
                "{} links to {target}, which does not exist",
                page.display()
            );
            if !part.is_empty() {
                let headings = std::fs::read_to_string(&linked).unwrap();
                assert!(
                    headings
                        .lines()
                        .filter_map(|l| l.strip_prefix('#'))
                        .map(|l| anchor(l.trim_start_matches('#')))
                        .any(|a| a == part),
                    "{} links to {target}, but {} has no such heading",
                    page.display(),
                    linked.display()
                );
            }
            checked += 1;
        }
    }
    assert!(
        checked > 10,
        "only {checked} links found: is the scan broken?"
    );
}
