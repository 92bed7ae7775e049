//! Sizes written back exactly. `bytesize` writes `1500000 B` as `1.4 MiB`, which reads back as
//! another number: `reef config show` would print values that are not the running ones, and a
//! reload comparing the written forms would miss a change. Here a size is written in the largest
//! unit that divides it (`16 MiB`, `4 KiB`, `1500000 B`), and read as `bytesize` reads it.

use bytesize::ByteSize;
use serde::{Deserialize, Deserializer, Serializer};

const UNITS: [(u64, &str); 4] = [
    (1 << 40, "TiB"),
    (1 << 30, "GiB"),
    (1 << 20, "MiB"),
    (1 << 10, "KiB"),
];

/// The exact text of `size`.
pub fn text(size: ByteSize) -> String {
    let bytes = size.as_u64();
    UNITS
        .iter()
        .find(|(unit, _)| bytes != 0 && bytes.is_multiple_of(*unit))
        .map(|(unit, name)| format!("{} {name}", bytes / unit))
        .unwrap_or_else(|| format!("{bytes} B"))
}

/// `#[serde(serialize_with)]` half.
pub fn serialize<S: Serializer>(size: &ByteSize, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&text(*size))
}

/// `#[serde(deserialize_with)]` half: whatever `bytesize` accepts.
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<ByteSize, D::Error> {
    ByteSize::deserialize(deserializer)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_trip_exactly() {
        for bytes in [
            0,
            1,
            1023,
            1024,
            4096,
            1_500_000,
            16 << 20,
            3 << 30,
            (1 << 40) + 1,
        ] {
            let written = text(ByteSize::b(bytes));
            let read: ByteSize = written.parse().unwrap();
            assert_eq!(read.as_u64(), bytes, "{written}");
        }
        assert_eq!(text(ByteSize::mib(16)), "16 MiB");
        assert_eq!(text(ByteSize::b(1_500_000)), "1500000 B");
    }
}
