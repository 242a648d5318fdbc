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
