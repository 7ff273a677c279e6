//! Reading the policy tables of `heso.toml`, strictly, with file:line:column errors.

use std::collections::{BTreeMap, HashSet};
use std::ops::Range;

use globset::{Glob, GlobMatcher};
use heso_receipt::{Decision, FieldPath, RedactionMode, Verb, VerifyingKey, public_key_from_str};
use regex::Regex;
use serde::Deserialize;
use toml::Spanned;

use crate::condition::{Condition, Op};
use crate::evaluate::ResolvedApprover;

/// Why a policy did not load. The message starts with `file:line:column:`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
#[error("{file}:{line}:{column}: {message}")]
pub struct PolicyError {
    /// The file name as given.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong, naming the rule and what was expected.
    pub message: String,
}

/// Who a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    /// Every action.
    Any,
    /// Actions in this workflow.
    Workflow(String),
    /// Actions for this account.
    Account(String),
}

/// A glob compiled at load, with the text it came from.
#[derive(Debug, Clone)]
pub(crate) struct Pattern {
    pub(crate) text: String,
    matcher: GlobMatcher,
}

impl Pattern {
    pub(crate) fn matches(&self, value: &str) -> bool {
        self.text == "*" || self.matcher.is_match(value)
    }
    pub(crate) fn is_star(&self) -> bool {
        self.text == "*"
    }
}

/// One rule, compiled.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The rule's id.
    pub id: String,
    /// Its place in the file (0-based).
    pub index: usize,
    /// Its `order`, if given.
    pub order: Option<i64>,
    /// False: skipped by evaluation.
    pub enabled: bool,
    /// The receipt's `rule_display`: given, or generated in plain words.
    pub display: String,
    /// The verbs it matches; `None` for any.
    pub verbs: Option<Vec<Verb>>,
    pub(crate) tool: Option<Pattern>,
    pub(crate) workflow: Option<Pattern>,
    pub(crate) scope: Option<Pattern>,
    /// Who it applies to.
    pub subject: Subject,
    /// Its conditions, all of which must hold.
    pub conditions: Vec<Condition>,
    /// What it decides.
    pub decision: Decision,
    /// Paths it redacts (decision `redact`).
    pub redact: Vec<String>,
    /// How it redacts.
    pub redact_mode: RedactionMode,
    /// Approver names (decision `require_approval`).
    pub approvers: Vec<String>,
    /// Minutes before a pending action expires.
    pub sla_minutes: Option<u64>,
}

impl Rule {
    /// True when it has no matcher at all (matches every action).
    pub(crate) fn has_no_matchers(&self) -> bool {
        self.verbs.is_none()
            && self.tool.as_ref().is_none_or(Pattern::is_star)
            && self.workflow.as_ref().is_none_or(Pattern::is_star)
            && self.scope.as_ref().is_none_or(Pattern::is_star)
            && self.subject == Subject::Any
            && self.conditions.is_empty()
    }
}

/// The policy: rules in evaluation order, defaults, approvers.
#[derive(Debug, Clone)]
pub struct Policy {
    pub(crate) rules: Vec<Rule>,
    /// For each verb (by its index in `Verb::ALL`), the rules that may match it, in order.
    pub(crate) by_verb: [Vec<usize>; 7],
    pub(crate) default_decision: Decision,
    pub(crate) default_approvers: Vec<String>,
    pub(crate) default_sla: u64,
    /// Current approvers: the only ones who may decide.
    pub(crate) approvers: BTreeMap<String, VerifyingKey>,
    /// Former approvers with when they retired: their past decisions still verify.
    pub(crate) retired: BTreeMap<String, RetiredApprover>,
}

/// A former approver (`retired_at` on `[approvers.NAME]`): decides nothing any more, but
/// receipts they signed before retiring still verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetiredApprover {
    /// Their public key.
    pub key: VerifyingKey,
    /// When they retired, RFC 3339 UTC as written in `heso.toml`.
    pub retired_at: String,
}

