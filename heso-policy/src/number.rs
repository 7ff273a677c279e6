//! Exact numbers for conditions: JSON numbers and numeric strings compared as the
//! rationals they are, with no rounding through `f64`.
//!
//! SDKs record what JSON cannot hold exactly as strings: Python's `Decimal("5000.00")` as
//! `"5000.00"`, a `Fraction` as `"n/d"`, an integer past 2^53 as its digits. A condition
//! that read those through `f64` (or not at all) failed open, so each is read here exactly.

use std::cmp::Ordering;

use serde_json::{Number, Value};

/// Longest numeric string read (bytes). Longer text is not read as a number, so a
/// comparison refuses it; this bounds the work one value can cost.
const MAX_TEXT: usize = 10_000;

/// Largest exponent magnitude read (`1e1000000000000` is refused, not rounded).
const MAX_EXPONENT: i64 = 1_000_000_000_000_000;

/// A non-negative integer times a power of ten: `digits × 10^exponent`. `digits` is
/// big-endian base 10 with no leading or trailing zeros (trailing zeros move into
/// `exponent`), and empty for zero, so each value has exactly one form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Magnitude {
    digits: Vec<u8>,
    exponent: i64,
}

impl Magnitude {
    fn new(mut digits: Vec<u8>, exponent: i64) -> Option<Self> {
        let leading = digits.iter().take_while(|d| **d == 0).count();
        digits.drain(..leading);
        let trailing = digits.iter().rev().take_while(|d| **d == 0).count();
        digits.truncate(digits.len() - trailing);
        let exponent = if digits.is_empty() {
            0
        } else {
            exponent.checked_add(i64::try_from(trailing).ok()?)?
        };
        Some(Self { digits, exponent })
    }

    fn is_zero(&self) -> bool {
        self.digits.is_empty()
    }

    fn is_one(&self) -> bool {
        self.digits == [1] && self.exponent == 0
    }

    /// The place of the leading digit (`digits.len() + exponent`): orders non-zero
    /// magnitudes before their digits need to be compared.
    fn order(&self) -> Option<i64> {
        i64::try_from(self.digits.len())
            .ok()?
            .checked_add(self.exponent)
    }

    /// Compares two magnitudes; `None` only on exponent overflow (never for values read
    /// within the limits above).
    fn compare(&self, other: &Self) -> Option<Ordering> {
        match (self.is_zero(), other.is_zero()) {
            (true, true) => return Some(Ordering::Equal),
            (true, false) => return Some(Ordering::Less),
            (false, true) => return Some(Ordering::Greater),
            (false, false) => {}
        }
        let by_order = self.order()?.cmp(&other.order()?);
        if by_order != Ordering::Equal {
            return Some(by_order);
        }
        // Same leading place: digit by digit, a missing digit counting as zero. With no
        // trailing zeros, the shorter of two equal prefixes is the smaller number.
        Some(self.digits.cmp(&other.digits))
    }

    fn times(&self, other: &Self) -> Option<Self> {
        if self.is_one() {
            return Some(other.clone());
        }
        if other.is_one() {
            return Some(self.clone());
        }
        if self.is_zero() || other.is_zero() {
            return Self::new(Vec::new(), 0);
        }
        // Schoolbook on little-endian digits; one side is an operand from the policy,
        // short, so this is linear in the value's length in practice.
        let a: Vec<u32> = self.digits.iter().rev().map(|d| u32::from(*d)).collect();
        let b: Vec<u32> = other.digits.iter().rev().map(|d| u32::from(*d)).collect();
        let mut product = vec![0u32; a.len() + b.len()];
        for (i, x) in a.iter().enumerate() {
            let mut carry = 0u32;
            for (j, y) in b.iter().enumerate() {
                let slot = product.get_mut(i + j)?;
                let total = *slot + x * y + carry;
                *slot = total % 10;
                carry = total / 10;
            }
            let mut k = i + b.len();
            while carry > 0 {
                let slot = product.get_mut(k)?;
                let total = *slot + carry;
                *slot = total % 10;
                carry = total / 10;
                k += 1;
            }
        }
        let digits = product
            .into_iter()
            .rev()
            .map(|d| u8::try_from(d).unwrap_or(0))
            .collect();
        Self::new(digits, self.exponent.checked_add(other.exponent)?)
    }
}

