//! The backup file format: one tenant's key range, framed and checksummed.
//!
//! ```text
//! file    = magic "CDTNTBAK" | format version (u16 LE) | header frame | data frame* | trailer frame
//! frame   = kind (u8: 'H', 'D' or 'T') | index (u32 LE, 0, 1, 2...) | length (u32 LE)
//!           | payload (length bytes) | check (first 8 bytes of SHA-256 over kind..payload)
//! header  = postcard BackupHeader: tenant, its registry entry, export time, first read
//!           version, whether the export was one consistent cut, the record counters
//! data    = read version (u64 LE) | count (u32 LE) | count x (key length u32 LE | key
//!           | value length u32 LE | value)
//! trailer = postcard BackupTrailer: data frames, pairs, key and value bytes, last read
//!           version, SHA-256 over every byte of the file before the trailer frame
//! ```
//!
//! Keys are stored relative to the tenant's prefix (the tuple-encoded UUID is cut off), so a
//! restore under another id only puts another prefix in front. Keys ascend strictly across
//! the whole file. Each frame's check names the frame that is damaged; the trailer's totals
//! and SHA-256 catch frames removed, repeated or reordered and a file cut at a frame
//! boundary. [`verify_backup`] checks a whole file held in memory without any store: the
//! fuzz target's entry point. A backup holds everything of the tenant, password hashes
//! included: keep it as secret as the store.

use std::io::{self, Read, Write};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use coditect_core::limits::{MAX_KEY_SIZE, MAX_VALUE_SIZE};
use coditect_core::value;
use coditect_core::{Error, Result};

/// The first 8 bytes of every backup file.
pub const MAGIC: [u8; 8] = *b"CDTNTBAK";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Largest frame payload accepted: more is corruption, never an allocation.
pub const MAX_FRAME_BYTES: u32 = 64 << 20;
/// Bytes of a frame's check.
const CHECK_LEN: usize = 8;
/// Bytes of a frame's head (kind, index, length).
const HEAD_LEN: usize = 9;
/// A key in the file lacks the tenant prefix: the tuple code of a UUID and its 16 bytes.
const PREFIX_LEN: usize = 17;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// The header (frame 0).
    Header,
    /// Key/value pairs.
    Data,
    /// Totals and the file's SHA-256 (the last frame).
    Trailer,
}

impl FrameKind {
    fn byte(self) -> u8 {
        match self {
            FrameKind::Header => b'H',
            FrameKind::Data => b'D',
            FrameKind::Trailer => b'T',
        }
    }

    fn from_byte(byte: u8) -> Option<Self> {
        match byte {
            b'H' => Some(FrameKind::Header),
            b'D' => Some(FrameKind::Data),
            b'T' => Some(FrameKind::Trailer),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FrameKind::Header => "header",
            FrameKind::Data => "data",
            FrameKind::Trailer => "trailer",
        }
    }
}

/// The first frame: what the backup is of.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupHeader {
    /// The tenant exported.
    pub tenant: Uuid,
    /// Its registry entry (versioned bytes of [`Tenant`](coditect_core::model::Tenant)), with the
    /// status it had before the export.
    pub entry: Vec<u8>,
    /// When the export started, milliseconds since the Unix epoch.
    pub exported_at_ms: i64,
    /// The read version of the export's first transaction.
    pub read_version: u64,
    /// Whether writers were refused for the whole export, making the file one consistent cut
    /// of the tenant; when false each data frame is consistent at its own read version only.
    pub consistent: bool,
    /// The tenant's record counters when the export started (name, value).
    pub counters: Vec<(String, i64)>,
}

/// The last frame: totals and the SHA-256 of everything before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackupTrailer {
    /// Data frames in the file.
    pub data_frames: u32,
    /// Key/value pairs in the file.
    pub records: u64,
    /// Bytes of their keys (relative to the tenant prefix).
    pub key_bytes: u64,
    /// Bytes of their values.
    pub value_bytes: u64,
    /// The read version of the export's last transaction.
    pub last_read_version: u64,
    /// SHA-256 over every byte of the file before the trailer frame.
    pub sha256: [u8; 32],
}

