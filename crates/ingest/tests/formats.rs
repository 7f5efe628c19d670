//! Every input format imports, and identities stitch the way the rules say.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parcours_events::IdKind;
use parcours_events::tabular::Role;
use parcours_ingest::{Format, IngestOptions, ingest_file};
use parcours_store::{Store, read_segment, segments, stats};

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("parcours-ingest-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// (customer, event name) of every stored event, merged ids resolved, sorted.
fn stored(data: &Path) -> Vec<(u64, String)> {
    let merged = parcours_store::merged_customers(data).unwrap();
    let mut rows = Vec::new();
    for entry in segments(data).unwrap() {
        let buffer = read_segment(&entry.path).unwrap();
        for r in 0..buffer.len() {
            let c = buffer.customer[r];
            rows.push((*merged.get(&c).unwrap_or(&c), buffer.event(r).name));
        }
    }
    rows.sort();
    rows
}

fn customer(data: &Path, kind: IdKind, value: &str) -> u64 {
    parcours_store::customer_by_identifier(data, kind, value)
        .unwrap()
        .unwrap_or_else(|| panic!("no customer for {value}"))
        .id
}

#[test]
fn segment_batch_with_identify_and_alias_stitches_pre_identification_events() {
    let dir = scratch("batch");
    let data = dir.join("data");
    let file = write(
        &dir,
        "batch.json",
        r#"{
  "sentAt": "2026-03-01T10:00:00Z",
  "batch": [
    {"type": "page", "name": "Accueil", "anonymousId": "anon-1", "messageId": "m1", "timestamp": "2026-03-01T09:00:00Z"},
    {"type": "track", "event": "product_view", "anonymousId": "anon-1", "messageId": "m2", "timestamp": "2026-03-01T09:01:00Z", "properties": {"sku": "A1"}},
    {"type": "identify", "userId": "ana", "anonymousId": "anon-1", "messageId": "m3", "timestamp": "2026-03-01T09:02:00Z", "traits": {"email": "ana@example.com", "plan": "pro"}},
    {"type": "track", "event": "purchase", "userId": "ana", "messageId": "m4", "timestamp": "2026-03-01T09:03:00Z"},
    {"type": "track", "event": "signup", "userId": "ana-old", "messageId": "m5", "timestamp": "2026-02-01T09:00:00Z"},
    {"type": "alias", "previousId": "ana-old", "userId": "ana", "messageId": "m6", "timestamp": "2026-03-01T09:04:00Z"},
    {"type": "group", "groupId": "acme", "userId": "ana", "messageId": "m7", "timestamp": "2026-03-01T09:05:00Z"}
  ],
  "context": {"library": {"name": "analytics-python"}}
}"#,
    );
    let mut store = Store::open(&data).unwrap();
    let report = ingest_file(&mut store, &file, &IngestOptions::new(&data)).unwrap();
    assert_eq!(report.format, Format::Json);
    assert_eq!(
        (
            report.records,
            report.summary.accepted,
            report.summary.rejected
        ),
        (7, 7, 0)
    );
    drop(store);
    // Anonymous visits before identify, and the old user id's history, are all Ana's.
    let ana = customer(&data, IdKind::User, "ana");
    assert_eq!(customer(&data, IdKind::Anonymous, "anon-1"), ana);
    assert_eq!(customer(&data, IdKind::User, "ana-old"), ana);
    assert_eq!(customer(&data, IdKind::Email, "ana@example.com"), ana);
    let events = stored(&data);
    assert_eq!(events.len(), 7);
    assert!(events.iter().all(|(c, _)| *c == ana), "{events:?}");
    assert_eq!(stats(&data).unwrap().customers, 1);
    let profile = parcours_store::customer_by_identifier(&data, IdKind::User, "ana")
        .unwrap()
        .unwrap();
    assert_eq!(profile.traits["plan"], "pro");
}

