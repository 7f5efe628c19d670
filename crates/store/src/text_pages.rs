//! Text columns read page by page, straight into contiguous buffers.
//!
//! The generic Parquet column reader hands out one reference-counted slice per value, which
//! an analysis then copies into an owned string: at a hundred million events that was most
//! of a scan's time. Here a page's values are located once (offsets into the decompressed
//! page or its dictionary) and copied as bytes into a [`TextBatch`]; pages wholly outside
//! what a partial scan needs are skipped without being decompressed.

use bytes::Bytes;
use parquet::basic::Encoding;
use parquet::column::page::{Page, PageReader};

/// Text values of consecutive rows in one buffer; an absent value is an empty one.
#[derive(Debug, Default, Clone)]
pub struct TextBatch {
    /// The values' bytes, one after the other.
    pub data: Vec<u8>,
    /// Where each row's value ends in `data`.
    pub ends: Vec<u32>,
}

impl TextBatch {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// True without rows.
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// Forgets every row, keeping the buffers.
    pub fn clear(&mut self) {
        self.data.clear();
        self.ends.clear();
    }

    /// The bytes of row `row`.
    pub fn bytes(&self, row: usize) -> &[u8] {
        let start = if row == 0 { 0 } else { self.ends[row - 1] };
        &self.data[start as usize..self.ends[row] as usize]
    }

    /// Appends a value.
    pub fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.ends.push(self.data.len() as u32);
    }

    /// Appends rows `rows` of `other`, in one copy.
    pub fn extend_rows(&mut self, other: &TextBatch, rows: std::ops::Range<usize>) {
        if rows.is_empty() {
            return;
        }
        let from = if rows.start == 0 {
            0
        } else {
            other.ends[rows.start - 1]
        };
        let to = other.ends[rows.end - 1];
        let shift = self.data.len() as i64 - from as i64;
        self.data
            .extend_from_slice(&other.data[from as usize..to as usize]);
        self.ends.extend(
            other.ends[rows]
                .iter()
                .map(|&end| (end as i64 + shift) as u32),
        );
    }
}

/// Why a text column could not be read.
#[derive(Debug)]
pub(crate) enum PageError {
    Parquet(parquet::errors::ParquetError),
    Format(String),
}

impl From<parquet::errors::ParquetError> for PageError {
    fn from(error: parquet::errors::ParquetError) -> Self {
        PageError::Parquet(error)
    }
}

fn format<T>(message: impl Into<String>) -> Result<T, PageError> {
    Err(PageError::Format(message.into()))
}

/// One optional, non-repeated BYTE_ARRAY column chunk, read row by row.
pub(crate) struct TextPages {
    pages: Box<dyn PageReader>,
    dictionary: Option<(Bytes, Vec<(u32, u32)>)>,
    /// Decompressed bytes the current page's spans point into (the page or the dictionary).
    source: Bytes,
    /// Start and end of each row's value in `source`; absent values are empty.
    spans: Vec<(u32, u32)>,
    next: usize,
    /// Scratch for decoded levels, dictionary indices and the spans of present values,
    /// reused from page to page: fresh ones had the kernel zeroing pages for every page.
    levels: Vec<u32>,
    indices: Vec<u32>,
    located: Vec<(u32, u32)>,
}

impl TextPages {
    /// Reads the column chunk behind `pages`.
    pub(crate) fn new(pages: Box<dyn PageReader>) -> TextPages {
        TextPages {
            pages,
            dictionary: None,
            source: Bytes::new(),
            spans: Vec::new(),
            next: 0,
            levels: Vec::new(),
            indices: Vec::new(),
            located: Vec::new(),
        }
    }

    /// Appends the next `rows` rows to `out`.
    pub(crate) fn read(&mut self, rows: usize, out: &mut TextBatch) -> Result<(), PageError> {
        self.read_where(rows, out, |_| true)
    }

    /// Appends the next `rows` rows to `out`, those for which `keep(row)` (counted from 0)
    /// is false as absent values.
    pub(crate) fn read_where(
        &mut self,
        rows: usize,
        out: &mut TextBatch,
        mut keep: impl FnMut(usize) -> bool,
    ) -> Result<(), PageError> {
        let mut row = 0;
        while row < rows {
            if self.next == self.spans.len() && !self.load_page()? {
                return format("the column ends before the other columns");
            }
            let take = (rows - row).min(self.spans.len() - self.next);
            let source = &self.source[..];
            for &(start, end) in &self.spans[self.next..self.next + take] {
                if keep(row) {
                    out.data
                        .extend_from_slice(&source[start as usize..end as usize]);
                }
                out.ends.push(out.data.len() as u32);
                row += 1;
            }
            self.next += take;
        }
        Ok(())
    }

