//! Every scenario shipped in `examples/` parses, finds its catalog and plays to its end: a user
//! who runs `prorata simulate examples/<file>` gets documents, not an error. What each example
//! shows is asserted beside its billing rule's tests.

use std::path::Path;

use prorata_core::catalog::Catalog;
use prorata_core::scenario::{self, Scenario};

#[test]
fn every_shipped_example_plays() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut played = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("examples/") {
        let path = entry.expect("an entry").path();
        if path.extension().is_none_or(|e| e != "toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable");
        let s = Scenario::from_toml(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let catalog_path = dir.join(&s.catalog);
        let catalog = std::fs::read_to_string(&catalog_path)
            .unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), catalog_path.display()));
        let catalog = Catalog::from_toml(&catalog)
            .unwrap_or_else(|e| panic!("{}: {e}", catalog_path.display()));
        let outcome =
            scenario::run(&s, &catalog).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(
            outcome.documents().next().is_some(),
            "{} issues no document",
            path.display()
        );
        played.push(path);
    }
    assert!(played.len() >= 5, "only {} examples found", played.len());
}
