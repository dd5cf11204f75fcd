//! Hostile input is harmless: garbage on either topic is logged, counted and copied to the
//! dead-letter topic, forged results take no room from real jobs, good jobs still complete, a missing broker is a clear error in time,
//! and bad command lines get clap's errors.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::harness::{pixels, pngs_in, producer, read_topic, rendered, Scenario, Scratch, BIN};
use crate::metrics;
use fixedbrot_core::limits::WIRE_VERSION;
use fixedbrot_core::wire::{self, Envelope, Message, TileRequest, TileResult};
use fixedbrot_core::{Format, Grid, JobId, TileIndex};
use rdkafka::message::Headers as _;
use rdkafka::producer::{BaseRecord, Producer};
use rdkafka::Message as _;

const MINUTE: Duration = Duration::from_secs(60);

fn hostile_payloads() -> Vec<Vec<u8>> {
    let job = fixedbrot_tests::cases::default_job(Format::I4F28, 64);
    let request = |job, tile| {
        let mut bytes = vec![WIRE_VERSION];
        let envelope = Envelope {
            job_id: JobId(42),
            message: Message::Request(TileRequest { job, tile }),
        };
        bytes.extend(postcard::to_allocvec(&envelope).unwrap());
        bytes
    };
    let good = request(job, TileIndex(3));
    let mut huge = job;
    huge.grid = Grid {
        width: 1_000_000,
        height: 1_000_000,
        tile_width: 64,
        tile_height: 64,
    };
    let mut wrong_version = good.clone();
    wrong_version[0] = 7;
    // What stock kcat sends at most: a copy of it with headers is over the producer's limit.
    let megabyte = (0..999_900u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    vec![
        b"garbage".to_vec(),
        vec![],
        megabyte,
        good[..good.len() / 2].to_vec(),
        request(job, TileIndex(80)),
        request(huge, TileIndex(0)),
        wrong_version,
        vec![WIRE_VERSION; 5000],
    ]
}

/// A valid request for 2^36 kernel steps, 64 times the default `--max-work`: a worker would
/// be held for minutes.
fn over_work_request() -> Vec<u8> {
    let mut job = fixedbrot_tests::cases::default_job(Format::I4F28, 64);
    job.iterations = 1 << 24;
    let envelope = Envelope {
        job_id: JobId(43),
        message: Message::Request(TileRequest {
            job,
            tile: TileIndex(3),
        }),
    };
    let mut buf = vec![0u8; fixedbrot_core::limits::MAX_ENCODED_LEN];
    wire::encode(&envelope, &mut buf).unwrap().to_vec()
}

/// Results of jobs nobody announced, each claiming a 16384 x 16384 image: 1 GiB of counts
/// if it were held whole. Kafka cannot say who sent them, so they are not dead letters; they must not
/// take the assembler's room from a real job.
fn forged_results() -> Vec<Vec<u8>> {
    let job = fixedbrot_tests::cases::job(
        Format::I4F28,
        "-2,1.5",
        "1,-1.5",
        (16_384, 16_384),
        64,
        (64, 64),
    );
    (0..20)
        .map(|i| {
            let envelope = Envelope {
                job_id: JobId(0xf0f0 + i),
                message: Message::Result(TileResult {
                    job,
                    tile: TileIndex(i as u32),
                    counts: heapless::Vec::from_slice(&[1; 64 * 64]).unwrap(),
                    smooth: heapless::Vec::new(),
                }),
            };
            let mut buf = vec![0u8; fixedbrot_core::limits::MAX_ENCODED_LEN];
            wire::encode(&envelope, &mut buf).unwrap().to_vec()
        })
        .collect()
}

/// A message as a test reads it back: payload (`None` for NULL) and headers.
type Letter = (Option<Vec<u8>>, Vec<(String, String)>);

/// The dead letters on `topic`.
fn dead_letters(topic: &str) -> Vec<Letter> {
    read_topic(topic, false)
        .into_iter()
        .map(|message| {
            let headers = message.headers().expect("dead letters say why");
            let headers = headers
                .iter()
                .map(|h| {
                    (
                        h.key.to_owned(),
                        String::from_utf8_lossy(h.value.unwrap_or_default()).into(),
                    )
                })
                .collect();
            (message.payload().map(<[u8]>::to_vec), headers)
        })
        .collect()
}

#[test]
fn hostile_messages_are_dead_lettered_and_good_jobs_still_complete() {
    let scenario = Scenario::new("hostile", 3);
    let mut calc = scenario.start("calc", "calc", &["--threads", "1"]);
    let mut image = scenario.start(
        "image",
        "image",
        &["--output-dir", scenario.dir.to_str().unwrap()],
    );
    calc.wait_assigned();
    image.wait_assigned();
    let producer = producer();
    let mut payloads = hostile_payloads();
    payloads.push(over_work_request());
    for topic in [scenario.requests(), scenario.responses()] {
        for payload in &payloads {
            producer
                .send(BaseRecord::to(&topic).key("x").payload(payload))
                .unwrap();
        }
        // A NULL message, not an empty one.
        producer
            .send(BaseRecord::<str, [u8]>::to(&topic).key("x"))
            .unwrap();
    }
    for forged in forged_results() {
        producer
            .send(
                BaseRecord::to(&scenario.responses())
                    .key("forged")
                    .payload(&forged),
            )
            .unwrap();
    }
    producer.flush(Duration::from_secs(10)).unwrap();
    // All forged jobs are in (16 in flight, the rest set aside) before the real one.
    image.wait_for("set aside to make room", 4, MINUTE);
    scenario.generate(&[]);
    image.wait_for("Output file is: ", 1, MINUTE);
    let log = image.log();
    // The path is the event's field, not the message's text.
    let written = log
        .lines()
        .find(|line| line.contains("Output file is"))
        .and_then(|line| line.rsplit_once(" path="))
        .map(|(_, path)| path)
        .unwrap();
    assert_eq!(
        pixels(std::path::Path::new(written)),
        rendered(&[], "classic", &scenario.dir)
    );
    // 16 forged jobs filled the slots; the other four, then the real job, each set one aside.
    assert_eq!(log.matches("set aside to make room").count(), 5, "{log}");
    // Every hostile message is dead-lettered, on either side. What the worker could still answer
    // (a refusal to a job id it could read) reaches the assembler as a failed job.
    let n = payloads.len() + 1;
    calc.wait_for(&format!("dead letter #{n} "), 1, MINUTE);
    image.wait_for(&format!("dead letter #{n} "), 1, MINUTE);
    for topic in [scenario.requests(), scenario.responses()] {
        let letters = dead_letters(&format!("{topic}.dlq"));
        assert_eq!(letters.len(), n, "{topic}");
        assert_eq!(
            letters.iter().filter(|(p, _)| p.is_none()).count(),
            1,
            "one NULL copied as NULL"
        );
        let cut: Vec<_> = letters
            .iter()
            .filter_map(|(p, h)| {
                h.iter()
                    .find(|(k, _)| k == "fixedbrot.original-size")
                    .map(|(_, v)| (p, v))
            })
            .collect();
        assert_eq!(cut.len(), 1, "{topic}: only the megabyte is cut");
        assert_eq!(cut[0].1, "999900");
        assert_eq!(
            cut[0].0.as_deref(),
            Some(&payloads[2][..cut[0].0.as_ref().unwrap().len()])
        );
        // Each says why.
        let reasons: Vec<&str> = letters
            .iter()
            .map(|(_, h)| {
                let reason = h.iter().find(|(k, _)| k == "fixedbrot.reason");
                reason.map_or("", |(_, v)| v.as_str())
            })
            .collect();
        assert!(reasons.iter().all(|r| !r.is_empty()), "{reasons:?}");
        if topic == scenario.requests() {
            let over = reasons.iter().filter(|r| r.contains("--max-work")).count();
            assert_eq!(over, 1, "{reasons:?}");
        }
    }
    // The worker refused it with its own reason, and the assembler failed its job.
    image.wait_for("over its limit of 1073741824 (--max-work)", 1, MINUTE);
    assert!(
        calc.running() && image.running(),
        "both stayed up throughout"
    );
    assert!(
        !image.log().contains(&format!("dead letter #{} ", n + 1)),
        "{}",
        image.log()
    );
}

#[test]
fn a_broker_that_is_down_is_a_clear_error_within_15_s() {
    std::thread::scope(|s| {
        for subcommand in ["generate", "calc", "image"] {
            s.spawn(move || {
                let started = Instant::now();
                let output = Command::new(BIN)
                    .args([subcommand, "--brokers", "127.0.0.1:9"])
                    .output()
                    .unwrap();
                let stderr = String::from_utf8_lossy(&output.stderr);
                assert!(
                    started.elapsed() < Duration::from_secs(15),
                    "{subcommand} took {:?}",
                    started.elapsed()
                );
                assert_eq!(output.status.code(), Some(1), "{subcommand}");
                assert!(
                    stderr.contains("no Kafka broker answered at 127.0.0.1:9"),
                    "{subcommand}: {stderr}"
                );
            });
        }
    });
}

/// Palette files a user may get wrong, and flags that do not go together: one line saying
/// what is wrong, exit 2, and nothing written.
#[test]
fn bad_palettes_are_refused_with_one_line_and_exit_2() {
    let dir = std::env::temp_dir().join(format!("fixedbrot-palettes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_owned()
    };
    let empty = file("empty.txt", "; no colours here\n\n");
    let bad = file("bad.txt", "#102030\n#1020zz\n");
    let many = file("many.txt", &"#102030\n".repeat(100_000));
    // A FIFO with no writer: opening it to read would wait for ever (a probe hung on one).
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let fifo = fifo.to_str().unwrap().to_owned();
    for (args, says) in [
        (vec!["render", "--palette", &empty], "no colours"),
        (
            vec!["render", "--palette", &bad],
            "line 2: \"#1020zz\" is not a colour",
        ),
        (vec!["render", "--palette", &many], "more than 1024 colours"),
        (vec!["render", "--palette", &fifo], "not a regular file"),
        (
            vec![
                "colour",
                "x.npy",
                "--palette",
                "ultra",
                "--histogram",
                "--palette",
                "azure",
            ],
            "--palette",
        ),
        (
            vec!["colour", "x.npy", "--histogram", "--palette", "azure"],
            "--histogram",
        ),
        (
            vec!["colour", "x.npy", "--palette", "/nonexistent/palette"],
            "nor a file",
        ),
        (
            vec!["render", "--palette", "classic", "--histogram"],
            "--histogram",
        ),
        (vec!["render", "--palette-span", "0"], "--palette-span"),
    ] {
        let output = Command::new(BIN)
            .args(&args)
            .current_dir(&dir)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(says),
            "{args:?}: {stderr}"
        );
    }
    let pngs = std::fs::read_dir(&dir)
        .unwrap()
        .filter(|entry| entry.as_ref().unwrap().path().extension() == Some("png".as_ref()))
        .count();
    assert_eq!(pngs, 0, "nothing is written");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_command_lines_get_clap_errors_and_exit_2() {
    for args in [
        &["render", "--width", "0"][..],
        &["render", "--tile", "100x100"],
        &["render", "--top-left=-9,0"],
        &["render", "--format", "16"],
        &["render", "--center", "0,0", "--zoom", "0"],
        &["render", "--center", "0,0", "--zoom", "-1"],
        &["render", "--center", "0,0", "--zoom", "ten"],
        &["render", "--center", "0,0", "--zoom", "1E100000"],
        &["render", "--center", "zero,zero", "--zoom", "1"],
        &["render", "--samples", "0"],
        &["render", "--samples", "100"],
        &["generate", "--samples", "9"],
        &["render", "--width", "40000", "--samples", "2"],
        &["render", "--center", "0,0"],
        &[
            "render",
            "--center",
            "0,0",
            "--zoom",
            "1",
            "--top-left",
            "0,0",
        ],
        &["render", "--center", "-0.75,0.1", "--zoom", "1E1240"],
        &["render", "--format", "4128"],
        &["render", "--format", "100"],
        &["render", "--iterations", "-1"],
        &["generate", "--palette", "x"],
        &["calc", "-X", "novalue"],
        &["render", "--width", "70000"],
        &["render", "--max-pixels", "1000"],
        // A tile named is the user's: its work over --max-work is refused, not shrunk.
        &["render", "--iterations", "1000000", "--tile", "64x64"],
        &[
            "generate",
            "--tile",
            "1x1",
            "--iterations",
            "10",
            "--max-work",
            "9",
        ],
        &["frobnicate"],
        // librdkafka refuses these when they are set: before any work, not after.
        &["calc", "-X", "no.such.setting=1"],
        &["image", "-X", "session.timeout.ms=soon"],
        // --output writes one file: --output-dir would be created and never used.
        &[
            "image",
            "--output",
            "x.png",
            "--output-dir",
            "/nonexistent-fixedbrot",
        ],
    ] {
        let output = Command::new(BIN).args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    assert!(!std::path::Path::new("/nonexistent-fixedbrot").exists());
}

/// No number is taken that a conversion would wrap later: each is refused when parsed, with
/// the flag and its range.
#[test]
fn numbers_out_of_range_are_refused_naming_the_flag() {
    let nowhere = ["--brokers", "127.0.0.1:9"];
    for (args, flag) in [
        (&["calc", "--connect-timeout", "0"][..], "--connect-timeout"),
        (
            &["calc", "--connect-timeout", "4294968"],
            "--connect-timeout",
        ),
        (
            &["generate", "--connect-timeout", "18446744073709551615"],
            "--connect-timeout",
        ),
        (&["image", "--max-mib", "17592186044416"], "--max-mib"),
        (&["image", "--max-mib", "0"], "--max-mib"),
        (&["image", "--max-jobs", "0"], "--max-jobs"),
        (&["image", "--idle-timeout", "0"], "--idle-timeout"),
        (&["topics", "--partitions", "0"], "--partitions"),
        (&["topics", "--replication", "40000"], "--replication"),
        (
            &["bridge", "--tcp", "127.0.0.1:9", "--board-rate", "0"],
            "--board-rate",
        ),
        (&["bridge", "--tcp", "127.0.0.1:9", "--baud", "0"], "--baud"),
        (&["render", "--max-pixels", "0"], "--max-pixels"),
        (&["calc", "--max-iterations", "0"], "--max-iterations"),
    ] {
        let mut command = Command::new(BIN);
        command.args(args);
        if args[0] != "render" {
            command.args(nowhere);
        }
        let output = command.output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(flag),
            "{args:?}: {stderr}"
        );
    }
}

/// Topic names are Kafka's to judge, but cheaply: a name it would refuse, or two of the four
/// topics that are one (a worker reading its own answers loops), is a usage error before any
/// broker is asked. librdkafka crashed on colliding names in one CreateTopics request.
#[test]
fn colliding_or_illegal_topic_names_are_refused_before_any_broker_is_asked() {
    let long = "t".repeat(246);
    for args in [
        &["topics", "--requests-topic", "x", "--responses-topic", "x"][..],
        &[
            "topics",
            "--requests-topic",
            "x.dlq",
            "--responses-topic",
            "x",
        ],
        &[
            "calc",
            "--requests-topic",
            "same",
            "--responses-topic",
            "same",
        ],
        &["image", "--responses-topic", ""],
        &["generate", "--requests-topic", "a name"],
        &["generate", "--requests-topic", ".."],
        // Legal alone, but its dead-letter topic would be 250 characters.
        &["calc", "--requests-topic", &long],
        &["calc", "-X", "group.id="],
    ] {
        let started = Instant::now();
        let output = Command::new(BIN)
            .args(args)
            .args(["--brokers", "127.0.0.1:9", "--connect-timeout", "30"])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} asked a broker"
        );
    }
}

