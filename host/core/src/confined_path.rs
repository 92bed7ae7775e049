//! Paths that must stay inside a directory: a runner's path parameters and result files stay
//! inside its working directory, whatever a submitter puts in them.
//!
//! Two checks, in this order: [`normalise`] here is purely lexical (relative, no `..`, `.` and
//! empty components dropped); the engine's `workdir::check_symlinks` then looks at the
//! filesystem: the deepest part of the path that exists must resolve (symlinks followed) to a
//! place inside the directory. What does not exist yet cannot escape, since the lexical check
//! already refused `..`.

use std::path::{Component, Path};

/// Why a path was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathEscape {
    /// Nothing left once normalised (empty, or only `.`).
    #[error("is empty; give a path to a file inside the runner's workdir")]
    Empty,
    /// An absolute path.
    #[error("is an absolute path; give a path relative to the runner's workdir")]
    Absolute,
    /// A `..` component.
    #[error("contains '..'; give a path inside the runner's workdir")]
    ParentDir,
    /// A symlink on the way leads out of the directory.
    #[error("leads out of the runner's workdir through the symlink {0}")]
    Symlink(String),
    /// The directory, or a part of the path, cannot be examined.
    #[error("cannot be checked against the runner's workdir: {0}")]
    Unreadable(String),
}

/// The lexical normal form of a relative path: `a//b/./c` is `a/b/c`. Refuses absolute paths,
/// `..` anywhere, and paths that name the directory itself.
pub fn normalise(text: &str) -> Result<String, PathEscape> {
    let path = Path::new(text);
    let mut parts = Vec::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy()),
            Component::CurDir => {}
            Component::ParentDir => return Err(PathEscape::ParentDir),
            Component::RootDir | Component::Prefix(_) => return Err(PathEscape::Absolute),
        }
    }
    if parts.is_empty() {
        return Err(PathEscape::Empty);
    }
    Ok(parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_forms_and_refusals() {
        assert_eq!(normalise("a.yml").unwrap(), "a.yml");
        assert_eq!(normalise("./a//b/./c.yml").unwrap(), "a/b/c.yml");
        assert_eq!(normalise("a/b/").unwrap(), "a/b");
        assert_eq!(normalise("/etc/passwd"), Err(PathEscape::Absolute));
        assert_eq!(normalise("//etc/passwd"), Err(PathEscape::Absolute));
        assert_eq!(normalise("../x.yml"), Err(PathEscape::ParentDir));
        assert_eq!(normalise("a/../../x.yml"), Err(PathEscape::ParentDir));
        assert_eq!(normalise("a/.."), Err(PathEscape::ParentDir));
        assert_eq!(normalise(""), Err(PathEscape::Empty));
        assert_eq!(normalise("./."), Err(PathEscape::Empty));
        // A name that merely starts with dots is a name.
        assert_eq!(normalise("..a/b..").unwrap(), "..a/b..");
    }
}
