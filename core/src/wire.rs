//! The wire format: versioned messages, postcard-encoded into caller buffers, optionally
//! COBS-framed for serial links.
//!
//! Every message is one byte of [`WIRE_VERSION`], then a postcard [`Envelope`]: the job id
//! (a varint) and the [`Message`]. Every version keeps those first two fields, so a peer can
//! answer a message it cannot read ([`peek`]). Decoding checks what it decodes: a message that
//! comes out of [`decode`] describes a valid job and a tile that exists in it.
use core::fmt;

use heapless::Vec;
use serde::de::{self, DeserializeSeed, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, SerializeTuple};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::error::JobError;
use crate::grid::{Rect, TileIndex};
use crate::job::{Job, JobId};
use crate::limits::{MAX_ENCODED_LEN, MAX_TILE_PIXELS, MAX_WIDE_LIMBS, WIRE_VERSION};
use crate::smooth::Smooth;

/// A message and the job it belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Envelope {
    /// The job this message belongs to.
    pub job_id: JobId,
    /// What it says.
    pub message: Message,
}

/// The message kinds. Variant order is wire order: append, never reorder.
#[allow(
    clippy::large_enum_variant,
    reason = "no alloc to box into; a result's 16 KiB is the budgeted largest message"
)]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Message {
    /// A job starts (the original's BEGIN marker); informative, since any result carries it.
    Begin(Job),
    /// Compute one tile.
    Request(TileRequest),
    /// One computed tile.
    Result(TileResult),
    /// The generator has sent every request (the original's END marker); informative.
    End(End),
    /// A worker refuses a request.
    Refused(Refusal),
}

/// Compute tile `tile` of `job`. `L` is the room of the job's numbers ([`Job`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TileRequest<const L: usize = MAX_WIDE_LIMBS> {
    /// The whole job, so a request alone is enough to compute its tile.
    pub job: Job<L>,
    /// Which tile.
    pub tile: TileIndex,
}

impl<const L: usize> TileRequest<L> {
    /// The pixels of its tile: the counts its result holds, and 0 if the job holds no such
    /// tile (a checked request always does).
    pub fn pixels(&self) -> usize {
        self.job
            .grid
            .rect(self.tile)
            .map_or(0, |rect| rect.pixels())
    }
}

/// The counts of tile `tile` of `job`, row-major, and their smooth fractions if the job asks.
///
/// On the wire the pixels follow the job and tile as one sequence, one varint a pixel: its
/// count, or `count · 2^16 + fraction` when the job asks for fractions. One value a pixel, so
/// a board streams each as it computes it, as it streams counts alone.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TileResult {
    /// The whole job, so a result alone tells the assembler the image and tile count.
    pub job: Job,
    /// Which tile.
    pub tile: TileIndex,
    /// One escape count per pixel of the tile, row-major.
    pub counts: Vec<u32, MAX_TILE_PIXELS>,
    /// One smooth fraction per pixel if the job asks for them ([`Job::smooth`]), 0 for a
    /// pixel that never escaped; none if it does not.
    pub smooth: Vec<Smooth, MAX_TILE_PIXELS>,
}

/// A pixel's one value on the wire: its count, with its fraction below if the job asks.
fn pixel_value(count: u32, fraction: Option<Smooth>) -> u64 {
    match fraction {
        Some(fraction) => u64::from(count) << 16 | u64::from(fraction),
        None => u64::from(count),
    }
}

/// A pixel's count and fraction from its value on the wire; `None` for a value no pixel has.
fn pixel_of(value: u64, smooth: bool) -> Option<(u32, Smooth)> {
    match smooth {
        true => Some((u32::try_from(value >> 16).ok()?, value as Smooth)),
        false => Some((u32::try_from(value).ok()?, 0)),
    }
}

impl Serialize for TileResult {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut fields = serializer.serialize_tuple(3)?;
        fields.serialize_element(&self.job)?;
        fields.serialize_element(&self.tile)?;
        fields.serialize_element(&Pixels(self))?;
        fields.end()
    }
}