/// Where the image goes is checked before the work: never a long render, or an assembler's
/// first job, that ends in "cannot write".
#[test]
fn output_problems_are_found_before_any_work() {
    let dir = Scratch::new("fixedbrot-output");
    let existing = dir.join("existing.png");
    std::fs::write(&existing, b"not an image").unwrap();
    let missing = dir.join("missing-dir/x.png");
    // A render that would take minutes, if it started.
    let long = [
        "--width",
        "4096",
        "--height",
        "4096",
        "--iterations",
        "100000",
    ];
    let render = |output: &'static str| [&["render", "-o", output][..], &long].concat();
    // /proc takes no new files, even from root.
    for (args, exit, says) in [
        (render(leak(&missing)), 2, "missing-dir"),
        (render(leak(&existing)), 2, "exists already"),
        (
            render("/proc/fixedbrot.png"),
            2,
            "cannot create files in /proc",
        ),
        // Path errors exit 2 in image as in render.
        (
            vec![
                "image",
                "--output",
                existing.to_str().unwrap(),
                "--brokers",
                "127.0.0.1:9",
            ],
            2,
            "exists already",
        ),
        // The image would take the counts' name: found before the render, not after it.
        (
            [
                &render(leak(&dir.join("f.npy")))[..],
                &["--raw", leak(&dir.join("f.npy"))],
            ]
            .concat(),
            2,
            "is where --raw",
        ),
    ] {
        let started = Instant::now();
        let output = Command::new(BIN).args(&args).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(exit), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "{args:?} worked first"
        );
    }
    assert_eq!(std::fs::read(&existing).unwrap(), b"not an image");
}

