//! How Python values become the JSON fields of a receipt: the walker behind
//! `heso.to_json_value` and every gated call (the rule is documented in
//! `heso/_convert.py` and docs/python.md). It never raises for a value (an `Exception`
//! while reading one records that value as `"<TypeName>"`), never writes a memory address
//! or an object's `repr`, and never iterates what is not a data shape, so a generator
//! argument is never consumed. Its limits are defined here once: nesting
//! ([`MAX_DEPTH`], the engine's own limit), integers ([`MAX_SAFE_INTEGER`]) and values per
//! call ([`MAX_VALUES`]).
//!
//! Common values (`None`, `bool`, `int`, `float`, `str`, `dict`, `list`, `tuple` of
//! exactly those types) are read without calling Python code; the types of modules that
//! are not loaded (`decimal`, `datetime`, `uuid`, `numbers`…) are never imported, since no
//! value can be an instance of them.

use std::fmt::Write as _;

use base64::Engine as _;
use heso_receipt::MAX_SAFE_INTEGER;
use pyo3::exceptions::{PyException, PyRecursionError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{
    PyBool, PyByteArray, PyBytes, PyDict, PyFloat, PyFrozenSet, PyInt, PyList, PyMemoryView, PySet,
    PyString, PyTuple, PyType,
};
use serde_json::{Map, Number, Value};

/// Containers nested deeper than this are cut with [`TOO_DEEP`]: the engine's limit on a
/// call's fields, so a converted call is never refused for its depth.
pub(crate) const MAX_DEPTH: usize = heso_engine::MAX_FIELD_DEPTH;
/// After this many values (a shared object counts each time it appears) the rest of each
/// container is one [`TOO_LARGE`].
pub(crate) const MAX_VALUES: usize = 1_000_000;
/// What stands for a value nested deeper than [`MAX_DEPTH`].
pub(crate) const TOO_DEEP: &str = "[too deep]";
/// What stands for the rest of a container past [`MAX_VALUES`].
pub(crate) const TOO_LARGE: &str = "[too large]";
/// Python's default limit on int-to-str digits: past it a `Decimal` keeps its exponent.
const MAX_DECIMAL_DIGITS: usize = 4300;
/// Past this many values a call is not checked for exactness (it is then resumable only
/// in the process that made it).
const EXACT_BUDGET: usize = 10_000;
/// At most this many characters of a type's name are recorded.
const TYPE_NAME_CHARS: usize = 200;
/// At most this many characters of a path are recorded.
const PATH_CHARS: usize = 1000;

/// A class of a module that may not be loaded, looked up once it is.
struct LazyType {
    module: &'static str,
    name: &'static str,
    cell: PyOnceLock<Py<PyAny>>,
}

impl LazyType {
    const fn new(module: &'static str, name: &'static str) -> Self {
        Self {
            module,
            name,
            cell: PyOnceLock::new(),
        }
    }

    /// The class, or `None` while its module is not loaded (then no value is an instance).
    fn get<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        if let Some(found) = self.cell.get(py) {
            return Some(found.bind(py).clone());
        }
        let modules = py.import("sys").ok()?.getattr("modules").ok()?;
        let module = modules.get_item(self.module).ok()?;
        let class = module.getattr(self.name).ok()?;
        let _ = self.cell.set(py, class.clone().unbind());
        Some(class)
    }

    /// `isinstance(value, class)`, false while the module is not loaded.
    fn holds(&self, value: &Bound<'_, PyAny>) -> PyResult<bool> {
        match self.get(value.py()) {
            Some(class) => value.is_instance(&class),
            None => Ok(false),
        }
    }
}

static ENUM: LazyType = LazyType::new("enum", "Enum");
static DECIMAL: LazyType = LazyType::new("decimal", "Decimal");
static IS_DATACLASS: LazyType = LazyType::new("dataclasses", "is_dataclass");
static DATACLASS_FIELDS: LazyType = LazyType::new("dataclasses", "fields");
static DATETIME: LazyType = LazyType::new("datetime", "datetime");
static DATE: LazyType = LazyType::new("datetime", "date");
static TIME: LazyType = LazyType::new("datetime", "time");
static UUID: LazyType = LazyType::new("uuid", "UUID");
static PURE_PATH: LazyType = LazyType::new("pathlib", "PurePath");
static MAPPING: LazyType = LazyType::new("collections.abc", "Mapping");
static SEQUENCE: LazyType = LazyType::new("collections.abc", "Sequence");
static SET: LazyType = LazyType::new("collections.abc", "Set");
static INTEGRAL: LazyType = LazyType::new("numbers", "Integral");
static RATIONAL: LazyType = LazyType::new("numbers", "Rational");
static REAL: LazyType = LazyType::new("numbers", "Real");

