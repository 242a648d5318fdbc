//! The single integration test binary: library calls in-process, plus the CLI for exit codes.

mod analyze;
mod bad_input;
mod check;
mod cli;
mod common;
mod exports;
mod parquet_out;
mod query;
mod readme;
mod report;
mod shared_data;
mod simulate;
mod whatif;
