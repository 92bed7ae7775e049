//! Rebuilds the crate when anything under `assets/` changes: the embedding macro sees the files
//! it embeds, but not a file added to or removed from the directory.

fn main() {
    println!("cargo:rerun-if-changed=assets");
}
