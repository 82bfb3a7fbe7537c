//! The configuration reference names every setting the code has, with its flag and variable.

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