// ---- the raw shape, as serde reads it ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    rule: Vec<RawRule>,
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    approvers: BTreeMap<String, Spanned<RawApprover>>,
    /// Parsed by heso-engine.
    #[serde(default)]
    #[allow(dead_code, reason = "read by heso-engine from the same text")]
    identity: Option<toml::Value>,
    /// Parsed by heso-engine.
    #[serde(default)]
    #[allow(dead_code, reason = "read by heso-engine from the same text")]
    log: Option<toml::Value>,
    /// Parsed by heso-engine.
    #[serde(default)]
    #[allow(dead_code, reason = "read by heso-engine from the same text")]
    enforcement: Option<toml::Value>,
    /// Parsed by heso-engine.
    #[serde(default)]
    #[allow(dead_code, reason = "read by heso-engine from the same text")]
    store: Option<toml::Value>,
}

fn yes() -> bool {
    true
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: Spanned<String>,
    #[serde(default)]
    order: Option<i64>,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    display: Option<String>,
    #[serde(default)]
    verb: Option<Spanned<toml::Value>>,
    #[serde(default)]
    tool: Option<Spanned<String>>,
    #[serde(default)]
    workflow: Option<Spanned<String>>,
    #[serde(default)]
    scope: Option<Spanned<String>>,
    #[serde(default)]
    subject: Option<Spanned<RawSubject>>,
    #[serde(default)]
    conditions: Vec<Spanned<RawCondition>>,
    decision: Spanned<String>,
    #[serde(default)]
    redact: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    redact_mode: Option<Spanned<String>>,
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default)]
    sla_minutes: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSubject {
    kind: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCondition {
    field: Spanned<String>,
    op: Spanned<String>,
    #[serde(default)]
    value: Option<Spanned<toml::Value>>,
    #[serde(default)]
    display: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    #[serde(default)]
    decision: Option<Spanned<String>>,
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default)]
    sla_minutes: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApprover {
    key: Spanned<String>,
    /// When they stopped being an approver (RFC 3339 UTC); absent while they are one.
    #[serde(default)]
    retired_at: Option<Spanned<String>>,
}

/// Builds errors pointing into the text.
struct Errors<'a> {
    text: &'a str,
    file: &'a str,
}

impl Errors<'_> {
    fn at(&self, span: Range<usize>, message: impl Into<String>) -> PolicyError {
        let before = self.text.get(..span.start).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        PolicyError {
            file: self.file.to_owned(),
            line,
            column,
            message: message.into(),
        }
    }

    /// Names the `[[rule]]` block an offset falls in, for serde's own errors; `None` when
    /// the offset is outside every rule (e.g. in a table after the last rule).
    fn rule_at(&self, offset: usize) -> Option<String> {
        let before = self.text.get(..offset).unwrap_or(self.text);
        let start = before.rfind("[[rule]]")?;
        let index = before.matches("[[rule]]").count().saturating_sub(1);
        // The block runs to the next table header that is not one of the rule's own
        // sub-tables (`[rule.x]`, `[[rule.x]]`).
        let mut block_end = self.text.len();
        let mut line_start = start + 8;
        for line in self
            .text
            .get(start + 8..)
            .unwrap_or("")
            .split_inclusive('\n')
        {
            let header = line.trim_start();
            let sub_table = header.starts_with("[rule.") || header.starts_with("[[rule.");
            if line_start > start + 8 && header.starts_with('[') && !sub_table {
                block_end = line_start;
                break;
            }
            line_start += line.len();
        }
        if offset >= block_end {
            return None;
        }
        let block = self.text.get(start..block_end).unwrap_or("");
        let id = block.lines().find_map(|l| {
            let (key, value) = l.split_once('=')?;
            (key.trim() == "id").then(|| value.trim().trim_matches('"').to_owned())
        });
        Some(match id {
            Some(id) => format!("rule {id:?}"),
            None => format!("rule #{}", index + 1),
        })
    }
}

fn decision_of(text: &str) -> Option<Decision> {
    Some(match text {
        "allow" => Decision::Allow,
        "block" => Decision::Block,
        "redact" => Decision::Redact,
        "require_approval" => Decision::RequireApproval,
        _ => return None,
    })
}

const VERB_NAMES: &str =
    "llm_call, tool_call, http_request, payment, data_export, account_change, delete, or \"any\"";

