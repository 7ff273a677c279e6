//! Signed checkpoints of the project's log (C2SP `tlog-checkpoint`, `heso-tlog`): the
//! origin, signing with the operator key, and the copies kept in
//! `heso-local-data/checkpoints/`.
//!
//! The engine writes one every [`CHECKPOINT_EVERY`] receipts (from the log's append hook,
//! after the lock is released, by whichever process appends the receipt that reaches the
//! multiple) and when the project is closed (dropping the [`crate::Engine`]), so a later
//! `heso log verify` always has one to compare the log with. A copy kept next to the log
//! catches accidents (a truncated file, an old backup put back), not an attacker who can
//! write the folder: only a copy kept elsewhere (a commit, a ticket, a witness) does.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use heso_chain::{TreeError, TreeHead};
use heso_keystore::UnlockedKey;
use heso_tlog::{Checkpoint, OriginError, SignedCheckpoint, operator_multibase};

use crate::project::ProjectPaths;

/// The engine signs and keeps a checkpoint each time the log reaches a multiple of this
/// many receipts.
pub const CHECKPOINT_EVERY: u64 = 1000;

/// The folder under `heso-local-data/` where the engine keeps its checkpoints.
pub const CHECKPOINTS_DIR: &str = "checkpoints";

/// Why a checkpoint could not be made or kept.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The log's tree could not be read.
    #[error("cannot read the log's tree: {0}")]
    Tree(#[from] TreeError),
    /// The log's id cannot be part of an origin.
    #[error("the log has no valid origin: {0}")]
    Origin(#[source] OriginError),
    /// The checkpoint could not be written to `heso-local-data/checkpoints/`.
    #[error("cannot write {}: {source}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Signs checkpoints of one log and keeps them.
pub(crate) struct Checkpointer {
    origin: Result<String, OriginError>,
    operator: Arc<UnlockedKey>,
    dir: PathBuf,
}

impl Checkpointer {
    pub(crate) fn new(paths: &ProjectPaths, operator: Arc<UnlockedKey>, log_id: &str) -> Self {
        Self {
            origin: heso_tlog::origin(&operator_multibase(&operator.public_key()), log_id),
            operator,
            dir: paths.data_dir().join(CHECKPOINTS_DIR),
        }
    }

    pub(crate) fn origin(&self) -> Result<&str, CheckpointError> {
        self.origin
            .as_deref()
            .map_err(|e| CheckpointError::Origin(e.clone()))
    }

    /// The checkpoint of `head`, signed with the operator key.
    pub(crate) fn sign(&self, head: &TreeHead) -> Result<SignedCheckpoint, CheckpointError> {
        let checkpoint = Checkpoint::new(self.origin()?, head.size, head.root)
            .map_err(CheckpointError::Origin)?;
        Ok(checkpoint.sign(self.operator.signing_key()))
    }

    /// Where the checkpoint of `head` is kept: named by size (zero-padded, so names sort
    /// in size order) and the root's first 16 hex digits, so two different trees of one
    /// size (a rewrite) never overwrite each other.
    fn path_of(&self, head: &TreeHead) -> PathBuf {
        let root = head.root.to_hex();
        self.dir.join(format!(
            "{:020}-{}.checkpoint",
            head.size,
            root.get(..16).unwrap_or(&root)
        ))
    }

    /// Signs and keeps the checkpoint of `head`, unless it is kept already. Returns the
    /// file.
    pub(crate) fn keep(
        &self,
        head: &TreeHead,
    ) -> Result<(Option<SignedCheckpoint>, PathBuf), CheckpointError> {
        let path = self.path_of(head);
        if path.is_file() {
            return Ok((None, path));
        }
        let signed = self.sign(head)?;
        self.store(&signed, &path)?;
        Ok((Some(signed), path))
    }

    /// Writes a signed checkpoint of this log to its file (atomically, 0644: it is public).
    pub(crate) fn store(
        &self,
        signed: &SignedCheckpoint,
        path: &Path,
    ) -> Result<(), CheckpointError> {
        let write = |source| CheckpointError::Write {
            path: path.to_path_buf(),
            source,
        };
        heso_fs::create_private_dir(&self.dir).map_err(write)?;
        match heso_fs::write_atomic(
            path,
            signed.to_string().as_bytes(),
            heso_fs::PUBLIC_FILE_MODE,
            heso_fs::Existing::Keep,
        ) {
            Ok(()) => Ok(()),
            // Another process kept the same tree head first.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
            Err(e) => Err(write(e)),
        }
    }

    /// The file the checkpoint of `head` is kept in.
    pub(crate) fn file_of(&self, head: &TreeHead) -> PathBuf {
        self.path_of(head)
    }

    /// For the log's append hook: keep the checkpoint of `head`, reporting a failure on
    /// stderr (the append it follows has succeeded; nothing may panic here).
    pub(crate) fn keep_quietly(&self, head: &TreeHead) {
        if let Err(e) = self.keep(head) {
            warn(&format!(
                "could not keep the checkpoint of the log at {} receipts: {e}",
                head.size
            ));
        }
    }
}

/// One line on stderr, ignoring a stderr that cannot be written.
pub(crate) fn warn(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "heso: warning: {message}");
}
