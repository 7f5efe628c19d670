//! Segments: immutable Parquet files of events sorted by (customer, timestamp, key).
//!
//! The schema is the store's public contract (`docs/store.md`): DuckDB, pandas and Spark
//! read these files directly.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use parcours_events::MessageType;
use parquet::basic::{Compression, Encoding, LogicalType, Repetition, TimeUnit, Type as Physical};
use parquet::column::reader::ColumnReader;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::types::{Type, TypePtr};

use crate::StoreError;
use crate::buffer::{EventBuffer, Text};
use crate::rare_texts;

/// Version of the segment schema, written in each file's metadata.
pub const SCHEMA_VERSION: &str = "1";
/// Rows per Parquet row group.
pub const ROW_GROUP_ROWS: usize = 1 << 20;
/// Values handed to the Parquet writer at a time.
const WRITE_BATCH: usize = 1 << 16;

/// Columns of a segment, in file order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Column {
    /// Customer id (`customer_id`, INT64).
    Customer,
    /// Event time (`timestamp`, TIMESTAMP millis UTC).
    Timestamp,
    /// Dedup key (`event_key`, UINT64).
    Key,
    /// Engine code of (type, event) (`event_code`, INT32).
    Code,
    /// Message type (`type`, STRING).
    Kind,
    /// A text column.
    Text(Text),
    /// Arrival time (`received_at`, TIMESTAMP millis UTC).
    ReceivedAt,
}

/// Every column, in file order.
pub const COLUMNS: [Column; 17] = [
    Column::Customer,
    Column::Timestamp,
    Column::Key,
    Column::Code,
    Column::Kind,
    Column::Text(Text::Name),
    Column::Text(Text::UserId),
    Column::Text(Text::AnonymousId),
    Column::Text(Text::Email),
    Column::Text(Text::PreviousId),
    Column::Text(Text::GroupId),
    Column::Text(Text::MessageId),
    Column::Text(Text::Properties),
    Column::Text(Text::Traits),
    Column::Text(Text::Context),
    Column::ReceivedAt,
    Column::Text(Text::Source),
];

impl Column {
    /// The column's name in the file.
    pub fn name(self) -> &'static str {
        match self {
            Column::Customer => "customer_id",
            Column::Timestamp => "timestamp",
            Column::Key => "event_key",
            Column::Code => "event_code",
            Column::Kind => "type",
            Column::ReceivedAt => "received_at",
            Column::Text(text) => match text {
                Text::Name => "event",
                Text::UserId => "user_id",
                Text::AnonymousId => "anonymous_id",
                Text::Email => "email",
                Text::PreviousId => "previous_id",
                Text::GroupId => "group_id",
                Text::MessageId => "message_id",
                Text::Properties => "properties",
                Text::Traits => "traits",
                Text::Context => "context",
                Text::Source => "source",
            },
        }
    }

    fn required(self) -> bool {
        !matches!(
            self,
            Column::Text(
                Text::UserId
                    | Text::AnonymousId
                    | Text::Email
                    | Text::PreviousId
                    | Text::GroupId
                    | Text::MessageId
                    | Text::Properties
                    | Text::Traits
                    | Text::Context
            )
        )
    }

    fn parquet_type(self) -> Type {
        let repetition = if self.required() {
            Repetition::REQUIRED
        } else {
            Repetition::OPTIONAL
        };
        let builder = match self {
            Column::Customer => Type::primitive_type_builder(self.name(), Physical::INT64),
            Column::Timestamp | Column::ReceivedAt => {
                Type::primitive_type_builder(self.name(), Physical::INT64).with_logical_type(Some(
                    LogicalType::Timestamp {
                        is_adjusted_to_u_t_c: true,
                        unit: TimeUnit::MILLIS,
                    },
                ))
            }
            Column::Key => Type::primitive_type_builder(self.name(), Physical::INT64)
                .with_logical_type(Some(LogicalType::Integer {
                    bit_width: 64,
                    is_signed: false,
                })),
            Column::Code => Type::primitive_type_builder(self.name(), Physical::INT32),
            Column::Kind | Column::Text(_) => {
                let logical = if matches!(
                    self,
                    Column::Text(Text::Properties | Text::Traits | Text::Context)
                ) {
                    LogicalType::Json
                } else {
                    LogicalType::String
                };
                Type::primitive_type_builder(self.name(), Physical::BYTE_ARRAY)
                    .with_logical_type(Some(logical))
            }
        };
        builder
            .with_repetition(repetition)
            .build()
            .expect("valid column type")
    }
}

