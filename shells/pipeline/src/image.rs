//! A finished image: what an assembler hands over, and what PNG and raw-count writers take.
use fixedbrot_core::smooth::Smooth;
use fixedbrot_core::{Job, JobId};

/// A job's counts, whole: one per pixel, row-major; and their smooth fractions if the job
/// asks for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    /// The job the counts are of.
    pub job_id: JobId,
    /// The job: its view, size and iteration limit.
    pub job: Job,
    /// Its counts, row-major.
    pub counts: Vec<u32>,
    /// Their smooth fractions, row-major, if the job asks for them ([`Job::smooth`]); else
    /// none.
    pub smooth: Vec<Smooth>,
}