/// One data frame: pairs read in one transaction, keys relative to the tenant prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataFrame {
    /// The read version they were read at.
    pub read_version: u64,
    /// The pairs, in key order.
    pub pairs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What a whole, verified file holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    /// Its header.
    pub header: BackupHeader,
    /// Its trailer.
    pub trailer: BackupTrailer,
    /// Its size in bytes.
    pub file_bytes: u64,
}

fn corrupt(reason: String) -> Error {
    Error::Decode {
        what: "backup file",
        reason,
        source: None,
    }
}

fn frame_error(index: u32, kind: Option<FrameKind>, reason: &str) -> Error {
    match kind {
        Some(kind) => corrupt(format!("frame {index} ({}): {reason}", kind.name())),
        None => corrupt(format!("frame {index}: {reason}")),
    }
}

fn check_of(head: &[u8], payload: &[u8]) -> [u8; CHECK_LEN] {
    let mut hasher = Sha256::new();
    hasher.update(head);
    hasher.update(payload);
    let digest = hasher.finalize();
    let mut check = [0u8; CHECK_LEN];
    check.copy_from_slice(&digest[..CHECK_LEN]);
    check
}

fn encode_postcard<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>> {
    postcard::to_stdvec(value).map_err(|e| Error::Encode {
        what,
        source: Box::new(e),
    })
}

/// Writes a backup file: the header on creation, data frames, the trailer on
/// [`finish`](BackupWriter::finish).
pub struct BackupWriter<W: Write> {
    out: W,
    hasher: Sha256,
    next_index: u32,
    trailer: BackupTrailer,
    bytes: u64,
}

impl<W: Write> BackupWriter<W> {
    /// Starts a file on `out` with `header`.
    pub fn new(out: W, header: &BackupHeader) -> Result<Self> {
        let mut writer = BackupWriter {
            out,
            hasher: Sha256::new(),
            next_index: 0,
            trailer: BackupTrailer {
                data_frames: 0,
                records: 0,
                key_bytes: 0,
                value_bytes: 0,
                last_read_version: header.read_version,
                sha256: [0; 32],
            },
            bytes: 0,
        };
        let mut start = MAGIC.to_vec();
        start.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        writer.emit(&start, true)?;
        let payload = encode_postcard("backup header", header)?;
        writer.frame(FrameKind::Header, &payload)?;
        Ok(writer)
    }

    fn emit(&mut self, bytes: &[u8], hashed: bool) -> Result<()> {
        if hashed {
            self.hasher.update(bytes);
        }
        self.out.write_all(bytes)?;
        self.bytes += bytes.len() as u64;
        Ok(())
    }

    fn frame(&mut self, kind: FrameKind, payload: &[u8]) -> Result<()> {
        let length = u32::try_from(payload.len())
            .ok()
            .filter(|&n| n <= MAX_FRAME_BYTES)
            .ok_or_else(|| Error::InvalidInput {
                field: "chunk_bytes",
                reason: format!("a frame of {} bytes is too large", payload.len()),
            })?;
        let mut head = [0u8; HEAD_LEN];
        head[0] = kind.byte();
        head[1..5].copy_from_slice(&self.next_index.to_le_bytes());
        head[5..9].copy_from_slice(&length.to_le_bytes());
        let check = check_of(&head, payload);
        let hashed = kind != FrameKind::Trailer;
        self.emit(&head, hashed)?;
        self.emit(payload, hashed)?;
        self.emit(&check, hashed)?;
        self.next_index += 1;
        Ok(())
    }