fn compile_glob(
    errors: &Errors<'_>,
    rule: &str,
    key: &str,
    spanned: &Spanned<String>,
) -> Result<Pattern, PolicyError> {
    let text = spanned.get_ref().clone();
    let matcher = Glob::new(&text)
        .map_err(|e| {
            errors.at(
                spanned.span(),
                format!("{rule}: {key} {text:?} is not a valid glob: {e}"),
            )
        })?
        .compile_matcher();
    Ok(Pattern { text, matcher })
}

impl Policy {
    /// Parses the policy tables of `text`; `file_name` is how errors name the file.
    pub fn parse(text: &str, file_name: &str) -> Result<Policy, PolicyError> {
        let errors = Errors {
            text,
            file: file_name,
        };
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            let mut message = e.message().trim().to_owned();
            if let Some(rule) = errors.rule_at(span.start) {
                message = format!("{rule}: {message}");
            }
            errors.at(span, message)
        })?;

        let mut approvers = BTreeMap::new();
        let mut retired = BTreeMap::new();
        for (name, approver) in &raw.approvers {
            let key = &approver.get_ref().key;
            let decoded = public_key_from_str(key.get_ref()).map_err(|e| {
                errors.at(
                    key.span(),
                    format!("approver {name:?}: key is not a did:key or base64 Ed25519 key: {e}"),
                )
            })?;
            match &approver.get_ref().retired_at {
                None => {
                    approvers.insert(name.clone(), decoded);
                }
                Some(at) => {
                    if !is_utc_timestamp(at.get_ref()) {
                        return Err(errors.at(
                            at.span(),
                            format!(
                                "approver {name:?}: retired_at must be an RFC 3339 UTC time such as \"2026-12-02T13:00:00Z\", not {:?}",
                                at.get_ref()
                            ),
                        ));
                    }
                    retired.insert(
                        name.clone(),
                        RetiredApprover {
                            key: decoded,
                            retired_at: at.get_ref().clone(),
                        },
                    );
                }
            }
        }

        let (default_decision, default_approvers, default_sla) = match &raw.defaults {
            None => (Decision::RequireApproval, Vec::new(), 60),
            Some(d) => {
                let decision = match &d.decision {
                    None => Decision::RequireApproval,
                    Some(text) => decision_of(text.get_ref()).ok_or_else(|| {
                        errors.at(text.span(), format!(
                            "[defaults]: unknown decision {:?} (expected allow, block, redact, require_approval)",
                            text.get_ref()
                        ))
                    })?,
                };
                let sla = sla(&errors, "[defaults]", d.sla_minutes.as_ref())?.unwrap_or(60);
                (decision, d.approvers.clone(), sla)
            }
        };

        let mut seen = HashSet::new();
        let mut rules = Vec::with_capacity(raw.rule.len());
        for (index, raw_rule) in raw.rule.into_iter().enumerate() {
            let rule = compile_rule(&errors, index, raw_rule, &mut seen)?;
            rules.push(rule);
        }
        // Ascending `order`; rules without one after all ordered ones; ties in file order.
        rules.sort_by_key(|r| (r.order.is_none(), r.order.unwrap_or(0), r.index));

        let mut by_verb: [Vec<usize>; 7] = Default::default();
        for (position, rule) in rules.iter().enumerate() {
            if !rule.enabled {
                continue;
            }
            for (slot, verb) in by_verb.iter_mut().zip(Verb::ALL) {
                if rule
                    .verbs
                    .as_ref()
                    .is_none_or(|verbs| verbs.contains(&verb))
                {
                    slot.push(position);
                }
            }
        }
        Ok(Policy {
            rules,
            by_verb,
            default_decision,
            default_approvers,
            default_sla,
            approvers,
            retired,
        })
    }

    /// The rules, in evaluation order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The current approvers of `[approvers]` (retired ones left out): name and key.
    pub fn approvers(&self) -> impl Iterator<Item = (&str, VerifyingKey)> + '_ {
        self.approvers
            .iter()
            .map(|(name, key)| (name.as_str(), *key))
    }

    /// The retired approvers of `[approvers]` (those with `retired_at`).
    pub fn retired_approvers(&self) -> impl Iterator<Item = (&str, &RetiredApprover)> + '_ {
        self.retired.iter().map(|(name, r)| (name.as_str(), r))
    }

    /// Who may decide, and within how many minutes, an action that rule `rule_id`
    /// parked, as this policy says now: the rule's approvers, or `[defaults]`' when it
    /// names none, when the delete floor decided, or when no such rule exists any more.
    /// Only current approvers are returned; names without a key are left out.
    pub fn approval_terms(&self, rule_id: &str, floor_applied: bool) -> ApprovalTerms {
        let rule = self
            .rules
            .iter()
            .find(|r| r.enabled && r.id == rule_id && rule_id != "default");
        let names = match rule {
            Some(rule) if !floor_applied && !rule.approvers.is_empty() => &rule.approvers,
            _ => &self.default_approvers,
        };
        let sla_minutes = match rule {
            Some(rule) if !floor_applied => rule.sla_minutes.unwrap_or(self.default_sla),
            _ => self.default_sla,
        };
        ApprovalTerms {
            approvers: self.resolve_approvers(names),
            named: names.clone(),
            sla_minutes,
        }
    }

    /// The current approvers among `names`, in the order given.
    pub(crate) fn resolve_approvers(&self, names: &[String]) -> Vec<ResolvedApprover> {
        names
            .iter()
            .filter_map(|name| {
                self.approvers.get(name).map(|key| ResolvedApprover {
                    name: name.clone(),
                    key: *key,
                })
            })
            .collect()
    }
}

