//! Paths that must stay inside a directory: a runner's path parameters and result files stay
//! inside its working directory, whatever a submitter puts in them.
//!
//! Two checks, in this order: [`normalise`] is purely lexical (relative, no `..`, `.` and empty
//! components dropped), and [`check_symlinks`] looks at the filesystem: the deepest part of the
//! path that exists must resolve (symlinks followed) to a place inside the directory. What does
//! not exist yet cannot escape, since the lexical check already refused `..`.

use std::path::{Component, Path, PathBuf};

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

/// `root.join(relative)`, once sure that no symlink on the way leads out of `root`.
/// `relative` must already be [`normalise`]d.
pub fn check_symlinks(root: &Path, relative: &str) -> Result<PathBuf, PathEscape> {
    let unreadable =
        |path: &Path, e: std::io::Error| PathEscape::Unreadable(format!("{}: {e}", path.display()));
    let real_root = std::fs::canonicalize(root).map_err(|e| unreadable(root, e))?;
    let joined = root.join(relative);
    // The deepest ancestor that exists (as an entry: a dangling symlink counts) decides.
    let mut existing = joined.as_path();
    while std::fs::symlink_metadata(existing).is_err() {
        match existing.parent() {
            Some(parent) if parent.starts_with(root) => existing = parent,
            _ => return Ok(joined),
        }
    }
    let real = std::fs::canonicalize(existing).map_err(|_| {
        // Exists but does not resolve: a symlink to nowhere, which could later lead anywhere.
        PathEscape::Symlink(display_relative(root, existing))
    })?;
    if real.starts_with(&real_root) {
        Ok(joined)
    } else {
        Err(PathEscape::Symlink(display_relative(root, existing)))
    }
}

fn display_relative(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
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

    #[test]
    fn symlinks_must_not_lead_out() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret.yml"), "x").unwrap();
        let root = tempfile::tempdir().unwrap();
        let root = root.path();
        std::fs::create_dir(root.join("benchmarks")).unwrap();
        std::fs::write(root.join("benchmarks/a.yml"), "x").unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("out")).unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.yml"),
            root.join("benchmarks/evil.yml"),
        )
        .unwrap();
        std::os::unix::fs::symlink("a.yml", root.join("benchmarks/alias.yml")).unwrap();
        std::os::unix::fs::symlink("/nonexistent/x", root.join("dangling")).unwrap();

        assert_eq!(
            check_symlinks(root, "benchmarks/a.yml").unwrap(),
            root.join("benchmarks/a.yml")
        );
        // A symlink that stays inside is fine; so is a file that does not exist yet.
        assert!(check_symlinks(root, "benchmarks/alias.yml").is_ok());
        assert!(check_symlinks(root, "benchmarks/new/deeper.yml").is_ok());
        assert_eq!(
            check_symlinks(root, "benchmarks/evil.yml"),
            Err(PathEscape::Symlink("benchmarks/evil.yml".into()))
        );
        assert_eq!(
            check_symlinks(root, "out/secret.yml"),
            Err(PathEscape::Symlink("out/secret.yml".into()))
        );
        assert_eq!(
            check_symlinks(root, "out/not-there.yml"),
            Err(PathEscape::Symlink("out".into()))
        );
        assert_eq!(
            check_symlinks(root, "dangling"),
            Err(PathEscape::Symlink("dangling".into()))
        );
        assert!(matches!(
            check_symlinks(Path::new("/nonexistent-root"), "a.yml"),
            Err(PathEscape::Unreadable(_))
        ));
    }
}
