//! Argument templates: `{name}` placeholders inside argv elements and file paths.
//!
//! Each element is rendered on its own and stays one argument whatever the values contain;
//! nothing ever goes through a shell. `{{` and `}}` stand for literal braces.

use std::collections::BTreeMap;

/// A parsed template string.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    parts: Vec<Part>,
}

#[derive(Debug, Clone, PartialEq)]
enum Part {
    Literal(String),
    Placeholder(String),
}

/// A template string that cannot be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// A `{` without its `}`.
    #[error("unclosed '{{' in {0:?}")]
    Unclosed(String),
    /// A `}` without its `{`.
    #[error("unmatched '}}' in {0:?} (write '}}}}' for a literal brace)")]
    Unmatched(String),
    /// A placeholder name that is empty or has characters other than letters, digits, `_`, `-`.
    #[error("bad placeholder name {name:?} in {text:?}")]
    BadName {
        /// The name.
        name: String,
        /// The whole template.
        text: String,
    },
}

impl Template {
    /// Parses `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '}' => return Err(TemplateError::Unmatched(text.to_owned())),
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some(c) => name.push(c),
                            None => return Err(TemplateError::Unclosed(text.to_owned())),
                        }
                    }
                    let valid = !name.is_empty()
                        && name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    if !valid {
                        return Err(TemplateError::BadName {
                            name,
                            text: text.to_owned(),
                        });
                    }
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::Placeholder(name));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// Names of the placeholders, in order of appearance.
    pub fn placeholders(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Placeholder(name) => Some(name.as_str()),
            Part::Literal(_) => None,
        })
    }

    /// Renders with `values`; a placeholder without a value renders as the empty string (the
    /// runner's config is validated at load so that cannot happen for argv).
    pub fn render(&self, values: &BTreeMap<&str, &str>) -> String {
        let mut out = String::new();
        for part in &self.parts {
            match part {
                Part::Literal(text) => out.push_str(text),
                Part::Placeholder(name) => out.push_str(values.get(name.as_str()).unwrap_or(&"")),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(text: &str, pairs: &[(&str, &str)]) -> String {
        let values = pairs.iter().copied().collect();
        Template::parse(text).unwrap().render(&values)
    }

    #[test]
    fn placeholders_anywhere_in_an_element() {
        assert_eq!(
            render(
                "--execution-id={job_id}.{attempt}",
                &[("job_id", "J"), ("attempt", "2")]
            ),
            "--execution-id=J.2"
        );
        assert_eq!(render("{a}{b}", &[("a", "x"), ("b", "y")]), "xy");
    }

    #[test]
    fn values_are_never_interpreted() {
        assert_eq!(
            render("{p}", &[("p", "a b; rm -rf / {job_id}")]),
            "a b; rm -rf / {job_id}"
        );
    }

    #[test]
    fn escaped_braces_and_errors() {
        assert_eq!(render("{{x}}", &[]), "{x}");
        assert!(matches!(
            Template::parse("{x"),
            Err(TemplateError::Unclosed(_))
        ));
        assert!(matches!(
            Template::parse("x}"),
            Err(TemplateError::Unmatched(_))
        ));
        assert!(matches!(
            Template::parse("{a b}"),
            Err(TemplateError::BadName { .. })
        ));
    }
}
