//! Enforces HOUSE-STYLE's crate dependency table: any internal edge not listed fails.

use std::collections::{BTreeMap, BTreeSet};

/// Allowed internal dependencies per package (all dependency kinds).
fn allowed() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let table: &[(&str, &[&str])] = &[
        ("micro-proto", &[]),
        ("micro-state-machine", &[]),
        ("micro-raft", &["micro-state-machine", "micro-proto"]),
        ("micro-gateway", &["micro-proto"]),
        (
            "micro-node",
            &[
                "micro-raft",
                "micro-state-machine",
                "micro-gateway",
                "micro-proto",
            ],
        ),
        ("micro-bench", &[]),
        ("micro-cli", &["micro-node", "micro-proto", "micro-bench"]),
        ("micro-tests", &["micro-node", "micro-proto", "micro-raft"]),
        ("micro-jepsen", &["micro-proto", "micro-tests"]),
        (
            "micro-compare",
            &["micro-bench", "micro-proto", "micro-tests"],
        ),
    ];
    table
        .iter()
        .map(|(k, v)| (*k, v.iter().copied().collect()))
        .collect()
}

#[test]
fn internal_dependencies_follow_the_house_style_table() {
    let meta = cargo_metadata::MetadataCommand::new()
        .manifest_path(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.toml"))
        .no_deps()
        .exec()
        .expect("cargo metadata");
    let allowed = allowed();
    let members: BTreeSet<String> = meta
        .workspace_packages()
        .iter()
        .map(|p| p.name.to_string())
        .collect();
    let mut violations = Vec::new();
    for pkg in meta.workspace_packages() {
        let name = pkg.name.to_string();
        let Some(ok) = allowed.get(name.as_str()) else {
            violations.push(format!(
                "{name} is not in the table; add it to HOUSE-STYLE and here"
            ));
            continue;
        };
        for dep in &pkg.dependencies {
            if members.contains(&dep.name) && !ok.contains(dep.name.as_str()) {
                violations.push(format!(
                    "{name} -> {} ({:?}) is not allowed",
                    dep.name, dep.kind
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "crate graph violations:\n{}",
        violations.join("\n")
    );
}