    /// Appends one data frame of `pairs` (keys relative to the tenant prefix, ascending) read
    /// at `read_version`.
    pub fn data(&mut self, read_version: u64, pairs: &[(Vec<u8>, Vec<u8>)]) -> Result<()> {
        let size: usize = pairs.iter().map(|(k, v)| 8 + k.len() + v.len()).sum();
        let mut payload = Vec::with_capacity(12 + size);
        payload.extend_from_slice(&read_version.to_le_bytes());
        let count = u32::try_from(pairs.len()).map_err(|_| Error::InvalidInput {
            field: "chunk_records",
            reason: "more than 2^32 pairs in a frame".into(),
        })?;
        payload.extend_from_slice(&count.to_le_bytes());
        for (key, value) in pairs {
            // Keys and values are bounded by the store's limits, far below 2^32.
            payload.extend_from_slice(&(key.len() as u32).to_le_bytes());
            payload.extend_from_slice(key);
            payload.extend_from_slice(&(value.len() as u32).to_le_bytes());
            payload.extend_from_slice(value);
            self.trailer.key_bytes += key.len() as u64;
            self.trailer.value_bytes += value.len() as u64;
        }
        self.frame(FrameKind::Data, &payload)?;
        self.trailer.data_frames += 1;
        self.trailer.records += pairs.len() as u64;
        self.trailer.last_read_version = read_version;
        Ok(())
    }

    /// Writes the trailer and flushes; returns the output, the trailer and the file's size.
    pub fn finish(mut self) -> Result<(W, BackupTrailer, u64)> {
        self.trailer.sha256 = self.hasher.clone().finalize().into();
        let payload = encode_postcard("backup trailer", &self.trailer)?;
        self.frame(FrameKind::Trailer, &payload)?;
        self.out.flush()?;
        Ok((self.out, self.trailer, self.bytes))
    }
}

/// Reads a backup file frame by frame, checking every frame's check, the frame order, the
/// key order and limits, and at the end the trailer's totals and SHA-256 and that nothing
/// follows it. Any failure is [`Error::Decode`] naming the frame.
pub struct BackupReader<R: Read> {
    input: R,
    hasher: Sha256,
    next_index: u32,
    header: BackupHeader,
    seen: BackupTrailer,
    last_key: Option<Vec<u8>>,
    trailer: Option<BackupTrailer>,
    bytes: u64,
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn fill<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

struct RawFrame {
    kind: FrameKind,
    index: u32,
    payload: Vec<u8>,
}

impl<R: Read> BackupReader<R> {
    /// Opens a file: checks the magic, the format version and the header frame.
    pub fn open(mut input: R) -> Result<Self> {
        let mut start = [0u8; 10];
        let n = fill(&mut input, &mut start)?;
        if n < start.len() || start[..8] != MAGIC {
            return Err(corrupt("not a coditect tenant backup (bad magic)".into()));
        }
        let version = u16::from_le_bytes([start[8], start[9]]);
        if version != FORMAT_VERSION {
            return Err(corrupt(format!(
                "format version {version}, this build reads {FORMAT_VERSION}"
            )));
        }
        let mut hasher = Sha256::new();
        hasher.update(start);
        let mut reader = BackupReader {
            input,
            hasher,
            next_index: 0,
            header: BackupHeader {
                tenant: Uuid::nil(),
                entry: Vec::new(),
                exported_at_ms: 0,
                read_version: 0,
                consistent: false,
                counters: Vec::new(),
            },
            seen: BackupTrailer {
                data_frames: 0,
                records: 0,
                key_bytes: 0,
                value_bytes: 0,
                last_read_version: 0,
                sha256: [0; 32],
            },
            last_key: None,
            trailer: None,
            bytes: start.len() as u64,
        };
        let frame = reader.raw_frame()?;
        if frame.kind != FrameKind::Header {
            return Err(frame_error(
                0,
                Some(frame.kind),
                "the first frame must be the header",
            ));
        }
        let header: BackupHeader = value::postcard_exact("backup header", &frame.payload)
            .map_err(|_| frame_error(0, Some(FrameKind::Header), "undecodable header"))?;
        if header.tenant.is_nil() {
            return Err(frame_error(0, Some(FrameKind::Header), "nil tenant id"));
        }
        reader.header = header;
        Ok(reader)
    }

    /// The header.
    pub fn header(&self) -> &BackupHeader {
        &self.header
    }

    /// The trailer, once [`next_data`](BackupReader::next_data) has returned `None`.
    pub fn trailer(&self) -> Option<&BackupTrailer> {
        self.trailer.as_ref()
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes
    }