/// An exact rational number: `±numerator / denominator`, the denominator positive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exact {
    negative: bool,
    numerator: Magnitude,
    denominator: Magnitude,
}

impl Exact {
    /// A JSON number exactly, or a string in one of the numeric forms: an optional sign,
    /// digits, an optional `.digits` fraction and `e`/`E` exponent (`-12.50`, `5E+3`), or
    /// a fraction `n/d` of an optionally signed integer over a positive one (`-3/4`).
    /// Anything else — a bool, `null`, an array, an object, other text — is `None`.
    pub(crate) fn from_value(value: &Value) -> Option<Exact> {
        match value {
            Value::Number(n) => Self::from_number(n),
            Value::String(text) => Self::parse(text),
            _ => None,
        }
    }

    fn from_number(n: &Number) -> Option<Exact> {
        // Integers from their digits, never through f64; a float from its shortest
        // decimal form, which is the number the JSON text wrote.
        if let Some(u) = n.as_u64() {
            return Self::parse(&u.to_string());
        }
        if let Some(i) = n.as_i64() {
            return Self::parse(&i.to_string());
        }
        Self::parse(&n.to_string())
    }

    fn parse(text: &str) -> Option<Exact> {
        if text.len() > MAX_TEXT {
            return None;
        }
        match text.split_once('/') {
            Some((numerator, denominator)) => {
                let (negative, numerator) = split_sign(numerator);
                let numerator = integer(numerator)?;
                let denominator = integer(denominator)?;
                if denominator.is_zero() {
                    return None;
                }
                Some(Self::signed(negative, numerator, denominator))
            }
            None => {
                let (negative, rest) = split_sign(text);
                let (mantissa, exponent) = match rest.find(['e', 'E']) {
                    Some(at) => (rest.get(..at)?, exponent(rest.get(at + 1..)?)?),
                    None => (rest, 0),
                };
                let (whole, fraction) = match mantissa.split_once('.') {
                    Some((whole, fraction)) if !fraction.is_empty() => (whole, fraction),
                    Some(_) => return None,
                    None => (mantissa, ""),
                };
                if whole.is_empty() || !all_digits(whole) || !all_digits(fraction) {
                    return None;
                }
                let digits = whole.bytes().chain(fraction.bytes()).map(|b| b - b'0');
                let shift = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
                let numerator = Magnitude::new(digits.collect(), shift)?;
                Some(Self::signed(
                    negative,
                    numerator,
                    Magnitude::new(vec![1], 0)?,
                ))
            }
        }
    }

    fn signed(negative: bool, numerator: Magnitude, denominator: Magnitude) -> Exact {
        Exact {
            // -0 is 0.
            negative: negative && !numerator.is_zero(),
            numerator,
            denominator,
        }
    }

    /// Exact order: `a/b` against `c/d` is `a·d` against `c·b` (denominators positive).
    pub(crate) fn compare(&self, other: &Exact) -> Option<Ordering> {
        match (self.negative, other.negative) {
            (false, true) => return Some(Ordering::Greater),
            (true, false) => return Some(Ordering::Less),
            _ => {}
        }
        let left = self.numerator.times(&other.denominator)?;
        let right = other.numerator.times(&self.denominator)?;
        let magnitude = left.compare(&right)?;
        Some(if self.negative {
            magnitude.reverse()
        } else {
            magnitude
        })
    }
}

fn split_sign(text: &str) -> (bool, &str) {
    match text.as_bytes().first() {
        Some(b'-') => (true, text.get(1..).unwrap_or("")),
        Some(b'+') => (false, text.get(1..).unwrap_or("")),
        _ => (false, text),
    }
}

fn all_digits(text: &str) -> bool {
    text.bytes().all(|b| b.is_ascii_digit())
}

/// Unsigned digits, at least one.
fn integer(text: &str) -> Option<Magnitude> {
    if text.is_empty() || !all_digits(text) {
        return None;
    }
    Magnitude::new(text.bytes().map(|b| b - b'0').collect(), 0)
}

