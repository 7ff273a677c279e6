//! `heso keys …` and the passphrase prompts.

use std::io::IsTerminal as _;
use std::path::PathBuf;

use heso_engine::{discover, load_config};
use heso_keystore::{
    ENV_APPROVER_PASSPHRASE, ENV_KEY_PASSPHRASE, ENV_OLD_KEY_PASSPHRASE, ExposeSecret as _,
    MIN_PASSPHRASE_CHARS, OldPassphrase, PassphraseSources, SecretString, secret_from_env,
};
use heso_receipt::public_key_to_did_key;

use crate::output::shown;
use crate::{Failure, Outcome};

/// A secret from `env`, else typed at a terminal prompt (never echoed); never from a
/// non-terminal stdin, where a prompt would hang or read the wrong thing. A variable set
/// to bytes that are not UTF-8 is an error, not a reason to prompt.
fn secret_from(env: &str, prompt: &str, confirm: bool) -> Result<SecretString, Failure> {
    if let Some(value) = secret_from_env(env).map_err(Failure::usage)? {
        return Ok(value);
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "no passphrase: set {env}, or run this on a terminal to be asked for it"
        )));
    }
    let first = rpassword::prompt_password(prompt)
        .map_err(|e| Failure::usage(format!("cannot read the passphrase: {e}")))?;
    if confirm {
        let second = rpassword::prompt_password("again: ")
            .map_err(|e| Failure::usage(format!("cannot read the passphrase: {e}")))?;
        if first != second {
            return Err(Failure::usage(
                "the two passphrases differ; nothing was changed",
            ));
        }
    }
    if first.is_empty() {
        return Err(Failure::usage("an empty passphrase is not allowed"));
    }
    Ok(SecretString::from(first))
}

/// The approver's passphrase: `HESO_APPROVER_PASSPHRASE` or a prompt.
pub(crate) fn approver_passphrase() -> Result<SecretString, Failure> {
    secret_from(ENV_APPROVER_PASSPHRASE, "approver key passphrase: ", false)
}

/// The operator key `heso.toml` pins (checked against `identity.pub` and the key file, as
/// verification checks it), the operator keys it retired, and its approvers. No
/// passphrase needed.
pub(crate) fn show(json: bool) -> Outcome {
    let paths = discover(None).map_err(Failure::usage)?;
    let config = load_config(&paths.config()).map_err(Failure::usage)?;
    let operator = heso_engine::operator_identity(&paths, &config).map_err(Failure::usage)?;
    if let Some(notice) = operator.notice() {
        err!("heso: warning: {notice}");
    }
    if json {
        let document = serde_json::json!({
            "operator": public_key_to_did_key(&operator.key),
            "retired_operators": config.retired_operators.iter().map(|r| serde_json::json!({
                "key": public_key_to_did_key(&r.key),
                "retired_at": r.retired_at,
            })).collect::<Vec<_>>(),
            "approvers": config.policy.approvers().map(|(name, key)| serde_json::json!({
                "name": name,
                "key": public_key_to_did_key(&key),
            })).collect::<Vec<_>>(),
            "retired_approvers": config.policy.retired_approvers().map(|(name, r)| serde_json::json!({
                "name": name,
                "key": public_key_to_did_key(&r.key),
                "retired_at": r.retired_at,
            })).collect::<Vec<_>>(),
        });
        out!("{document}");
        return Ok(0);
    }
    out!("operator {}", public_key_to_did_key(&operator.key));
    for retired in &config.retired_operators {
        out!(
            "retired operator {} (retired {}: trusted for receipts up to then)",
            public_key_to_did_key(&retired.key),
            retired.retired_at
        );
    }
    let mut any = false;
    for (name, key) in config.policy.approvers() {
        out!("approver {name} {}", public_key_to_did_key(&key));
        any = true;
    }
    if !any {
        out!("no approvers in heso.toml (create one with `heso keys new-approver NAME`)");
    }
    Ok(0)
}

pub(crate) fn new_approver(name: &str, out: Option<PathBuf>, make_default: bool) -> Outcome {
    // Inside a project the approver is added to its heso.toml; outside one (an approver
    // making their key on their own machine) the lines to add are printed.
    let paths = discover(None).ok();
    if let Some(paths) = &paths {
        let config = load_config(&paths.config()).map_err(Failure::usage)?;
        let taken = config.policy.approvers().any(|(n, _)| n == name)
            || config.policy.retired_approvers().any(|(n, _)| n == name);
        if taken {
            return Err(Failure::usage(format!(
                "heso.toml already has [approvers.{name}]; choose another name"
            )));
        }
    }
    let path = match out {
        Some(path) => path,
        None => heso_keystore::default_approver_path(name).ok_or_else(|| {
            Failure::usage("cannot find a home folder for the key; give --out PATH")
        })?,
    };
    if path.exists() {
        return Err(Failure::usage(format!(
            "{} already exists; an approver key is never replaced",
            shown(&path)
        )));
    }
    let make_default = paths.is_some() && (make_default || ask_default(name)?);
    let passphrase = secret_from(ENV_APPROVER_PASSPHRASE, "new approver passphrase: ", true)?;
    let created =
        heso_keystore::create_approver(&path, name, &passphrase).map_err(Failure::usage)?;
    let did = created.key.did_key();
    out!("approver key written -> {}", shown(&created.key_path));
    out!("approver {name} {did}");
    let Some(paths) = paths else {
        out!("not inside a project: give the project's operator these lines for its heso.toml:");
        out!();
        out!("[approvers.{name}]");
        out!("key = \"{did}\"");
        return Ok(0);
    };
    heso_engine::add_approver(&paths.config(), name, &did, make_default).map_err(|e| {
        Failure::usage(format!(
            "{e}\nthe key was written; add to heso.toml by hand:\n[approvers.{name}]\nkey = \"{did}\""
        ))
    })?;
    out!("added [approvers.{name}] to {}", shown(&paths.config()));
    if make_default {
        out!(
            "{name} is a default approver: they may decide every action whose rule names no approvers"
        );
    } else {
        out!(
            "name {name:?} in a rule's approvers (or [defaults] approvers) to let them decide its actions"
        );
    }
    Ok(0)
}