/// Who may decide a parked action, and its deadline, under the current policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalTerms {
    /// The current approvers who may decide.
    pub approvers: Vec<ResolvedApprover>,
    /// Every name the rule (or `[defaults]`) gives, with or without a current key.
    pub named: Vec<String>,
    /// Minutes from parking until it expires.
    pub sla_minutes: u64,
}

/// True for `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC), the form heso writes; such
/// strings order as their times do.
fn is_utc_timestamp(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|s| s.iter().all(u8::is_ascii_digit))
    };
    b.len() == 20
        && digits(0..4)
        && b.get(4) == Some(&b'-')
        && digits(5..7)
        && b.get(7) == Some(&b'-')
        && digits(8..10)
        && b.get(10) == Some(&b'T')
        && digits(11..13)
        && b.get(13) == Some(&b':')
        && digits(14..16)
        && b.get(16) == Some(&b':')
        && digits(17..19)
        && b.get(19) == Some(&b'Z')
}

fn sla(
    errors: &Errors<'_>,
    what: &str,
    value: Option<&Spanned<i64>>,
) -> Result<Option<u64>, PolicyError> {
    match value {
        None => Ok(None),
        Some(v) => match u64::try_from(*v.get_ref()) {
            Ok(minutes) if minutes > 0 && minutes <= 525_600 => Ok(Some(minutes)),
            _ => Err(errors.at(v.span(), format!(
                "{what}: sla_minutes must be a whole number of minutes from 1 to 525600, not {}",
                v.get_ref()
            ))),
        },
    }
}

