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

/// The encoded size of each top-level field of `value`, a struct, in declaration order:
/// what names the field at fault when a record is too large. Anything not a struct has no
/// fields (an empty list).
pub(crate) fn field_sizes<T: Serialize + ?Sized>(value: &T) -> Vec<(&'static str, usize)> {
    value.serialize(sizer::FieldSizer).unwrap_or_default()
}

/// A serde serializer that measures the postcard size of each field of a struct and refuses
/// everything else (only [`field_sizes`] uses it, on records, which are structs).
mod sizer {
    use serde::ser::{self, Impossible, Serialize, SerializeStruct};

    /// The postcard size of `value`.
    fn postcard_size<T: Serialize + ?Sized>(value: &T) -> usize {
        postcard::to_io(value, Counter(0)).map_or(0, |c| c.0)
    }

    /// Counts the bytes written to it.
    struct Counter(usize);

    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[derive(Debug)]
    pub(super) struct NotAStruct;

    impl std::fmt::Display for NotAStruct {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("not a struct")
        }
    }
    impl std::error::Error for NotAStruct {}
    impl ser::Error for NotAStruct {
        fn custom<T: std::fmt::Display>(_: T) -> Self {
            NotAStruct
        }
    }

    pub(super) struct FieldSizer;

    pub(super) struct Fields(Vec<(&'static str, usize)>);

    impl SerializeStruct for Fields {
        type Ok = Vec<(&'static str, usize)>;
        type Error = NotAStruct;
        fn serialize_field<T: Serialize + ?Sized>(
            &mut self,
            key: &'static str,
            value: &T,
        ) -> Result<(), NotAStruct> {
            self.0.push((key, postcard_size(value)));
            Ok(())
        }
        fn end(self) -> Result<Self::Ok, NotAStruct> {
            Ok(self.0)
        }
    }

    type Out = Vec<(&'static str, usize)>;
    type No = Impossible<Out, NotAStruct>;

    macro_rules! refuse {
        ($($name:ident($($arg:ty),*)),* $(,)?) => {
            $(fn $name(self, $(_: $arg),*) -> Result<Out, NotAStruct> { Err(NotAStruct) })*
        };
    }

    impl ser::Serializer for FieldSizer {
        type Ok = Out;
        type Error = NotAStruct;
        type SerializeSeq = No;
        type SerializeTuple = No;
        type SerializeTupleStruct = No;
        type SerializeTupleVariant = No;
        type SerializeMap = No;
        type SerializeStruct = Fields;
        type SerializeStructVariant = No;

        refuse!(
            serialize_bool(bool),
            serialize_i8(i8),
            serialize_i16(i16),
            serialize_i32(i32),
            serialize_i64(i64),
            serialize_u8(u8),
            serialize_u16(u16),
            serialize_u32(u32),
            serialize_u64(u64),
            serialize_f32(f32),
            serialize_f64(f64),
            serialize_char(char),
            serialize_str(&str),
            serialize_bytes(&[u8]),
            serialize_none(),
            serialize_unit(),
            serialize_unit_struct(&'static str),
            serialize_unit_variant(&'static str, u32, &'static str),
        );

        fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<Out, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_newtype_struct<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            value: &T,
        ) -> Result<Out, NotAStruct> {
            value.serialize(self)
        }
        fn serialize_newtype_variant<T: Serialize + ?Sized>(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: &T,
        ) -> Result<Out, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_seq(self, _: Option<usize>) -> Result<No, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_tuple(self, _: usize) -> Result<No, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_tuple_struct(self, _: &'static str, _: usize) -> Result<No, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_tuple_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<No, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_map(self, _: Option<usize>) -> Result<No, NotAStruct> {
            Err(NotAStruct)
        }
        fn serialize_struct(self, _: &'static str, len: usize) -> Result<Fields, NotAStruct> {
            Ok(Fields(Vec::with_capacity(len)))
        }
        fn serialize_struct_variant(
            self,
            _: &'static str,
            _: u32,
            _: &'static str,
            _: usize,
        ) -> Result<No, NotAStruct> {
            Err(NotAStruct)
        }
    }
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
    fn field_sizes_measure_each_field_in_postcard_bytes() {
        let s = Sample {
            a: 7,
            b: "é".repeat(300),
        };
        // A varint of one byte; a string's varint length (2 bytes for 600) and its bytes.
        assert_eq!(field_sizes(&s), vec![("a", 1), ("b", 602)]);
        assert!(field_sizes(&7u32).is_empty());
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
