//! Integers as JSON Schema counts them: a number without a fractional part is an integer, so
//! `1.0` is as good as `1`. serde refuses `1.0` for an `i32`; the API's integer fields read
//! through these functions instead, so that the server accepts what its document allows.

use serde::Deserialize;
use serde::de::{Deserializer, Error};

/// An integer of type `T`, written as an integral JSON number.
pub fn exact<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    let number = serde_json::Number::deserialize(deserializer)?;
    let integral = number.as_i64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && *f >= i64::MIN as f64 && *f <= i64::MAX as f64)
            .map(|f| f as i64)
    });
    let value = integral.ok_or_else(|| D::Error::custom(format!("{number} is not an integer")))?;
    T::try_from(value).map_err(|_| {
        D::Error::custom(format!(
            "{number} is out of range for {}",
            std::any::type_name::<T>()
        ))
    })
}

/// Like [`exact`], for an optional field (`null` or absent is `None`).
pub fn optional<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: TryFrom<i64>,
{
    #[derive(Deserialize)]
    struct Wrapped<T: TryFrom<i64>>(#[serde(deserialize_with = "exact")] T);
    Option::<Wrapped<T>>::deserialize(deserializer).map(|w| w.map(|Wrapped(v)| v))
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Sample {
        #[serde(default, deserialize_with = "super::optional")]
        priority: Option<i32>,
        #[serde(default, deserialize_with = "super::exact")]
        percent: u8,
    }

    fn parse(text: &str) -> Result<Sample, String> {
        serde_json::from_str(text).map_err(|e| e.to_string())
    }

    #[test]
    fn integral_numbers_are_integers_and_nothing_else_is() {
        assert_eq!(
            parse(r#"{"priority": 1.0, "percent": 5.0}"#),
            Ok(Sample {
                priority: Some(1),
                percent: 5
            })
        );
        assert_eq!(parse(r#"{"priority": null}"#).unwrap().priority, None);
        assert_eq!(parse(r#"{}"#).unwrap().priority, None);
        assert_eq!(parse(r#"{"priority": -7}"#).unwrap().priority, Some(-7));
        assert!(
            parse(r#"{"priority": 1.5}"#)
                .unwrap_err()
                .contains("not an integer")
        );
        assert!(parse(r#"{"priority": "1"}"#).is_err());
        assert!(
            parse(r#"{"priority": 3000000000}"#)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse(r#"{"percent": 256}"#)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(
            parse(r#"{"percent": -1}"#)
                .unwrap_err()
                .contains("out of range")
        );
        assert!(parse(r#"{"priority": 1e300}"#).is_err());
    }
}