/// A path as a `&'static str`, for the table of cases.
fn leak(path: &std::path::Path) -> &'static str {
    path.to_str().unwrap().to_owned().leak()
}

/// A step that rounds to zero in the format asked for says to take a wider one; in the
/// widest already, there is none to take, and the advice says so.
#[test]
fn a_step_that_rounds_to_zero_says_which_way_to_go() {
    let refusal = |format: &str, bottom_right: &str| {
        let output = Command::new(BIN)
            .args(["render", "--format", format, "--width", "65535"])
            .args(["--top-left=0,0", bottom_right])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        stderr
    };
    let narrow = refusal("64", "--bottom-right=0.00000000000000000001,-0.001");
    assert!(narrow.contains("use a wider format"), "{narrow}");
    // 1e-1228 across 65,535 columns: the corners apart in 4,092 bits, the step not.
    let tiny = format!("--bottom-right=0.{}1,-0.001", "0".repeat(1227));
    let widest = refusal("4096", &tiny);
    assert!(widest.contains("even in the widest format"), "{widest}");
}

#[test]
fn decoded_hostile_payloads_are_all_refused_by_the_core() {
    for payload in hostile_payloads() {
        assert!(wire::decode(&payload).is_err());
    }
}

/// Before, `colour` allocated whatever the sidecar claimed: 65535 x 65535 beside a sparse
/// file aborted the process asking for 17 GB. It takes --max-pixels as render does.
#[test]
fn raw_counts_claiming_more_than_max_pixels_are_refused_before_they_are_read() {
    let dir = Scratch::new("fixedbrot-colour-limit");
    let counts = dir.join("counts.npy");
    let status = Command::new(BIN)
        .args(["render", "--width", "8", "--height", "8", "--raw"])
        .arg(&counts)
        .args(["-o", dir.join("small.png").to_str().unwrap()])
        .status()
        .unwrap();
    assert!(status.success());
    // Claim 65535 x 65535 (17 GB of counts), in the sidecar and in an NPY header before a
    // sparse file of that size.
    let sidecar = dir.join("counts.json");
    let text = std::fs::read_to_string(&sidecar).unwrap();
    let claimed = text
        .replace("\"width\": 8", "\"width\": 65535")
        .replace("\"height\": 8", "\"height\": 65535");
    std::fs::write(&sidecar, claimed).unwrap();
    let mut header =
        "{'descr': '<u4', 'fortran_order': False, 'shape': (65535, 65535), }".to_string();
    while !(10 + header.len() + 1).is_multiple_of(64) {
        header.push(' ');
    }
    header.push('\n');
    let mut head = b"\x93NUMPY\x01\x00".to_vec();
    head.extend((header.len() as u16).to_le_bytes());
    head.extend(header.as_bytes());
    std::fs::write(&counts, &head).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&counts)
        .unwrap();
    file.set_len(head.len() as u64 + 65_535 * 65_535 * 4)
        .unwrap();
    let output = Command::new(BIN)
        .args(["colour", counts.to_str().unwrap(), "-o"])
        .arg(dir.join("big.png"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("(--max-pixels)"), "{stderr}");
}

