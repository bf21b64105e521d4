//! Why the TF-IDF model ranks a category high: the terms of the text that pushed it up.
//!
//! The linear model scores class `c` as `b_c + Σ_f x_f · W[f, c]` over the text's TF-IDF values `x_f`, so each
//! present term's share of the score is exactly `x_f · W[f, c]` (the bias is not a term's). A term
//! *supports* `c` when that share is positive; [`TfidfLinearModel::explain`] returns the largest ones. They
//! explain the score against nothing in particular, not against the other classes: a term that lifts every
//! class alike also appears, but ranked by how much it lifts this one.

use serde::{Deserialize, Serialize};

use crate::model::TfidfLinearModel;

/// One term of a text and how much it added to a category's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TermContribution {
    /// The term (a word, or two words joined by a space), as the vectoriser saw it (lower-cased by default).
    pub term: String,
    /// Its TF-IDF value in the text times the model's weight for the category (> 0: it supports it).
    pub contribution: f32,
}

impl TfidfLinearModel {
    /// For each class of `classes`, the at most `top` terms of `text` with the largest positive
    /// contribution (TF-IDF value × weight) to its score, largest first. Ties keep vocabulary order.
    pub fn explain(&self, text: &str, classes: &[usize], top: usize) -> Vec<Vec<TermContribution>> {
        let (idx, val) = self.vectorizer().transform_one(text);
        let reg = self.regression();
        let (k, weights, terms) = (reg.n_classes(), reg.weights(), self.vectorizer().terms());
        classes
            .iter()
            .map(|&c| {
                if c >= k {
                    return Vec::new();
                }
                let mut found: Vec<TermContribution> = idx
                    .iter()
                    .zip(&val)
                    .map(|(&f, &x)| (f as usize, x * weights[f as usize * k + c]))
                    .filter(|(_, v)| *v > 0.0)
                    .map(|(f, v)| TermContribution { term: terms[f].clone(), contribution: v })
                    .collect();
                found.sort_by(|a, b| b.contribution.total_cmp(&a.contribution));
                found.truncate(top);
                found
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::labels::Labels;
    use crate::params::{LinearParams, TfidfParams};
    use crate::tokenize::{normalize, tokens};
    use crate::{Classifier, TfidfLinearModel};

    fn model() -> TfidfLinearModel {
        let topics = [
            ["galaxy", "halo", "stellar", "redshift"],
            ["neural", "network", "training", "gradient"],
            ["quantum", "qubit", "entanglement", "spin"],
        ];
        let mut texts = Vec::new();
        let mut y = Vec::new();
        for i in 0..120 {
            let c = i % 3;
            let w = &topics[c];
            texts.push(format!(
                "We study the {} and {} of a {} model {}",
                w[i % 4],
                w[(i + 1) % 4],
                w[(i + 2) % 4],
                i
            ));
            y.push(c as u32);
        }
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        let labels = Labels {
            codes: vec!["astro-ph".into(), "cs.LG".into(), "quant-ph".into()],
            names: vec!["Astrophysics".into(), "Machine Learning".into(), "Quantum Physics".into()],
        };
        let tfidf = TfidfParams { min_df: 1, ..TfidfParams::default() };
        let linear = LinearParams { epochs: 8, batch_size: 16, threads: 1, ..LinearParams::default() };
        TfidfLinearModel::train(&refs, &y, None, labels, &tfidf, &linear, &mut |_| {}).unwrap().0
    }

    #[test]
    fn explanation_terms_are_in_the_text_and_push_their_category_up() {
        let m = model();
        let text = "A Neural Network for redshift estimation, trained by gradient descent";
        let probs = m.predict_proba(&[text]);
        let top: Vec<usize> = probs.top_k(0, 2).into_iter().map(|(c, _)| c).collect();
        assert_eq!(m.labels().codes[top[0]], "cs.LG");
        let explained = m.explain(text, &top, 5);
        assert_eq!(explained.len(), 2);
        let words: Vec<String> = tokens(&normalize(text, true)).map(str::to_string).collect();
        for terms in &explained {
            for t in terms {
                assert!(t.contribution > 0.0, "{t:?}");
                // Every word of the term occurs in the text, in order (bigrams as adjacent words).
                let parts: Vec<&str> = t.term.split(' ').collect();
                assert!(
                    words.windows(parts.len()).any(|w| w == parts.as_slice()),
                    "{} not in {words:?}",
                    t.term
                );
            }
            assert!(terms.windows(2).all(|w| w[0].contribution >= w[1].contribution));
        }
        // The top category's strongest terms are its own topic words, and the second category (astro-ph,
        // through "redshift") is explained by that word.
        let first: Vec<&str> = explained[0].iter().map(|t| t.term.as_str()).collect();
        assert!(first.contains(&"neural") && first.contains(&"gradient"), "{first:?}");
        assert!(!first.contains(&"redshift"), "{first:?}");
        assert!(explained.iter().flatten().any(|t| t.term == "redshift"));
        // At most `top` terms; an unknown class id explains nothing.
        assert!(m.explain(text, &[top[0]], 1)[0].len() == 1);
        assert!(m.explain(text, &[99], 5)[0].is_empty());
        assert!(m.explain("", &top, 5).iter().all(Vec::is_empty));
    }
}
