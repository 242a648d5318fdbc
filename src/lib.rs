//! rootline turns the logs exported after an outage into the story of the outage.
//!
//! The pipeline: [`ingest`] (files -> typed role tables, every line accounted for) ->
//! [`detect`] (tables -> per-bucket series -> episodes) -> [`correlate`] (episodes -> the
//! causal chain, written as [`findings`]) -> [`report`] (HTML, chart, postmortem). Each stage is a library call with no clock and no printing;
//! the `cli` module only wires arguments to these calls.
//!
//! Tables and their columns are described in [`schema`]; `incident.toml` in [`config`].

pub(crate) mod alloc;
pub mod atomic;
pub mod check;
pub mod cli;
pub mod config;
pub mod correlate;
pub mod detect;
pub mod error;
pub mod eval;
pub mod findings;
pub(crate) mod ids;
pub mod ingest;
pub mod pipeline;
pub mod query;
pub mod report;
pub mod schema;
pub mod simulate;
pub mod stats;
pub mod tables;
pub mod units;
pub mod whatif;