fn schema() -> TypePtr {
    let fields = COLUMNS.iter().map(|c| Arc::new(c.parquet_type())).collect();
    Arc::new(
        Type::group_type_builder("event")
            .with_fields(fields)
            .build()
            .expect("valid schema"),
    )
}

/// What a written segment holds, for the catalog.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Number of events.
    pub rows: u64,
    /// File size.
    pub bytes: u64,
    /// Earliest event time.
    pub min_ts: i64,
    /// Latest event time.
    pub max_ts: i64,
}

pub(crate) fn parquet_error(
    path: &Path,
) -> impl Fn(parquet::errors::ParquetError) -> StoreError + '_ {
    move |source| StoreError::Parquet {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the rows of `buffer` listed in `order` (usually [`EventBuffer::sorted_order`]) to
/// a new segment at `path`, and syncs it to disk.
pub fn write_segment(
    path: &Path,
    buffer: &mut EventBuffer,
    order: &[u32],
) -> Result<SegmentInfo, StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::create(path).map_err(io)?;
    let mut properties = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .set_max_row_group_size(ROW_GROUP_ROWS)
        .set_created_by(format!("parcours {}", env!("CARGO_PKG_VERSION")))
        .set_key_value_metadata(Some(vec![parquet::file::metadata::KeyValue::new(
            "parcours.schema".to_string(),
            SCHEMA_VERSION.to_string(),
        )]));
    for column in COLUMNS {
        let name = parquet::schema::types::ColumnPath::from(column.name());
        properties = match column {
            // Sorted by customer then time: small deltas, packed tight.
            Column::Customer | Column::ReceivedAt => properties
                .set_column_dictionary_enabled(name.clone(), false)
                .set_column_encoding(name, Encoding::DELTA_BINARY_PACKED),
            // Packed deltas of times and hashed keys leave Snappy nothing to take (measured:
            // 0.0% on both): stored as they are, a scan reads them where they lie instead of
            // copying them through a decompressor, a fifth of the bytes it reads.
            Column::Timestamp => properties
                .set_column_dictionary_enabled(name.clone(), false)
                .set_column_compression(name.clone(), Compression::UNCOMPRESSED)
                .set_column_encoding(name, Encoding::DELTA_BINARY_PACKED),
            Column::Key => properties
                .set_column_dictionary_enabled(name.clone(), false)
                .set_column_compression(name.clone(), Compression::UNCOMPRESSED)
                .set_column_statistics_enabled(name, EnabledStatistics::None),
            // Few distinct values: dictionary.
            Column::Code => properties,
            // Text min/max cost a string comparison per value and prune nothing that the
            // event code's statistics do not.
            Column::Kind | Column::Text(Text::Name | Text::Source) => {
                properties.set_column_statistics_enabled(name, EnabledStatistics::None)
            }
            // JSON texts, the bulk of a segment: with LZ4 rather than Snappy the demo's
            // segments are 12% smaller, and every analysis reading `properties`, which
            // decompresses all of it, 8% faster.
            Column::Text(Text::Properties | Text::Context) => properties
                .set_column_dictionary_enabled(name.clone(), false)
                .set_column_compression(name.clone(), Compression::LZ4_RAW)
                .set_column_statistics_enabled(name, EnabledStatistics::None),
            // Nearly one value per event: a dictionary would be built, then abandoned; and
            // min/max statistics help no reader, but cost a comparison per value.
            _ => properties
                .set_column_dictionary_enabled(name.clone(), false)
                .set_column_statistics_enabled(name, EnabledStatistics::None),
        };
    }
    let mut writer = SerializedFileWriter::new(file, schema(), Arc::new(properties.build()))
        .map_err(parquet_error(path))?;
    let arena = Bytes::from(std::mem::take(&mut buffer.arena));
    // Columns are written in batches through buffers reused across batches and columns:
    // allocating a row group's worth of values per column made the kernel zero pages all day.
    let mut integers: Vec<i64> = Vec::with_capacity(WRITE_BATCH);
    let mut codes: Vec<i32> = Vec::with_capacity(WRITE_BATCH);
    let mut strings: Vec<ByteArray> = Vec::with_capacity(WRITE_BATCH);
    let mut levels: Vec<i16> = Vec::with_capacity(WRITE_BATCH);
    for rows in order.chunks(ROW_GROUP_ROWS) {
        let mut group = writer.next_row_group().map_err(parquet_error(path))?;
        for column in COLUMNS {
            let mut out = group
                .next_column()
                .map_err(parquet_error(path))?
                .expect("one writer per schema column");
            for batch in rows.chunks(WRITE_BATCH) {
                let result = match column {
                    Column::Customer | Column::Key => {
                        let source = if column == Column::Customer {
                            &buffer.customer
                        } else {
                            &buffer.key
                        };
                        integers.clear();
                        integers.extend(batch.iter().map(|&r| source[r as usize] as i64));
                        out.typed::<Int64Type>().write_batch(&integers, None, None)
                    }
                    Column::Timestamp | Column::ReceivedAt => {
                        let source = if column == Column::Timestamp {
                            &buffer.timestamp
                        } else {
                            &buffer.received_at
                        };
                        integers.clear();
                        integers.extend(batch.iter().map(|&r| source[r as usize]));
                        out.typed::<Int64Type>().write_batch(&integers, None, None)
                    }
                    Column::Code => {
                        codes.clear();
                        codes.extend(batch.iter().map(|&r| buffer.code[r as usize]));
                        out.typed::<Int32Type>().write_batch(&codes, None, None)
                    }
                    Column::Kind => {
                        strings.clear();
                        strings.extend(batch.iter().map(|&r| {
                            ByteArray::from(Bytes::from_static(
                                buffer.kind[r as usize].as_str().as_bytes(),
                            ))
                        }));
                        out.typed::<ByteArrayType>()
                            .write_batch(&strings, None, None)
                    }
                    Column::Text(field) => {
                        let spans = &buffer.texts[field as usize];
                        strings.clear();
                        levels.clear();
                        for &r in batch {
                            let span = spans[r as usize];
                            if span.is_present() {
                                let start = span.start as usize;
                                strings.push(ByteArray::from(
                                    arena.slice(start..start + span.len as usize),
                                ));
                            } else if column.required() {
                                strings.push(ByteArray::from(Bytes::new()));
                            }
                            if !column.required() {
                                levels.push(i16::from(span.is_present()));
                            }
                        }
                        let levels = (!column.required()).then_some(levels.as_slice());
                        out.typed::<ByteArrayType>()
                            .write_batch(&strings, levels, None)
                    }
                };
                result.map_err(parquet_error(path))?;
            }
            out.close().map_err(parquet_error(path))?;
        }
        group.close().map_err(parquet_error(path))?;
    }
    drop(strings);
    // The properties of the segment's rare event codes, also in the footer: see
    // `rare_texts`.
    let codes: Vec<i32> = order.iter().map(|&r| buffer.code[r as usize]).collect();
    let spans = &buffer.texts[Text::Properties as usize];
    let rare = rare_texts::entries(&codes, |row| {
        let span = spans[order[row] as usize];
        span.is_present()
            .then(|| &arena[span.start as usize..(span.start + span.len) as usize])
    });
    for entry in rare {
        writer.append_key_value_metadata(entry);
    }
    let file = writer.into_inner().map_err(parquet_error(path))?;
    // Every slice of the arena is gone with the writer: take its memory back, so a buffer
    // reused for the next segment does not fault fresh pages in.
    buffer.arena = arena.try_into_mut().map(Vec::from).unwrap_or_default();
    file.sync_all().map_err(io)?;
    let bytes = file.metadata().map_err(io)?.len();
    let (min_ts, max_ts) = order
        .iter()
        .map(|&r| buffer.timestamp[r as usize])
        .fold((i64::MAX, i64::MIN), |(lo, hi), t| (lo.min(t), hi.max(t)));
    buffer.clear();
    Ok(SegmentInfo {
        rows: order.len() as u64,
        bytes,
        min_ts,
        max_ts,
    })
}

