//! JavaScript values to the JSON fields of a receipt, walked in Rust on the JS thread.
//!
//! The rule (docs/node.md, "How arguments become fields"), applied at every depth:
//! - `null`, booleans and strings as they are (a lone surrogate becomes U+FFFD, as V8
//!   writes UTF-8); `undefined` leaves an object key out and is `null` in an array;
//! - numbers: integers within ±(2^53−1) as integers (`-0` is `0`), other finite numbers as
//!   they are, NaN and the infinities as `"NaN"`, `"Infinity"`, `"-Infinity"`; an integer
//!   beyond ±(2^53−1) is refused (`TypeError`): it has no exact JSON form;
//! - `BigInt` is refused (`TypeError`): pass `String(value)`;
//! - arrays as arrays; plain objects (prototype `Object.prototype` or `null`) as objects of
//!   their enumerable string keys;
//! - `Buffer`, typed arrays and `ArrayBuffer` as `{"$bytes_b64": "…"}`;
//! - other objects with a `toJSON` method (`Date`, `URL`, decimal types) as what it returns;
//!   `Map` as an object (keys as text, a repeated key gets `#2`, `#3`, …), `Set` as an array;
//! - anything else (a class instance such as a client, a function, a symbol) as
//!   `"<Name>"`, its constructor's name only: its properties may hold secrets;
//! - an object that contains itself is refused (`TypeError`), nesting deeper than 64
//!   levels, more than 1,000,000 values or more than 64 MiB of text is refused (`GateError`).
//!
//! A getter, `toJSON` or proxy trap that throws propagates its own exception. Refusals
//! happen before anything is recorded.

use napi::bindgen_prelude::{
    ArrayBuffer, FromNapiValue, Function, JsObjectValue, JsValue, KeyCollectionMode, KeyConversion,
    KeyFilter, Object, TypedArray, Unknown,
};
use napi::{Env, JsString, Status, ValueType};
use serde_json::{Map, Number, Value};

/// How deep containers may nest (a container directly in the fields is at depth 1): the
/// engine's limit, so every receipt stays readable by ordinary JSON parsers.
pub(crate) const MAX_DEPTH: usize = heso_engine::MAX_FIELD_DEPTH;
/// At most this many values (a shared object counts each time it appears).
pub(crate) const MAX_VALUES: usize = 1_000_000;
/// At most this many bytes of text (strings, keys and encoded bytes, as UTF-8).
pub(crate) const MAX_TEXT_BYTES: usize = 64 << 20;
/// The largest integer JSON carries exactly: 2^53 − 1.
const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;
/// At most this many characters of a constructor's name are recorded.
const MAX_NAME_CHARS: usize = 200;

/// Why a value could not be recorded.
pub(crate) enum Refusal {
    /// A value of a kind that has no recorded form (`TypeError` in JavaScript).
    Type(String),
    /// Too deep, too many values, too much text (`GateError`).
    Limit(String),
    /// A JavaScript exception (a throwing getter) or a failed N-API call, as napi gives it.
    Js(napi::Error),
}

impl From<napi::Error> for Refusal {
    fn from(e: napi::Error) -> Self {
        Refusal::Js(e)
    }
}

impl Refusal {
    /// As the error thrown into JavaScript: `InvalidArg` for a type refusal, which the
    /// package turns into a `TypeError`; `GenericFailure` for a limit (a `GateError`).
    pub(crate) fn into_napi(self) -> napi::Error {
        match self {
            Refusal::Type(message) => napi::Error::new(Status::InvalidArg, message),
            Refusal::Limit(message) => napi::Error::new(Status::GenericFailure, message),
            Refusal::Js(e) => e,
        }
    }
}

/// The fields of one call, and whether they are the call's arguments exactly (so another
/// process can rebuild the call from them).
pub(crate) struct Converted {
    pub(crate) fields: Map<String, Value>,
    pub(crate) exact: bool,
}

/// The realm's constructors the walk compares against, looked up once per conversion.
struct Realm<'e> {
    object_prototype: Unknown<'e>,
    map: Unknown<'e>,
    set: Unknown<'e>,
    array_from: Function<'e, Unknown<'e>, Unknown<'e>>,
}

/// One step of the path to the value being converted, for messages.
enum Step {
    Key(String),
    Index(u32),
}

struct Walk<'e> {
    env: &'e Env,
    realm: Realm<'e>,
    values: usize,
    text: usize,
    exact: bool,
    /// The containers being walked, outermost first (to find an object inside itself).
    open: Vec<Unknown<'e>>,
    path: Vec<Step>,
}

