//! `parcours customers --format parquet`: one row per customer in a Parquet file, written in
//! row groups as customers arrive, then renamed into place.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use parquet::basic::Compression;
use parquet::data_type::{ByteArray, ByteArrayType, Int32Type, Int64Type};
use parquet::file::properties::WriterProperties;
use parquet::file::writer::SerializedFileWriter;
use parquet::schema::parser::parse_message_type;

use crate::output::Destination;

/// Rows kept before a row group is written.
const GROUP_ROWS: usize = 256 * 1024;

/// One customer's row.
pub struct Row {
    pub customer: u64,
    pub user_id: Option<String>,
    pub email: Option<String>,
    pub stage: Option<String>,
    pub level: u16,
    pub persona: Option<String>,
    pub segments: String,
    pub first_met: Vec<Option<i64>>,
}

/// A Parquet file being written.
pub struct CustomerParquet {
    /// Where the file goes: written beside it, then renamed into place.
    destination: Destination,
    writer: SerializedFileWriter<File>,
    rows: Vec<Row>,
    stages: usize,
}

impl CustomerParquet {
    /// Starts `path` for a journey with these stage ids.
    pub fn create(path: &Path, stage_ids: &[String]) -> anyhow::Result<CustomerParquet> {
        let mut schema = String::from(
            "message customers {
  required int64 customer;
  optional binary user_id (STRING);
  optional binary email (STRING);
  optional binary stage (STRING);
  required int32 level;
  optional binary persona (STRING);
  required binary segments (STRING);
",
        );
        for id in stage_ids {
            schema.push_str(&format!(
                "  optional int64 first_met_{id} (TIMESTAMP(MILLIS,true));\n"
            ));
        }
        schema.push('}');
        let schema = Arc::new(parse_message_type(&schema).context("the export schema")?);
        let destination = Destination::of(path, "partial")?;
        let file = File::create(destination.first())
            .with_context(|| format!("cannot create {}", destination.first().display()))?;
        let properties = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .set_created_by(format!("parcours {}", env!("CARGO_PKG_VERSION")))
            .build();
        let writer = SerializedFileWriter::new(file, schema, Arc::new(properties))?;
        Ok(CustomerParquet {
            destination,
            writer,
            rows: Vec::new(),
            stages: stage_ids.len(),
        })
    }

    /// Adds a row.
    pub fn push(&mut self, row: Row) -> anyhow::Result<()> {
        self.rows.push(row);
        if self.rows.len() >= GROUP_ROWS {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.rows.is_empty() {
            return Ok(());
        }
        let rows = std::mem::take(&mut self.rows);
        let mut group = self.writer.next_row_group()?;
        let text = |values: &mut dyn Iterator<Item = Option<&str>>| {
            let mut present = Vec::new();
            let mut levels = Vec::new();
            for v in values {
                levels.push(i16::from(v.is_some()));
                if let Some(v) = v {
                    present.push(ByteArray::from(v));
                }
            }
            (present, levels)
        };
        // Columns in schema order.
        let mut column = group.next_column()?.context("customer column")?;
        let ids: Vec<i64> = rows.iter().map(|r| r.customer as i64).collect();
        column.typed::<Int64Type>().write_batch(&ids, None, None)?;
        column.close()?;
        for pick in [
            (|r: &Row| r.user_id.as_deref()) as fn(&Row) -> Option<&str>,
            |r: &Row| r.email.as_deref(),
            |r: &Row| r.stage.as_deref(),
        ] {
            let (values, levels) = text(&mut rows.iter().map(pick));
            let mut column = group.next_column()?.context("text column")?;
            column
                .typed::<ByteArrayType>()
                .write_batch(&values, Some(&levels), None)?;
            column.close()?;
        }
        let mut column = group.next_column()?.context("level column")?;
        let levels: Vec<i32> = rows.iter().map(|r| i32::from(r.level)).collect();
        column
            .typed::<Int32Type>()
            .write_batch(&levels, None, None)?;
        column.close()?;
        let (values, levels) = text(&mut rows.iter().map(|r| r.persona.as_deref()));
        let mut column = group.next_column()?.context("persona column")?;
        column
            .typed::<ByteArrayType>()
            .write_batch(&values, Some(&levels), None)?;
        column.close()?;
        let segments: Vec<ByteArray> = rows
            .iter()
            .map(|r| ByteArray::from(r.segments.as_str()))
            .collect();
        let mut column = group.next_column()?.context("segments column")?;
        column
            .typed::<ByteArrayType>()
            .write_batch(&segments, None, None)?;
        column.close()?;
        for s in 0..self.stages {
            let present: Vec<i64> = rows.iter().filter_map(|r| r.first_met[s]).collect();
            let levels: Vec<i16> = rows
                .iter()
                .map(|r| i16::from(r.first_met[s].is_some()))
                .collect();
            let mut column = group.next_column()?.context("first_met column")?;
            column
                .typed::<Int64Type>()
                .write_batch(&present, Some(&levels), None)?;
            column.close()?;
        }
        group.close()?;
        Ok(())
    }

    /// Writes what is left, syncs and renames the file into place.
    pub fn finish(mut self) -> anyhow::Result<()> {
        self.flush()?;
        let file = self.writer.into_inner()?;
        let first = self.destination.first();
        // A device or pipe has nothing to sync.
        if let Destination::Renamed { .. } = self.destination {
            file.sync_all()
                .with_context(|| format!("cannot write {}", first.display()))?;
        }
        self.destination.finish()
    }
}