/// Reads a segment in batches of rows, every column in step.
pub struct SegmentCursor {
    path: std::path::PathBuf,
    reader: SerializedFileReader<File>,
    group: usize,
    columns: Vec<ColumnReader>,
    remaining_in_group: usize,
}

impl SegmentCursor {
    /// Opens a segment and checks its schema.
    pub fn open(path: &Path) -> Result<SegmentCursor, StoreError> {
        let file = File::open(path).map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let reader = SerializedFileReader::new(file).map_err(parquet_error(path))?;
        let fields = reader.metadata().file_metadata().schema().get_fields();
        let names: Vec<&str> = fields.iter().map(|f| f.name()).collect();
        let expected: Vec<&str> = COLUMNS.iter().map(|c| c.name()).collect();
        if names != expected {
            return Err(StoreError::Corrupt(format!(
                "{} does not have the segment schema (columns {})",
                path.display(),
                names.join(", ")
            )));
        }
        Ok(SegmentCursor {
            path: path.to_path_buf(),
            reader,
            group: 0,
            columns: Vec::new(),
            remaining_in_group: 0,
        })
    }

    /// Number of events in the segment.
    pub fn rows(&self) -> u64 {
        self.reader.metadata().file_metadata().num_rows() as u64
    }

    /// Appends up to `max` next rows to `out`; returns how many (0 at the end).
    pub fn read_into(&mut self, out: &mut EventBuffer, max: usize) -> Result<usize, StoreError> {
        while self.remaining_in_group == 0 {
            if self.group >= self.reader.num_row_groups() {
                return Ok(0);
            }
            let group = self
                .reader
                .get_row_group(self.group)
                .map_err(parquet_error(&self.path))?;
            self.remaining_in_group = group.metadata().num_rows() as usize;
            self.columns = (0..COLUMNS.len())
                .map(|i| group.get_column_reader(i))
                .collect::<Result<_, _>>()
                .map_err(parquet_error(&self.path))?;
            self.group += 1;
        }
        let want = max.min(self.remaining_in_group);
        let path = self.path.clone();
        let short = |what: &str| {
            StoreError::Corrupt(format!("{}: column {what} ends early", path.display()))
        };
        let mut levels: Vec<i16> = Vec::with_capacity(want);
        for (index, column) in COLUMNS.iter().enumerate() {
            levels.clear();
            match (&mut self.columns[index], column) {
                (ColumnReader::Int64ColumnReader(reader), _) => {
                    let mut values = Vec::with_capacity(want);
                    let (records, _, _) = reader
                        .read_records(want, None, None, &mut values)
                        .map_err(parquet_error(&self.path))?;
                    if records != want {
                        return Err(short(column.name()));
                    }
                    match column {
                        Column::Customer => out.customer.extend(values.iter().map(|&v| v as u64)),
                        Column::Key => out.key.extend(values.iter().map(|&v| v as u64)),
                        Column::Timestamp => out.timestamp.extend(values),
                        _ => out.received_at.extend(values),
                    }
                }
                (ColumnReader::Int32ColumnReader(reader), _) => {
                    let mut values = Vec::with_capacity(want);
                    let (records, _, _) = reader
                        .read_records(want, None, None, &mut values)
                        .map_err(parquet_error(&self.path))?;
                    if records != want {
                        return Err(short(column.name()));
                    }
                    out.code.extend(values);
                }
                (ColumnReader::ByteArrayColumnReader(reader), column) => {
                    let mut values: Vec<ByteArray> = Vec::with_capacity(want);
                    let def = if column.required() {
                        None
                    } else {
                        Some(&mut levels)
                    };
                    let (records, _, _) = reader
                        .read_records(want, def, None, &mut values)
                        .map_err(parquet_error(&self.path))?;
                    if records != want {
                        return Err(short(column.name()));
                    }
                    match column {
                        Column::Kind => {
                            for value in &values {
                                let name = std::str::from_utf8(value.data()).unwrap_or("");
                                let kind = MessageType::from_name(name).ok_or_else(|| {
                                    StoreError::Corrupt(format!(
                                        "{}: unknown type {name:?}",
                                        self.path.display()
                                    ))
                                })?;
                                out.kind.push(kind);
                            }
                        }
                        Column::Text(field) => {
                            if values
                                .iter()
                                .any(|v| std::str::from_utf8(v.data()).is_err())
                            {
                                return Err(StoreError::Corrupt(format!(
                                    "{}: {} is not UTF-8",
                                    self.path.display(),
                                    column.name()
                                )));
                            }
                            if column.required() {
                                for value in &values {
                                    out.push_text(*field, Some(value.data()));
                                }
                            } else {
                                let mut present = values.iter();
                                for &level in &levels {
                                    let value = if level > 0 {
                                        present.next().map(ByteArray::data)
                                    } else {
                                        None
                                    };
                                    out.push_text(*field, value);
                                }
                            }
                        }
                        _ => unreachable!("only text columns are byte arrays"),
                    }
                }
                _ => {
                    return Err(StoreError::Corrupt(format!(
                        "{}: unexpected type for {}",
                        self.path.display(),
                        column.name()
                    )));
                }
            }
        }
        self.remaining_in_group -= want;
        Ok(want)
    }
}