/// An exponent: optional sign, then digits, within `MAX_EXPONENT`.
fn exponent(text: &str) -> Option<i64> {
    let (negative, digits) = split_sign(text);
    if digits.is_empty() || !all_digits(digits) {
        return None;
    }
    let digits = digits.trim_start_matches('0');
    // Past 18 digits `parse` would overflow; such an exponent is past the limit anyway.
    if digits.len() > 18 {
        return None;
    }
    let value: i64 = if digits.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    if value > MAX_EXPONENT {
        return None;
    }
    Some(if negative { -value } else { value })
}

/// Whether two values are equal for `eq`, `neq`, `in`, `not_in` and `contains`: a JSON
/// number against a number or a numeric string compares exactly (`5000` equals
/// `"5000.00"` and `5000.0`); anything else is JSON equality, so two strings compare as
/// text and a bool never equals a number.
pub(crate) fn same(a: &Value, b: &Value) -> bool {
    let numeric = matches!(
        (a, b),
        (Value::Number(_), Value::Number(_) | Value::String(_))
            | (Value::String(_), Value::Number(_))
    );
    if numeric && let (Some(x), Some(y)) = (Exact::from_value(a), Exact::from_value(b)) {
        return x.compare(&y) == Some(Ordering::Equal);
    }
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn exact(text: &str) -> Exact {
        Exact::parse(text).unwrap_or_else(|| panic!("{text:?} should parse"))
    }

    #[test]
    fn one_form_per_value() {
        for (a, b) in [
            ("5000", "5000.00"),
            ("5000", "5e3"),
            ("5000", "+0005000"),
            ("0.5", "5e-1"),
            ("0", "-0.000"),
            ("0", "0e99"),
            ("1/2", "0.5"),
            ("-3/4", "-0.75"),
            ("10000/2", "5000"),
        ] {
            assert_eq!(
                exact(a).compare(&exact(b)),
                Some(Ordering::Equal),
                "{a} {b}"
            );
        }
    }

    #[test]
    fn order_across_forms_and_signs() {
        let ascending = [
            "-1e30",
            "-5000",
            "-1/3",
            "-0.3333",
            "0",
            "0.0001",
            "1/3",
            "0.3334",
            "1",
            "9007199254740993",
            "1e30",
        ];
        for pair in ascending.windows(2) {
            let (a, b) = (exact(pair[0]), exact(pair[1]));
            assert_eq!(a.compare(&b), Some(Ordering::Less), "{pair:?}");
            assert_eq!(b.compare(&a), Some(Ordering::Greater), "{pair:?}");
        }
    }

    #[test]
    fn numbers_from_json_are_exact() {
        let big = Exact::from_value(&json!(9_007_199_254_740_993_u64)).unwrap();
        let below = Exact::from_value(&json!(9_007_199_254_740_992_u64)).unwrap();
        assert_eq!(big.compare(&below), Some(Ordering::Greater));
        let tenth = Exact::from_value(&json!(0.1)).unwrap();
        assert_eq!(tenth.compare(&exact("1/10")), Some(Ordering::Equal));
        assert!(Exact::from_value(&json!(true)).is_none());
        assert!(Exact::from_value(&json!(null)).is_none());
    }

    #[test]
    fn not_numbers() {
        for text in [
            "",
            "-",
            "+",
            ".5",
            "5.",
            "5..0",
            "1e",
            "1e+",
            "e5",
            "1/0",
            "1/",
            "/2",
            "1/-2",
            "1.5/2",
            " 1",
            "1 ",
            "1_000",
            "0x10",
            "NaN",
            "Infinity",
            "1e9999999999999999999",
        ] {
            assert!(Exact::parse(text).is_none(), "{text:?}");
        }
    }

    #[test]
    fn products_carry() {
        let a = Magnitude::new(vec![9, 9, 9], 0).unwrap();
        let b = Magnitude::new(vec![9, 9], 2).unwrap();
        // 999 × 9900 = 9890100
        assert_eq!(a.times(&b), Magnitude::new(vec![9, 8, 9, 0, 1], 2));
    }
}
