//! Wall-clock timestamps as stored and shown: Unix milliseconds inside, RFC 3339 in JSON.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in wall-clock time with millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The current time.
    pub fn now() -> Self {
        let ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        Self(ms)
    }

    /// Milliseconds since the Unix epoch.
    pub fn as_millis(self) -> u64 {
        self.0
    }

    /// This time plus `d`.
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(d.as_millis() as u64))
    }

    /// Time from `earlier` to `self`, zero if `earlier` is later.
    pub fn since(self, earlier: Timestamp) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

impl std::fmt::Display for Timestamp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = UNIX_EPOCH + Duration::from_millis(self.0);
        write!(f, "{}", humantime::format_rfc3339_millis(t))
    }
}

/// What a `since` filter accepts: a duration back from now, a whole number of seconds, minutes,
/// hours or days (`90s`, `30m`, `24h`, `7d`), or an RFC 3339 time (`2026-01-01T00:00:00Z`,
/// `2026-01-01T09:30:00.5+02:00`). The API documents this pattern and [`parse_since`] parses
/// exactly what it matches, so the two cannot disagree.
pub const SINCE_PATTERN: &str = r"^(?:([0-9]{1,6})(s|m|h|d)|([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):([0-5][0-9]):([0-5][0-9])(\.[0-9]{1,9})?(?:Z|([+-])([01][0-9]|2[0-3]):([0-5][0-9])))$";

/// The time `text` (matching [`SINCE_PATTERN`]) names, `now` being the reference of a duration;
/// `None` when it does not match. A day past the end of its month counts on into the next
/// (`02-30` is March 2nd or 1st), and a time before 1970 is the start of 1970.
pub fn parse_since(text: &str, now: Timestamp) -> Option<Timestamp> {
    static PATTERN: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let pattern =
        PATTERN.get_or_init(|| regex::Regex::new(SINCE_PATTERN).expect("a valid pattern"));
    let caps = pattern.captures(text)?;
    let number = |i: usize| caps.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    if let (Some(amount), Some(unit)) = (number(1), caps.get(2)) {
        let seconds = match unit.as_str() {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            _ => 86_400,
        };
        return Some(Timestamp(
            now.0.saturating_sub((amount * seconds * 1000) as u64),
        ));
    }
    let (year, month, day) = (number(3)?, number(4)?, number(5)?);
    let seconds = number(6)? * 3600 + number(7)? * 60 + number(8)?;
    let millis = caps.get(9).map_or(0, |m| {
        let digits = &m.as_str()[1..];
        // The first three digits are milliseconds; the rest are below what a timestamp holds.
        format!("{digits:0<3}")[..3].parse::<i64>().unwrap_or(0)
    });
    let offset = match caps.get(10) {
        Some(sign) => {
            let minutes = number(11)? * 60 + number(12)?;
            if sign.as_str() == "-" {
                -minutes
            } else {
                minutes
            }
        }
        None => 0,
    };
    let at = (days_from_civil(year, month, day) * 86_400 + seconds - offset * 60) * 1000 + millis;
    Some(Timestamp(at.max(0) as u64))
}

/// Days from 1970-01-01 to a date of the proleptic Gregorian calendar; a day past its month's
/// end counts on (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

// In JSON a timestamp is an RFC 3339 string, whatever it is inside.
impl utoipa::PartialSchema for Timestamp {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
            .description(Some("RFC 3339 time, millisecond precision"))
            .into()
    }
}

impl utoipa::ToSchema for Timestamp {}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        let t = humantime::parse_rfc3339(&text).map_err(serde::de::Error::custom)?;
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map_err(serde::de::Error::custom)?
            .as_millis() as u64;
        Ok(Self(ms))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_a_duration_back_or_an_rfc3339_time() {
        let now = Timestamp(1_767_225_600_000); // 2026-01-01T00:00:00Z
        assert_eq!(parse_since("2026-01-01T00:00:00Z", now), Some(now));
        assert_eq!(parse_since("24h", now), Some(Timestamp(now.0 - 86_400_000)));
        assert_eq!(
            parse_since("7d", now),
            Some(Timestamp(now.0 - 7 * 86_400_000))
        );
        assert_eq!(parse_since("90s", now), Some(Timestamp(now.0 - 90_000)));
        assert_eq!(
            parse_since("2026-01-01T02:30:00.25+02:30", now),
            Some(Timestamp(now.0 + 250))
        );
        assert_eq!(
            parse_since("2023-11-14T22:13:20.123456Z", now),
            Some(Timestamp(1_700_000_000_123))
        );
        assert_eq!(
            parse_since("2024-02-29T00:00:00Z", now),
            Some(Timestamp(1_709_164_800_000))
        );
        // Past a month's end counts on; before 1970 is 1970.
        assert_eq!(
            parse_since("2025-02-29T00:00:00Z", now),
            parse_since("2025-03-01T00:00:00Z", now)
        );
        assert_eq!(parse_since("0000-01-01T00:00:00Z", now), Some(Timestamp(0)));
        assert_eq!(parse_since("999999d", now), Some(Timestamp(0)));
        for bad in [
            "",
            "yesterday",
            "1h30m",
            "2026-01-01",
            "2026-13-01T00:00:00Z",
            "2026-01-01T00:00:00",
        ] {
            assert_eq!(parse_since(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn rfc3339_round_trip() {
        let t = Timestamp(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
    }
}