    /// Passes over the next `rows` rows; whole pages among them are not decompressed.
    pub(crate) fn skip(&mut self, mut rows: usize) -> Result<(), PageError> {
        while rows > 0 {
            if self.next < self.spans.len() {
                let take = rows.min(self.spans.len() - self.next);
                self.next += take;
                rows -= take;
                continue;
            }
            match self.pages.peek_next_page()? {
                Some(meta) if !meta.is_dict && meta.num_levels.is_some_and(|n| n <= rows) => {
                    rows -= meta.num_levels.unwrap_or(0);
                    self.pages.skip_next_page()?;
                }
                _ => {
                    if !self.load_page()? {
                        return format("the column ends before the other columns");
                    }
                }
            }
        }
        Ok(())
    }

    /// Decodes the next data page (reading a dictionary page on the way); false at the end.
    fn load_page(&mut self) -> Result<bool, PageError> {
        loop {
            let Some(page) = self.pages.get_next_page()? else {
                return Ok(false);
            };
            let (buf, num_values, encoding, levels_len) = match page {
                Page::DictionaryPage {
                    buf,
                    num_values,
                    encoding,
                    ..
                } => {
                    if !matches!(encoding, Encoding::PLAIN | Encoding::PLAIN_DICTIONARY) {
                        return format(format!("dictionary page encoded as {encoding}"));
                    }
                    let mut spans = Vec::with_capacity(num_values as usize);
                    plain_spans(&buf, 0, num_values as usize, |span| spans.push(span))?;
                    self.dictionary = Some((buf, spans));
                    continue;
                }
                Page::DataPage {
                    buf,
                    num_values,
                    encoding,
                    def_level_encoding,
                    ..
                } => {
                    if def_level_encoding != Encoding::RLE {
                        return format(format!("levels encoded as {def_level_encoding}"));
                    }
                    let Some(prefix) = buf.get(..4) else {
                        return format("a data page too short for its levels");
                    };
                    let len = u32::from_le_bytes(prefix.try_into().expect("4 bytes")) as usize;
                    (buf, num_values, encoding, (4, len))
                }
                Page::DataPageV2 {
                    buf,
                    num_values,
                    encoding,
                    def_levels_byte_len,
                    rep_levels_byte_len,
                    ..
                } => {
                    if rep_levels_byte_len != 0 {
                        return format("a repeated text column");
                    }
                    (buf, num_values, encoding, (0, def_levels_byte_len as usize))
                }
            };
            let rows = num_values as usize;
            let (skip, len) = levels_len;
            let Some(level_bytes) = buf.get(skip..skip + len) else {
                return format("definition levels run past the page");
            };
            self.levels.clear();
            hybrid(level_bytes, 1, rows, &mut self.levels)?;
            let present = self.levels.iter().filter(|&&l| l > 0).count();
            let values_at = skip + len;
            self.spans.clear();
            self.next = 0;
            match encoding {
                Encoding::PLAIN if present == rows => {
                    plain_spans(&buf, values_at, present, |span| self.spans.push(span))?;
                    self.source = buf;
                }
                Encoding::PLAIN => {
                    self.located.clear();
                    plain_spans(&buf, values_at, present, |span| self.located.push(span))?;
                    let mut located = self.located.iter().copied();
                    for &level in &self.levels {
                        self.spans
                            .push(if level > 0 { located.next() } else { None }.unwrap_or((0, 0)));
                    }
                    self.source = buf;
                }
                Encoding::PLAIN_DICTIONARY | Encoding::RLE_DICTIONARY => {
                    let Some((dictionary, entries)) = &self.dictionary else {
                        return format("a dictionary-encoded page without a dictionary");
                    };
                    let Some(&width) = buf.get(values_at) else {
                        return format("a dictionary-encoded page without indices");
                    };
                    self.indices.clear();
                    hybrid(
                        &buf[values_at + 1..],
                        u32::from(width),
                        present,
                        &mut self.indices,
                    )?;
                    let mut indices = self.indices.iter();
                    for &level in &self.levels {
                        let span = if level > 0 {
                            let index = *indices.next().unwrap_or(&u32::MAX) as usize;
                            match entries.get(index) {
                                Some(&span) => span,
                                None => return format("a dictionary index out of range"),
                            }
                        } else {
                            (0, 0)
                        };
                        self.spans.push(span);
                    }
                    self.source = dictionary.clone();
                }
                other => return format(format!("text values encoded as {other}")),
            }
            return Ok(true);
        }
    }
}

