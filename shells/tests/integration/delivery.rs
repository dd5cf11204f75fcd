//! Nothing accepted is lost, and nothing finished is done twice: when a delivery fails for
//! good, when a job's tiles are spread over partitions and the assembler is killed, when
//! assemblers share a directory or restart beside thousands of images, and whatever codec a
//! topic sets. Each test is a reproduction a hostile probe found against `699eea2`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::harness::{
    brokers, pixels, pngs_in, producer, read_topic, read_topic_on, rendered, OwnBroker, Process,
    Scenario, Scratch, BIN,
};
use fixedbrot::output::written::job_of;
use fixedbrot::output::Png;
use fixedbrot_core::wire::TileRequest;
use fixedbrot_core::{Format, Job, JobId, Palette, TileIndex};
use fixedbrot_pipeline::worker;
use fixedbrot_pipeline::Image;
use fixedbrot_tests::cases::default_job;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Message as _;

const MINUTE: Duration = Duration::from_secs(60);

/// Every tile's result of `job`, as a worker answers it.
fn results(job_id: JobId, job: Job) -> Vec<Vec<u8>> {
    (0..job.grid.tiles())
        .map(|tile| {
            let request = TileRequest {
                job,
                tile: TileIndex(tile),
            };
            worker::compute(job_id, &request, &Default::default())
        })
        .collect()
}

