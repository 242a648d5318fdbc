//! Self-evaluation: how well detection and correlation do on labelled data.
//! [`nab`] scores the detector on NAB's corpus as NAB does; [`sim`] compares findings with the
//! simulator's truth over scenarios, seeds, formats and scales; [`whatif`] scores `rootline
//! whatif`'s predictions against the simulated counterfactuals.

pub mod nab;
pub mod sim;
pub mod whatif;

pub use nab::{NabDetector, NabOptions, NabReport, nab};
