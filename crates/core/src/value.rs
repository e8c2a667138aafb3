//! Stored values: one byte of schema version, then the postcard encoding of that version.
//!
//! A type that gains a field bumps its [`Versioned::SCHEMA_VERSION`] and decodes its older
//! versions through frozen structs in [`Versioned::upgrade`]: migration is lazy (on read) and
//! the next write stores the current version. There are no offline migrations.

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{Error, Result};

/// A type stored as a versioned value.
pub trait Versioned: Serialize + DeserializeOwned {
    /// What the value is, for errors (`"task"`, `"audit event"`).
    const WHAT: &'static str;
    /// The version written today.
    const SCHEMA_VERSION: u8;

    /// Decodes `bytes` written by the older `version` and upgrades them to today's type.
    /// The default knows no older version: every one is a [`Error::Decode`].
    fn upgrade(version: u8, bytes: &[u8]) -> Result<Self> {
        let _ = bytes;
        Err(unknown_version(Self::WHAT, version))
    }
}

/// The error for a schema version this build does not know.
pub fn unknown_version(what: &'static str, version: u8) -> Error {
    Error::Decode {
        what,
        reason: format!("unknown schema version {version}"),
        source: None,
    }
}

/// Encodes `value` as its current version.
pub fn encode<T: Versioned>(value: &T) -> Result<Vec<u8>> {
    let mut out = vec![T::SCHEMA_VERSION];
    postcard::to_io(value, &mut out).map_err(|e| Error::Encode {
        what: T::WHAT,
        source: Box::new(e),
    })?;
    Ok(out)
}

/// Decodes a stored value of any version this build knows.
pub fn decode<T: Versioned>(bytes: &[u8]) -> Result<T> {
    let (&version, body) = bytes.split_first().ok_or_else(|| Error::Decode {
        what: T::WHAT,
        reason: "empty value".into(),
        source: None,
    })?;
    if version == T::SCHEMA_VERSION {
        postcard_exact(T::WHAT, body)
    } else {
        T::upgrade(version, body)
    }
}

/// Decodes postcard bytes that must hold exactly one `T` (trailing bytes mean corruption).
/// Used by [`decode`] and by upgrade functions for their frozen structs.
pub fn postcard_exact<T: DeserializeOwned>(what: &'static str, body: &[u8]) -> Result<T> {
    let (value, rest) = postcard::take_from_bytes::<T>(body).map_err(|e| Error::Decode {
        what,
        reason: "corrupt bytes".into(),
        source: Some(Box::new(e)),
    })?;
    if !rest.is_empty() {
        return Err(Error::Decode {
            what,
            reason: format!("{} trailing bytes", rest.len()),
            source: None,
        });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Sample {
        a: u32,
        b: String,
    }
    impl Versioned for Sample {
        const WHAT: &'static str = "sample";
        const SCHEMA_VERSION: u8 = 3;
    }

    #[test]
    fn round_trip_and_errors() {
        let s = Sample {
            a: 7,
            b: "x".into(),
        };
        let bytes = encode(&s).unwrap();
        assert_eq!(bytes[0], 3);
        assert_eq!(decode::<Sample>(&bytes).unwrap(), s);
        let mut other = bytes.clone();
        other[0] = 9;
        assert!(matches!(
            decode::<Sample>(&other),
            Err(Error::Decode { .. })
        ));
        assert!(matches!(decode::<Sample>(&[]), Err(Error::Decode { .. })));
        assert!(matches!(
            decode::<Sample>(&bytes[..2]),
            Err(Error::Decode { .. })
        ));
        let mut longer = bytes;
        longer.push(0);
        assert!(matches!(
            decode::<Sample>(&longer),
            Err(Error::Decode { .. })
        ));
    }
}
