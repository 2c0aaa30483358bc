//! The documentation stands alone: every relative link in the repository's markdown names a
//! file that exists, and no file cites a document that is not in the repository.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Every `.md` file of the repository outside build output and dependencies.
fn markdown_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("a readable directory") {
        let path = entry.expect("a directory entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | ".git" | "node_modules") && !name.starts_with('.') {
                markdown_files(&path, out);
            }
        } else if name.ends_with(".md") {
            out.push(path);
        }
    }
}

/// The targets of inline links `[text](target)` in `text`.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        if let Some(end) = rest.find(')') {
            targets.push(rest[..end].trim().to_owned());
        }
    }
    targets
}

#[test]
fn every_relative_markdown_link_names_a_file_in_the_repository() {
    let mut files = Vec::new();
    markdown_files(&root(), &mut files);
    assert!(files.iter().any(|f| f.ends_with("README.md")));
    let mut broken = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("a markdown file");
        for target in link_targets(&text) {
            let path = target.split('#').next().unwrap_or("");
            if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
                continue;
            }
            let resolved = file.parent().expect("a parent").join(path);
            if !resolved.exists() {
                broken.push(format!("{}: {target}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links to missing files: {broken:#?}");
}

#[test]
fn no_file_cites_the_design_notes_outside_the_repository() {
    let mut files = Vec::new();
    markdown_files(&root(), &mut files);
    for dir in [
        "shared",
        "functions",
        "infra",
        "tests",
        "benches",
        "examples",
    ] {
        collect_sources(&root().join(dir), &mut files);
    }
    // Spelled in two halves so this file does not cite it either.
    let design = format!("{}{}", "DESIGN", ".md");
    let outside = format!("{}{}", "../", "shared/");
    let citing: Vec<String> = files
        .iter()
        .filter(|f| {
            let text = std::fs::read_to_string(f).unwrap_or_default();
            text.contains(&design) || text.contains(&outside)
        })
        .map(|f| f.display().to_string())
        .collect();
    assert!(
        citing.is_empty(),
        "cite a file outside the repository: {citing:#?}"
    );
}

fn collect_sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_sources(&path, out);
        } else if path
            .extension()
            .is_some_and(|e| ["rs", "py", "sh", "yaml", "toml"].contains(&e.to_str().unwrap_or("")))
        {
            out.push(path);
        }
    }
}