/// Sends `payloads` to one partition of `topic`, in order, and waits for them.
fn send(topic: &str, partition: i32, payloads: &[Vec<u8>]) {
    let producer = producer();
    for payload in payloads {
        let record = BaseRecord::to(topic)
            .partition(partition)
            .key("test")
            .payload(payload);
        producer.send(record).unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// A message no assembler can use: once it is dead-lettered, everything before it on its
/// partition has been read.
fn marker() -> Vec<u8> {
    b"a marker, not a message".to_vec()
}

/// How many images in `dir` are of `job_id`.
fn images_of(dir: &Path, job_id: JobId) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .filter(|entry| job_of(&entry.as_ref().unwrap().path()).map(|(id, _)| id) == Some(job_id))
        .count()
}

/// Before, the first failed delivery deadlocked the member for good: the offset book's guard
/// lived through an `if let` body that locked the book again, and SIGTERM was ignored. Then,
/// once that was mended, only the first failure was remembered: the other partitions' failed
/// requests were committed past, and never answered. The promise: a delivery that fails for
/// good ends the process without committing it, on any partition.
#[test]
fn a_delivery_that_fails_for_good_ends_the_worker_without_committing_it() {
    let scenario = Scenario::new("undeliverable", 3);
    // A 64x64 result is kilobytes uncompressed; BEGIN and END are a few dozen bytes.
    scenario.alter_topic(&scenario.responses(), "max.message.bytes", "2000");
    let mut calc = scenario.start(
        "calc",
        "calc",
        &["--threads", "1", "-X", "compression.type=none"],
    );
    calc.wait_assigned();
    scenario.generate(&[]);
    let status = calc.wait_exit(MINUTE);
    assert_eq!(status.code(), Some(1), "{}", calc.log());
    assert!(
        calc.log().contains("could not be delivered"),
        "{}",
        calc.log()
    );
    // On every partition, the commit stops at or before its first request.
    let mut first_request: BTreeMap<i32, i64> = BTreeMap::new();
    for message in read_topic(&scenario.requests(), false) {
        let is_request = message
            .payload()
            .is_some_and(|p| fixedbrot_core::wire::decode_request(p).is_ok());
        if is_request {
            let first = first_request.entry(message.partition()).or_insert(i64::MAX);
            *first = (*first).min(message.offset());
        }
    }
    let committed = scenario.committed("calc", &scenario.requests());
    for (&partition, &first) in &first_request {
        let at = committed[partition as usize].unwrap_or(0);
        assert!(
            at <= first,
            "partition {partition}: {committed:?}, first request {first}"
        );
    }
}

/// Before, a sync commit waited for ever for a broker that did not answer (paused, or cut
/// off): SIGTERM did nothing until the broker came back. Every wait is bounded now: a worker
/// at least once, a worker exactly once (its transaction's retries have one deadline) and an
/// assembler, all busy when the broker stops.
#[test]
fn sigterm_ends_every_role_whose_broker_has_stopped_answering() {
    let broker = OwnBroker::start(19592);
    let scenario = Scenario::on(&broker.address(), "paused-broker", 2);
    let images = scenario.dir.join("images");
    let mut members = [
        scenario.start("calc", "calc", &["--threads", "1"]),
        scenario.start("calc", "calc-eo", &["--threads", "1", "--exactly-once"]),
        scenario.start(
            "image",
            "image",
            &["--output-dir", images.to_str().unwrap()],
        ),
    ];
    for member in &members {
        member.wait_assigned();
    }
    // Long enough that the workers are busy answering when the broker stops.
    scenario.generate(&["--iterations", "20000", "--tile", "16x16"]);
    scenario.wait_produced(&scenario.responses(), 20, MINUTE);
    broker.signal_node(1, "STOP");
    std::thread::sleep(Duration::from_secs(2));
    for member in &mut members {
        member.terminate();
    }
    // The three wind down at once, so the later waits are mostly spent already.
    // The README: "SIGTERM ends a member within about half a minute".
    let exited = members
        .each_mut()
        .map(|member| member.try_wait_exit(Duration::from_secs(40)));
    broker.signal_node(1, "CONT");
    for (member, exited) in members.iter().zip(exited) {
        assert!(
            exited,
            "still running 40 s after SIGTERM:\n{}",
            member.log()
        );
    }
}

/// The assembler's sibling: a dead letter its topic refuses ends it the same way.
#[test]
fn a_dead_letter_that_cannot_be_delivered_ends_the_assembler_without_committing_it() {
    let scenario = Scenario::new("undeliverable-letter", 1);
    let dead_letters = format!("{}.dlq", scenario.responses());
    scenario.alter_topic(&dead_letters, "max.message.bytes", "1000");
    let output = scenario.dir.join("images");
    let mut image = scenario.start(
        "image",
        "image",
        &[
            "--output-dir",
            output.to_str().unwrap(),
            "-X",
            "compression.type=none",
        ],
    );
    image.wait_assigned();
    let garbage: Vec<u8> = (0..1500u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    send(&scenario.responses(), 0, &[garbage]);
    let status = image.wait_exit(MINUTE);
    assert_eq!(status.code(), Some(1), "{}", image.log());
    assert!(
        image.log().contains("could not be delivered"),
        "{}",
        image.log()
    );
    let committed = scenario.committed("image", &scenario.responses());
    assert_eq!(committed[0].unwrap_or(0), 0, "nothing committed past it");
}

/// Sends all but the last tile of the default job to an assembler, kills it (-9) once it
/// has read them and committed what it would, restarts it and sends the last tile: the
/// image must be written. With `copy_first`, a copy of tile 0 goes to partition 1 ahead of
/// the job's tiles on partition 0; with `split_at` below 79, partition 1 is added after
/// that many tiles and the rest go there.
fn kill_between_tiles(scenario: &Scenario, flags: &[&str], copy_first: bool, split_at: usize) {
    let output = scenario.dir.join("images");
    let mut args = vec!["--output-dir", output.to_str().unwrap()];
    args.extend_from_slice(flags);
    let mut image = scenario.start("image", "image", &args);
    image.wait_assigned();
    let (job_id, job) = (JobId(0x5eed), default_job(Format::I4F28, 64));
    let tiles = results(job_id, job);
    let responses = scenario.responses();
    let mut markers = 0;
    let mut read_to_here = |image: &Process, partition: i32| {
        send(&responses, partition, &[marker()]);
        markers += 1;
        image.wait_for(&format!("dead letter #{markers} "), 1, MINUTE);
    };
    if copy_first {
        send(&responses, 1, &tiles[..1]);
        read_to_here(&image, 1);
    }
    send(&responses, 0, &tiles[..split_at]);
    let last = if split_at < 79 {
        scenario.add_partitions(&responses, 2);
        image.wait_for("Partitions assigned", 2, MINUTE);
        1
    } else {
        0
    };
    send(&responses, last, &tiles[split_at..79]);
    read_to_here(&image, last);
    // A few commit periods (200 ms each): whatever would be committed, is.
    std::thread::sleep(Duration::from_secs(1));
    image.kill();
    let restarted = scenario.start("image", "image", &args);
    restarted.wait_assigned();
    send(&responses, last, &tiles[79..]);
    restarted.wait_for("Output file is: ", 1, MINUTE);
    assert_eq!(
        pngs_in(&output),
        vec![rendered(&[], "classic", &scenario.dir)]
    );
}

/// Before, a job's hold sat on the first partition it was seen on: with a copy of tile 0 on
/// another partition first, commits on the job's own partition passed its tiles, and after
/// a kill -9 the restarted assembler lacked them ("expired ... tiles missing").
#[test]
fn a_job_seen_first_on_another_partition_survives_a_kill_between_its_tiles() {
    let scenario = Scenario::new("copy-elsewhere", 2);
    kill_between_tiles(&scenario, &[], true, 79);
}

/// The same with partitions added to the responses topic mid-job (1 to 2): the job's later
/// tiles land on the new partition.
#[test]
fn a_job_whose_partitions_were_added_mid_job_survives_a_kill_between_its_tiles() {
    let scenario = Scenario::new("partitions-added", 1);
    // So the assembler sees the new partition within a second, not five minutes.
    let flags = ["-X", "topic.metadata.refresh.interval.ms=500"];
    kill_between_tiles(&scenario, &flags, false, 40);
}

/// Tile 0 of a job that never completes, then all of job 2: commits stay below job 1, so
/// whoever reads the partition next reads job 2 again.
fn an_unfinished_job_then_a_finished_one(scenario: &Scenario) -> JobId {
    let job = default_job(Format::I4F28, 64);
    let unfinished = results(JobId(1), job);
    send(&scenario.responses(), 0, &unfinished[..1]);
    send(&scenario.responses(), 0, &results(JobId(2), job));
    JobId(2)
}

/// Before, the record of written jobs was read only at start: after a SIGTERM handed the
/// partition over, the taker replayed and wrote a second PNG of a job the other had written.
#[test]
fn assemblers_sharing_a_directory_write_each_job_once() {
    let scenario = Scenario::new("shared-directory", 1);
    let output = scenario.dir.join("images");
    let args = ["--output-dir", output.to_str().unwrap()];
    let mut first = scenario.start("image", "image", &args);
    first.wait_assigned();
    let taker = scenario.start("image", "image", &args);
    taker.wait_for("Assembling images", 1, MINUTE);
    let written = an_unfinished_job_then_a_finished_one(&scenario);
    first.wait_for("Output file is: ", 1, MINUTE);
    first.terminate();
    assert!(first.wait_exit(MINUTE).success(), "{}", first.log());
    taker.wait_assigned();
    send(&scenario.responses(), 0, &[marker()]);
    taker.wait_for("dead letter #1 ", 1, MINUTE);
    assert_eq!(images_of(&output, written), 1, "{}", taker.log());
    assert!(!taker.log().contains("Output file is"), "{}", taker.log());
}

/// Before, a restart remembered the last 4,096 images' jobs: beside 4,101 images it wrote
/// every replayed job again (4,101 files became 8,202).
#[test]
fn a_restart_beside_thousands_of_images_writes_no_replayed_job_again() {
    let scenario = Scenario::new("many-images", 1);
    let output = scenario.dir.join("images");
    let args = ["--output-dir", output.to_str().unwrap()];
    let mut image = scenario.start("image", "image", &args);
    image.wait_assigned();
    let written = an_unfinished_job_then_a_finished_one(&scenario);
    image.wait_for("Output file is: ", 1, MINUTE);
    image.terminate();
    assert!(image.wait_exit(MINUTE).success(), "{}", image.log());
    // 4,100 images of other jobs, all newer than the one written.
    let small = fixedbrot_tests::cases::job(Format::I4F28, "-2,1", "1,-1", (3, 2), 8, (3, 2));
    let png = Png {
        colouring: fixedbrot::output::Colouring::Fixed(Palette::Classic),
        threads: 1,
    };
    for id in 0..4100 {
        let image = Image {
            job_id: JobId(0x1000 + id),
            job: small,
            counts: vec![1; 6],
            smooth: Vec::new(),
        };
        let mut bytes = Vec::new();
        png.encode_into(&image, &mut bytes).unwrap();
        std::fs::write(output.join(format!("other-{id}.png")), bytes).unwrap();
    }
    let restarted = scenario.start("image", "image", &args);
    restarted.wait_for("4101 images", 1, MINUTE);
    restarted.wait_assigned();
    send(&scenario.responses(), 0, &[marker()]);
    restarted.wait_for("dead letter #1 ", 1, MINUTE);
    assert_eq!(images_of(&output, written), 1, "{}", restarted.log());
    assert_eq!(std::fs::read_dir(&output).unwrap().count(), 4101);
}

/// generate, calc and image over topics whose `compression.type` is `codec`: the brokers
/// store every batch in it, so every consumer must read it.
fn pipeline_over(codec: &str) {
    let scenario = Scenario::named(&brokers(), &format!("codec-{codec}"));
    let setting = format!("compression.type={codec}");
    let mut topics = scenario.topics_with(&["--partitions", "2", "--config", &setting]);
    assert!(topics.wait_exit(MINUTE).success(), "{}", topics.log());
    let calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let output = scenario.dir.join("image.png");
    let mut image: Process =
        scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    calc.wait_assigned();
    image.wait_assigned();
    scenario.generate(&[]);
    let status = image.wait_exit(MINUTE);
    assert!(status.success(), "{codec}: {}\n{}", image.log(), calc.log());
    assert_eq!(pixels(&output), rendered(&[], "classic", &scenario.dir));
}

/// Before, rdkafka was built without zstd: one zstd batch ("Decompression (codec 0x4) ...
/// Not implemented") blocked its partition for good, twice a second.
#[test]
fn every_compression_codec_a_topic_may_set_is_read() {
    std::thread::scope(|scope| {
        for codec in ["gzip", "snappy", "lz4", "zstd"] {
            scope.spawn(move || pipeline_over(codec));
        }
    });
}

/// CRC-32C (Castagnoli), the checksum of a Kafka record batch.
fn crc32c(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in bytes {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = (crc >> 1) ^ (0x82F6_3B78 & (crc & 1).wrapping_neg());
        }
    }
    !crc
}

/// Spoils the compressed records of the first batch of a log segment (v2 batches: a 61-byte
/// header, the CRC at 17 covering from byte 21 to the batch's end) and makes its CRC right
/// again, so the broker serves it as it is and only decompressing it fails.
fn spoil_first_batch(segment: &Path) {
    let mut log = std::fs::read(segment).unwrap();
    let length = i32::from_be_bytes(log[8..12].try_into().unwrap()) as usize;
    let end = 12 + length;
    assert_eq!(log[16], 2, "a v2 batch");
    assert_eq!(log[22] & 7, 1, "gzip");
    assert_eq!(&log[61..63], &[0x1f, 0x8b], "gzip's magic");
    log[61..63].copy_from_slice(b"no");
    let crc = crc32c(&log[21..end]);
    log[17..21].copy_from_slice(&crc.to_be_bytes());
    std::fs::write(segment, log).unwrap();
}

/// Before, a batch in a codec the build lacked stopped its partition for good: librdkafka
/// fetched it again twice a second ("Decompression ... Not implemented"), and no later
/// request was answered. Every codec is in the build now, so the test spoils a gzip batch
/// on the broker's disk: it is dead-lettered and passed, and the job after it completes.
#[test]
fn a_batch_that_cannot_be_decompressed_is_dead_lettered_and_passed() {
    let broker = OwnBroker::start(19492);
    let scenario = Scenario::on(&broker.address(), "unreadable", 1);
    let gzip: rdkafka::producer::BaseProducer = rdkafka::ClientConfig::new()
        .set("bootstrap.servers", broker.address())
        .set("compression.type", "gzip")
        .set("linger.ms", "100")
        .create()
        .unwrap();
    let requests = scenario.requests();
    for n in 0..3 {
        let payload = format!("request {n}, whatever it says");
        let record = BaseRecord::to(&requests)
            .partition(0)
            .key("x")
            .payload(&payload);
        gzip.send(record).unwrap();
    }
    gzip.flush(Duration::from_secs(10)).unwrap();
    broker.stop();
    let segment = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!(
        "../.kafka/19492/data/{}-0/00000000000000000000.log",
        scenario.requests()
    ));
    spoil_first_batch(&segment);
    broker.up();
    let calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let output = scenario.dir.join("image.png");
    let mut image = scenario.start("image", "image", &["--output", output.to_str().unwrap()]);
    calc.wait_assigned();
    image.wait_assigned();
    scenario.generate(&[]);
    assert!(
        image.wait_exit(MINUTE).success(),
        "{}\n{}",
        image.log(),
        calc.log()
    );
    assert_eq!(pixels(&output), rendered(&[], "classic", &scenario.dir));
    assert!(calc.log().contains("cannot be read"), "{}", calc.log());
    let letters = read_topic_on(&broker.address(), &format!("{}.dlq", scenario.requests()));
    assert!(
        (1..=3).contains(&letters.len()),
        "one dead letter per offset of the batch passed: {}",
        letters.len()
    );
    assert!(letters.iter().all(|letter| letter.payload().is_none()));
}

