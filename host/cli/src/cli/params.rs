//! `key=value` arguments: a submit's parameters and labels.

use std::collections::BTreeMap;

/// Why a `key=value` argument was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairError {
    /// No `=` in the argument.
    #[error("{0:?} is not key=value")]
    NoEquals(String),
    /// Nothing before the `=`.
    #[error("{0:?} has an empty key")]
    EmptyKey(String),
    /// The same key twice.
    #[error("{0:?} is given more than once")]
    Duplicate(String),
}

/// Splits `key=value` at the first `=`: the value may itself contain `=`, and may be empty.
/// (A clap value parser, so a malformed argument is a usage error.)
pub fn parse_pair(arg: &str) -> Result<(String, String), PairError> {
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| PairError::NoEquals(arg.to_owned()))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(PairError::EmptyKey(arg.to_owned()));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// The pairs as a map; a key given twice is an error rather than a silent overwrite.
pub fn collect(pairs: &[(String, String)]) -> Result<BTreeMap<String, String>, PairError> {
    let mut map = BTreeMap::new();
    for (key, value) in pairs {
        if map.insert(key.clone(), value.clone()).is_some() {
            return Err(PairError::Duplicate(key.clone()));
        }
    }
    Ok(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair(k: &str, v: &str) -> (String, String) {
        (k.to_owned(), v.to_owned())
    }

    #[test]
    fn a_pair_splits_at_the_first_equals() {
        assert_eq!(parse_pair("agent=flaky"), Ok(pair("agent", "flaky")));
        assert_eq!(parse_pair("expr=a=b"), Ok(pair("expr", "a=b")));
        assert_eq!(parse_pair("empty="), Ok(pair("empty", "")));
        assert_eq!(parse_pair(" k =v "), Ok(pair("k", "v ")));
        assert_eq!(
            parse_pair("benchmark"),
            Err(PairError::NoEquals("benchmark".into()))
        );
        assert_eq!(parse_pair("=x"), Err(PairError::EmptyKey("=x".into())));
    }

    #[test]
    fn a_key_given_twice_is_refused() {
        let map = collect(&[pair("a", "1"), pair("b", "2")]).unwrap();
        assert_eq!(map.len(), 2);
        assert_eq!(
            collect(&[pair("a", "1"), pair("a", "2")]),
            Err(PairError::Duplicate("a".into()))
        );
    }
}
