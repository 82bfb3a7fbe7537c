//! Embeds the web app (`web/`) in the binary: every file the app serves, listed with its bytes in
//! `$OUT_DIR/web_assets.rs`, so that `cargo build` needs no npm step and the binary needs no
//! files beside it. What npm installs (`node_modules/`) and the files about the sources
//! (`package*.json`, `README.md`, `vendor.sh`) are not served.

use std::path::{Path, PathBuf};

const NOT_SERVED: [&str; 5] = [
    "node_modules",
    "package.json",
    "package-lock.json",
    "README.md",
    "vendor.sh",
];

fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name().to_string_lossy().to_string();
        if NOT_SERVED.contains(&name.as_str()) || name.starts_with('.') {
            continue;
        }
        let path = e.path();
        if path.is_dir() {
            walk(&path, root, out);
        } else {
            let rel = path
                .strip_prefix(root)
                .expect("inside web/")
                .to_string_lossy()
                .replace('\\', "/");
            out.push((rel, path));
        }
    }
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("web");
    println!("cargo:rerun-if-changed=web");
    let mut files = Vec::new();
    walk(&root, &root, &mut files);
    let mut code = String::from("pub static ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, path) in files {
        code.push_str(&format!(
            "    ({rel:?}, include_bytes!({:?})),\n",
            path.display().to_string()
        ));
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("web_assets.rs"), code).expect("write the asset list");
}