#[test]
fn ndjson_and_json_arrays() {
    let dir = scratch("json");
    let data = dir.join("data");
    let lines: Vec<String> = (0..50)
        .map(|i| format!(r#"{{"type":"track","event":"view","userId":"u{}","timestamp":"2026-03-01T09:{:02}:00Z"}}"#, i % 5, i))
        .collect();
    let ndjson = write(&dir, "events.jsonl", &lines.join("\n"));
    let array = write(
        &dir,
        "export.json",
        &format!("[\n{}\n]", lines[..10].join(",\n")),
    );
    let mut store = Store::open(&data).unwrap();
    let first = ingest_file(&mut store, &ndjson, &IngestOptions::new(&data)).unwrap();
    assert_eq!(
        (
            first.format,
            first.summary.accepted,
            first.summary.new_customers
        ),
        (Format::Ndjson, 50, 5)
    );
    // The array repeats ten of the same events: nothing new.
    let second = ingest_file(&mut store, &array, &IngestOptions::new(&data)).unwrap();
    assert_eq!(
        (
            second.format,
            second.summary.accepted,
            second.summary.duplicates
        ),
        (Format::Json, 0, 10)
    );
}

#[test]
fn mailjet_grouped_payload_lands_on_the_right_customers() {
    let dir = scratch("mailjet");
    let data = dir.join("data");
    // A known customer with an email, and a newsletter contact known only by address.
    let segment = write(
        &dir,
        "identify.ndjson",
        r#"{"type":"identify","userId":"ana","traits":{"email":"Ana@Example.com"},"timestamp":"2026-03-01T08:00:00Z"}"#,
    );
    let mailjet = write(
        &dir,
        "mailjet.json",
        r#"[
 {"event":"open","time":1772357400,"MessageID":1001,"Message_GUID":"g1","email":"ana@example.com","mj_campaign_id":7,"mj_contact_id":1,"customcampaign":"nl-mars","ip":"1.2.3.4","geo":"FR","agent":"Mozilla"},
 {"event":"click","time":1772357460,"MessageID":1001,"Message_GUID":"g1","email":"ana@example.com","mj_campaign_id":7,"mj_contact_id":1,"customcampaign":"nl-mars","url":"https://example.com/offre","ip":"1.2.3.4","geo":"FR","agent":"Mozilla"},
 {"event":"bounce","time":1772357500,"MessageID":1002,"email":"bob@example.org","blocked":false,"hard_bounce":true,"error_related_to":"recipient","error":"user unknown"},
 {"event":"unsub","time":1772357600,"MessageID":1003,"email":"carla@example.org","mj_list_id":12,"ip":"5.6.7.8","geo":"BE","agent":"Mozilla"}
]"#,
    );
    let mut store = Store::open(&data).unwrap();
    ingest_file(&mut store, &segment, &IngestOptions::new(&data)).unwrap();
    let report = ingest_file(&mut store, &mailjet, &IngestOptions::new(&data)).unwrap();
    assert_eq!(report.format, Format::Mailjet);
    assert_eq!(
        (report.summary.accepted, report.summary.new_customers),
        (4, 2)
    );
    drop(store);
    let ana = customer(&data, IdKind::User, "ana");
    let events = stored(&data);
    let of = |name: &str| {
        events
            .iter()
            .filter(|(_, e)| e == name)
            .map(|(c, _)| *c)
            .collect::<Vec<_>>()
    };
    assert_eq!(of("email_opened"), [ana]);
    assert_eq!(of("email_clicked"), [ana]);
    assert_eq!(
        of("email_bounced"),
        [customer(&data, IdKind::Email, "bob@example.org")]
    );
    assert_eq!(
        of("email_unsubscribed"),
        [customer(&data, IdKind::Email, "carla@example.org")]
    );
    // A single webhook object works too, and a retry of it is a duplicate.
    let single = write(
        &dir,
        "hook.json",
        r#"{"event":"sent","time":1772357300,"MessageID":1001,"email":"ana@example.com","mj_campaign_id":7}"#,
    );
    let mut store = Store::open(&data).unwrap();
    assert_eq!(
        ingest_file(&mut store, &single, &IngestOptions::new(&data))
            .unwrap()
            .summary
            .accepted,
        1
    );
    assert_eq!(
        ingest_file(&mut store, &single, &IngestOptions::new(&data))
            .unwrap()
            .summary
            .duplicates,
        1
    );
}

#[test]
fn csv_roles_are_found_or_forced() {
    let dir = scratch("csv");
    let data = dir.join("data");
    let auto = write(
        &dir,
        "orders.csv",
        "customer_id,event_name,created_at,amount,zip\nc1,purchase,2026-03-01 09:00:00,19.90,01200\nc2,purchase,1772357400,5,75001\nc1,refund,2026-03-02,3,01200\n",
    );
    let forced = write(
        &dir,
        "crm.txt",
        "who;what;when\nc3;meeting;2026-03-03T10:00:00+01:00\n",
    );
    let tsv = write(
        &dir,
        "web.tsv",
        "anonymous_id\taction\ttime\tpage\nv9\tview\t2026-03-01T08:00:00Z\t/tarifs\n",
    );
    let mut store = Store::open(&data).unwrap();
    let report = ingest_file(&mut store, &auto, &IngestOptions::new(&data)).unwrap();
    assert_eq!(
        (
            report.format,
            report.summary.accepted,
            report.summary.new_customers
        ),
        (Format::Csv, 3, 2)
    );
    let mut options = IngestOptions::new(&data);
    options.format = Some(Format::Csv);
    options.delimiter = Some(b';');
    options.columns = vec![
        (Role::User, "who".into()),
        (Role::Event, "what".into()),
        (Role::Timestamp, "when".into()),
    ];
    assert_eq!(
        ingest_file(&mut store, &forced, &options)
            .unwrap()
            .summary
            .accepted,
        1
    );
    let report = ingest_file(&mut store, &tsv, &IngestOptions::new(&data)).unwrap();
    assert_eq!((report.format, report.summary.accepted), (Format::Tsv, 1));
    // Without the overrides the header says nothing: the error names what to pass.
    let err = ingest_file(&mut store, &forced, &{
        let mut o = IngestOptions::new(&data);
        o.delimiter = Some(b';');
        o.format = Some(Format::Csv);
        o
    })
    .unwrap_err();
    assert!(err.to_string().contains("no event column: name one of event, event_name, event_type, action, or pass --column event=COLUMN"), "{err}");
    drop(store);
    let first = segments(&data).unwrap().remove(0);
    let buffer = read_segment(&first.path).unwrap();
    let event = buffer.event(0);
    assert_eq!(
        event.properties.as_deref(),
        Some(r#"{"amount":19.9,"zip":"01200"}"#)
    );
}

#[test]
fn gzipped_files_are_read_transparently() {
    let dir = scratch("gzip");
    let data = dir.join("data");
    let path = dir.join("events.ndjson.gz");
    let mut encoder = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    for i in 0..100 {
        writeln!(encoder, r#"{{"type":"track","event":"view","userId":"u{i}","timestamp":"2026-03-01T09:00:00Z"}}"#).unwrap();
    }
    encoder.finish().unwrap();
    let mut store = Store::open(&data).unwrap();
    let report = ingest_file(&mut store, &path, &IngestOptions::new(&data)).unwrap();
    assert_eq!(
        (report.format, report.summary.accepted),
        (Format::Ndjson, 100)
    );
}

#[test]
fn parquet_files_use_the_same_roles() {
    use parquet::basic::{LogicalType, Repetition, TimeUnit, Type as Physical};
    use parquet::data_type::{ByteArray, ByteArrayType, DoubleType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use parquet::schema::types::Type;

    let dir = scratch("parquet");
    let data = dir.join("data");
    let path = dir.join("events.parquet");
    let column = |name: &str, physical, logical: Option<LogicalType>, repetition| {
        Arc::new(
            Type::primitive_type_builder(name, physical)
                .with_logical_type(logical)
                .with_repetition(repetition)
                .build()
                .unwrap(),
        )
    };
    let schema = Arc::new(
        Type::group_type_builder("row")
            .with_fields(vec![
                column(
                    "user_id",
                    Physical::BYTE_ARRAY,
                    Some(LogicalType::String),
                    Repetition::REQUIRED,
                ),
                column(
                    "event",
                    Physical::BYTE_ARRAY,
                    Some(LogicalType::String),
                    Repetition::REQUIRED,
                ),
                column(
                    "event_time",
                    Physical::INT64,
                    Some(LogicalType::Timestamp {
                        is_adjusted_to_u_t_c: true,
                        unit: TimeUnit::MILLIS,
                    }),
                    Repetition::OPTIONAL,
                ),
                column("price", Physical::DOUBLE, None, Repetition::OPTIONAL),
            ])
            .build()
            .unwrap(),
    );
    let mut writer = SerializedFileWriter::new(
        std::fs::File::create(&path).unwrap(),
        schema,
        Arc::new(WriterProperties::builder().build()),
    )
    .unwrap();
    let mut group = writer.next_row_group().unwrap();
    let strings = |values: &[&str]| {
        values
            .iter()
            .map(|v| ByteArray::from(*v))
            .collect::<Vec<_>>()
    };
    let mut c = group.next_column().unwrap().unwrap();
    c.typed::<ByteArrayType>()
        .write_batch(&strings(&["p1", "p2", "p3"]), None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = group.next_column().unwrap().unwrap();
    c.typed::<ByteArrayType>()
        .write_batch(&strings(&["purchase", "view", "view"]), None, None)
        .unwrap();
    c.close().unwrap();
    let mut c = group.next_column().unwrap().unwrap();
    // Row 3 has no timestamp: rejected, with its row number.
    c.typed::<Int64Type>()
        .write_batch(
            &[1_772_357_400_000, 1_772_357_460_000],
            Some(&[1, 1, 0]),
            None,
        )
        .unwrap();
    c.close().unwrap();
    let mut c = group.next_column().unwrap().unwrap();
    c.typed::<DoubleType>()
        .write_batch(&[42.5], Some(&[1, 0, 0]), None)
        .unwrap();
    c.close().unwrap();
    group.close().unwrap();
    writer.close().unwrap();

    let mut store = Store::open(&data).unwrap();
    let report = ingest_file(&mut store, &path, &IngestOptions::new(&data)).unwrap();
    assert_eq!(
        (
            report.format,
            report.summary.accepted,
            report.summary.rejected
        ),
        (Format::Parquet, 2, 1)
    );
    let quarantine = std::fs::read_to_string(report.quarantine.unwrap()).unwrap();
    let entry: serde_json::Value = serde_json::from_str(quarantine.trim()).unwrap();
    assert_eq!(entry["row"], 3);
    assert_eq!(entry["reason"], "missing timestamp in column `event_time`");
    drop(store);
    let first = segments(&data).unwrap().remove(0);
    let buffer = read_segment(&first.path).unwrap();
    let purchase = (0..buffer.len())
        .map(|r| buffer.event(r))
        .find(|e| e.name == "purchase")
        .unwrap();
    assert_eq!(purchase.timestamp, 1_772_357_400_000);
    assert_eq!(purchase.properties.as_deref(), Some(r#"{"price":42.5}"#));
}

#[test]
fn malformed_lines_are_quarantined_and_the_rest_imported() {
    let dir = scratch("malformed");
    let data = dir.join("data");
    let good = |i: u32| {
        format!(
            r#"{{"type":"track","event":"view","userId":"u{i}","timestamp":"2026-03-01T09:{i:02}:00Z"}}"#
        )
    };
    let big = format!(
        r#"{{"type":"track","event":"view","userId":"u9","timestamp":"2026-03-01T09:00:00Z","properties":{{"blob":"{}"}}}}"#,
        "x".repeat(1 << 20)
    );
    let lines = [
        good(1),
        r#"{"type":"track","event":"view","userId":"u2","timestamp":"2026-03-01T09:02:00Z""#
            .to_string(),
        good(3),
        r#"{"type":"track","event":"view","userId":"u4"}"#.to_string(),
        r#"{"type":"track","event":"view","userId":"u5","timestamp":"le 5 mars"}"#.to_string(),
        big,
        good(7),
    ];
    let file = write(&dir, "events.ndjson", &lines.join("\n"));
    let mut store = Store::open(&data).unwrap();
    let report = ingest_file(&mut store, &file, &IngestOptions::new(&data)).unwrap();
    assert_eq!(
        (
            report.records,
            report.summary.accepted,
            report.summary.rejected
        ),
        (7, 3, 4)
    );
    let quarantine: Vec<serde_json::Value> =
        std::fs::read_to_string(report.quarantine.as_ref().unwrap())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
    let got: Vec<(u64, String)> = quarantine
        .iter()
        .map(|q| {
            (
                q["line"].as_u64().unwrap(),
                q["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(got[0].0, 2);
    assert!(
        got[0].1.starts_with("invalid JSON at column"),
        "{}",
        got[0].1
    );
    assert_eq!(got[1], (4, "missing `timestamp`".to_string()));
    assert_eq!(got[2].0, 5);
    assert!(
        got[2]
            .1
            .starts_with("`timestamp`: `le 5 mars` is not a timestamp")
    );
    assert_eq!(
        got[3],
        (
            6,
            format!(
                "the record is {} bytes; events are limited to 32 KB",
                lines[5].len()
            )
        )
    );
    assert!(
        quarantine
            .iter()
            .all(|q| q["source"] == file.display().to_string()
                && q["raw"].as_str().is_some_and(|r| !r.is_empty()))
    );
    assert_eq!(quarantine[0]["raw"], lines[1]);

    // --strict: the same file imports nothing.
    let strict_data = dir.join("strict");
    let mut strict_store = Store::open(&strict_data).unwrap();
    let mut options = IngestOptions::new(&strict_data);
    options.strict = true;
    let err = ingest_file(&mut strict_store, &file, &options).unwrap_err();
    assert!(
        err.to_string()
            .contains("4 record(s) rejected, first at line 2: invalid JSON"),
        "{err}"
    );
    drop(strict_store);
    assert_eq!(stats(&strict_data).unwrap().events, 0);
}

#[test]
fn a_broken_json_array_imports_nothing() {
    let dir = scratch("broken");
    let data = dir.join("data");
    let file = write(
        &dir,
        "cut.json",
        "[\n{\"type\":\"track\",\"event\":\"view\",\"userId\":\"u1\",\"timestamp\":\"2026-03-01T09:00:00Z\"},\n{\"type\":\"tr",
    );
    let mut store = Store::open(&data).unwrap();
    let err = ingest_file(&mut store, &file, &IngestOptions::new(&data)).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("line 3: the JSON ends inside a value; nothing was imported from this file"),
        "{err}"
    );
    drop(store);
    assert_eq!(stats(&data).unwrap().events, 0);
}