/// A result's pixels as the wire carries them (see [`TileResult`]).
struct Pixels<'a>(&'a TileResult);

impl Serialize for Pixels<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let result = self.0;
        let mut pixels = serializer.serialize_seq(Some(result.counts.len()))?;
        for (i, &count) in result.counts.iter().enumerate() {
            let fraction = match result.job.smooth {
                true => Some(result.smooth.get(i).copied().unwrap_or(0)),
                false => None,
            };
            pixels.serialize_element(&pixel_value(count, fraction))?;
        }
        pixels.end()
    }
}

impl<'de> Deserialize<'de> for TileResult {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<TileResult, D::Error> {
        deserializer.deserialize_tuple(3, ResultVisitor)
    }
}

struct ResultVisitor;

impl<'de> Visitor<'de> for ResultVisitor {
    type Value = TileResult;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tile result")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<TileResult, A::Error> {
        let missing = || de::Error::custom("a result ends early");
        let job: Job = seq.next_element()?.ok_or_else(missing)?;
        let tile = seq.next_element()?.ok_or_else(missing)?;
        let (counts, smooth) = seq
            .next_element_seed(PixelsSeed(job.smooth))?
            .ok_or_else(missing)?;
        Ok(TileResult {
            job,
            tile,
            counts,
            smooth,
        })
    }
}

/// Reads a result's pixels, with fractions if the job asks for them.
struct PixelsSeed(bool);

type PixelValues = (Vec<u32, MAX_TILE_PIXELS>, Vec<Smooth, MAX_TILE_PIXELS>);

impl<'de> DeserializeSeed<'de> for PixelsSeed {
    type Value = PixelValues;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<PixelValues, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for PixelsSeed {
    type Value = PixelValues;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a tile's pixels")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PixelValues, A::Error> {
        let (mut counts, mut smooth) = (Vec::new(), Vec::new());
        while let Some(value) = seq.next_element::<u64>()? {
            let (count, fraction) =
                pixel_of(value, self.0).ok_or_else(|| de::Error::custom("no pixel's value"))?;
            counts
                .push(count)
                .map_err(|_| de::Error::custom("more pixels than a tile holds"))?;
            if self.0 {
                // As many as the counts, which have room.
                let _ = smooth.push(fraction);
            }
        }
        Ok((counts, smooth))
    }
}

/// The end of a job's requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct End {
    /// How many tile requests the generator sent.
    pub tiles: u32,
}

/// A worker's answer to a request it will not serve.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Refusal {
    /// The tile refused, when the request could be read that far.
    pub tile: Option<TileIndex>,
    /// Why.
    pub reason: Reason,
}

/// Why a worker refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Reason {
    /// The request's wire version is not one the worker speaks.
    UnsupportedVersion(u8),
    /// The request could not be decoded.
    Undecodable,
    /// The request's job is invalid.
    InvalidJob,
    /// The tile has more pixels than the worker can hold.
    TileTooLarge {
        /// The most pixels the worker takes in one tile.
        max_pixels: u32,
    },
    /// The tile's work ([`Job::work`]: pixels times the iteration limit times the cost of a
    /// step of the job's format) is more than the worker takes on for one request (wire
    /// version 2).
    TooMuchWork {
        /// The most work the worker takes on for one request, in narrow kernel steps.
        max_work: u64,
    },
    /// The job's format is wider than the worker computes (wire version 3): a board with
    /// little RAM, say. Another worker must compute the tile.
    TooWide {
        /// The widest format the worker computes, in bits.
        max_bits: u32,
    },
    /// The job's reference orbit ([`crate::Reference`]) needs more values than the worker
    /// holds (wire version 4): a board with little RAM, or a worker's `--max-orbit-mib`.
    OrbitTooLong {
        /// The most values of a reference orbit the worker holds.
        max_points: u32,
    },
}