/// Before, a job with tiles on two partitions was given up whole when a second assembler
/// joined and took one of them: its tiles on the other were committed past, and when the
/// second one left, the job could never complete (the tester's "32 of 64 tiles missing").
#[test]
fn a_job_on_two_partitions_survives_a_second_assembler_joining_and_leaving() {
    let scenario = Scenario::new("split-and-share", 2);
    let output = scenario.dir.join("images");
    let args = ["--output-dir", output.to_str().unwrap()];
    let first = scenario.start("image", "image", &args);
    first.wait_assigned();
    let (job_id, job) = (JobId(0xabc), default_job(Format::I4F28, 64));
    let tiles = results(job_id, job);
    let responses = scenario.responses();
    send(&responses, 0, &tiles[..40]);
    send(&responses, 1, &tiles[40..79]);
    for partition in [0, 1] {
        send(&responses, partition, &[marker()]);
    }
    first.wait_for("dead letter #2 ", 1, MINUTE);
    let mut second = scenario.start("image", "image", &args);
    // The group moves one partition to the newcomer, then both back when it leaves.
    second.wait_assigned();
    second.terminate();
    assert!(second.wait_exit(MINUTE).success(), "{}", second.log());
    first.wait_for("Partitions assigned", 2, MINUTE);
    send(&responses, 0, &tiles[79..]);
    first.wait_for("Output file is: ", 1, MINUTE);
    assert_eq!(
        pngs_in(&output),
        vec![rendered(&[], "classic", &scenario.dir)]
    );
}