/// Before, a forged all-zero tile 0 sent ahead of the real one left 713 wrong pixels in
/// the PNG, with no log line, no count and no dead letter. With identical bits everywhere,
/// two copies that differ mean a faulty or forged worker: the assembler computes the tile
/// itself, keeps the right copy, and reports the other.
/// Sends `bytes` to the scenario's responses, as a forger would, and waits for the broker.
fn send_forged(scenario: &Scenario, bytes: &[u8]) {
    let producer = producer();
    producer
        .send(
            BaseRecord::to(&scenario.responses())
                .key("forged")
                .payload(bytes),
        )
        .unwrap();
    producer.flush(Duration::from_secs(10)).unwrap();
}

/// Before, the images in a directory were recorded by job id alone: a forged one-tile job
/// under a real job's id, complete at once, was written, and the real job was then "written
/// already" for good (a hostile probe of bd04d45). Its raw counts were written over the real
/// job's, named by id alone (a probe of 4146cb4).
#[test]
fn a_forged_job_under_a_real_id_is_written_beside_it_never_instead() {
    let scenario = Scenario::new("forged-first", 1);
    let (images, raw) = (scenario.dir.join("images"), scenario.dir.join("raw"));
    let image = scenario.start(
        "image",
        "image",
        &[
            "--output-dir",
            images.to_str().unwrap(),
            "--raw-dir",
            raw.to_str().unwrap(),
        ],
    );
    image.wait_assigned();
    let printed = scenario.generate(&[]);
    let job_id =
        JobId(u64::from_str_radix(printed.split_whitespace().next().unwrap(), 16).unwrap());
    let forged = fixedbrot_tests::cases::job(Format::I4F28, "-2,1", "1,-1", (8, 8), 8, (8, 8));
    let bytes = fixedbrot_pipeline::worker::compute(
        job_id,
        &TileRequest {
            job: forged,
            tile: TileIndex(0),
        },
        &Default::default(),
    );
    send_forged(&scenario, &bytes);
    let _calc = scenario.start("calc", "calc", &["--threads", "1"]);
    image.wait_for("Output file is", 2, MINUTE);
    let real = rendered(&[], "classic", &scenario.dir);
    let written = std::fs::read_dir(&images)
        .unwrap()
        .map(|entry| pixels(&entry.unwrap().path()))
        .filter(|image| *image == real)
        .count();
    assert_eq!(written, 1, "{}", image.log());
    assert_eq!(
        pngs_in(&images).len(),
        2,
        "the forged job's image beside the real one"
    );
    // Counts files, not the real job's smooth fractions beside its counts.
    let counts = std::fs::read_dir(&raw)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".npy") && !name.ends_with(".smooth.npy"))
        .count();
    assert_eq!(counts, 2, "the forged job's counts beside the real one's");
}

