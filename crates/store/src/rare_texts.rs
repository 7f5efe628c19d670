//! The properties of rare events, by event code, in a segment's Parquet footer.
//!
//! Analyses read the properties of a few kinds of events (survey answers, error-like
//! events), scattered among every customer's history. In the `properties` column they sit in
//! every page, so that reading them meant decompressing the whole column: a fifth of an
//! analysis spent on texts it dropped. A segment therefore also keeps, in its footer's
//! key-value metadata, the properties of each event code that is rare in it (at most one row
//! in [`RARE_SHARE`]), one entry per code. A scan that wants the properties of rare codes
//! only reads those entries and leaves the column alone.
//!
//! The column stays whole, so any Parquet reader sees every property; the entries are a
//! copy of a few percent of it. A segment without them (written before them) is read from
//! the column.
//!
//! An entry is the base64 text of the LZ4 block (size prepended) of, per row with
//! properties in row order: the row's distance from the previous one (the first: from row
//! 0) and the text's length, as LEB128 varints, then the text's bytes.

use std::collections::BTreeMap;

use parquet::file::metadata::KeyValue;

use crate::text_pages::TextBatch;

/// A code is rare in a segment when at most one row in this many has it.
pub const RARE_SHARE: usize = 100;

/// Marks a segment holding the entries; its value lists the codes that are not rare in it
/// (comma-separated), whose properties only the column holds.
const FREQUENT_KEY: &str = "parcours.rare_properties.frequent_codes";

/// Prefix of the key of one rare code's entry (the code follows, in decimal).
const CODE_KEY: &str = "parcours.rare_properties.code.";

/// The key-value entries of a segment whose rows are, in file order, `codes[i]` with the
/// properties `texts(i)`.
pub(crate) fn entries<'t>(
    codes: &[i32],
    texts: impl Fn(usize) -> Option<&'t [u8]>,
) -> Vec<KeyValue> {
    // Ordered by code, so that a segment's footer does not depend on hashing.
    let mut counts: BTreeMap<i32, usize> = BTreeMap::new();
    for &code in codes {
        *counts.entry(code).or_default() += 1;
    }
    let rare = |code: &i32| counts[code] * RARE_SHARE <= codes.len();
    let frequent: Vec<String> = counts
        .keys()
        .filter(|code| !rare(code))
        .map(i32::to_string)
        .collect();
    // Per rare code: its payload and the row of its last entry.
    let mut payloads: BTreeMap<i32, (Vec<u8>, usize)> = BTreeMap::new();
    for (row, code) in codes.iter().enumerate() {
        if !rare(code) {
            continue;
        }
        let Some(text) = texts(row) else {
            continue;
        };
        let (payload, previous) = payloads.entry(*code).or_default();
        put_varint(payload, (row - *previous) as u64);
        put_varint(payload, text.len() as u64);
        payload.extend_from_slice(text);
        *previous = row;
    }
    let mut out = vec![KeyValue::new(FREQUENT_KEY.to_string(), frequent.join(","))];
    for (code, (payload, _)) in payloads {
        let block = lz4_flex::block::compress_prepend_size(&payload);
        out.push(KeyValue::new(
            format!("{CODE_KEY}{code}"),
            base64_encode(&block),
        ));
    }
    out
}

/// The properties of some rare codes in one segment, by row.
#[derive(Debug, Default)]
pub(crate) struct RareTexts {
    /// File rows with properties, ascending.
    rows: Vec<u64>,
    /// Where each row's text ends in `data`.
    ends: Vec<u32>,
    data: Vec<u8>,
}

impl RareTexts {
    /// The properties of the `wanted` codes (indexed by code) in a segment with metadata
    /// `metadata`; `None` when the segment has no entries or a wanted code is frequent in it
    /// (the column must be read then).
    pub(crate) fn read(
        metadata: &[KeyValue],
        wanted: &[bool],
    ) -> Result<Option<RareTexts>, String> {
        let is_wanted = |code: i64| {
            usize::try_from(code)
                .ok()
                .and_then(|c| wanted.get(c))
                .copied()
                .unwrap_or(false)
        };
        let Some(frequent) = metadata.iter().find(|kv| kv.key == FREQUENT_KEY) else {
            return Ok(None);
        };
        for code in frequent.value.as_deref().unwrap_or("").split(',') {
            if code.is_empty() {
                continue;
            }
            let code: i64 = code
                .parse()
                .map_err(|_| format!("{FREQUENT_KEY} lists {code:?}, not a code"))?;
            if is_wanted(code) {
                return Ok(None);
            }
        }
        let mut found: Vec<(u64, &[u8])> = Vec::new();
        let mut payloads = Vec::new();
        for kv in metadata {
            let Some(code) = kv.key.strip_prefix(CODE_KEY) else {
                continue;
            };
            let code: i64 = code
                .parse()
                .map_err(|_| format!("{}: not a code", kv.key))?;
            if !is_wanted(code) {
                continue;
            }
            let block = base64_decode(kv.value.as_deref().unwrap_or(""))
                .ok_or_else(|| format!("{}: not base64", kv.key))?;
            let payload = lz4_flex::block::decompress_size_prepended(&block)
                .map_err(|e| format!("{}: {e}", kv.key))?;
            payloads.push((kv.key.as_str(), payload));
        }
        for (key, payload) in &payloads {
            let mut at = 0;
            let mut row = 0u64;
            while at < payload.len() {
                let damaged = || format!("{key}: an entry runs past its end");
                row += get_varint(payload, &mut at).ok_or_else(damaged)?;
                let len = get_varint(payload, &mut at).ok_or_else(damaged)? as usize;
                let text = payload.get(at..at + len).ok_or_else(damaged)?;
                found.push((row, text));
                at += len;
            }
        }
        found.sort_by_key(|&(row, _)| row);
        let mut texts = RareTexts::default();
        for (row, text) in found {
            texts.rows.push(row);
            texts.data.extend_from_slice(text);
            texts.ends.push(texts.data.len() as u32);
        }
        Ok(Some(texts))
    }