/// Converts the values of one call under one [`MAX_VALUES`] budget, noting whether they
/// are exactly JSON (so another process can rebuild the call from its receipt).
pub(crate) struct Walker<'py> {
    py: Python<'py>,
    left: usize,
    seen: usize,
    exact: bool,
}

impl<'py> Walker<'py> {
    pub(crate) fn new(py: Python<'py>) -> Self {
        Self {
            py,
            left: MAX_VALUES,
            seen: 0,
            exact: true,
        }
    }

    /// Whether every value converted so far is JSON as it is (`None`, `bool`, `str`,
    /// `int` within ±(2^53−1), finite `float`, `list`, `dict` with `str` keys, exactly
    /// those types), at most 64 levels deep and within 10,000 values.
    pub(crate) fn exact(&self) -> bool {
        self.exact && self.seen <= EXACT_BUDGET
    }

    /// Converts `value` (at nesting `depth`). Only a `BaseException` that is not an
    /// `Exception` (`KeyboardInterrupt`, `SystemExit`) comes back as an error.
    pub(crate) fn convert(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        self.seen += 1;
        match self.unguarded(value, depth) {
            Ok(converted) => Ok(converted),
            Err(e) if e.is_instance_of::<PyRecursionError>(self.py) => {
                self.exact = false;
                Ok(Value::String(TOO_DEEP.to_owned()))
            }
            Err(e) if e.is_instance_of::<PyException>(self.py) => {
                self.exact = false;
                Ok(Value::String(type_name(value)))
            }
            Err(e) => Err(e),
        }
    }

    fn take(&mut self) -> bool {
        if self.left == 0 {
            return false;
        }
        self.left -= 1;
        true
    }

    fn unguarded(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        if depth > MAX_DEPTH {
            self.exact = false;
            return Ok(Value::String(TOO_DEEP.to_owned()));
        }
        // Exact built-in types first: none of them is an enum or has a data shape.
        if value.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(flag) = value.cast_exact::<PyBool>() {
            return Ok(Value::Bool(flag.is_true()));
        }
        if let Ok(text) = value.cast_exact::<PyString>() {
            return Ok(Value::String(self.text(text)?));
        }
        if value.is_exact_instance_of::<PyInt>() {
            return self.int(value);
        }
        if let Ok(number) = value.cast_exact::<PyFloat>() {
            return Ok(self.float(number.value()));
        }
        if let Ok(dict) = value.cast_exact::<PyDict>() {
            return self.mapping(&dict.items().into_any(), depth + 1);
        }
        if let Ok(list) = value.cast_exact::<PyList>() {
            return self.items(list.as_any(), depth + 1);
        }
        if let Ok(tuple) = value.cast_exact::<PyTuple>() {
            self.exact = false;
            return self.items(tuple.as_any(), depth + 1);
        }
        self.exact = false;
        self.other(value, depth)
    }

    /// Every other value, by the rule's order.
    fn other(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        let py = self.py;
        if ENUM.holds(value)? {
            // Before int and str: IntEnum, StrEnum.
            return self.convert(&value.getattr("value")?, depth + 1);
        }
        if value.is_instance_of::<PyInt>() {
            let plain = py.get_type::<PyInt>().getattr("__int__")?.call1((value,))?;
            return self.int(&plain);
        }
        if let Ok(number) = value.cast::<PyFloat>() {
            return Ok(self.float(number.value()));
        }
        if let Ok(text) = value.cast::<PyString>() {
            return Ok(Value::String(self.text(text)?));
        }
        if DECIMAL.holds(value)? {
            return Ok(Value::String(decimal_text(value)?));
        }
        if let Some(bytes) = bytes_of(value)? {
            let mut object = Map::new();
            object.insert(
                "$bytes_b64".to_owned(),
                Value::String(base64::engine::general_purpose::STANDARD.encode(bytes)),
            );
            return Ok(Value::Object(object));
        }
        if value.is_instance_of::<PyDict>() {
            return self.mapping(&value.call_method0("items")?, depth + 1);
        }
        if (value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>())
            && !value.hasattr("_asdict")?
        {
            return self.items(value, depth + 1);
        }
        if value.is_instance_of::<PySet>() || value.is_instance_of::<PyFrozenSet>() {
            return self.sorted_items(value, depth + 1);
        }
        let is_type = value.is_instance_of::<PyType>();
        if !is_type
            && let Some(is_dataclass) = IS_DATACLASS.get(py)
            && is_dataclass.call1((value,))?.is_truthy()?
        {
            return self.dataclass(value, depth + 1);
        }
        if DATETIME.holds(value)? || DATE.holds(value)? || TIME.holds(value)? {
            let iso = value.call_method0("isoformat")?;
            return Ok(Value::String(self.text(iso.cast::<PyString>()?)?));
        }
        if UUID.holds(value)? {
            return Ok(Value::String(self.text(&value.str()?)?));
        }
        if PURE_PATH.holds(value)? {
            let text = self.text(&value.str()?)?;
            return Ok(Value::String(text.chars().take(PATH_CHARS).collect()));
        }
        if !is_type && let Some(shaped) = self.shaped(value, depth)? {
            return Ok(shaped);
        }
        Ok(Value::String(type_name(value)))
    }

