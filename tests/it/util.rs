//! Helpers shared by the integration tests.

use std::path::PathBuf;

/// `../shared` beside the checkout (reference data of this workplace), if present.
pub fn shared() -> Option<PathBuf> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    p.is_dir().then_some(p)
}

/// `../shared`, or a panic that says these tests need it (they are `#[ignore]`d by default).
pub fn shared_or_panic() -> PathBuf {
    shared().expect(
        "this test needs ../shared beside the checkout (run with --include-ignored only there)",
    )
}
