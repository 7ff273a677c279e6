//! Small presentation helpers shared by the commands, and the only way they write.
//!
//! Every line for the user goes through `out!` (stdout) or `err!` (stderr), never
//! `println!`/`eprintln!`, which panic when the stream is closed or the disk is full.
//! The first stdout failure is kept and later writes are skipped; when the command is
//! done, `finish` turns it into the exit: a reader that went away (EPIPE, `| head -1`)
//! ends the program quietly with [`BROKEN_PIPE_EXIT`], any other failure (ENOSPC,
//! `> /dev/full`) is one line on stderr, `heso: cannot write output: …`, and exit 2.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, Write as _};
use std::path::Path;

use serde_json::Value;

/// The exit code when stdout's reader went away: what a shell reports for a process killed
/// by SIGPIPE (128 + 13), so `set -o pipefail` sees the same as with other tools.
pub(crate) const BROKEN_PIPE_EXIT: i32 = 141;

thread_local! {
    /// The first error writing to stdout during this run.
    static STDOUT_FAILED: RefCell<Option<io::Error>> = const { RefCell::new(None) };
}

/// Writes to stdout, unless an earlier write failed; a failure is kept for [`finish`].
pub(crate) fn write_stdout(args: fmt::Arguments<'_>) {
    STDOUT_FAILED.with(|failed| {
        let mut failed = failed.borrow_mut();
        if failed.is_none()
            && let Err(e) = io::stdout().lock().write_fmt(args)
        {
            *failed = Some(e);
        }
    });
}

/// Writes to stderr; a failure there has nowhere to be reported and is ignored.
pub(crate) fn write_stderr(args: fmt::Arguments<'_>) {
    let _ = io::stderr().lock().write_fmt(args);
}

/// Forgets any earlier failure: a new run of the program starts (the library entry point
/// may be called more than once in a process).
pub(crate) fn start() {
    STDOUT_FAILED.with(|failed| *failed.borrow_mut() = None);
}

/// Flushes stdout and gives the exit code: `code`, unless writing stdout failed (see the
/// module docs).
pub(crate) fn finish(code: i32) -> i32 {
    let flushed = io::stdout().lock().flush();
    let failed = STDOUT_FAILED.with(|failed| failed.borrow_mut().take());
    match failed.map_or(flushed, Err) {
        Ok(()) => code,
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => BROKEN_PIPE_EXIT,
        Err(e) => {
            let text = e.to_string();
            // "No space left on device (os error 28)": the words, not the number.
            let words = text.split(" (os error ").next().unwrap_or(&text);
            write_stderr(format_args!("heso: cannot write output: {words}\n"));
            2
        }
    }
}

/// `println!` that never panics: see the module docs.
macro_rules! out {
    () => {
        $crate::output::write_stdout(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that never panics (a prompt on the same line).
#[allow(
    unused_macros,
    reason = "for the confirmation prompts; a build without one must not warn"
)]
macro_rules! out_part {
    ($($arg:tt)*) => {
        $crate::output::write_stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! err {
    ($($arg:tt)*) => {
        $crate::output::write_stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

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

/// `n` and the noun, in proper English: `1 session`, `2 sessions`.
pub(crate) fn counted(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}
