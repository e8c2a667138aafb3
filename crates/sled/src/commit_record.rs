//! The commit record: one commit's writes and version, encoded as one value.
//!
//! ```text
//! version u64 BE | count u32 BE | count x ( 0x00 | key len u32 BE | key
//!                                         | 0x01 | key len u32 BE | key | value len u32 BE | value )
//! ```
//!
//! 0x00 is a clear, 0x01 a set. Decoding checks every length against what is left, so a
//! damaged record is an error, never a panic or a misread.

use coditect_engine::Write;

const CLEAR: u8 = 0;
const SET: u8 = 1;

/// Encodes the writes of the commit at `version`.
pub(crate) fn encode(version: u64, writes: &[Write]) -> Vec<u8> {
    let size: usize = writes
        .iter()
        .map(|(k, v)| 9 + k.len() + v.as_ref().map_or(0, Vec::len))
        .sum();
    let mut out = Vec::with_capacity(12 + size);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&len32(writes.len()).to_be_bytes());
    for (key, value) in writes {
        match value {
            None => {
                out.push(CLEAR);
                put_bytes(&mut out, key);
            }
            Some(value) => {
                out.push(SET);
                put_bytes(&mut out, key);
                put_bytes(&mut out, value);
            }
        }
    }
    out
}

/// Keys and values are bounded far below 4 GiB by the engine's limits (10 kB keys, 100 kB
/// values), and a commit by 10 MB of mutations, so every length fits.
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&len32(bytes.len()).to_be_bytes());
    out.extend_from_slice(bytes);
}

/// Decodes a record into its version and writes, or says what is wrong with it.
pub(crate) fn decode(record: &[u8]) -> Result<(u64, Vec<Write>), String> {
    let mut rest = record;
    let version = u64::from_be_bytes(take_array(&mut rest)?);
    let count = u32::from_be_bytes(take_array(&mut rest)?);
    // Each write takes at least 5 bytes: no allocation beyond what the record can hold.
    let mut writes = Vec::with_capacity((count as usize).min(rest.len() / 5));
    for _ in 0..count {
        let [tag] = take_array(&mut rest)?;
        let key = take_bytes(&mut rest)?;
        let value = match tag {
            CLEAR => None,
            SET => Some(take_bytes(&mut rest)?),
            other => return Err(format!("unknown write tag {other}")),
        };
        writes.push((key, value));
    }
    if !rest.is_empty() {
        return Err(format!("{} bytes after the last write", rest.len()));
    }
    Ok((version, writes))
}

fn take_array<const N: usize>(rest: &mut &[u8]) -> Result<[u8; N], String> {
    let (head, tail) = rest
        .split_first_chunk::<N>()
        .ok_or_else(|| format!("cut short: {N} bytes wanted, {} left", rest.len()))?;
    *rest = tail;
    Ok(*head)
}

fn take_bytes(rest: &mut &[u8]) -> Result<Vec<u8>, String> {
    let len = u32::from_be_bytes(take_array(rest)?) as usize;
    if rest.len() < len {
        return Err(format!(
            "cut short: {len} bytes wanted, {} left",
            rest.len()
        ));
    }
    let (bytes, tail) = rest.split_at(len);
    *rest = tail;
    Ok(bytes.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Write> {
        vec![
            (b"".to_vec(), Some(b"empty key".to_vec())),
            (b"cleared".to_vec(), None),
            (vec![0, 255, 0], Some(Vec::new())),
        ]
    }

    #[test]
    fn a_record_decodes_to_what_was_encoded() {
        let record = encode(42, &sample());
        assert_eq!(decode(&record), Ok((42, sample())));
        assert_eq!(decode(&encode(7, &[])), Ok((7, Vec::new())));
    }

    #[test]
    fn every_truncation_and_any_extension_is_an_error() {
        let record = encode(42, &sample());
        for len in 0..record.len() {
            assert!(decode(&record[..len]).is_err(), "cut at {len} decoded");
        }
        let mut longer = record.clone();
        longer.push(0);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn a_bad_tag_or_a_huge_count_is_an_error() {
        let mut record = encode(1, &[(b"k".to_vec(), None)]);
        record[12] = 9;
        assert_eq!(decode(&record), Err("unknown write tag 9".to_string()));
        let mut huge = encode(1, &[]);
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(decode(&huge).is_err());
    }
}
