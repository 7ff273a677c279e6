//! Chain links between consecutive receipts of one session.

use crate::model::Receipt;
use crate::verdict::Verdict;

const LINK_DOMAIN: &[u8] = b"heso-rcpt-chain/v1\0";

/// `prev_receipt_hash` of the receipt that follows (`session_id`, `seq`, `action_hash`).
///
/// hex BLAKE3(`"heso-rcpt-chain/v1\0"` ‖ LP(session_id) ‖ LP(u64 LE seq) ‖ LP(action_hash hex)),
/// where LP(x) is x's length as u64 little-endian, then x.
pub fn chain_link(session_id: &str, seq: u64, action_hash: &str) -> String {
    let mut hasher = blake3::Hasher::new();
    hasher.update(LINK_DOMAIN);
    for part in [
        session_id.as_bytes(),
        &seq.to_le_bytes(),
        action_hash.as_bytes(),
    ] {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    hasher.finalize().to_hex().to_string()
}

/// Where a chain of one session stands after the receipts seen so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    /// The session id.
    pub session_id: String,
    /// The last seq seen.
    pub seq: u64,
    /// The last receipt's action_hash.
    pub action_hash: String,
}

impl ChainHead {
    /// The `prev_receipt_hash` the next receipt must carry.
    pub fn next_link(&self) -> String {
        chain_link(&self.session_id, self.seq, &self.action_hash)
    }
}

/// Checks that `receipt` is the correct successor of `head` (or a genesis when `head` is
/// `None`) in its session, and returns the new head. The receipt's own signatures are not
/// checked here; see [`crate::verify_chain`] for the whole check.
pub fn check_link(head: Option<&ChainHead>, receipt: &Receipt) -> Result<ChainHead, Verdict> {
    let content = &receipt.content;
    let broken = |seq: Option<u64>, detail: String| Verdict::LinkBroken { seq, detail };
    let (Some(session_id), Some(seq)) = (&content.session_id, content.seq) else {
        return Err(broken(
            content.seq,
            "receipt has no session_id or seq".into(),
        ));
    };
    match head {
        None => {
            if seq != 0 {
                return Err(broken(
                    Some(seq),
                    format!("session {session_id:?} starts at seq {seq}, not 0"),
                ));
            }
            if content.prev_receipt_hash.is_some() {
                return Err(broken(
                    Some(seq),
                    "genesis receipt (seq 0) has a prev_receipt_hash".into(),
                ));
            }
        }
        Some(head) => {
            if head.session_id != *session_id {
                return Err(broken(
                    Some(seq),
                    format!(
                        "session {session_id:?} follows session {:?}",
                        head.session_id
                    ),
                ));
            }
            let expected_seq = head.seq.checked_add(1);
            if Some(seq) != expected_seq {
                return Err(broken(
                    Some(seq),
                    format!("seq {seq} follows seq {}", head.seq),
                ));
            }
            let expected = head.next_link();
            match &content.prev_receipt_hash {
                Some(prev) if *prev == expected => {}
                Some(_) => {
                    return Err(broken(
                        Some(seq),
                        format!("prev_receipt_hash does not link to seq {}", head.seq),
                    ));
                }
                None => return Err(broken(Some(seq), "prev_receipt_hash missing".into())),
            }
        }
    }
    Ok(ChainHead {
        session_id: session_id.clone(),
        seq,
        action_hash: content.action_hash.clone(),
    })
}