    /// Models (`model_dump()`), namedtuples (`_asdict()`), the collection ABCs and the
    /// numbers of other libraries; `None` for anything else.
    fn shaped(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Option<Value>> {
        let py = self.py;
        for (method, as_dict) in [("model_dump", false), ("_asdict", true)] {
            let Ok(Some(found)) = value.getattr_opt(method) else {
                continue;
            };
            if !found.is_callable() {
                continue;
            }
            let made = found.call0().and_then(|made| {
                if as_dict {
                    py.get_type::<PyDict>().call1((made,))
                } else {
                    Ok(made)
                }
            });
            return match made {
                Ok(made) => self.convert(&made, depth + 1).map(Some),
                // A broken model must not break the gate.
                Err(e) if e.is_instance_of::<PyException>(py) => Ok(None),
                Err(e) => Err(e),
            };
        }
        if MAPPING.holds(value)? {
            return self
                .mapping(&value.call_method0("items")?, depth + 1)
                .map(Some);
        }
        if SEQUENCE.holds(value)? {
            return self.items(value, depth + 1).map(Some);
        }
        if SET.holds(value)? {
            return self.sorted_items(value, depth + 1).map(Some);
        }
        if INTEGRAL.holds(value)? {
            return self.int(&py.get_type::<PyInt>().call1((value,))?).map(Some);
        }
        if RATIONAL.holds(value)? {
            let int = py.get_type::<PyInt>();
            let numerator = int.call1((value.getattr("numerator")?,))?;
            let denominator = int.call1((value.getattr("denominator")?,))?;
            let mut text = int_text(&numerator)?;
            if !denominator.eq(1)? {
                text.push('/');
                text.push_str(&int_text(&denominator)?);
            }
            return Ok(Some(Value::String(text)));
        }
        if REAL.holds(value)? {
            let number = py.get_type::<PyFloat>().call1((value,))?;
            return Ok(Some(self.float(number.cast::<PyFloat>()?.value())));
        }
        Ok(None)
    }

    /// A `str`, with each lone surrogate replaced by U+FFFD.
    fn text(&mut self, text: &Bound<'py, PyString>) -> PyResult<String> {
        if let Ok(clean) = text.to_str() {
            return Ok(clean.to_owned());
        }
        self.exact = false;
        clean_surrogates(text)
    }

    /// An `int`: itself within ±(2^53−1), else its exact decimal text.
    fn int(&mut self, value: &Bound<'py, PyAny>) -> PyResult<Value> {
        if let Ok(n) = value.extract::<i64>()
            && n.unsigned_abs() <= MAX_SAFE_INTEGER
        {
            return Ok(Value::Number(n.into()));
        }
        self.exact = false;
        Ok(Value::String(int_text(value)?))
    }

    fn float(&mut self, number: f64) -> Value {
        match Number::from_f64(number) {
            Some(n) => Value::Number(n),
            None => {
                self.exact = false;
                Value::String(
                    if number.is_nan() {
                        "NaN"
                    } else if number > 0.0 {
                        "Infinity"
                    } else {
                        "-Infinity"
                    }
                    .to_owned(),
                )
            }
        }
    }

    /// The items of an iterable as an array, cut at the budget.
    fn items(&mut self, items: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        let mut out = Vec::new();
        if let Ok(list) = items.cast_exact::<PyList>() {
            for item in list.iter() {
                if !self.take() {
                    out.push(Value::String(TOO_LARGE.to_owned()));
                    break;
                }
                out.push(self.convert(&item, depth)?);
            }
            return Ok(Value::Array(out));
        }
        for item in items.try_iter()? {
            let item = item?;
            if !self.take() {
                out.push(Value::String(TOO_LARGE.to_owned()));
                break;
            }
            out.push(self.convert(&item, depth)?);
        }
        Ok(Value::Array(out))
    }

    /// A set's items, sorted by their JSON text (Python's `json.dumps(v, sort_keys=True)`),
    /// so the order is stable.
    fn sorted_items(&mut self, items: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        let Value::Array(converted) = self.items(items, depth)? else {
            return Ok(Value::Array(Vec::new()));
        };
        let mut keyed = Vec::with_capacity(converted.len());
        for item in converted {
            keyed.push((json_text(self.py, &item, true)?, item));
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(Value::Array(keyed.into_iter().map(|(_, v)| v).collect()))
    }

    /// `(key, value)` pairs as an object, cut at the budget; a later duplicate key gets
    /// the suffix `#2`, `#3`…
    fn mapping(&mut self, pairs: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        let mut out = Map::new();
        for pair in pairs.try_iter()? {
            let pair = pair?;
            let (key, item) = match pair.cast::<PyTuple>() {
                Ok(tuple) if tuple.len() == 2 => (tuple.get_item(0)?, tuple.get_item(1)?),
                _ => {
                    let both: Vec<Bound<'py, PyAny>> = pair.try_iter()?.collect::<PyResult<_>>()?;
                    let [key, item]: [Bound<'py, PyAny>; 2] = both.try_into().map_err(|_| {
                        PyValueError::new_err("a mapping's item is not a (key, value) pair")
                    })?;
                    (key, item)
                }
            };
            if !self.take() {
                out.insert(TOO_LARGE.to_owned(), Value::String(TOO_LARGE.to_owned()));
                break;
            }
            let name = self.key_text(&key, depth)?;
            let converted = self.convert(&item, depth)?;
            if !out.contains_key(&name) {
                out.insert(name, converted);
                continue;
            }
            let mut n = 2u64;
            let mut unique = String::with_capacity(name.len() + 3);
            loop {
                unique.clear();
                let _ = write!(unique, "{name}#{n}");
                if !out.contains_key(&unique) {
                    break;
                }
                n += 1;
            }
            out.insert(unique, converted);
        }
        Ok(Value::Object(out))
    }

    /// A mapping's key as an object key: a `str` as it is, UTF-8 bytes as their text,
    /// anything else as the text of its converted value (never its `str` or `repr`,
    /// which may hold an address).
    fn key_text(&mut self, key: &Bound<'py, PyAny>, depth: usize) -> PyResult<String> {
        if let Ok(text) = key.cast::<PyString>() {
            if !key.is_exact_instance_of::<PyString>() {
                self.exact = false;
            }
            return self.text(text);
        }
        self.exact = false;
        if let Ok(bytes) = key.cast::<PyBytes>() {
            if let Ok(text) = std::str::from_utf8(bytes.as_bytes()) {
                return Ok(text.to_owned());
            }
        } else if let Ok(bytes) = key.cast::<PyByteArray>()
            && let Ok(text) = String::from_utf8(bytes.to_vec())
        {
            return Ok(text);
        }
        match self.convert(key, depth)? {
            Value::String(text) => Ok(text),
            // As Python writes them: "None", "True", "1.5".
            Value::Null => Ok("None".to_owned()),
            Value::Bool(flag) => Ok(if flag { "True" } else { "False" }.to_owned()),
            Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() => Ok(PyFloat::new(self.py, f).str()?.to_str()?.to_owned()),
                _ => Ok(n.to_string()),
            },
            other => json_text(self.py, &other, false),
        }
    }

