//! Small helpers to read loosely typed webhook JSON.
//!
//! Required fields are strict (absent → [`ParseError::MissingField`], wrong type →
//! [`ParseError::InvalidField`]); optional fields are lenient (wrong type → `None`), because
//! providers change shapes between versions and an odd optional field must not lose a message.

use serde_json::Value;

use crate::address::from_whatsapp_jid;
use crate::error::{AddressError, ParseError};
use crate::model::Address;

/// Below this a timestamp is taken as seconds, at or above as milliseconds (10^11 seconds
/// is the year 5138; 10^11 milliseconds is 1973).
const MS_THRESHOLD: i64 = 100_000_000_000;

/// Parses a body that must be a JSON object.
pub(crate) fn parse_object(context: &'static str, body: &[u8]) -> Result<Value, ParseError> {
    let value: Value = serde_json::from_slice(body).map_err(|error| ParseError::InvalidJson {
        context,
        detail: error.to_string(),
    })?;
    if !value.is_object() {
        return Err(ParseError::InvalidField {
            context,
            field: ".",
            expected: "a json object",
            got: type_name(&value).to_owned(),
        });
    }
    Ok(value)
}

/// The JSON type of a value, for error messages.
pub(crate) const fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The value at a dotted path of object keys; `None` if absent or null.
pub(crate) fn at<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut current = value;
    for key in path.split('.') {
        current = current.as_object()?.get(key)?;
    }
    (!current.is_null()).then_some(current)
}

/// A required value of any type.
pub(crate) fn require<'a>(
    context: &'static str,
    value: &'a Value,
    path: &'static str,
) -> Result<&'a Value, ParseError> {
    at(value, path).ok_or(ParseError::MissingField {
        context,
        field: path,
    })
}

/// A required string.
pub(crate) fn req_str<'a>(
    context: &'static str,
    value: &'a Value,
    path: &'static str,
) -> Result<&'a str, ParseError> {
    let found = require(context, value, path)?;
    found
        .as_str()
        .ok_or_else(|| invalid(context, path, "a string", found))
}

/// An optional string.
pub(crate) fn opt_str<'a>(value: &'a Value, path: &str) -> Option<&'a str> {
    at(value, path)?.as_str()
}

/// An optional non-empty string, owned.
pub(crate) fn opt_text(value: &Value, path: &str) -> Option<String> {
    opt_str(value, path)
        .filter(|text| !text.is_empty())
        .map(str::to_owned)
}

/// An optional boolean.
pub(crate) fn opt_bool(value: &Value, path: &str) -> Option<bool> {
    at(value, path)?.as_bool()
}

/// An integer written as a JSON number, a decimal string (Cloud API timestamps, Evolution
/// `fileLength`) or a protobuf.js `Long` object `{low, high}` (old Baileys timestamps).
pub(crate) fn int_value(value: &Value) -> Option<i64> {
    match value {
        Value::Number(number) => number.as_i64().or_else(|| {
            // Whole floats such as 1751371200.0; reject fractions and out-of-range values.
            number
                .as_f64()
                .filter(|float| float.fract() == 0.0 && float.abs() < 9.0e15)
                .map(|float| float as i64)
        }),
        Value::String(text) => text.trim().parse().ok(),
        Value::Object(long) => {
            let low = long.get("low")?.as_i64()?;
            let high = long.get("high").and_then(Value::as_i64).unwrap_or(0);
            let low = u32::try_from(low & 0xffff_ffff).ok()?;
            let high = i32::try_from(high).ok()?;
            Some((i64::from(high) << 32) | i64::from(low))
        }
        _ => None,
    }
}

/// An optional integer (see [`int_value`]).
pub(crate) fn opt_int(value: &Value, path: &str) -> Option<i64> {
    int_value(at(value, path)?)
}

/// A required integer (see [`int_value`]).
pub(crate) fn req_int(
    context: &'static str,
    value: &Value,
    path: &'static str,
) -> Result<i64, ParseError> {
    let found = require(context, value, path)?;
    int_value(found).ok_or_else(|| invalid(context, path, "an integer", found))
}

/// Unix seconds to milliseconds, rejecting overflow.
pub(crate) fn seconds_to_ms(
    context: &'static str,
    path: &'static str,
    seconds: i64,
) -> Result<i64, ParseError> {
    seconds
        .checked_mul(1000)
        .ok_or_else(|| ParseError::InvalidField {
            context,
            field: path,
            expected: "unix seconds",
            got: "an out-of-range number".to_owned(),
        })
}

/// A timestamp in seconds or milliseconds (told apart by size) to milliseconds.
pub(crate) fn seconds_or_ms_to_ms(time: i64) -> Option<i64> {
    if time.abs() >= MS_THRESHOLD {
        Some(time)
    } else {
        time.checked_mul(1000)
    }
}

/// A wrong-type error for `path`.
pub(crate) fn invalid(
    context: &'static str,
    path: &'static str,
    expected: &'static str,
    found: &Value,
) -> ParseError {
    ParseError::InvalidField {
        context,
        field: path,
        expected,
        got: type_name(found).to_owned(),
    }
}

/// Attaches context to an address error.
pub(crate) fn address_error(
    context: &'static str,
    path: &'static str,
) -> impl FnOnce(AddressError) -> ParseError {
    move |error| ParseError::InvalidAddress {
        context,
        field: path,
        error,
    }
}

/// A required WhatsApp JID.
pub(crate) fn req_jid(
    context: &'static str,
    value: &Value,
    path: &'static str,
) -> Result<Address, ParseError> {
    from_whatsapp_jid(req_str(context, value, path)?).map_err(address_error(context, path))
}

/// An optional WhatsApp JID; unparseable ones are skipped.
pub(crate) fn opt_jid(value: &Value, path: &str) -> Option<Address> {
    from_whatsapp_jid(opt_str(value, path)?).ok()
}

/// Picks the address to file a person under from every spelling a provider gave: the
/// first phone number wins (phones are stable across providers), else the first address.
/// Returns it and the other distinct addresses.
pub(crate) fn pick_primary(candidates: Vec<Address>) -> Option<(Address, Vec<Address>)> {
    let mut distinct: Vec<Address> = Vec::with_capacity(candidates.len());
    for candidate in candidates {
        if !distinct.contains(&candidate) {
            distinct.push(candidate);
        }
    }
    let primary_index = distinct
        .iter()
        .position(|address| matches!(address, Address::Phone(_)))
        .unwrap_or(0);
    if distinct.is_empty() {
        return None;
    }
    let primary = distinct.remove(primary_index);
    Some((primary, distinct))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn ints_in_every_spelling() {
        assert_eq!(int_value(&json!(5)), Some(5));
        assert_eq!(int_value(&json!("1751371200")), Some(1_751_371_200));
        assert_eq!(int_value(&json!(1_751_371_200.0)), Some(1_751_371_200));
        assert_eq!(int_value(&json!(1.5)), None);
        assert_eq!(
            int_value(&json!({"low": 1_751_371_200, "high": 0})),
            Some(1_751_371_200)
        );
        assert_eq!(int_value(&json!("x")), None);
    }

    #[test]
    fn seconds_or_ms() {
        assert_eq!(seconds_or_ms_to_ms(1_751_371_200), Some(1_751_371_200_000));
        assert_eq!(
            seconds_or_ms_to_ms(1_751_371_450_123),
            Some(1_751_371_450_123)
        );
    }
}