/// For a log: what the worker said, and what to change.
impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Reason::UnsupportedVersion(version) => write!(
                f,
                "it speaks another wire version than {version}: upgrade every process together"
            ),
            Reason::Undecodable => f.write_str("it could not decode the request"),
            Reason::InvalidJob => f.write_str("the job is invalid, or over one of its limits"),
            Reason::TileTooLarge { max_pixels } => {
                write!(f, "it takes tiles of at most {max_pixels} pixels (--tile)")
            }
            Reason::TooMuchWork { max_work } => write!(
                f,
                "the tile's work is over its limit of {max_work} (--max-work): use smaller \
                 tiles or fewer iterations, or raise the worker's"
            ),
            Reason::TooWide { max_bits } => {
                write!(f, "it computes formats of at most {max_bits} bits")
            }
            Reason::OrbitTooLong { max_points } => write!(
                f,
                "the job's reference orbit is longer than the {max_points} values it holds \
                 (--max-orbit-mib): use fewer iterations, or raise the worker's"
            ),
        }
    }
}

/// Why a message could not be encoded or decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum WireError {
    /// The output buffer is too small; [`crate::limits::MAX_FRAME_LEN`] always suffices.
    BufferFull,
    /// The input ends inside a message.
    Truncated,
    /// The first byte names a wire version this build does not speak.
    UnsupportedVersion(u8),
    /// The input is not a message: bad tag, bad varint, too many counts, bad framing.
    Malformed,
    /// Bytes follow the message.
    TrailingBytes,
    /// The message decodes but its job is invalid or its tile is not in the job.
    Invalid(JobError),
    /// A result's counts do not match its tile: wrong number, or above the job's limit.
    CountsMismatch,
    /// A valid message of another kind where only a tile request is taken.
    NotARequest,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WireError::BufferFull => f.write_str("the buffer is too small for the message"),
            WireError::Truncated => f.write_str("the message is truncated"),
            WireError::UnsupportedVersion(v) => write!(
                f,
                "wire version {v} is not supported (this build speaks {WIRE_VERSION})"
            ),
            WireError::Malformed => f.write_str("the bytes are not a fixedbrot message"),
            WireError::TrailingBytes => f.write_str("bytes follow the message"),
            WireError::Invalid(e) => write!(f, "invalid job or tile: {e}"),
            WireError::CountsMismatch => f.write_str("a result's counts do not match its tile"),
            WireError::NotARequest => f.write_str("the message is not a tile request"),
        }
    }
}

impl core::error::Error for WireError {}

impl From<postcard::Error> for WireError {
    fn from(e: postcard::Error) -> Self {
        match e {
            postcard::Error::SerializeBufferFull => WireError::BufferFull,
            postcard::Error::DeserializeUnexpectedEnd => WireError::Truncated,
            _ => WireError::Malformed,
        }
    }
}

impl Envelope {
    /// Checks what postcard cannot: the job is valid, the tile is in it, the counts fit it.
    pub fn check(&self) -> Result<(), WireError> {
        let (job, tile) = match &self.message {
            Message::Begin(job) => (job, None),
            Message::Request(request) => (&request.job, Some(request.tile)),
            Message::Result(result) => (&result.job, Some(result.tile)),
            Message::End(_) | Message::Refused(_) => return Ok(()),
        };
        let Some(tile) = tile else {
            return job.check().map_err(WireError::Invalid);
        };
        let rect = tile_rect(job, tile)?;
        if let Message::Result(result) = &self.message {
            if result.counts.len() != rect.pixels()
                || result.smooth.len() != job.fractions(rect.pixels())
                || result.counts.iter().enumerate().any(|(i, &count)| {
                    !valid_pixel(job, count, result.smooth.get(i).copied().unwrap_or(0))
                })
            {
                return Err(WireError::CountsMismatch);
            }
        }
        Ok(())
    }
}

/// Whether a pixel of `job` may have `count` and `fraction`: a count within the limit, and a
/// fraction only where the job asks for them and the pixel escaped.
fn valid_pixel(job: &Job, count: u32, fraction: Smooth) -> bool {
    count <= job.iterations && (fraction == 0 || (job.smooth && count < job.iterations))
}