fn compile_rule(
    errors: &Errors<'_>,
    index: usize,
    raw: RawRule,
    seen: &mut HashSet<String>,
) -> Result<Rule, PolicyError> {
    let id = raw.id.get_ref().clone();
    if id.is_empty() {
        return Err(errors.at(
            raw.id.span(),
            format!("rule #{}: id must not be empty", index + 1),
        ));
    }
    let name = format!("rule {id:?}");
    if !seen.insert(id.clone()) {
        return Err(errors.at(
            raw.id.span(),
            format!("{name}: duplicate id (every rule id must be unique)"),
        ));
    }

    let verbs = match &raw.verb {
        None => None,
        Some(spanned) => {
            let names: Vec<String> = match spanned.get_ref() {
                toml::Value::String(s) => vec![s.clone()],
                toml::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str().map(str::to_owned))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| {
                        errors.at(
                            spanned.span(),
                            format!("{name}: verb list must hold strings ({VERB_NAMES})"),
                        )
                    })?,
                _ => {
                    return Err(errors.at(
                        spanned.span(),
                        format!(
                            "{name}: verb must be a string or a list of strings ({VERB_NAMES})"
                        ),
                    ));
                }
            };
            if names.iter().any(|n| n == "any" || n == "*") {
                None
            } else {
                let mut verbs = Vec::new();
                for verb in &names {
                    let parsed = Verb::parse(verb).ok_or_else(|| {
                        errors.at(
                            spanned.span(),
                            format!("{name}: unknown verb {verb:?} (expected {VERB_NAMES})"),
                        )
                    })?;
                    verbs.push(parsed);
                }
                if verbs.is_empty() {
                    return Err(errors.at(
                        spanned.span(),
                        format!("{name}: an empty verb list matches nothing"),
                    ));
                }
                Some(verbs)
            }
        }
    };

    let tool = raw
        .tool
        .as_ref()
        .map(|t| compile_glob(errors, &name, "tool", t))
        .transpose()?;
    let workflow = raw
        .workflow
        .as_ref()
        .map(|t| compile_glob(errors, &name, "workflow", t))
        .transpose()?;
    let scope = raw
        .scope
        .as_ref()
        .map(|t| compile_glob(errors, &name, "scope", t))
        .transpose()?;

    let subject = match &raw.subject {
        None => Subject::Any,
        Some(spanned) => {
            let s = spanned.get_ref();
            match (s.kind.as_str(), &s.value) {
                ("any", None) => Subject::Any,
                ("workflow", Some(v)) => Subject::Workflow(v.clone()),
                ("account", Some(v)) => Subject::Account(v.clone()),
                ("any", Some(_)) => {
                    return Err(errors.at(
                        spanned.span(),
                        format!("{name}: subject kind \"any\" takes no value"),
                    ));
                }
                ("workflow" | "account", None) => {
                    return Err(errors.at(
                        spanned.span(),
                        format!("{name}: subject kind {:?} needs a value", s.kind),
                    ));
                }
                (other, _) => {
                    return Err(errors.at(spanned.span(), format!(
                        "{name}: unknown subject kind {other:?} (expected any, workflow, account)"
                    )));
                }
            }
        }
    };

    let mut conditions = Vec::new();
    for spanned in &raw.conditions {
        conditions.push(compile_condition(errors, &name, spanned)?);
    }

    let decision =
        decision_of(raw.decision.get_ref()).ok_or_else(|| {
            errors.at(raw.decision.span(), format!(
            "{name}: unknown decision {:?} (expected allow, block, redact, require_approval)",
            raw.decision.get_ref()
        ))
        })?;

    let redact = match &raw.redact {
        None => Vec::new(),
        Some(paths) => {
            if decision != Decision::Redact {
                return Err(errors.at(
                    paths.span(),
                    format!("{name}: redact is only for decision = \"redact\""),
                ));
            }
            for path in paths.get_ref() {
                FieldPath::parse(path)
                    .map_err(|e| errors.at(paths.span(), format!("{name}: redact: {e}")))?;
            }
            paths.get_ref().clone()
        }
    };
    if decision == Decision::Redact && redact.is_empty() {
        return Err(errors.at(
            raw.decision.span(),
            format!("{name}: decision \"redact\" needs redact = [field paths]"),
        ));
    }
    let redact_mode = match &raw.redact_mode {
        None => RedactionMode::CommitAndReveal,
        Some(mode) => match mode.get_ref().as_str() {
            "commit_and_reveal" => RedactionMode::CommitAndReveal,
            "destructive" => RedactionMode::Destructive,
            other => {
                return Err(errors.at(mode.span(), format!(
                    "{name}: unknown redact_mode {other:?} (expected commit_and_reveal, destructive)"
                )));
            }
        },
    };
    let sla_minutes = sla(errors, &name, raw.sla_minutes.as_ref())?;

    let mut rule = Rule {
        id,
        index,
        order: raw.order,
        enabled: raw.enabled,
        display: String::new(),
        verbs,
        tool,
        workflow,
        scope,
        subject,
        conditions,
        decision,
        redact,
        redact_mode,
        approvers: raw.approvers,
        sla_minutes,
    };
    rule.display = raw.display.unwrap_or_else(|| generated_display(&rule));
    Ok(rule)
}

