//! Embeds the demo mailbox: every `assets/demo/*.eml`, in file-name order.

use std::path::Path;

fn main() {
    // The manifest folder as cargo gives it to this run, not as it was
    // when the build script was compiled: a target folder shared by two
    // checkouts reuses the compiled script.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR");
    let dir = Path::new(&manifest).join("assets/demo");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .collect();
    assert!(!files.is_empty(), "no demo messages in {}", dir.display());
    files.sort();
    let mut code =
        String::from("/// The demo messages from `assets/demo/`.\nconst SAMPLES: &[&[u8]] = &[\n");
    for file in &files {
        println!("cargo:rerun-if-changed={}", file.display());
        code.push_str(&format!(
            "    include_bytes!({:?}),\n",
            file.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("demo_samples.rs");
    std::fs::write(out, code).expect("write demo_samples.rs");
}