/// Reads a whole segment into memory.
pub fn read_segment(path: &Path) -> Result<EventBuffer, StoreError> {
    let mut cursor = SegmentCursor::open(path)?;
    let mut buffer = EventBuffer::default();
    while cursor.read_into(&mut buffer, ROW_GROUP_ROWS)? > 0 {}
    Ok(buffer)
}

/// Writes the merged-customer map (`merged_id`, `customer_id`) as a small Parquet file, so
/// that readers of the segments can count each customer once before compaction.
pub fn write_merges(path: &Path, merges: &[(u64, u64)]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let fields = ["merged_id", "customer_id"]
        .iter()
        .map(|name| {
            Arc::new(
                Type::primitive_type_builder(name, Physical::INT64)
                    .with_repetition(Repetition::REQUIRED)
                    .build()
                    .expect("valid column type"),
            )
        })
        .collect();
    let schema = Arc::new(
        Type::group_type_builder("merge")
            .with_fields(fields)
            .build()
            .expect("valid schema"),
    );
    let file = File::create(path).map_err(io)?;
    let mut writer =
        SerializedFileWriter::new(file, schema, Arc::new(WriterProperties::builder().build()))
            .map_err(parquet_error(path))?;
    let mut group = writer.next_row_group().map_err(parquet_error(path))?;
    for column in 0..2 {
        let values: Vec<i64> = merges
            .iter()
            .map(|&(from, into)| {
                if column == 0 {
                    from as i64
                } else {
                    into as i64
                }
            })
            .collect();
        let mut out = group
            .next_column()
            .map_err(parquet_error(path))?
            .expect("two columns");
        out.typed::<Int64Type>()
            .write_batch(&values, None, None)
            .map_err(parquet_error(path))?;
        out.close().map_err(parquet_error(path))?;
    }
    group.close().map_err(parquet_error(path))?;
    writer
        .into_inner()
        .map_err(parquet_error(path))?
        .sync_all()
        .map_err(io)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use parcours_events::Event;

    fn event(i: i64) -> Event {
        Event {
            kind: if i % 3 == 0 {
                MessageType::Page
            } else {
                MessageType::Track
            },
            name: format!("e{}", i % 5),
            user_id: (i % 2 == 0).then(|| format!("u{i}")),
            anonymous_id: Some(format!("a{}", i % 7)),
            email: None,
            previous_id: None,
            group_id: None,
            message_id: (i % 4 == 0).then(|| format!("m{i}")),
            timestamp: 1_700_000_000_000 + i * 1000,
            properties: (i % 2 == 1).then(|| format!(r#"{{"i":{i},"é":"ü"}}"#)),
            traits: None,
            context: None,
            key: i as u64 * 7919,
        }
    }

    #[test]
    fn segments_round_trip_in_sorted_order() {
        let dir = std::env::temp_dir().join(format!("parcours-segment-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("seg.parquet");
        let mut buffer = EventBuffer::default();
        let events: Vec<Event> = (0..2500).map(event).collect();
        for (i, e) in events.iter().enumerate() {
            buffer.push(
                ((2500 - i) % 40) as u64,
                (i % 5) as i32,
                42,
                "test",
                e.view(),
            );
        }
        let order = buffer.sorted_order();
        let expected: Vec<(u64, Event)> = order
            .iter()
            .map(|&r| (buffer.customer[r as usize], buffer.event(r as usize)))
            .collect();
        let info = write_segment(&path, &mut buffer, &order).unwrap();
        assert_eq!(info.rows, 2500);
        assert_eq!(
            (info.min_ts, info.max_ts),
            (1_700_000_000_000, 1_700_000_000_000 + 2499 * 1000)
        );

        // Read back in uneven batches: every row equal, in order.
        let mut cursor = SegmentCursor::open(&path).unwrap();
        assert_eq!(cursor.rows(), 2500);
        let mut back = EventBuffer::default();
        while cursor.read_into(&mut back, 333).unwrap() > 0 {}
        let got: Vec<(u64, Event)> = (0..back.len())
            .map(|r| (back.customer[r], back.event(r)))
            .collect();
        assert_eq!(got, expected);
        assert!(back.received_at.iter().all(|&t| t == 42));
        assert_eq!(back.text(Text::Source, 0), Some("test"));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