fn compile_condition(
    errors: &Errors<'_>,
    rule: &str,
    spanned: &Spanned<RawCondition>,
) -> Result<Condition, PolicyError> {
    let raw = spanned.get_ref();
    let field = raw.field.get_ref().clone();
    let path = FieldPath::parse(&field)
        .map_err(|e| errors.at(raw.field.span(), format!("{rule}: condition field: {e}")))?;
    let op = Op::parse(raw.op.get_ref()).ok_or_else(|| {
        errors.at(raw.op.span(), format!(
            "{rule}: unknown op {:?} (expected eq, neq, gt, gte, lt, lte, in, not_in, contains, matches, exists)",
            raw.op.get_ref()
        ))
    })?;
    let value = match &raw.value {
        Some(v) => serde_json::to_value(v.get_ref())
            .map_err(|e| errors.at(v.span(), format!("{rule}: condition value: {e}")))?,
        None if op == Op::Exists => serde_json::Value::Bool(true),
        None => {
            return Err(errors.at(
                spanned.span(),
                format!("{rule}: condition on {field:?} needs a value"),
            ));
        }
    };
    let value_span = raw.value.as_ref().map_or(spanned.span(), Spanned::span);
    let mut regex = None;
    match op {
        Op::In | Op::NotIn if !value.is_array() => {
            return Err(errors.at(
                value_span,
                format!(
                    "{rule}: op {} needs a list value, e.g. [\"a\", \"b\"]",
                    op.as_str()
                ),
            ));
        }
        Op::Gt | Op::Gte | Op::Lt | Op::Lte if !value.is_number() => {
            return Err(errors.at(
                value_span,
                format!("{rule}: op {} needs a number value", op.as_str()),
            ));
        }
        Op::Exists if !value.is_boolean() => {
            return Err(errors.at(value_span, format!("{rule}: op exists needs true or false")));
        }
        Op::Matches => {
            let pattern = value.as_str().ok_or_else(|| {
                errors.at(
                    value_span.clone(),
                    format!("{rule}: op matches needs a regular expression string"),
                )
            })?;
            regex = Some(Regex::new(pattern).map_err(|e| {
                let first = e.to_string().lines().last().unwrap_or("").trim().to_owned();
                errors.at(
                    value_span,
                    format!("{rule}: invalid regular expression {pattern:?}: {first}"),
                )
            })?);
        }
        _ => {}
    }
    Ok(Condition {
        field,
        path,
        op,
        value,
        regex,
        display: raw.display.clone(),
    })
}

/// "When any agent calls tool_call on any tool, allow".
fn generated_display(rule: &Rule) -> String {
    let who = match &rule.subject {
        Subject::Any => "any agent".to_owned(),
        Subject::Workflow(w) => format!("an agent in workflow {w}"),
        Subject::Account(a) => format!("an agent for account {a}"),
    };
    let verbs = match &rule.verbs {
        None => "any action".to_owned(),
        Some(verbs) => verbs
            .iter()
            .map(|v| v.as_str())
            .collect::<Vec<_>>()
            .join(" or "),
    };
    let tool = match &rule.tool {
        Some(p) if !p.is_star() => format!("tool {}", p.text),
        _ => "any tool".to_owned(),
    };
    let mut text = format!("When {who} calls {verbs} on {tool}");
    if let Some(w) = rule.workflow.as_ref().filter(|p| !p.is_star()) {
        text.push_str(&format!(" in workflow {}", w.text));
    }
    if let Some(s) = rule.scope.as_ref().filter(|p| !p.is_star()) {
        text.push_str(&format!(" to host {}", s.text));
    }
    if !rule.conditions.is_empty() {
        let words: Vec<String> = rule.conditions.iter().map(Condition::words).collect();
        text.push_str(&format!(" where {}", words.join(" and ")));
    }
    let decision = match rule.decision {
        Decision::Allow => "allow".to_owned(),
        Decision::Block => "block".to_owned(),
        Decision::Redact => format!("allow with {} redacted", rule.redact.join(", ")),
        Decision::RequireApproval => "require a person's approval".to_owned(),
    };
    format!("{text}, {decision}")
}