/// The rectangle of `tile`, once `job` is valid and holds it: what every message that names a
/// tile must satisfy.
fn tile_rect<const L: usize>(job: &Job<L>, tile: TileIndex) -> Result<Rect, WireError> {
    job.check().map_err(WireError::Invalid)?;
    job.grid
        .rect(tile)
        .ok_or(WireError::Invalid(JobError::NoSuchTile))
}

#[derive(Serialize)]
struct Versioned<'a> {
    version: u8,
    envelope: &'a Envelope,
}

/// Encodes a checked message into `buf`; returns the part of `buf` it fills.
pub fn encode<'b>(envelope: &Envelope, buf: &'b mut [u8]) -> Result<&'b mut [u8], WireError> {
    envelope.check()?;
    Ok(postcard::to_slice(&versioned(envelope), buf)?)
}

/// The most bytes `envelope` can take encoded: [`MAX_ENCODED_LEN`] less the room of the
/// pixels it does not carry. A buffer this long always holds it, so a host that encodes
/// many small messages need not clear 20 KiB for each.
pub fn max_encoded_len(envelope: &Envelope) -> usize {
    match &envelope.message {
        Message::Result(result) => max_result_len(result.counts.len()),
        _ => max_result_len(0),
    }
}

/// The most bytes a result of `pixels` pixels can take encoded (at most [`MAX_TILE_PIXELS`];
/// every other message takes at most what a result of none would).
pub fn max_result_len(pixels: usize) -> usize {
    MAX_ENCODED_LEN - MAX_TILE_PIXELS.saturating_sub(pixels) * MAX_PIXEL_LEN
}

/// Encodes a checked message as one COBS frame, ending in its 0 delimiter.
pub fn encode_cobs<'b>(envelope: &Envelope, buf: &'b mut [u8]) -> Result<&'b mut [u8], WireError> {
    envelope.check()?;
    Ok(postcard::to_slice_cobs(&versioned(envelope), buf)?)
}

fn versioned(envelope: &Envelope) -> Versioned<'_> {
    Versioned {
        version: WIRE_VERSION,
        envelope,
    }
}

/// Encodes a checked job alone, as messages carry it, for a record that names a job (an
/// image's text chunk); at most [`crate::limits::MAX_JOB_LEN`] bytes.
pub fn encode_job<'b>(job: &Job, buf: &'b mut [u8]) -> Result<&'b mut [u8], WireError> {
    job.check().map_err(WireError::Invalid)?;
    Ok(postcard::to_slice(job, buf)?)
}

/// Decodes and checks a job that [`encode_job`] wrote and that fills `bytes` exactly.
pub fn decode_job(bytes: &[u8]) -> Result<Job, WireError> {
    let (job, rest) = postcard::take_from_bytes::<Job>(bytes)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    job.check().map_err(WireError::Invalid)?;
    Ok(job)
}

/// Decodes and checks one message that fills `bytes` exactly.
pub fn decode(bytes: &[u8]) -> Result<Envelope, WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let (envelope, rest) = postcard::take_from_bytes::<Envelope>(body)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    envelope.check()?;
    Ok(envelope)
}

/// The wire index of [`Message::Request`]: postcard writes a variant as its varint index.
const REQUEST_INDEX: u32 = 1;
/// The wire index of [`Message::Result`].
const RESULT_INDEX: u32 = 2;
/// The wire index of [`Message::Refused`], the last kind.
const REFUSED_INDEX: u32 = 4;

/// Encodes a tile request without building an [`Envelope`], which is as large as the largest
/// message (16 KiB) whatever it holds: exactly what [`encode`] makes of the same request, for
/// a generator that sends a request per pixel. Checked as [`encode`] checks it.
pub fn encode_request<'b>(
    job_id: JobId,
    request: &TileRequest,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], WireError> {
    tile_rect(&request.job, request.tile)?;
    let message = (WIRE_VERSION, job_id, REQUEST_INDEX, request);
    Ok(postcard::to_slice(&message, buf)?)
}

