//! A job as the generator sends it: a fresh id, then BEGIN, one request per tile, END.
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{SystemTime, UNIX_EPOCH};

use fixedbrot_core::wire::{self, End, Envelope, Message, TileRequest};
use fixedbrot_core::{Job, JobId, TileIndex};

/// A new job id: the clock and the process's random hash keys, so two generators started in
/// the same nanosecond still differ.
pub fn new_job_id() -> JobId {
    let mut hasher = RandomState::new().build_hasher();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    hasher.write_u128(nanos);
    hasher.write_u32(std::process::id());
    JobId(hasher.finish())
}

/// The Kafka key of a message: requests by job and tile, so they spread over partitions;
/// everything else by job, so one partition (and one assembler) sees a whole job.
pub fn key(job_id: JobId, tile: Option<TileIndex>) -> String {
    match tile {
        Some(tile) => format!("{:016x}/{}", job_id.0, tile.0),
        None => format!("{:016x}", job_id.0),
    }
}

/// One line saying what a job is, for logs.
pub fn describe(job: &Job) -> String {
    let grid = job.grid;
    format!(
        "{}x{}, {} tiles of {}x{}, {} iterations, {}",
        grid.width,
        grid.height,
        grid.tiles(),
        grid.tile_width,
        grid.tile_height,
        job.iterations,
        job.format
    )
}

/// Every message of a job, in sending order, with its key.
pub fn messages(job_id: JobId, job: Job) -> impl Iterator<Item = (String, Vec<u8>)> {
    let tiles = job.grid.tiles();
    let marker = move |message| (key(job_id, None), encode(&Envelope { job_id, message }));
    // Requests, one per pixel at 1x1, are encoded without a 16 KiB envelope each.
    let requests = (0..tiles).map(move |t| {
        let tile = TileIndex(t);
        let request = TileRequest { job, tile };
        let mut buf = vec![0u8; wire::max_result_len(0)];
        let len = wire::encode_request(job_id, &request, &mut buf)
            .expect("a checked job's requests encode")
            .len();
        buf.truncate(len);
        (key(job_id, Some(tile)), buf)
    });
    std::iter::once(marker(Message::Begin(job)))
        .chain(requests)
        .chain(std::iter::once(marker(Message::End(End { tiles }))))
}

/// The bytes of a checked message, in a buffer sized to it (markers, results, refusals).
pub fn encode(envelope: &Envelope) -> Vec<u8> {
    let mut buf = vec![0u8; wire::max_encoded_len(envelope)];
    let len = wire::encode(envelope, &mut buf)
        .expect("checked messages fit their max_encoded_len")
        .len();
    buf.truncate(len);
    buf
}
