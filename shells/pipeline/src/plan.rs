//! A job as the generator sends it: BEGIN, one request per tile, END, each with its key.
use fixedbrot_core::wire::{self, End, Envelope, Message, TileRequest};
use fixedbrot_core::{Job, JobId, TileIndex};

/// The Kafka key of a message: requests by job and tile, so they spread over partitions;
/// everything else by job, so one partition (and one assembler) sees a whole job.
///
/// Written by hand: it is made for every request and every answer, and `format!`'s
/// machinery was a few percent of a worker's profile on a 1x1 job.
pub fn key(job_id: JobId, tile: Option<TileIndex>) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut key = String::with_capacity(27);
    for shift in (0..16).rev() {
        key.push(char::from(HEX[(job_id.0 >> (4 * shift)) as usize & 0xf]));
    }
    if let Some(TileIndex(tile)) = tile {
        key.push('/');
        let mut digits = [0u8; 10];
        let mut rest = tile;
        let mut len = 0;
        loop {
            digits[len] = b'0' + (rest % 10) as u8;
            len += 1;
            rest /= 10;
            if rest == 0 {
                break;
            }
        }
        key.extend(digits[..len].iter().rev().map(|&d| char::from(d)));
    }
    key
}

/// One line saying what a job is, for logs.
pub fn describe(job: &Job) -> String {
    let (grid, n) = (job.grid, u32::from(job.samples.max(1)));
    let samples = match n {
        1 => String::new(),
        n => format!(" of {n}x{n} samples"),
    };
    format!(
        "{}x{}{samples}, {} tiles of {}x{}, {} iterations, {} ({} bits), {}",
        grid.width / n,
        grid.height / n,
        grid.tiles(),
        grid.tile_width,
        grid.tile_height,
        job.iterations,
        job.format,
        job.format.bits(),
        job.kernel
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_the_job_in_sixteen_hex_digits_then_the_tile_in_decimal() {
        for job in [0, 1, 0xab, 0x0123_4567_89ab_cdef, u64::MAX] {
            assert_eq!(key(JobId(job), None), format!("{job:016x}"));
            for tile in [0, 7, 10, 99, 307_199, u32::MAX] {
                assert_eq!(
                    key(JobId(job), Some(TileIndex(tile))),
                    format!("{job:016x}/{tile}")
                );
            }
        }
    }
}
