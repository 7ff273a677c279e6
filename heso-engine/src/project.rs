//! Where a project lives: discovery and the paths inside it.

use std::path::{Path, PathBuf};

/// The policy file's name.
pub const CONFIG_FILE: &str = "heso.toml";
/// The folder of local state, never committed.
pub const DATA_DIR: &str = "heso-local-data";

/// The files of one project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectPaths {
    /// The folder holding `heso.toml`.
    pub root: PathBuf,
}

impl ProjectPaths {
    /// The paths of a project rooted at `root` (nothing is checked).
    pub fn at(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }
    /// `heso.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }
    /// `heso-local-data/`.
    pub fn data_dir(&self) -> PathBuf {
        self.root.join(DATA_DIR)
    }
    /// `heso-local-data/receipts.jsonl`.
    pub fn receipts(&self) -> PathBuf {
        self.data_dir().join("receipts.jsonl")
    }
    /// `heso-local-data/salts.jsonl`.
    pub fn salts(&self) -> PathBuf {
        self.data_dir().join("salts.jsonl")
    }
    /// `heso-local-data/pending/`.
    pub fn pending_dir(&self) -> PathBuf {
        self.data_dir().join("pending")
    }
}

/// Why no project was found.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DiscoverError {
    /// The directory given (argument or `HESO_PROJECT_ROOT`) has no `heso.toml`.
    #[error("no heso.toml in {dir} (from {source_name}); run `heso init` there first")]
    NoConfigIn {
        /// The directory looked at.
        dir: String,
        /// Where it came from: the argument or the variable.
        source_name: &'static str,
    },
    /// No ancestor of the working directory holds `heso.toml`.
    #[error("no heso.toml in {cwd} or any folder above it; run `heso init` to create a project")]
    NotFound {
        /// The working directory.
        cwd: String,
    },
}

/// Finds the project: an explicit directory, else `HESO_PROJECT_ROOT`, else the nearest
/// ancestor of the working directory holding `heso.toml`.
pub fn discover(explicit: Option<&Path>) -> Result<ProjectPaths, DiscoverError> {
    if let Some(dir) = explicit {
        return at_dir(dir, "the given directory");
    }
    if let Some(dir) = std::env::var_os("HESO_PROJECT_ROOT").filter(|d| !d.is_empty()) {
        return at_dir(Path::new(&dir), "HESO_PROJECT_ROOT");
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    cwd.ancestors()
        .find(|dir| dir.join(CONFIG_FILE).is_file())
        .map(ProjectPaths::at)
        .ok_or_else(|| DiscoverError::NotFound {
            cwd: cwd.display().to_string(),
        })
}

fn at_dir(dir: &Path, source_name: &'static str) -> Result<ProjectPaths, DiscoverError> {
    if dir.join(CONFIG_FILE).is_file() {
        let root = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
        Ok(ProjectPaths::at(root))
    } else {
        Err(DiscoverError::NoConfigIn {
            dir: dir.display().to_string(),
            source_name,
        })
    }
}