    /// A dataclass instance as the object of its fields (each read with `getattr`).
    fn dataclass(&mut self, value: &Bound<'py, PyAny>, depth: usize) -> PyResult<Value> {
        let Some(fields) = DATACLASS_FIELDS.get(self.py) else {
            return Ok(Value::String(type_name(value)));
        };
        let mut out = Map::new();
        for field in fields.call1((value,))?.try_iter()? {
            let name = field?.getattr("name")?;
            let item = match value.getattr(name.cast::<PyString>()?) {
                Ok(item) => item,
                Err(e) if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(self.py) => {
                    self.py.None().into_bound(self.py)
                }
                Err(e) => return Err(e),
            };
            let name = self.text(name.cast::<PyString>()?)?;
            let converted = self.convert(&item, depth)?;
            out.insert(name, converted);
        }
        Ok(Value::Object(out))
    }
}

/// The bytes of a `bytes`, `bytearray` or `memoryview`; `None` for anything else.
fn bytes_of(value: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    if let Ok(bytes) = value.cast::<PyBytes>() {
        return Ok(Some(bytes.as_bytes().to_vec()));
    }
    if let Ok(bytes) = value.cast::<PyByteArray>() {
        return Ok(Some(bytes.to_vec()));
    }
    if value.is_instance_of::<PyMemoryView>() {
        let copied = value.py().get_type::<PyBytes>().call1((value,))?;
        return Ok(Some(copied.cast::<PyBytes>()?.as_bytes().to_vec()));
    }
    Ok(None)
}