#[test]
fn a_conflicting_copy_of_a_tile_is_settled_reported_and_dead_lettered() {
    let scenario = Scenario::new("conflict", 1);
    let metrics_at = metrics::free_address();
    let image = scenario.start(
        "image",
        "image",
        &[
            "--output-dir",
            scenario.dir.to_str().unwrap(),
            "--metrics",
            &metrics_at,
        ],
    );
    image.wait_assigned();
    // No worker yet: the requests wait, and the forged tile goes ahead of every result.
    let printed = scenario.generate(&[]);
    let job_id = u64::from_str_radix(printed.split_whitespace().next().unwrap(), 16).unwrap();
    // The job generate sends: with smooth fractions, as it asks by default.
    let job = fixedbrot_core::Job {
        smooth: true,
        ..fixedbrot_tests::cases::default_job(Format::I4F28, 64)
    };
    let mut forged = wire::decode(&fixedbrot_pipeline::worker::compute(
        JobId(job_id),
        &TileRequest {
            job,
            tile: TileIndex(0),
        },
        &Default::default(),
    ))
    .unwrap();
    let Message::Result(tile) = &mut forged.message else {
        unreachable!("a result")
    };
    tile.counts.iter_mut().for_each(|count| *count = 0);
    // A conflict names a copy by its counts and fractions.
    let zeros = fixedbrot_pipeline::assembler::digest_tile(&tile.counts, &tile.smooth);
    let mut buf = vec![0u8; fixedbrot_core::limits::MAX_ENCODED_LEN];
    let bytes = wire::encode(&forged, &mut buf).unwrap().to_vec();
    send_forged(&scenario, &bytes);
    let _calc = scenario.start("calc", "calc", &["--threads", "1"]);
    image.wait_for("Output file is", 1, MINUTE);
    let output = std::fs::read_dir(&scenario.dir)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| {
            path.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with("image-")
        })
        .expect("the image written");
    assert_eq!(pixels(&output), rendered(&[], "classic", &scenario.dir));
    assert!(image.log().contains("two copies differ"), "{}", image.log());
    let conflicts = "fixedbrot_conflicting_results_total";
    let text = metrics::scrape_until(&metrics_at, |text| {
        metrics::sample(text, conflicts).is_some()
    });
    assert_eq!(metrics::sample(&text, conflicts), Some(1.0), "{text}");
    let letters = dead_letters(&format!("{}.dlq", scenario.responses()));
    assert_eq!(letters.len(), 1, "{letters:?}");
    let header = |name: &str| {
        let found = letters[0].1.iter().find(|(k, _)| k == name);
        found.map(|(_, v)| v.clone()).unwrap_or_default()
    };
    assert_eq!(header("fixedbrot.held-sha256"), zeros);
    assert_eq!(header("fixedbrot.this-sha256").len(), 64);
    assert!(header("fixedbrot.reason").contains("differs from the first"));
    assert!(
        image.log().contains("the copy held was wrong"),
        "{}",
        image.log()
    );
}
