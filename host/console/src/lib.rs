//! The web console: static files (HTML, CSS and JavaScript modules, no build step) that run in
//! the browser and talk to reef's HTTP API like any other client.
//!
//! Every build embeds the files of `assets/` in the binary (debug builds too: a binary keeps
//! working when the tree it was built from moves or goes). `build.rs` has cargo rebuild this
//! crate when any file under `assets/` changes, is added or is removed.
//!
//! **The console knows nothing of HTTP serving, the engine or the store.** This crate only hands
//! out files by path; `reef-server` serves them (at `/` and `/ui/...`), and the pages learn
//! everything else through the public API.

use std::borrow::Cow;

#[derive(rust_embed::RustEmbed)]
#[folder = "assets/"]
struct Files;

/// One file of the console.
#[derive(Debug, Clone)]
pub struct Asset {
    /// The file's bytes.
    pub body: Cow<'static, [u8]>,
    /// Its media type, from its extension (`text/html`, `text/javascript`, ...).
    pub content_type: &'static str,
    /// A strong validator of its contents (hex SHA-256), for `ETag`.
    pub etag: String,
}

/// The page every console address loads: the pages themselves are routes inside it.
pub const INDEX: &str = "index.html";

/// The file at `path` (relative to the console's root, `js/app.js`), if the console has one.
pub fn asset(path: &str) -> Option<Asset> {
    let file = Files::get(path)?;
    let etag = file
        .metadata
        .sha256_hash()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    Some(Asset {
        content_type: content_type(path),
        body: file.data,
        etag,
    })
}

/// Every file's path, sorted.
pub fn paths() -> Vec<String> {
    let mut paths: Vec<String> = Files::iter().map(|p| p.into_owned()).collect();
    paths.sort();
    paths
}

/// The media type of the kinds of file the console ships; anything else is opaque bytes.
fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_index_page_is_there_as_html() {
        let index = asset(INDEX).expect("index.html");
        assert_eq!(index.content_type, "text/html; charset=utf-8");
        assert!(String::from_utf8_lossy(&index.body).contains("<html"));
        assert_eq!(index.etag.len(), 64);
    }

    #[test]
    fn an_unknown_path_is_none() {
        assert!(asset("nope.js").is_none());
        assert!(asset("../Cargo.toml").is_none());
    }

    /// The console loads nothing from outside the host: no URL with a scheme in any file.
    #[test]
    fn no_file_reaches_beyond_the_host() {
        for path in paths() {
            let text = String::from_utf8_lossy(&asset(&path).expect("listed").body).into_owned();
            for scheme in ["http://", "https://", "//fonts.", "//cdn."] {
                // An XML namespace (`xmlns="http://www.w3.org/2000/svg"`) is a name, not a load.
                let hits: Vec<&str> = text
                    .lines()
                    .filter(|l| l.replace("http://www.w3.org/", "").contains(scheme))
                    .collect();
                assert!(hits.is_empty(), "{path} refers beyond the host: {hits:?}");
            }
        }
    }
}
