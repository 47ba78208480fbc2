//! What `expect` waits for: a plain substring or a regular expression.

use std::fmt;

use regex_lite::Regex;

/// A substring (the common case: exact text from the serial contract) or a
/// regex (`regex_lite` syntax) when the text has numbers in it. While the
/// guest runs, a regex is matched against complete lines only.
#[derive(Clone, Debug)]
pub enum Pattern {
    Text(String),
    Regex(Regex),
}

impl Pattern {
    /// A regex pattern. Panics on a bad regex: that is a bug in the test.
    pub fn regex(re: &str) -> Self {
        match Regex::new(re) {
            Ok(r) => Pattern::Regex(r),
            Err(e) => panic!("bad regex {re:?} in a test: {e}"),
        }
    }

    /// Byte range of the first match in `haystack`.
    pub fn find(&self, haystack: &str) -> Option<(usize, usize)> {
        match self {
            Pattern::Text(t) => haystack.find(t.as_str()).map(|i| (i, i + t.len())),
            Pattern::Regex(r) => r.find(haystack).map(|m| (m.start(), m.end())),
        }
    }
}

impl From<&str> for Pattern {
    fn from(s: &str) -> Self {
        Pattern::Text(s.to_string())
    }
}

impl From<String> for Pattern {
    fn from(s: String) -> Self {
        Pattern::Text(s)
    }
}

impl From<Regex> for Pattern {
    fn from(r: Regex) -> Self {
        Pattern::Regex(r)
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Text(t) => write!(f, "{t:?}"),
            Pattern::Regex(r) => write!(f, "/{}/", r.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_text_and_regex() {
        assert_eq!(Pattern::from("b c").find("a b c d"), Some((2, 5)));
        assert_eq!(Pattern::from("x").find("abc"), None);
        assert_eq!(
            Pattern::regex(r"in \d+ ms").find("ready in 42 ms\r\n"),
            Some((6, 14))
        );
        assert_eq!(Pattern::regex(r"in \d+ ms").to_string(), r"/in \d+ ms/");
    }
}
