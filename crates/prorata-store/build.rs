//! `sqlx::migrate!` embeds the migrations when the crate compiles, but cargo does not know
//! it read them: without this, a new migration file is left out until something else in
//! the crate changes (sqlx's documented remedy).
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
