//! The Parquet tables can be read by other engines: read back with the `parquet` crate's
//! Arrow reader (the reference implementation), not with Polars.

use std::fs::File;

use arrow_array::{Array, Int64Array, StringArray, TimestampMillisecondArray};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use rootline::ingest::{self, IngestOptions, ParquetSink, Registry, SourceSpec};

use crate::common::temp_dir;

#[test]
fn parquet_tables_read_back_with_the_arrow_reference_reader() {
    let dir = temp_dir("parquet");
    let src = dir.join("logins.jsonl");
    let mut text = String::new();
    // Two days, written out of order, so partitioning and sorting both show.
    for (i, day) in [(0, 17), (1, 16), (2, 17), (3, 16)] {
        text += &format!(
            "{{\"ts\":\"2007-08-{day}T0{i}:00:00Z\",\"outcome\":\"fail\",\"user\":\"u{i}\",\"latency_ms\":{}}}\n",
            100 + i
        );
    }
    std::fs::write(&src, text).unwrap();
    let out = dir.join("out");
    let mut sink = ParquetSink::create(&out).unwrap();
    let spec = SourceSpec { path: src.clone(), ..Default::default() };
    ingest::ingest(&[spec], &IngestOptions::default(), &Registry::builtin(), &mut sink, &|_, _| {})
        .unwrap();
    let files: Vec<String> =
        sink.files.iter().map(|f| f.to_string_lossy().replace('\\', "/")).collect();
    assert_eq!(
        files,
        ["login/date=2007-08-16/part-0.parquet", "login/date=2007-08-17/part-0.parquet"]
    );

    let file = File::open(out.join(&files[0])).unwrap();
    let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap().build().unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let batch = &batches[0];
    let names: Vec<String> = batch.schema().fields().iter().map(|f| f.name().clone()).collect();
    assert_eq!(
        names,
        ["ts", "outcome", "user", "host", "client", "reason", "latency_ms", "source", "line"]
    );
    let ts = batch
        .column(0)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .expect("ts is timestamp(ms)");
    assert_eq!(ts.timezone(), Some("UTC"));
    assert_eq!(ts.values().to_vec(), [1187226000000, 1187233200000]);
    let user = batch.column(2).as_any().downcast_ref::<StringArray>().or(None);
    let user: Vec<String> = match user {
        Some(u) => (0..u.len()).map(|i| u.value(i).to_string()).collect(),
        None => {
            let v = batch
                .column(2)
                .as_any()
                .downcast_ref::<arrow_array::StringViewArray>()
                .expect("utf8");
            (0..v.len()).map(|i| v.value(i).to_string()).collect()
        }
    };
    assert_eq!(user, ["u1", "u3"]);
    let line = batch.column(8).as_any().downcast_ref::<Int64Array>().unwrap();
    assert_eq!(line.values().to_vec(), [2, 4]);
}

#[test]
fn analysis_from_the_tables_matches_analysis_from_the_logs() {
    let dir = temp_dir("tables-analyze");
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("sample-data/skype-2007/incident.toml");
    let run = |args: &[&std::ffi::OsStr]| {
        let o =
            std::process::Command::new(env!("CARGO_BIN_EXE_rootline")).args(args).output().unwrap();
        assert!(o.status.success(), "{args:?}: {}", String::from_utf8_lossy(&o.stderr));
        o
    };
    let (tables, a, b) = (dir.join("tables"), dir.join("a"), dir.join("b"));
    run(&[
        "ingest".as_ref(),
        "-q".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        tables.as_os_str(),
    ]);
    run(&[
        "analyze".as_ref(),
        "-q".as_ref(),
        "--tables".as_ref(),
        tables.as_os_str(),
        "--out".as_ref(),
        a.as_os_str(),
    ]);
    run(&[
        "analyze".as_ref(),
        "-q".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        "--out".as_ref(),
        b.as_os_str(),
    ]);
    let read = |d: &std::path::Path| -> serde_json::Value {
        serde_json::from_str(&std::fs::read_to_string(d.join("findings.json")).unwrap()).unwrap()
    };
    let (from_tables, from_logs) = (read(&a), read(&b));
    assert!(!from_logs["surges"].as_array().unwrap().is_empty());
    assert!(!from_logs["inputs"].as_array().unwrap().is_empty());
    assert_eq!(
        from_tables, from_logs,
        "the same findings (inputs too), whichever way the rows came"
    );
    // SQL over the tables still sees every column.
    let sql = dir.join("hosts.sql");
    std::fs::write(&sql, "SELECT COUNT(DISTINCT host) AS hosts FROM login").unwrap();
    let o = run(&[
        "query".as_ref(),
        "--tables".as_ref(),
        tables.as_os_str(),
        sql.as_os_str(),
        "--format".as_ref(),
        "csv".as_ref(),
    ]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "hosts\n12\n");
}
