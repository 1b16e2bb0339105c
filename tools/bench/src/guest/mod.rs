//! The guest side: taking the figures.

pub mod figures;
pub mod fuchsia;
pub mod pagein;
pub mod reclaim;
pub mod sys;
pub mod uffd;

/// The result of everything that can fail while measuring.
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;