    fn raw_frame(&mut self) -> Result<RawFrame> {
        let index = self.next_index;
        let mut head = [0u8; HEAD_LEN];
        let n = fill(&mut self.input, &mut head)?;
        if n == 0 {
            return Err(frame_error(
                index,
                None,
                "missing: the file ends before its trailer (truncated)",
            ));
        }
        if n < HEAD_LEN {
            return Err(frame_error(index, None, "truncated inside the frame head"));
        }
        let kind = FrameKind::from_byte(head[0])
            .ok_or_else(|| frame_error(index, None, "unknown frame kind (corrupt)"))?;
        let stored_index = u32::from_le_bytes([head[1], head[2], head[3], head[4]]);
        let length = u32::from_le_bytes([head[5], head[6], head[7], head[8]]);
        if length > MAX_FRAME_BYTES {
            return Err(frame_error(
                index,
                Some(kind),
                "length out of bounds (corrupt)",
            ));
        }
        // Grows as bytes arrive: a corrupt length never allocates more than the file holds.
        let mut payload = Vec::new();
        let got = (&mut self.input)
            .take(u64::from(length))
            .read_to_end(&mut payload)?;
        let mut check = [0u8; CHECK_LEN];
        if got < length as usize || fill(&mut self.input, &mut check)? < CHECK_LEN {
            return Err(frame_error(
                index,
                Some(kind),
                "truncated (the file ends inside it)",
            ));
        }
        if check != check_of(&head, &payload) {
            return Err(frame_error(
                index,
                Some(kind),
                "checksum mismatch (corrupt)",
            ));
        }
        if stored_index != index {
            return Err(frame_error(
                index,
                Some(kind),
                &format!("holds index {stored_index}: frames missing or out of order"),
            ));
        }
        if kind != FrameKind::Trailer {
            self.hasher.update(head);
            self.hasher.update(&payload);
            self.hasher.update(check);
        }
        self.bytes += (HEAD_LEN + payload.len() + CHECK_LEN) as u64;
        self.next_index += 1;
        Ok(RawFrame {
            kind,
            index,
            payload,
        })
    }

    /// The next data frame, or `None` after the trailer was read and checked.
    pub fn next_data(&mut self) -> Result<Option<DataFrame>> {
        if self.trailer.is_some() {
            return Ok(None);
        }
        let frame = self.raw_frame()?;
        match frame.kind {
            FrameKind::Header => Err(frame_error(
                frame.index,
                Some(FrameKind::Header),
                "a second header",
            )),
            FrameKind::Data => self.data(frame.index, &frame.payload).map(Some),
            FrameKind::Trailer => {
                self.finish(frame.index, &frame.payload)?;
                Ok(None)
            }
        }
    }

    fn data(&mut self, index: u32, payload: &[u8]) -> Result<DataFrame> {
        let bad = |reason: &str| frame_error(index, Some(FrameKind::Data), reason);
        let mut rest = payload;
        let mut take = |n: usize| -> Result<&[u8]> {
            if rest.len() < n {
                return Err(bad("payload shorter than its contents (corrupt)"));
            }
            let (head, tail) = rest.split_at(n);
            rest = tail;
            Ok(head)
        };
        let u32_at = |bytes: &[u8]| u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        let mut version = [0u8; 8];
        version.copy_from_slice(take(8)?);
        let read_version = u64::from_le_bytes(version);
        let count = u32_at(take(4)?) as usize;
        // Each pair takes at least 9 bytes: a count beyond that is corruption.
        let mut pairs = Vec::with_capacity(count.min(payload.len() / 9));
        for _ in 0..count {
            let key_len = u32_at(take(4)?) as usize;
            if key_len == 0 || key_len > MAX_KEY_SIZE - PREFIX_LEN {
                return Err(bad("key length out of bounds"));
            }
            let key = take(key_len)?.to_vec();
            let value_len = u32_at(take(4)?) as usize;
            if value_len > MAX_VALUE_SIZE {
                return Err(bad("value length out of bounds"));
            }
            let value = take(value_len)?.to_vec();
            if let Some(last) = &self.last_key {
                if key <= *last {
                    return Err(bad("keys out of order"));
                }
            }
            self.last_key = Some(key.clone());
            self.seen.key_bytes += key.len() as u64;
            self.seen.value_bytes += value.len() as u64;
            pairs.push((key, value));
        }
        if !rest.is_empty() {
            return Err(bad("bytes after the last pair"));
        }
        self.seen.data_frames += 1;
        self.seen.records += pairs.len() as u64;
        self.seen.last_read_version = read_version;
        Ok(DataFrame {
            read_version,
            pairs,
        })
    }

