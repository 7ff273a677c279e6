//! Links the addon the way Node loads it (napi-build's per-platform setup).
fn main() {
    napi_build::setup();
}