/// What a value is, for the walk.
enum Shape {
    Skip,
    Scalar(Value),
    Container,
}

/// Converts the fields object of one call (its own enumerable string keys).
pub(crate) fn convert_fields<'e>(env: &'e Env, fields: Unknown<'e>) -> Result<Converted, Refusal> {
    if fields.get_type()? != ValueType::Object || fields.is_array()? {
        return Err(Refusal::Type(
            "the fields of a call must be a plain object".to_owned(),
        ));
    }
    let global = env.get_global()?;
    let object: Object<'_> = global.get_named_property_unchecked("Object")?;
    let array: Object<'_> = global.get_named_property_unchecked("Array")?;
    let realm = Realm {
        object_prototype: object.get_named_property_unchecked("prototype")?,
        map: global.get_named_property_unchecked("Map")?,
        set: global.get_named_property_unchecked("Set")?,
        array_from: array.get_named_property_unchecked("from")?,
    };
    let mut walk = Walk {
        env,
        realm,
        values: 0,
        text: 0,
        exact: true,
        open: Vec::new(),
        path: Vec::new(),
    };
    walk.open.push(fields);
    let object = Object::from_unknown(fields)?;
    let fields = walk.object_entries(&object, 0)?;
    Ok(Converted {
        fields,
        exact: walk.exact,
    })
}

impl<'e> Walk<'e> {
    /// The path to the current value, as a field path (`items.3.price`), for messages.
    fn here(&self) -> String {
        if self.path.is_empty() {
            return "the arguments".to_owned();
        }
        let mut out = String::new();
        for (n, step) in self.path.iter().enumerate() {
            if n > 0 {
                out.push('.');
            }
            match step {
                Step::Key(key) => {
                    for c in key.chars().take(MAX_NAME_CHARS) {
                        if matches!(c, '.' | '*' | '\\') {
                            out.push('\\');
                        }
                        out.push(c);
                    }
                }
                Step::Index(i) => out.push_str(&i.to_string()),
            }
        }
        format!("field {out:?}")
    }

    fn count(&mut self) -> Result<(), Refusal> {
        self.values += 1;
        if self.values > MAX_VALUES {
            return Err(Refusal::Limit(format!(
                "the arguments hold more than {MAX_VALUES} values; pass less, or a summary of \
                 it (nothing was recorded and the call did not run)"
            )));
        }
        Ok(())
    }

    fn add_text(&mut self, bytes: usize) -> Result<(), Refusal> {
        self.text = self.text.saturating_add(bytes);
        if self.text > MAX_TEXT_BYTES {
            return Err(Refusal::Limit(format!(
                "the arguments hold more than {} MiB of text; pass a summary or a hash of it \
                 (nothing was recorded and the call did not run)",
                MAX_TEXT_BYTES >> 20
            )));
        }
        Ok(())
    }

    fn string(&mut self, value: Unknown<'e>) -> Result<String, Refusal> {
        let js = JsString::from_unknown(value)?;
        self.add_text(js.utf8_len()?)?;
        Ok(js.into_utf8()?.into_owned()?)
    }