    /// Appends to `out` the values of `count` consecutive file rows from `first`, absent
    /// where a row has none.
    pub(crate) fn fill(&self, first: u64, count: usize, out: &mut TextBatch) {
        let mut next = self.rows.partition_point(|&r| r < first);
        let end = first + count as u64;
        let mut row = first;
        while let Some(&at) = self.rows.get(next).filter(|&&r| r < end) {
            let blank = out.data.len() as u32;
            out.ends
                .extend(std::iter::repeat_n(blank, (at - row) as usize));
            let start = if next == 0 { 0 } else { self.ends[next - 1] };
            out.push(&self.data[start as usize..self.ends[next] as usize]);
            row = at + 1;
            next += 1;
        }
        let blank = out.data.len() as u32;
        out.ends
            .extend(std::iter::repeat_n(blank, (end - row) as usize));
    }
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(data: &[u8], at: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*at)?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Some(value);
        }
    }
    None
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 with padding: footer values are texts.
fn base64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.as_bytes();
    if !text.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(text.len() / 4 * 3);
    for (index, quad) in text.chunks(4).enumerate() {
        let last = index + 1 == text.len() / 4;
        let padding = quad.iter().rev().take_while(|&&c| c == b'=').count();
        if padding > 2 || (padding > 0 && !last) {
            return None;
        }
        let mut n = 0u32;
        for (i, &c) in quad[..4 - padding].iter().enumerate() {
            let value = ALPHABET.iter().position(|&a| a == c)? as u32;
            n |= value << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..4 - padding]);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn batch_of(texts: &RareTexts, first: u64, count: usize) -> Vec<Vec<u8>> {
        let mut out = TextBatch::default();
        texts.fill(first, count, &mut out);
        assert_eq!(out.len(), count);
        (0..count).map(|i| out.bytes(i).to_vec()).collect()
    }

    #[test]
    fn base64_round_trips_every_length() {
        for len in 0..40 {
            let bytes: Vec<u8> = (0..len).map(|i| (i * 37 + 11) as u8).collect();
            let text = base64_encode(&bytes);
            assert_eq!(base64_decode(&text), Some(bytes), "length {len}");
        }
        assert_eq!(base64_encode(b"Man"), "TWFu");
        assert_eq!(base64_encode(b"Ma"), "TWE=");
        assert_eq!(base64_decode("TW=u"), None);
        assert_eq!(base64_decode("TWF"), None);
    }

    #[test]
    fn a_wanted_frequent_code_sends_the_scan_to_the_column() {
        // Code 1 on every row but one; code 2 once in 200 rows.
        let codes: Vec<i32> = (0..200).map(|i| if i == 7 { 2 } else { 1 }).collect();
        let entries = entries(&codes, |_| Some(&b"{}"[..]));
        let wanted = |codes: &[usize]| {
            let mut w = vec![false; 3];
            for &c in codes {
                w[c] = true;
            }
            w
        };
        assert!(RareTexts::read(&entries, &wanted(&[1])).unwrap().is_none());
        assert!(
            RareTexts::read(&entries, &wanted(&[1, 2]))
                .unwrap()
                .is_none()
        );
        let rare = RareTexts::read(&entries, &wanted(&[2]))
            .unwrap()
            .expect("rare");
        assert_eq!(rare.rows, vec![7]);
        assert!(
            RareTexts::read(&[], &wanted(&[2])).unwrap().is_none(),
            "no entries"
        );
    }

    #[test]
    fn damaged_entries_are_errors() {
        let codes: Vec<i32> = (0..200).map(|i| if i == 7 { 2 } else { 1 }).collect();
        let mut entries = entries(&codes, |_| Some(&b"{\"a\":1}"[..]));
        let entry = entries
            .iter_mut()
            .find(|kv| kv.key.ends_with(".2"))
            .unwrap();
        entry.value = Some("not base64!".to_string());
        let error = RareTexts::read(&entries, &[false, false, true]).unwrap_err();
        assert!(error.contains("not base64"), "{error}");
    }

    proptest! {
        /// Whatever the rows, codes and texts, the rare codes' properties read back are the
        /// segment's, row for row, in any window of rows.
        #[test]
        fn rare_properties_read_back_row_for_row(
            rows in prop::collection::vec((0i32..6, prop::option::of("[a-zé{}\":0-9]{0,12}")), 1..400),
            window in (0usize..400, 0usize..400),
        ) {
            // Code 0 fills most rows, so that the others are rare.
            let mut codes: Vec<i32> = rows.iter().map(|(c, _)| *c).collect();
            codes.extend(std::iter::repeat_n(0, rows.len() * RARE_SHARE));
            let text = |row: usize| rows.get(row).and_then(|(_, t)| t.as_deref()).map(str::as_bytes);
            let entries = entries(&codes, text);
            let wanted = vec![false, true, true, true, true, true];
            let rare = RareTexts::read(&entries, &wanted).unwrap().expect("rare codes only");
            let first = window.0.min(rows.len());
            let count = window.1.min(rows.len() - first);
            let got = batch_of(&rare, first as u64, count);
            for (i, value) in got.iter().enumerate() {
                let row = first + i;
                let expected = match &rows[row] {
                    (code, Some(t)) if *code != 0 => t.as_bytes().to_vec(),
                    _ => Vec::new(),
                };
                prop_assert_eq!(value, &expected, "row {}", row);
            }
        }
    }
}