/// Encodes a refusal as one COBS frame without building an [`Envelope`], which is as large as
/// the largest message (16 KiB, all of a small board's RAM): exactly what [`encode_cobs`]
/// makes of the same refusal.
pub fn encode_refusal_cobs<'b>(
    job_id: JobId,
    refusal: &Refusal,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], WireError> {
    let message = (WIRE_VERSION, job_id, REFUSED_INDEX, refusal);
    Ok(postcard::to_slice_cobs(&message, buf)?)
}

/// The longest encoding of one pixel: a count alone is a `u32` varint (5 bytes), and with its
/// fraction `count · 2^16 + fraction` is a varint below 2^48 (7 bytes).
pub const MAX_PIXEL_LEN: usize = 7;

/// The bytes of the result of `request` up to its pixels, for a worker that streams the
/// pixels as it computes them rather than holding the tile (a 16 KiB-RAM board cannot):
/// these bytes, then each pixel by [`encode_pixel`] in row-major order, are exactly what
/// [`encode`] makes of the whole result.
pub fn encode_result_head<'b, const L: usize>(
    job_id: JobId,
    request: &TileRequest<L>,
    buf: &'b mut [u8],
) -> Result<&'b mut [u8], WireError> {
    let rect = tile_rect(&request.job, request.tile)?;
    // A sequence's length is a varint like any u32, so the tile's pixel count stands for it.
    let head = (
        WIRE_VERSION,
        job_id,
        RESULT_INDEX,
        request.job,
        request.tile,
        rect.pixels() as u32,
    );
    Ok(postcard::to_slice(&head, buf)?)
}

/// One pixel of a streamed result (see [`encode_result_head`]): its count, and its fraction
/// exactly when the job asks for them ([`Job::smooth`]).
pub fn encode_pixel(count: u32, fraction: Option<Smooth>, buf: &mut [u8; MAX_PIXEL_LEN]) -> &[u8] {
    match postcard::to_slice(&pixel_value(count, fraction), buf) {
        Ok(bytes) => bytes,
        Err(_) => &[], // unreachable: a value below 2^48 takes at most MAX_PIXEL_LEN bytes
    }
}

/// Decodes and checks a message that must be a tile request, without building an
/// [`Envelope`] (whose result variant is 16 KiB): the decoder a small worker can afford.
/// It accepts exactly the bytes [`decode`] accepts as a request.
pub fn decode_request(bytes: &[u8]) -> Result<(JobId, TileRequest), WireError> {
    decode_request_in(bytes)
}

/// [`decode_request`] into a request whose numbers have a room of `L` limbs: a board that
/// computes formats to `32L` bits holds no more. A wider format is malformed to it: it
/// refuses such requests first, by [`too_wide`].
pub fn decode_request_in<const L: usize>(
    bytes: &[u8],
) -> Result<(JobId, TileRequest<L>), WireError> {
    let (&version, body) = bytes.split_first().ok_or(WireError::Truncated)?;
    if version != WIRE_VERSION {
        return Err(WireError::UnsupportedVersion(version));
    }
    let (job_id, rest) = postcard::take_from_bytes::<JobId>(body)?;
    let (index, rest) = postcard::take_from_bytes::<u32>(rest)?;
    if index != REQUEST_INDEX {
        // Only a kind the wire has is another kind of message; any other index is noise.
        return Err(if index <= REFUSED_INDEX {
            WireError::NotARequest
        } else {
            WireError::Malformed
        });
    }
    let (request, rest) = postcard::take_from_bytes::<TileRequest<L>>(rest)?;
    if !rest.is_empty() {
        return Err(WireError::TrailingBytes);
    }
    tile_rect(&request.job, request.tile)?;
    Ok((job_id, request))
}

/// A tile result read from its bytes, its pixels still there to be read one by one: the
/// decoder's counterpart of [`encode_result_head`] and [`encode_pixel`], for a host that takes
/// many small results without building a 16 KiB [`Envelope`] for each.
#[derive(Debug, Clone)]
pub struct ResultView<'a> {
    /// The job the result belongs to.
    pub job_id: JobId,
    /// The whole job, as every result carries it.
    pub job: Job,
    /// Which tile of it.
    pub tile: TileIndex,
    counts: &'a [u8],
    len: usize,
}