    fn number(&mut self, value: Unknown<'e>) -> Result<Value, Refusal> {
        let x = f64::from_unknown(value)?;
        if !x.is_finite() {
            self.exact = false;
            let text = if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "Infinity"
            } else {
                "-Infinity"
            };
            return Ok(Value::String(text.to_owned()));
        }
        if x.fract() == 0.0 {
            if x.abs() > MAX_SAFE_INTEGER {
                return Err(Refusal::Type(format!(
                    "{} is the number {x:e}, an integer beyond ±(2^53−1) that JSON cannot \
                     carry exactly: pass it as a string (nothing was recorded and the call \
                     did not run)",
                    self.here()
                )));
            }
            #[allow(
                clippy::cast_possible_truncation,
                reason = "an integral value within ±(2^53−1) converts exactly"
            )]
            return Ok(Value::Number(Number::from(x as i64)));
        }
        Ok(Number::from_f64(x).map_or(Value::Null, Value::Number))
    }

    /// The kind of one value; scalars converted.
    fn shape(&mut self, value: Unknown<'e>) -> Result<Shape, Refusal> {
        Ok(match value.get_type()? {
            ValueType::Undefined => Shape::Skip,
            ValueType::Null => Shape::Scalar(Value::Null),
            ValueType::Boolean => Shape::Scalar(Value::Bool(bool::from_unknown(value)?)),
            ValueType::Number => Shape::Scalar(self.number(value)?),
            ValueType::String => Shape::Scalar(Value::String(self.string(value)?)),
            ValueType::BigInt => {
                return Err(Refusal::Type(format!(
                    "{} is a BigInt, which JSON cannot carry: pass String(value), or a Number \
                     within ±(2^53−1) (nothing was recorded and the call did not run)",
                    self.here()
                )));
            }
            ValueType::Symbol => {
                self.exact = false;
                Shape::Scalar(Value::String("<Symbol>".to_owned()))
            }
            ValueType::Function => {
                self.exact = false;
                Shape::Scalar(Value::String("<Function>".to_owned()))
            }
            ValueType::Object => Shape::Container,
            _ => {
                self.exact = false;
                Shape::Scalar(Value::String("<External>".to_owned()))
            }
        })
    }

    /// Converts one value at `depth` (a value directly in the fields is at depth 1).
    /// `None`: leave it out (`undefined`).
    fn value(&mut self, value: Unknown<'e>, depth: usize) -> Result<Option<Value>, Refusal> {
        self.count()?;
        match self.shape(value)? {
            Shape::Skip => Ok(None),
            Shape::Scalar(scalar) => Ok(Some(scalar)),
            Shape::Container => self.object(value, depth, true).map(Some),
        }
    }

    /// Converts an object value; `to_json`: whether its `toJSON` may be called (not on
    /// what a `toJSON` returned).
    fn object(
        &mut self,
        value: Unknown<'e>,
        depth: usize,
        to_json: bool,
    ) -> Result<Value, Refusal> {
        // Byte containers and ArrayBuffers are leaves.
        if value.is_typedarray()? {
            let view = TypedArray::from_unknown(value)?;
            return self.bytes(&view.arraybuffer);
        }
        if value.is_arraybuffer()? {
            let buffer = ArrayBuffer::from_unknown(value)?;
            return self.bytes(&buffer);
        }
        for open in &self.open {
            if self.env.strict_equals(*open, value)? {
                return Err(Refusal::Type(format!(
                    "{} contains itself (a cyclic object), which JSON cannot carry: pass a copy \
                     without the cycle (nothing was recorded and the call did not run)",
                    self.here()
                )));
            }
        }
        if depth > MAX_DEPTH {
            return Err(Refusal::Limit(format!(
                "{} nests more than {MAX_DEPTH} levels deep; flatten it (nothing was recorded \
                 and the call did not run)",
                self.here()
            )));
        }
        let object = Object::from_unknown(value)?;
        self.open.push(value);
        let converted = self.container(value, &object, depth, to_json);
        self.open.pop();
        converted
    }

    fn container(
        &mut self,
        value: Unknown<'e>,
        object: &Object<'e>,
        depth: usize,
        to_json: bool,
    ) -> Result<Value, Refusal> {
        if value.is_array()? {
            return self.array(object, depth).map(Value::Array);
        }
        let prototype = object.get_prototype()?;
        if prototype.get_type()? == ValueType::Null
            || self
                .env
                .strict_equals(prototype, self.realm.object_prototype)?
        {
            return self.object_entries(object, depth).map(Value::Object);
        }
        self.exact = false;
        if to_json {
            let method: Unknown<'_> = object.get_named_property_unchecked("toJSON")?;
            if method.get_type()? == ValueType::Function {
                let method: Function<'_, Unknown<'_>, Unknown<'_>> =
                    Function::from_unknown(method)?;
                let key = self.env.create_string("")?;
                let replaced = method.apply(value, key.to_unknown())?;
                self.count()?;
                return match self.shape(replaced)? {
                    Shape::Skip => Ok(Value::Null),
                    Shape::Scalar(scalar) => Ok(scalar),
                    Shape::Container => self.object(replaced, depth, false),
                };
            }
        }
        if value.instanceof(self.realm.map)? {
            let pairs = self.realm.array_from.call(value)?;
            return self.map_entries(&Object::from_unknown(pairs)?, depth);
        }
        if value.instanceof(self.realm.set)? {
            let items = self.realm.array_from.call(value)?;
            return self
                .array(&Object::from_unknown(items)?, depth)
                .map(Value::Array);
        }
        Ok(Value::String(self.type_name(&prototype)?))
    }

    fn bytes(&mut self, data: &[u8]) -> Result<Value, Refusal> {
        use base64::Engine as _;
        self.exact = false;
        self.add_text(data.len().div_ceil(3) * 4)?;
        let encoded = base64::engine::general_purpose::STANDARD.encode(data);
        let mut map = Map::new();
        map.insert("$bytes_b64".to_owned(), Value::String(encoded));
        Ok(Value::Object(map))
    }

    /// `"<Name>"`: the name of the constructor on `prototype`, or `"<object>"`.
    fn type_name(&mut self, prototype: &Unknown<'e>) -> Result<String, Refusal> {
        if prototype.get_type()? != ValueType::Object {
            return Ok("<object>".to_owned());
        }
        let prototype = Object::from_unknown(*prototype)?;
        let constructor: Unknown<'_> = prototype.get_named_property_unchecked("constructor")?;
        if constructor.get_type()? != ValueType::Function {
            return Ok("<object>".to_owned());
        }
        let constructor = Object::from_unknown(constructor)?;
        let name: Unknown<'_> = constructor.get_named_property_unchecked("name")?;
        if name.get_type()? != ValueType::String {
            return Ok("<object>".to_owned());
        }
        let name = JsString::from_unknown(name)?.into_utf8()?.into_owned()?;
        if name.is_empty() {
            return Ok("<object>".to_owned());
        }
        let name: String = name.chars().take(MAX_NAME_CHARS).collect();
        self.add_text(name.len() + 2)?;
        Ok(format!("<{name}>"))
    }

    fn array(&mut self, array: &Object<'e>, depth: usize) -> Result<Vec<Value>, Refusal> {
        let length = array.get_array_length_unchecked()?;
        let mut out = Vec::new();
        for index in 0..length {
            self.path.push(Step::Index(index));
            let item: Unknown<'_> = array.get_element(index)?;
            let converted = self.value(item, depth + 1)?;
            self.path.pop();
            out.push(converted.unwrap_or_else(|| {
                self.exact = false;
                Value::Null
            }));
        }
        Ok(out)
    }

    /// The own enumerable string keys of an object and their values (never inherited
    /// ones: a polluted `Object.prototype` adds no field).
    fn object_entries(
        &mut self,
        object: &Object<'e>,
        depth: usize,
    ) -> Result<Map<String, Value>, Refusal> {
        let keys = object.get_all_property_names(
            KeyCollectionMode::OwnOnly,
            KeyFilter::Enumerable,
            KeyConversion::NumbersToStrings,
        )?;
        let count = keys.get_array_length_unchecked()?;
        let mut out = Map::new();
        for index in 0..count {
            let key: Unknown<'_> = keys.get_element(index)?;
            if key.get_type()? != ValueType::String {
                continue; // a symbol key: not data JSON carries
            }
            let name = self.string(key)?;
            self.path.push(Step::Key(name));
            let item: Unknown<'_> = object.get_property_unchecked(key)?;
            let converted = self.value(item, depth + 1)?;
            let Some(Step::Key(name)) = self.path.pop() else {
                continue;
            };
            if let Some(converted) = converted {
                insert_unique(&mut out, name, converted);
            }
        }
        Ok(out)
    }

    /// A `Map`'s `[key, value]` pairs as an object: a key's text is the key itself when it
    /// is a string, else its converted value's JSON text.
    fn map_entries(&mut self, pairs: &Object<'e>, depth: usize) -> Result<Value, Refusal> {
        let length = pairs.get_array_length_unchecked()?;
        let mut out = Map::new();
        for index in 0..length {
            let pair: Object<'_> = pairs.get_element(index)?;
            let key: Unknown<'_> = pair.get_element(0)?;
            let item: Unknown<'_> = pair.get_element(1)?;
            self.path.push(Step::Index(index));
            let name = match self.value(key, depth + 1)? {
                Some(Value::String(text)) => text,
                Some(other) => other.to_string(),
                None => "undefined".to_owned(),
            };
            self.path.pop();
            self.path.push(Step::Key(name));
            let converted = self.value(item, depth + 1)?;
            let Some(Step::Key(name)) = self.path.pop() else {
                continue;
            };
            if let Some(converted) = converted {
                insert_unique(&mut out, name, converted);
            }
        }
        Ok(Value::Object(out))
    }
}

/// Inserts `key`, or `key#2`, `key#3`, … when it is taken (two keys that became the same
/// text: lone surrogates replaced, or `Map` keys `1` and `"1"`).
fn insert_unique(map: &mut Map<String, Value>, key: String, value: Value) {
    if !map.contains_key(&key) {
        map.insert(key, value);
        return;
    }
    let mut n = 2u64;
    loop {
        let candidate = format!("{key}#{n}");
        if !map.contains_key(&candidate) {
            map.insert(candidate, value);
            return;
        }
        n += 1;
    }
}