/// On a terminal, asks whether to make the new approver a default one; elsewhere, no.
fn ask_default(name: &str) -> Result<bool, Failure> {
    if !std::io::stdin().is_terminal() {
        return Ok(false);
    }
    out_part!("make {name} a default approver (decides actions whose rule names none)? [y/N] ");
    std::io::Write::flush(&mut std::io::stdout())
        .map_err(|e| Failure::usage(format!("cannot write the question: {e}")))?;
    let mut answer = String::new();
    std::io::BufRead::read_line(&mut std::io::stdin().lock(), &mut answer)
        .map_err(|e| Failure::usage(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "Yes" | "YES"))
}

pub(crate) fn retire_approver(name: &str) -> Outcome {
    let paths = discover(None).map_err(Failure::usage)?;
    let at = heso_engine::now_rfc3339();
    heso_engine::retire_approver(&paths.config(), name, &at).map_err(Failure::usage)?;
    out!(
        "approver {name} retired at {at}: they decide nothing from now on, parked actions included"
    );
    out!(
        "receipts they signed before then stay valid (verification names them a retired approver)"
    );
    Ok(0)
}

pub(crate) fn passphrase() -> Outcome {
    let paths = discover(None).map_err(Failure::usage)?;
    let config = load_config(&paths.config()).map_err(Failure::usage)?;
    let data_dir = paths.data_dir();
    let new = secret_from(ENV_KEY_PASSPHRASE, "new operator key passphrase: ", true)?;
    let rules = PassphraseSources::from_env(config.require_passphrase).map_err(Failure::usage)?;
    if let Some(reason) = rules.too_short(&new) {
        return Err(Failure::usage(format!(
            "the new passphrase is too short: {reason} requires at least \
             {MIN_PASSPHRASE_CHARS} characters (its value is not shown); choose a longer one \
             (nothing was changed)"
        )));
    }
    let dev_file = data_dir.join(heso_keystore::DEV_PASSPHRASE_FILE);
    let old = if dev_file.is_file() {
        OldPassphrase::DevFile
    } else if let Some(old) = OldPassphrase::from_env().map_err(Failure::usage)? {
        old
    } else {
        OldPassphrase::Given(secret_from(
            ENV_OLD_KEY_PASSPHRASE,
            "current operator key passphrase: ",
            false,
        )?)
    };
    if new.expose_secret().is_empty() {
        return Err(Failure::usage("an empty passphrase is not allowed"));
    }
    let done = heso_keystore::reencrypt_operator(&data_dir, old, &new).map_err(Failure::usage)?;
    out!(
        "operator key re-encrypted (pubkey {}) under the new passphrase",
        public_key_to_did_key(&done.public_key)
    );
    if done.dev_file_removed {
        out!("removed the dev passphrase file; set HESO_KEY_PASSPHRASE wherever heso runs");
    }
    Ok(0)
}

/// `heso keys rotate`: a new operator key; the old one signs the change and stays trusted
/// for what it signed before (see `heso_engine::rotate_operator`).
pub(crate) fn rotate() -> Outcome {
    let rotation = heso_engine::rotate_operator(None).map_err(Failure::usage)?;
    let old = public_key_to_did_key(&rotation.old);
    let new = public_key_to_did_key(&rotation.new);
    let Some(receipt) = &rotation.receipt else {
        out!("finished an interrupted rotation: operator {new} is in place");
        out!(
            "retired operator {old} (retired {}: receipts it signed up to then stay valid)",
            rotation.retired_at
        );
        return Ok(0);
    };
    out!("operator key rotated: {new} signs from now on");
    out!(
        "retired operator {old} at {}: receipts it signed up to then stay valid, later ones do not",
        rotation.retired_at
    );
    out!("rotation receipt {receipt} (signed by the retired key, naming the new one)");
    if rotation.salts_resealed > 0 {
        out!(
            "{} commitment salt(s) copied under the new key (heso reveal keeps working)",
            rotation.salts_resealed
        );
    }
    out!(
        "heso.toml now pins the new key and lists the old one under [identity] retired: commit it"
    );
    out!(
        "processes still running with the old key refuse gated calls until restarted: restart them"
    );
    if let Some(dev) = &rotation.dev_passphrase {
        out!(
            "the new key opens with the dev passphrase file {}; move it to a passphrase of your own with `heso keys passphrase`",
            shown(dev)
        );
    }
    Ok(0)
}
