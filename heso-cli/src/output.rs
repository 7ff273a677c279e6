//! Small presentation helpers shared by the commands.

use std::path::Path;

use serde_json::Value;

/// `path` relative to the working directory when it lies inside it, else as given.
pub(crate) fn shown(path: &Path) -> String {
    let cwd = std::env::current_dir().ok();
    let absolute = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    cwd.and_then(|cwd| {
        let cwd = cwd.canonicalize().unwrap_or(cwd);
        absolute.strip_prefix(&cwd).ok().map(Path::to_path_buf)
    })
    .filter(|p| !p.as_os_str().is_empty())
    .unwrap_or(absolute)
    .display()
    .to_string()
}

/// A command-line value: JSON when it parses as JSON (`5000`, `true`, `{"a":1}`), else the
/// text as a string.
pub(crate) fn parse_cli_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned()))
}

/// The first 12 hex digits of a hash, for tables.
pub(crate) fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}
