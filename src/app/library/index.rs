//! The A–Z index clients show for artists and folders: each name's letter and sort key (its sort
//! tag, or the name without a leading article such as "The", accent-folded), and the order of the
//! index: "#" (anything not starting with a letter) first, then the letters, by sort key within.

use super::fold::fold;

/// An item with its place in the index.
#[derive(Debug, Clone)]
pub struct Indexed<T> {
    /// The index letter, upper-case, or "#".
    pub key: String,
    pub sort: String,
    pub item: T,
}

/// The index letter and sort key of a name.
pub fn key_of(name: &str, sort_name: Option<&str>, articles: &[String]) -> (String, String) {
    let sort = fold(sort_name.unwrap_or_else(|| strip_article(name, articles)));
    let key = match sort.chars().next() {
        Some(c) if c.is_alphabetic() => c.to_uppercase().collect(),
        _ => "#".to_string(),
    };
    (key, sort)
}

/// Items in index order, each with its letter and sort key.
pub fn sorted<T>(
    items: impl IntoIterator<Item = T>,
    name: impl Fn(&T) -> (&str, Option<&str>),
    articles: &[String],
) -> Vec<Indexed<T>> {
    let mut out: Vec<Indexed<T>> = items
        .into_iter()
        .map(|item| {
            let (n, s) = name(&item);
            let (key, sort) = key_of(n, s, articles);
            Indexed { key, sort, item }
        })
        .collect();
    out.sort_by(|x, y| (x.key != "#", &x.key, &x.sort).cmp(&(y.key != "#", &y.key, &y.sort)));
    out
}

fn strip_article<'a>(name: &'a str, articles: &[String]) -> &'a str {
    for article in articles {
        if let Some(rest) = name.strip_prefix(article.as_str()) {
            if let Some(rest) = rest.strip_prefix(' ') {
                if !rest.trim().is_empty() {
                    return rest.trim_start();
                }
            }
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn articles_are_ignored_only_before_a_name() {
        let a: Vec<String> = ["The", "El", "La"].iter().map(|s| s.to_string()).collect();
        assert_eq!(strip_article("The Testers", &a), "Testers");
        assert_eq!(strip_article("The", &a), "The");
        assert_eq!(strip_article("Theory", &a), "Theory");
        assert_eq!(strip_article("La Roux", &a), "Roux");
    }

    #[test]
    fn the_index_puts_numbers_first_then_letters_by_sort_key() {
        let a = vec!["The".to_string()];
        let got = sorted(
            ["The Beatles", "ABBA", "2Pac", "Émilie", "beck"],
            |n| (*n, None),
            &a,
        );
        let order: Vec<(&str, &str)> = got.iter().map(|i| (i.key.as_str(), i.item)).collect();
        assert_eq!(
            order,
            [
                ("#", "2Pac"),
                ("A", "ABBA"),
                ("B", "The Beatles"),
                ("B", "beck"),
                ("E", "Émilie")
            ]
        );
    }
}
