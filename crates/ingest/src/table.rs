//! Parquet files as tables of events: rows read one at a time, column roles from the schema.

use std::fs::File;
use std::path::Path;

use parcours_events::tabular::Cell;
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;

/// A cell that owns its text, for rows read from Parquet.
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedCell {
    /// Null.
    Null,
    /// Text (nested values are kept as their text rendering).
    Text(String),
    /// Integer.
    Int(i64),
    /// Float.
    Float(f64),
    /// Boolean.
    Bool(bool),
    /// Timestamp, ms since 1970 UTC.
    Timestamp(i64),
}

impl OwnedCell {
    /// A borrowed view, as the tabular mapping takes it.
    pub fn as_cell(&self) -> Cell<'_> {
        match self {
            OwnedCell::Null => Cell::Null,
            OwnedCell::Text(t) => Cell::Text(t),
            OwnedCell::Int(i) => Cell::Int(*i),
            OwnedCell::Float(f) => Cell::Float(*f),
            OwnedCell::Bool(b) => Cell::Bool(*b),
            OwnedCell::Timestamp(ms) => Cell::Timestamp(*ms),
        }
    }

    fn from_field(field: &Field) -> OwnedCell {
        match field {
            Field::Null => OwnedCell::Null,
            Field::Bool(b) => OwnedCell::Bool(*b),
            Field::Byte(v) => OwnedCell::Int(i64::from(*v)),
            Field::Short(v) => OwnedCell::Int(i64::from(*v)),
            Field::Int(v) => OwnedCell::Int(i64::from(*v)),
            Field::Long(v) => OwnedCell::Int(*v),
            Field::UByte(v) => OwnedCell::Int(i64::from(*v)),
            Field::UShort(v) => OwnedCell::Int(i64::from(*v)),
            Field::UInt(v) => OwnedCell::Int(i64::from(*v)),
            Field::ULong(v) => {
                i64::try_from(*v).map_or_else(|_| OwnedCell::Text(v.to_string()), OwnedCell::Int)
            }
            Field::Float16(v) => OwnedCell::Float(f64::from(f32::from(*v))),
            Field::Float(v) => OwnedCell::Float(f64::from(*v)),
            Field::Double(v) => OwnedCell::Float(*v),
            Field::Str(s) => OwnedCell::Text(s.clone()),
            Field::Bytes(b) => OwnedCell::Text(String::from_utf8_lossy(b.data()).into_owned()),
            Field::Date(days) => OwnedCell::Timestamp(i64::from(*days) * 86_400_000),
            Field::TimestampMillis(ms) => OwnedCell::Timestamp(*ms),
            Field::TimestampMicros(us) => OwnedCell::Timestamp(us.div_euclid(1000)),
            other => OwnedCell::Text(other.to_string()),
        }
    }

    /// The cell as text, for quarantine records.
    pub fn text(&self) -> String {
        match self {
            OwnedCell::Null => String::new(),
            OwnedCell::Text(t) => t.clone(),
            OwnedCell::Int(i) => i.to_string(),
            OwnedCell::Float(f) => f.to_string(),
            OwnedCell::Bool(b) => b.to_string(),
            OwnedCell::Timestamp(ms) => parcours_events::format_timestamp(*ms),
        }
    }
}

/// Column names of a Parquet file, top-level fields in order.
pub fn parquet_header(path: &Path) -> Result<Vec<String>, String> {
    let reader = open(path)?;
    let schema = reader.metadata().file_metadata().schema();
    Ok(schema
        .get_fields()
        .iter()
        .map(|f| f.name().to_string())
        .collect())
}

fn open(path: &Path) -> Result<SerializedFileReader<File>, String> {
    let file = File::open(path).map_err(|e| e.to_string())?;
    SerializedFileReader::new(file).map_err(|e| format!("not a readable Parquet file: {e}"))
}

/// Calls `each` with chunks of (row number, cells), cells in header order. Stops early when
/// `each` returns false.
pub fn parquet_rows(
    path: &Path,
    chunk: usize,
    each: &mut dyn FnMut(Vec<(u64, Vec<OwnedCell>)>) -> bool,
) -> Result<(), String> {
    let reader = open(path)?;
    let width = reader
        .metadata()
        .file_metadata()
        .schema()
        .get_fields()
        .len();
    let mut rows = Vec::with_capacity(chunk);
    let mut number = 0u64;
    for row in reader.get_row_iter(None).map_err(|e| e.to_string())? {
        let row = row.map_err(|e| format!("row {}: {e}", number + 1))?;
        number += 1;
        let mut cells: Vec<OwnedCell> = row
            .get_column_iter()
            .map(|(_, field)| OwnedCell::from_field(field))
            .collect();
        cells.resize(width, OwnedCell::Null);
        rows.push((number, cells));
        if rows.len() == chunk && !each(std::mem::take(&mut rows)) {
            return Ok(());
        }
    }
    if !rows.is_empty() {
        each(rows);
    }
    Ok(())
}
