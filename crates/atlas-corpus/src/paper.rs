//! The paper record every reader produces.

use serde::{Deserialize, Serialize};

/// The text template of the peer-baseline protocol: title and abstract joined by ` [SEP] `.
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

    /// The model input text: `template` with `{title}` and `{abstract}` replaced.
    ///
    /// Placeholders are substituted in one left-to-right pass, so a title that itself contains the text
    /// `{abstract}` is copied verbatim instead of being expanded.
    pub fn text(&self, template: &str) -> String {
        const TITLE: &str = "{title}";
        const ABSTRACT: &str = "{abstract}";
        let mut out = String::with_capacity(template.len() + self.title.len() + self.abstract_text.len());
        let mut rest = template;
        while let Some(pos) = rest.find('{') {
            out.push_str(&rest[..pos]);
            let tail = &rest[pos..];
            if let Some(after) = tail.strip_prefix(TITLE) {
                out.push_str(&self.title);
                rest = after;
            } else if let Some(after) = tail.strip_prefix(ABSTRACT) {
                out.push_str(&self.abstract_text);
                rest = after;
            } else {
                out.push('{');
                rest = &tail[1..];
            }
        }
        out.push_str(rest);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paper() -> Paper {
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
        assert_eq!(p.text(DEFAULT_TEMPLATE), "A {abstract} title [SEP] Body $x^{2}$.");
        assert_eq!(p.text("{abstract}|{title}|{other}"), "Body $x^{2}$.|A {abstract} title|{other}");
        assert_eq!(p.text("no placeholders {"), "no placeholders {");
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