impl<'a> ResultView<'a> {
    /// How many counts the result holds: its tile's pixels.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds none (no valid result does).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pixels, row-major: each one's count and smooth fraction (0 where the job asks
    /// for none).
    pub fn pixels(&self) -> ResultPixels<'a> {
        ResultPixels {
            bytes: self.counts,
            left: self.len,
            smooth: self.job.smooth,
        }
    }

    /// The counts, row-major.
    pub fn counts(&self) -> impl Iterator<Item = u32> + 'a {
        self.pixels().map(|(count, _)| count)
    }
}

/// The pixels of a [`ResultView`].
#[derive(Debug, Clone)]
pub struct ResultPixels<'a> {
    bytes: &'a [u8],
    left: usize,
    smooth: bool,
}

impl Iterator for ResultPixels<'_> {
    type Item = (u32, Smooth);

    fn next(&mut self) -> Option<(u32, Smooth)> {
        if self.left == 0 {
            return None;
        }
        // Read once already by decode_result, which accepted them.
        let (value, rest) = postcard::take_from_bytes::<u64>(self.bytes).ok()?;
        (self.bytes, self.left) = (rest, self.left - 1);
        pixel_of(value, self.smooth)
    }
}

/// Reads a message that is a valid tile result without building an [`Envelope`]; `None` for
/// anything else, which [`decode`] then says more about. Whatever it accepts, [`decode`]
/// accepts as the same result (a property test and the `decode` fuzz target hold it to that).
pub fn decode_result(bytes: &[u8]) -> Option<ResultView<'_>> {
    let (&version, body) = bytes.split_first()?;
    if version != WIRE_VERSION {
        return None;
    }
    let (job_id, rest) = postcard::take_from_bytes::<JobId>(body).ok()?;
    let (index, rest) = postcard::take_from_bytes::<u32>(rest).ok()?;
    if index != RESULT_INDEX {
        return None;
    }
    let (job, rest) = postcard::take_from_bytes::<Job>(rest).ok()?;
    let (tile, rest) = postcard::take_from_bytes::<TileIndex>(rest).ok()?;
    let (len, counts) = postcard::take_from_bytes::<usize>(rest).ok()?;
    let rect = tile_rect(&job, tile).ok()?;
    if len != rect.pixels() || len > MAX_TILE_PIXELS {
        return None;
    }
    let mut left = counts;
    for _ in 0..len {
        let (value, rest) = postcard::take_from_bytes::<u64>(left).ok()?;
        let (count, fraction) = pixel_of(value, job.smooth)?;
        if !valid_pixel(&job, count, fraction) {
            return None;
        }
        left = rest;
    }
    if !left.is_empty() {
        return None;
    }
    Some(ResultView {
        job_id,
        job,
        tile,
        counts,
        len,
    })
}

/// Decodes one COBS frame in place (the delimiter and anything after it are ignored).
pub fn decode_cobs(frame: &mut [u8]) -> Result<Envelope, WireError> {
    decode(unframe(frame)?)
}

/// Undoes the COBS framing in place and returns the message bytes.
fn unframe(frame: &mut [u8]) -> Result<&[u8], WireError> {
    let len = cobs::decode_in_place(frame).map_err(|_| WireError::Malformed)?;
    Ok(&frame[..len])
}

/// Splits a serial byte stream into messages, fed a byte at a time: each COBS frame decoded
/// as it arrives by `cobs`'s streaming decoder, into a buffer of `N` bytes. The one frame
/// reader of the boards and the bridge; what it gives still goes through [`decode`] or
/// [`decode_request`]. A frame that decodes to more than `N` bytes, or is not COBS, is
/// dropped whole, up to its delimiter, so the next one starts clean.
pub struct Deframer<const N: usize> {
    buf: [u8; N],
    len: usize,
    state: cobs::DecoderState,
    /// Set when the buffer overflowed: the rest of the frame is skipped.
    overflow: bool,
}