/// Before, only the output directory's partial files of dead writers were removed at start:
/// those in `--raw-dir` and in `--output`'s directory stayed for ever.
#[test]
fn dead_writers_partial_files_go_from_where_render_and_colour_write() {
    let scratch = Scratch::new("partials-render");
    let (images, raw) = (scratch.join("images"), scratch.join("raw"));
    let dead = [
        images.join("image-1.png.99999-0.partial"),
        raw.join("counts.npy.99999-0.partial"),
        raw.join("coloured.png.99998-0.partial"),
    ];
    for partial in &dead {
        std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
        std::fs::write(partial, b"half").unwrap();
    }
    let (counts, image) = (raw.join("counts.npy"), images.join("x.png"));
    let (counts, image) = (counts.to_str().unwrap(), image.to_str().unwrap());
    let render = [
        "render", "--width", "64", "--height", "48", "--raw", counts, "-o", image,
    ];
    let coloured = raw.join("coloured.png");
    let colour = ["colour", counts, "-o", coloured.to_str().unwrap()];
    for args in [&render[..], &colour[..]] {
        let output = Command::new(BIN).args(args).output().unwrap();
        assert!(output.status.success(), "{args:?}: {output:?}");
    }
    for partial in &dead {
        assert!(!partial.exists(), "{} is still there", partial.display());
    }
}

#[test]
fn dead_writers_partial_files_go_from_every_directory_image_writes_in() {
    let scenario = Scenario::new("partials", 1);
    let (images, raw, single) = (
        scenario.dir.join("images"),
        scenario.dir.join("raw"),
        scenario.dir.join("single"),
    );
    let dead = [
        images.join("image-1.png.99999-0.partial"),
        raw.join("job-00000000000000ab.npy.99999-0.partial"),
        single.join("image-2.png.99998-0.partial"),
    ];
    for partial in &dead {
        std::fs::create_dir_all(partial.parent().unwrap()).unwrap();
        std::fs::write(partial, b"half").unwrap();
    }
    let dir_args = [
        "--output-dir",
        images.to_str().unwrap(),
        "--raw-dir",
        raw.to_str().unwrap(),
    ];
    let in_dir = scenario.start("image", "dir", &dir_args);
    in_dir.wait_assigned();
    let file = single.join("x.png");
    let in_file = scenario.start("image", "file", &["--output", file.to_str().unwrap()]);
    in_file.wait_assigned();
    for partial in &dead {
        assert!(!partial.exists(), "{} is still there", partial.display());
    }
}
