//! Chain links between consecutive receipts of one session.

use std::fmt;

use crate::model::Receipt;

/// A receipt that does not follow its predecessor in its session. A log's verdict on a
/// line, never a receipt's own: a receipt alone has no predecessor, so [`crate::Verdict`] has no
/// such kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkBroken {
    /// The seq of the receipt where the chain breaks, when it has one.
    pub seq: Option<u64>,
    /// What is wrong.
    pub detail: String,
}

impl LinkBroken {
    /// `LinkBroken`, as [`crate::Verdict::kind`] names the receipt's own kinds.
    pub fn kind(&self) -> &'static str {
        "LinkBroken"
    }

    /// What is wrong.
    pub fn detail(&self) -> &str {
        &self.detail
    }
}

/// `LinkBroken: detail`, as [`crate::Verdict`] displays.
impl fmt::Display for LinkBroken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkBroken: {}", self.detail)
    }
}

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

/// Where a receipt says it sits in its session's chain: the fields the link rule reads.
/// A log walk keeps these instead of the whole receipt (see [`crate::LogChecker`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainClaim {
    /// The receipt's `session_id`.
    pub session_id: Option<String>,
    /// The receipt's `seq`.
    pub seq: Option<u64>,
    /// The receipt's `prev_receipt_hash`.
    pub prev_receipt_hash: Option<String>,
    /// The receipt's `action_hash` (as written, not recomputed).
    pub action_hash: String,
}

impl ChainClaim {
    /// What `receipt` claims.
    pub fn of(receipt: &Receipt) -> ChainClaim {
        let content = &receipt.content;
        ChainClaim {
            session_id: content.session_id.clone(),
            seq: content.seq,
            prev_receipt_hash: content.prev_receipt_hash.clone(),
            action_hash: content.action_hash.clone(),
        }
    }
}

/// Checks that `receipt` is the correct successor of `head` (or a genesis when `head` is
/// `None`) in its session, and returns the new head. The receipt's own signatures are not
/// checked here; see [`crate::verify_chain`] for the whole check.
pub fn check_link(head: Option<&ChainHead>, receipt: &Receipt) -> Result<ChainHead, LinkBroken> {
    let content = &receipt.content;
    check(
        head,
        content.session_id.as_deref(),
        content.seq,
        content.prev_receipt_hash.as_deref(),
        &content.action_hash,
    )
}

/// [`check_link`] on what a receipt claims, for callers that keep only that.
pub fn check_claim(head: Option<&ChainHead>, claim: &ChainClaim) -> Result<ChainHead, LinkBroken> {
    check(
        head,
        claim.session_id.as_deref(),
        claim.seq,
        claim.prev_receipt_hash.as_deref(),
        &claim.action_hash,
    )
}

fn check(
    head: Option<&ChainHead>,
    session_id: Option<&str>,
    seq: Option<u64>,
    prev_receipt_hash: Option<&str>,
    action_hash: &str,
) -> Result<ChainHead, LinkBroken> {
    let broken = |seq: Option<u64>, detail: String| LinkBroken { seq, detail };
    let (Some(session_id), Some(seq)) = (session_id, seq) else {
        return Err(broken(seq, "receipt has no session_id or seq".into()));
    };
    match head {
        None => {
            if seq != 0 {
                return Err(broken(
                    Some(seq),
                    format!("session {session_id:?} starts at seq {seq}, not 0"),
                ));
            }
            if prev_receipt_hash.is_some() {
                return Err(broken(
                    Some(seq),
                    "genesis receipt (seq 0) has a prev_receipt_hash".into(),
                ));
            }
        }
        Some(head) => {
            if head.session_id != session_id {
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
            match prev_receipt_hash {
                Some(prev) if prev == expected => {}
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
        session_id: session_id.to_owned(),
        seq,
        action_hash: action_hash.to_owned(),
    })
}