/// Locates `count` PLAIN byte arrays (4-byte length, then bytes) from `at` in `buf`.
fn plain_spans(
    buf: &[u8],
    mut at: usize,
    count: usize,
    mut each: impl FnMut((u32, u32)),
) -> Result<(), PageError> {
    for _ in 0..count {
        let Some(prefix) = buf.get(at..at + 4) else {
            return format("a value runs past its page");
        };
        let len = u32::from_le_bytes(prefix.try_into().expect("4 bytes")) as usize;
        let start = at + 4;
        let end = start + len;
        if end > buf.len() {
            return format("a value runs past its page");
        }
        each((start as u32, end as u32));
        at = end;
    }
    Ok(())
}

/// Decodes `count` values of the RLE / bit-packed hybrid encoding at `width` bits.
fn hybrid(data: &[u8], width: u32, count: usize, out: &mut Vec<u32>) -> Result<(), PageError> {
    if width > 32 {
        return format(format!("a bit width of {width}"));
    }
    let target = out.len() + count;
    let mut at = 0usize;
    let value_bytes = width.div_ceil(8) as usize;
    while out.len() < target {
        let mut header = 0u64;
        let mut shift = 0;
        loop {
            let Some(&byte) = data.get(at) else {
                return format("levels or indices end early");
            };
            at += 1;
            header |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                break;
            }
            shift += 7;
            if shift > 63 {
                return format("an over-long run header");
            }
        }
        if header & 1 == 1 {
            // Bit-packed: groups of 8 values, least significant bit first.
            let values = (header >> 1) as usize * 8;
            let bytes = values * width as usize / 8;
            let Some(packed) = data.get(at..at + bytes) else {
                return format("a bit-packed run past the end");
            };
            at += bytes;
            let mask = if width == 32 {
                u32::MAX
            } else {
                (1u32 << width) - 1
            };
            let mut bits = 0u64;
            let mut held = 0u32;
            let mut bytes = packed.iter();
            for _ in 0..values.min(target - out.len()) {
                while held < width {
                    bits |= u64::from(*bytes.next().unwrap_or(&0)) << held;
                    held += 8;
                }
                out.push(bits as u32 & mask);
                bits >>= width;
                held -= width;
            }
        } else {
            let run = (header >> 1) as usize;
            let Some(raw) = data.get(at..at + value_bytes) else {
                return format("a repeated run past the end");
            };
            at += value_bytes;
            let mut value = 0u32;
            for (i, &byte) in raw.iter().enumerate() {
                value |= u32::from(byte) << (8 * i);
            }
            let run = run.min(target - out.len());
            out.extend(std::iter::repeat_n(value, run));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parquet::data_type::{ByteArray, ByteArrayType};
    use parquet::file::properties::{WriterProperties, WriterVersion};
    use parquet::file::reader::{FileReader, SerializedFileReader};
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    /// Writes `values` as one optional text column with the given page settings.
    fn column_file(
        values: &[Option<String>],
        version: WriterVersion,
        dictionary: bool,
        encoding: Encoding,
    ) -> Bytes {
        let schema = Arc::new(
            parquet::schema::parser::parse_message_type(
                "message m { optional binary v (STRING); }",
            )
            .unwrap(),
        );
        let properties = WriterProperties::builder()
            .set_writer_version(version)
            .set_dictionary_enabled(dictionary)
            .set_encoding(encoding)
            .set_data_page_row_count_limit(97)
            .set_write_batch_size(31)
            .set_compression(parquet::basic::Compression::SNAPPY)
            .build();
        let mut out = Vec::new();
        let mut writer = SerializedFileWriter::new(&mut out, schema, Arc::new(properties)).unwrap();
        let mut group = writer.next_row_group().unwrap();
        let mut column = group.next_column().unwrap().unwrap();
        let levels: Vec<i16> = values.iter().map(|v| i16::from(v.is_some())).collect();
        let present: Vec<ByteArray> = values
            .iter()
            .flatten()
            .map(|v| ByteArray::from(v.as_str()))
            .collect();
        column
            .typed::<ByteArrayType>()
            .write_batch(&present, Some(&levels), None)
            .unwrap();
        column.close().unwrap();
        group.close().unwrap();
        writer.close().unwrap();
        Bytes::from(out)
    }

    #[test]
    fn every_page_layout_reads_back_with_reads_filtered_reads_and_skips_mixed() {
        let values: Vec<Option<String>> = (0..3000)
            .map(|i| match i % 7 {
                0 => None,
                1 => Some(String::new()),
                2 => Some(format!("étape-{}", i % 5)),
                _ => Some(format!("{{\"n\":{i}}}")),
            })
            .collect();
        for version in [WriterVersion::PARQUET_1_0, WriterVersion::PARQUET_2_0] {
            for dictionary in [false, true] {
                let file = column_file(&values, version, dictionary, Encoding::PLAIN);
                let reader = SerializedFileReader::new(file).unwrap();
                let group = reader.get_row_group(0).unwrap();
                let mut pages = TextPages::new(group.get_column_page_reader(0).unwrap());
                let mut batch = TextBatch::default();
                let mut expected = Vec::new();
                let (mut row, mut step) = (0usize, 1usize);
                while row < values.len() {
                    step = (step * 7 + 3) % 251 + 1;
                    let n = step.min(values.len() - row);
                    if step % 3 == 0 {
                        pages.skip(n).unwrap();
                    } else if step % 3 == 1 {
                        // Every other row kept, counted from the batch's first row.
                        pages.read_where(n, &mut batch, |r| r % 2 == 0).unwrap();
                        expected.extend(values[row..row + n].iter().enumerate().map(|(r, v)| {
                            if r % 2 == 0 {
                                v.clone().unwrap_or_default()
                            } else {
                                String::new()
                            }
                        }));
                    } else {
                        pages.read(n, &mut batch).unwrap();
                        expected.extend(
                            values[row..row + n]
                                .iter()
                                .map(|v| v.clone().unwrap_or_default()),
                        );
                    }
                    row += n;
                }
                assert!(pages.read(1, &mut batch).is_err(), "reading past the end");
                let read: Vec<String> = (0..expected.len())
                    .map(|r| String::from_utf8(batch.bytes(r).to_vec()).unwrap())
                    .collect();
                assert_eq!(read, expected, "{version:?}, dictionary {dictionary}");
            }
        }
    }

    #[test]
    fn encodings_parcours_never_writes_are_named_in_the_error() {
        let values = vec![Some("a".to_string()); 10];
        let file = column_file(
            &values,
            WriterVersion::PARQUET_2_0,
            false,
            Encoding::DELTA_BYTE_ARRAY,
        );
        let reader = SerializedFileReader::new(file).unwrap();
        let group = reader.get_row_group(0).unwrap();
        let mut pages = TextPages::new(group.get_column_page_reader(0).unwrap());
        let mut batch = TextBatch::default();
        match pages.read(10, &mut batch) {
            Err(PageError::Format(message)) => assert!(message.contains("DELTA_BYTE_ARRAY")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn hybrid_reads_repeated_and_bit_packed_runs() {
        // A run of 3 ones, then 8 bit-packed values at width 1: 1,0,1,1,0,0,0,1.
        let data = [0b0000_0110, 1, 0b0000_0011, 0b1000_1101];
        let mut out = Vec::new();
        hybrid(&data, 1, 11, &mut out).unwrap();
        assert_eq!(out, [1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn hybrid_reads_wide_values_across_bytes() {
        // 8 values of 3 bits: 0..8, bit-packed in 3 bytes.
        let mut packed = 0u32;
        for v in 0..8u32 {
            packed |= v << (3 * v);
        }
        let bytes = packed.to_le_bytes();
        let data = [0b0000_0011, bytes[0], bytes[1], bytes[2]];
        let mut out = Vec::new();
        hybrid(&data, 3, 8, &mut out).unwrap();
        assert_eq!(out, (0..8).collect::<Vec<_>>());
    }

    #[test]
    fn truncated_runs_are_errors_not_panics() {
        let mut out = Vec::new();
        assert!(hybrid(&[0b0000_0011], 1, 8, &mut out).is_err());
        assert!(hybrid(&[0x80], 1, 1, &mut out).is_err());
        assert!(plain_spans(&[5, 0, 0, 0, b'a'], 0, 1, |_| {}).is_err());
    }

    #[test]
    fn batches_copy_row_ranges_with_their_offsets() {
        let mut a = TextBatch::default();
        for v in ["ab", "", "cde", "f"] {
            a.push(v.as_bytes());
        }
        let mut b = TextBatch::default();
        b.push(b"zz");
        b.extend_rows(&a, 1..4);
        assert_eq!(b.len(), 4);
        let rows: Vec<&[u8]> = (0..4).map(|r| b.bytes(r)).collect();
        assert_eq!(rows, [&b"zz"[..], b"", b"cde", b"f"]);
    }
}
