//! [`JobId`]: what names a job, everywhere from the API's paths to the store's keys.

use serde::{Deserialize, Serialize};
use std::borrow::Borrow;
use std::fmt;
use ulid::Ulid;

/// A job's id: a ULID in its 26-character Crockford base-32 form, unique and ordered by
/// submission time. Its JSON form is that string.
#[derive(
    Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = String, example = "01JBQ8ZK3N7X5TQ4W2V9R6M1HC")]
pub struct JobId(String);

/// A text that is not a job id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a job id (a 26-character ULID)")]
pub struct NotAJobId(pub String);

impl JobId {
    /// Reads an id, refusing anything that is not a ULID.
    pub fn parse(text: &str) -> Result<Self, NotAJobId> {
        Ulid::from_string(text)
            .map(Self::from)
            .map_err(|_| NotAJobId(text.to_owned()))
    }

    /// An id of any text, for tests that name their jobs `a`, `b`, `j050`.
    #[cfg(any(test, feature = "testing"))]
    pub fn named(text: &str) -> Self {
        Self(text.to_owned())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The ULID it spells (`None` only for an id read unchecked from an old record).
    pub fn ulid(&self) -> Option<Ulid> {
        Ulid::from_string(&self.0).ok()
    }
}

impl From<Ulid> for JobId {
    fn from(ulid: Ulid) -> Self {
        Self(ulid.to_string())
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for JobId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An id reads as its text wherever text is wanted (paths, spans, log lines); the reverse
/// needs [`JobId::parse`].
impl std::ops::Deref for JobId {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

/// Maps keyed by id can be asked with the text a policy or a log line carries.
impl Borrow<str> for JobId {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for JobId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for JobId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ulid_is_an_id() {
        let ulid = Ulid::new();
        let id = JobId::parse(&ulid.to_string()).unwrap();
        assert_eq!(id.ulid(), Some(ulid));
        assert_eq!(id, JobId::from(ulid));
        for bad in [
            "",
            "0",
            "../etc",
            "01JBQ8ZK3N7X5TQ4W2V9R6M1H",
            "01JBQ8ZK3N7X5TQ4W2V9R6M1HCX",
        ] {
            assert_eq!(JobId::parse(bad), Err(NotAJobId(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn its_json_is_the_text() {
        let id = JobId::from(Ulid::new());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap(), id);
    }
}
