//! The house rules of the source tree (from the architecture issue), kept
//! by a test so that a change that breaks one fails here rather than
//! being noticed sessions later: files stay small enough to read, the two
//! front ends' main files stay thin, and only `net` opens TCP sockets.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    files.sort();
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("read");
            (path.strip_prefix(root).expect("inside").to_owned(), text)
        })
        .collect()
}

#[test]
fn source_files_stay_within_their_limits() {
    let mut too_long = Vec::new();
    for (path, text) in sources() {
        let lines = text.lines().count();
        let limit = match path.to_str() {
            Some("src/app/mod.rs" | "src/cli/mod.rs") => 400,
            _ => 700,
        };
        if lines > limit {
            too_long.push(format!(
                "{} has {lines} lines (limit {limit})",
                path.display()
            ));
        }
    }
    assert!(too_long.is_empty(), "{too_long:#?}");
}

#[test]
fn only_net_opens_tcp_sockets() {
    let outside: Vec<String> = sources()
        .into_iter()
        .filter(|(path, text)| !path.starts_with("src/net") && text.contains("TcpStream"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(outside.is_empty(), "TcpStream outside src/net: {outside:?}");
}