    fn finish(&mut self, index: u32, payload: &[u8]) -> Result<()> {
        let bad = |reason: &str| frame_error(index, Some(FrameKind::Trailer), reason);
        let trailer: BackupTrailer = value::postcard_exact("backup trailer", payload)
            .map_err(|_| bad("undecodable trailer"))?;
        let sha256: [u8; 32] = self.hasher.clone().finalize().into();
        if trailer.sha256 != sha256 {
            return Err(bad("SHA-256 of the file does not match"));
        }
        let expected = BackupTrailer {
            sha256,
            last_read_version: trailer.last_read_version,
            ..self.seen
        };
        if trailer != expected {
            return Err(bad("totals do not match the frames read"));
        }
        let mut extra = [0u8; 1];
        if fill(&mut self.input, &mut extra)? != 0 {
            return Err(bad("bytes after the trailer"));
        }
        self.trailer = Some(trailer);
        Ok(())
    }
}

/// Reads and checks a whole backup from `input` (every frame's check, order, totals,
/// SHA-256) without a store.
pub fn verify_backup_from<R: Read>(input: R) -> Result<BackupSummary> {
    let mut reader = BackupReader::open(input)?;
    while reader.next_data()?.is_some() {}
    match reader.trailer {
        Some(trailer) => Ok(BackupSummary {
            header: reader.header,
            trailer,
            file_bytes: reader.bytes,
        }),
        None => Err(corrupt("no trailer".into())),
    }
}

/// Checks a whole backup held in memory, without a store: the entry point of the fuzz target.
/// Never panics on any input.
pub fn verify_backup(bytes: &[u8]) -> Result<BackupSummary> {
    verify_backup_from(bytes)
}

/// Cuts the tenant prefix off a stored key (keys of the tenant's range always have it).
pub(crate) fn relative_key(key: &[u8]) -> &[u8] {
    key.get(PREFIX_LEN..).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = BackupHeader {
            tenant: Uuid::new_v4(),
            entry: vec![1, 2, 3],
            exported_at_ms: 5,
            read_version: 7,
            consistent: true,
            counters: vec![("task".into(), 2)],
        };
        let mut writer = BackupWriter::new(Vec::new(), &header).unwrap();
        writer
            .data(
                7,
                &[(b"a".to_vec(), b"1".to_vec()), (b"b".to_vec(), vec![])],
            )
            .unwrap();
        writer.data(8, &[(b"c".to_vec(), vec![9; 300])]).unwrap();
        let (bytes, trailer, size) = writer.finish().unwrap();
        assert_eq!(size, bytes.len() as u64);
        assert_eq!(trailer.records, 3);
        bytes
    }

    #[test]
    fn a_written_file_verifies() {
        let bytes = sample();
        let summary = verify_backup(&bytes).unwrap();
        assert_eq!(summary.trailer.data_frames, 2);
        assert_eq!(summary.trailer.last_read_version, 8);
        assert_eq!(summary.header.counters, vec![("task".to_string(), 2)]);
    }

    #[test]
    fn every_flipped_byte_and_every_cut_is_refused_naming_a_frame() {
        let bytes = sample();
        for i in 0..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            let error = verify_backup(&bad).unwrap_err().to_string();
            assert!(i < 10 || error.contains("frame"), "byte {i}: {error}");
        }
        for len in 0..bytes.len() {
            let error = verify_backup(&bytes[..len]).unwrap_err().to_string();
            assert!(len < 10 || error.contains("frame"), "cut at {len}: {error}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(verify_backup(&longer).is_err());
    }
}
