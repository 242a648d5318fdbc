//! rootline turns the logs exported after an outage into the story of the outage.
//!
//! The pipeline: [`ingest`] (files -> typed role tables, every line accounted for) ->
//! detect -> correlate -> report. Each stage is a library call with no clock and no printing;
//! the `cli` module only wires arguments to these calls.
//!
//! Tables and their columns are described in [`schema`]; `incident.toml` in [`config`].

pub mod cli;
pub mod config;
pub mod error;
pub mod ingest;
pub mod schema;
pub mod simulate;