/// A string that holds lone surrogates, each replaced by U+FFFD.
fn clean_surrogates(text: &Bound<'_, PyString>) -> PyResult<String> {
    let encoded = text.call_method1("encode", ("utf-8", "surrogatepass"))?;
    let mut rest = encoded.cast::<PyBytes>()?.as_bytes();
    let mut out = String::with_capacity(rest.len());
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return Ok(out);
            }
            Err(e) => {
                let (valid, tail) = rest.split_at(e.valid_up_to());
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                // "surrogatepass" writes each surrogate as 3 bytes (ED A0..BF xx).
                rest = tail.get(3..).unwrap_or_default();
            }
        }
    }
}

/// `"<TypeName>"`: all that is recorded of an object without a data shape.
fn type_name(value: &Bound<'_, PyAny>) -> String {
    let Ok(name) = value.get_type().name() else {
        return "<object>".to_owned();
    };
    let text = match name.to_str() {
        Ok(text) => text.to_owned(),
        Err(_) => clean_surrogates(&name).unwrap_or_else(|_| "object".to_owned()),
    };
    format!(
        "<{}>",
        text.chars().take(TYPE_NAME_CHARS).collect::<String>()
    )
}

/// The exact decimal text of any `int`, past the interpreter's digit limit too.
fn int_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    let plain = value.py().get_type::<PyInt>().getattr("__repr__")?;
    match plain.call1((value,)) {
        Ok(text) => Ok(text.cast::<PyString>()?.to_str()?.to_owned()),
        // More digits than sys.get_int_max_str_digits() allows.
        Err(e) if e.is_instance_of::<PyValueError>(value.py()) => {
            let decimal = value.py().import("decimal")?.getattr("Decimal")?;
            let text = decimal
                .call1((value,))?
                .call_method1("__format__", ("f",))?;
            Ok(text.cast::<PyString>()?.to_str()?.to_owned())
        }
        Err(e) => Err(e),
    }
}

/// A `Decimal` exactly, in positional notation unless that would take more than
/// [`MAX_DECIMAL_DIGITS`] digits.
fn decimal_text(value: &Bound<'_, PyAny>) -> PyResult<String> {
    if value.call_method0("is_nan")?.is_truthy()? {
        return Ok("NaN".to_owned());
    }
    if value.call_method0("is_infinite")?.is_truthy()? {
        let negative = value.call_method0("is_signed")?.is_truthy()?;
        return Ok(if negative { "-Infinity" } else { "Infinity" }.to_owned());
    }
    let parts = value.call_method0("as_tuple")?;
    let digits = parts.getattr("digits")?.len()?;
    let exponent = parts.getattr("exponent")?.extract::<i64>();
    let text = match exponent {
        Ok(e) if (e.unsigned_abs() as usize).saturating_add(digits) <= MAX_DECIMAL_DIGITS => {
            value.call_method1("__format__", ("f",))?
        }
        _ => value.str()?.into_any(),
    };
    Ok(text.cast::<PyString>()?.to_str()?.to_owned())
}

/// Python's `json.dumps(value, sort_keys=True)` of a converted value (`ascii`: with
/// `ensure_ascii`), for the rule's set order and container keys.
fn json_text(py: Python<'_>, value: &Value, ascii: bool) -> PyResult<String> {
    let dumps = py.import("json")?.getattr("dumps")?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("sort_keys", true)?;
    kwargs.set_item("ensure_ascii", ascii)?;
    let text = dumps.call((to_python(py, value)?,), Some(&kwargs))?;
    Ok(text.cast::<PyString>()?.to_str()?.to_owned())
}

/// A JSON value as Python objects (`dict`, `list`, `str`, `int`, `float`, `bool`, `None`).
pub(crate) fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(flag) => PyBool::new(py, *flag).to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                PyFloat::new(py, n.as_f64().unwrap_or(f64::NAN)).into_any()
            }
        }
        Value::String(text) => PyString::new(py, text).into_any(),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (key, item) in map {
                dict.set_item(key, to_python(py, item)?)?;
            }
            dict.into_any()
        }
    })
}