/// What a delimiter ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed<'a> {
    /// A frame's message bytes, decoded, its delimiter left out.
    Frame(&'a [u8]),
    /// A frame that decodes to more than the buffer holds, dropped: its first bytes, as many
    /// as the buffer holds, enough to refuse a request too wide to take ([`too_wide`]).
    TooLong(&'a [u8]),
    /// A frame that is not COBS (a length code that runs past its delimiter), dropped.
    Broken,
}

impl<const N: usize> Default for Deframer<N> {
    fn default() -> Self {
        Deframer {
            buf: [0; N],
            len: 0,
            state: cobs::DecoderState::Idle,
            overflow: false,
        }
    }
}

impl<const N: usize> Deframer<N> {
    /// Takes the next byte; at a delimiter that ends a frame, what it ended. Delimiters
    /// between frames (a resynchronisation) end nothing.
    pub fn push(&mut self, byte: u8) -> Option<Framed<'_>> {
        if self.overflow {
            if byte != 0 {
                return None;
            }
            let len = core::mem::take(&mut self.len);
            (self.state, self.overflow) = (cobs::DecoderState::Idle, false);
            return Some(Framed::TooLong(&self.buf[..len]));
        }
        // The decoder fails only at a delimiter, and is idle again after it.
        match self.state.feed(byte) {
            Ok(cobs::DecodeResult::NoData) => None,
            Ok(cobs::DecodeResult::DataContinue(decoded)) => {
                match self.buf.get_mut(self.len) {
                    Some(slot) => {
                        *slot = decoded;
                        self.len += 1;
                    }
                    None => self.overflow = true,
                }
                None
            }
            Ok(cobs::DecodeResult::DataComplete) => {
                let len = core::mem::take(&mut self.len);
                Some(Framed::Frame(&self.buf[..len]))
            }
            Err(_) => {
                self.len = 0;
                Some(Framed::Broken)
            }
        }
    }
}

/// The one refusal policy of every worker, host or board, for bytes that are not a request
/// it can decode: the job they name and why it is refused, or `None` for bytes that name no
/// job (noise, dropped without an answer).
///
/// A job id is read from the bytes ([`peek`]) only where the decoder got past it and then
/// found something a real job's sender can get wrong: another wire version, an invalid job,
/// or a message of another kind where requests go. Anything else (cut short, malformed,
/// counts that do not fit) may carry any id, so nobody is told.
pub fn refusal_for(bytes: &[u8], error: WireError) -> Option<(JobId, Reason)> {
    let reason = match error {
        WireError::UnsupportedVersion(version) => Reason::UnsupportedVersion(version),
        WireError::Invalid(_) => Reason::InvalidJob,
        WireError::NotARequest => Reason::Undecodable,
        _ => return None,
    };
    peek(bytes).map(|(_, job_id)| (job_id, reason))
}

/// A worker's refusal of a request whose format is wider than `max_bits`, read from the
/// request's first bytes alone (version, job id, kind and format come first): a board whose
/// frame buffer holds the requests it computes refuses a wider one from the part it kept
/// ([`Framed::TooLong`]), so the sender can have it computed elsewhere. `None` for anything
/// else.
pub fn too_wide(prefix: &[u8], max_bits: u32) -> Option<(JobId, Reason)> {
    let (&version, body) = prefix.split_first()?;
    let (job_id, rest) = postcard::take_from_bytes::<JobId>(body).ok()?;
    let (index, rest) = postcard::take_from_bytes::<u32>(rest).ok()?;
    let (format, _) = postcard::take_from_bytes::<crate::Format>(rest).ok()?;
    let wider = version == WIRE_VERSION && index == REQUEST_INDEX && format.bits() > max_bits;
    wider.then_some((job_id, Reason::TooWide { max_bits }))
}

/// The version and job id of a message, read without decoding the rest: enough to refuse it.
pub fn peek(bytes: &[u8]) -> Option<(u8, JobId)> {
    let (&version, body) = bytes.split_first()?;
    let (job_id, _) = postcard::take_from_bytes::<JobId>(body).ok()?;
    Some((version, job_id))
}
