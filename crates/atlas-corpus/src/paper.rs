//! The paper record every reader produces.

use serde::{Deserialize, Serialize};

use crate::template::TextTemplate;

/// The text template of the peer-baseline protocol: title and abstract joined by ` [SEP] `
/// ([`TextTemplate::default`] is this template, parsed).
pub const DEFAULT_TEMPLATE: &str = "{title} [SEP] {abstract}";

/// One arXiv paper, normalised: whitespace runs collapsed, categories split, date as `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paper {
    /// arXiv identifier (`0704.0001`, `hep-th/9901001`), or a derived id for inputs without one.
    pub id: String,
    /// Title, whitespace-normalised (LaTeX kept).
    pub title: String,
    /// Abstract, whitespace-normalised (LaTeX kept).
    pub abstract_text: String,
    /// Authors as one string ("A. One, B. Two"); empty when the input had none.
    pub authors: String,
    /// Category codes, primary first; never empty for a record a reader returned.
    pub categories: Vec<String>,
    /// Date of the first version (`YYYY-MM-DD`) when known.
    pub date: Option<String>,
}

impl Paper {
    /// A paper known only by its text (a query typed by a user): title and abstract are normalised like
    /// ingested records; it has no id and no categories.
    pub fn from_text(title: &str, abstract_text: &str) -> Paper {
        Paper {
            id: String::new(),
            title: crate::normalize_text(title),
            abstract_text: crate::normalize_text(abstract_text),
            authors: String::new(),
            categories: Vec::new(),
            date: None,
        }
    }

    /// The primary category (the first one), the classification label.
    pub fn primary(&self) -> &str {
        self.categories.first().map(String::as_str).unwrap_or("")
    }

    /// Year of [`Paper::date`], when it has one.
    pub fn year(&self) -> Option<u16> {
        let d = self.date.as_deref()?;
        let y = d.get(..4)?;
        if y.bytes().all(|b| b.is_ascii_digit()) {
            y.parse().ok()
        } else {
            None
        }
    }

    /// Categories joined by single spaces, primary first (the Kaggle `categories` field).
    pub fn categories_joined(&self) -> String {
        self.categories.join(" ")
    }

    /// The model input text: `template` with every placeholder replaced by this paper's field (see
    /// [`TextTemplate`], the one renderer of paper text).
    pub fn text(&self, template: &TextTemplate) -> String {
        template.render(self)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A paper whose title contains a placeholder and whose abstract contains braces.
    pub(crate) fn paper() -> Paper {
        Paper {
            id: "0704.0001".into(),
            title: "A {abstract} title".into(),
            abstract_text: "Body $x^{2}$.".into(),
            authors: "A. One".into(),
            categories: vec!["hep-ph".into(), "hep-th".into()],
            date: Some("2007-04-02".into()),
        }
    }

    #[test]
    fn default_template_matches_peer_protocol() {
        let p = paper();
        assert_eq!(p.text(&TextTemplate::default()), "A {abstract} title [SEP] Body $x^{2}$.");
        let t = TextTemplate::parse("{abstract}|{title}|{{other}}").unwrap();
        assert_eq!(p.text(&t), "Body $x^{2}$.|A {abstract} title|{other}");
    }

    #[test]
    fn primary_year_and_joined_categories() {
        let mut p = paper();
        assert_eq!(p.primary(), "hep-ph");
        assert_eq!(p.year(), Some(2007));
        assert_eq!(p.categories_joined(), "hep-ph hep-th");
        p.date = None;
        assert_eq!(p.year(), None);
        p.date = Some("n/a".into());
        assert_eq!(p.year(), None);
    }
}
