//! The firmware on five emulated boards, its UART on a TCP socket: a Cortex-M3 (QEMU's
//! lm3s6965evb, 64 KiB RAM), a Cortex-M0 (microbit, 16 KiB RAM, no 64-bit multiply), a
//! Cortex-M4F (mps2-an386), a Cortex-M33 running Secure (mps2-an505) and a RISC-V RV32IMAC
//! (sifive_e, 16 KiB RAM). On each it computes the fixture tiles byte for byte as the host
//! does, direct and perturbed, with smooth fractions and without, refuses what it cannot
//! serve, and survives garbage on the line. `just test` builds the ELFs first.
use fixedbrot_core::limits::{MAX_FRAME_LEN, WIRE_VERSION};
use fixedbrot_core::wire::{self, Envelope, Message, Reason, Refusal, TileRequest, TileResult};
use fixedbrot_core::{Bla, JobId, Kernel, OrbitPoint, Reference};
use fixedbrot_tests::board::{Board, Machine};
use fixedbrot_tests::{cases, table};

fn request(job_id: u64, request: TileRequest) -> Envelope {
    Envelope {
        job_id: JobId(job_id),
        message: Message::Request(request),
    }
}

#[test]
fn the_boards_compute_every_fixture_tile_byte_for_byte() {
    for machine in Machine::ALL {
        every_fixture_tile(machine);
    }
}

fn every_fixture_tile(machine: Machine) {
    let mut board = Board::boot(machine);
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    // Label, kernel, the tile's inputs, its counts and any fractions, from the three files.
    let direct = table::read("tiles.tsv")
        .into_iter()
        .map(|row| (row[0].clone(), Kernel::Direct, row[1..].to_vec()));
    let kernel = |row: &[String]| Kernel::from_name(&row[1]).expect("a kernel");
    let perturbed = table::read("perturbed.tsv")
        .into_iter()
        .map(|row| (row[0].clone(), kernel(&row), row[2..].to_vec()));
    let smooth = table::read("smooth.tsv")
        .into_iter()
        .map(|row| (row[0].clone(), kernel(&row), row[2..].to_vec()));
    for (n, (label, kernel, row)) in direct.chain(perturbed).chain(smooth).enumerate() {
        let (mut job, tile) = cases::tile_from_inputs(&row[..11], kernel);
        let numbers = |column: &String| -> Vec<u32> {
            column.split(',').map(|c| c.parse().unwrap()).collect()
        };
        let counts = numbers(&row[11]);
        let fractions: Vec<u16> = row.get(12).map_or(vec![], |column| {
            numbers(column).into_iter().map(|f| f as u16).collect()
        });
        job.smooth = row.len() > 12;
        let result = Message::Result(TileResult {
            job,
            tile,
            counts: counts.as_slice().try_into().unwrap(),
            smooth: fractions.as_slice().try_into().unwrap(),
        });
        let max_bits = machine.max_bits();
        // Too wide for the board: refused, from the frame's first bytes if the whole request
        // is more than the board holds, so the bridge has it computed elsewhere.
        // A reference orbit longer than the board holds: refused, the tile named.
        let max_points = machine.max_orbit_points();
        let mut room = vec![OrbitPoint::default(); max_points as usize];
        let mut table = vec![Bla::default(); 2 * max_points as usize];
        let orbit_fits =
            job.kernel == Kernel::Direct || Reference::of_job(&job, &mut room, &mut table).is_ok();
        let message = if job.format.bits() > max_bits {
            let refused = Refusal {
                tile: None,
                reason: Reason::TooWide { max_bits },
            };
            Message::Refused(refused)
        } else if !orbit_fits {
            Message::Refused(Refusal {
                tile: Some(tile),
                reason: Reason::OrbitTooLong { max_points },
            })
        } else {
            result
        };
        let expected = Envelope {
            job_id: JobId(n as u64),
            message,
        };
        let expected = wire::encode_cobs(&expected, &mut buf).unwrap().to_vec();
        let answer = board.ask(&request(n as u64, TileRequest { job, tile }));
        assert!(
            answer == expected,
            "{machine:?}, tile {label}, {kernel}: the board's bytes differ from the fixture's"
        );
    }
}

#[test]
fn garbage_and_oversized_frames_do_not_wedge_the_boards() {
    for machine in Machine::ALL {
        survives_garbage(machine);
    }
}

fn survives_garbage(machine: Machine) {
    let mut board = Board::boot(machine);
    let job = cases::default_job(fixedbrot_core::Format::I4F28, 64);
    let good = request(
        7,
        TileRequest {
            job,
            tile: fixedbrot_core::TileIndex(0),
        },
    );
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let good_frame = wire::encode_cobs(&good, &mut buf).unwrap().to_vec();
    // Garbage with and without delimiters, an oversized frame, a truncated request.
    board.send(b"\x00\x00hello\x00\xff\xff\xff\x00");
    board.send(&[0x42; 5000]);
    board.send(&[0]);
    board.send(&good_frame[..good_frame.len() / 2]);
    board.send(&[0]);
    let answer = board.ask(&good);
    let Message::Result(result) = wire::decode_cobs(&mut answer.clone()).unwrap().message else {
        panic!("a result after the garbage")
    };
    assert_eq!(result.counts.len(), 64 * 64);
}

#[test]
fn the_boards_refuse_another_version_with_the_cores_error_result() {
    for machine in Machine::ALL {
        refuses_another_version(machine);
    }
}

fn refuses_another_version(machine: Machine) {
    let mut board = Board::boot(machine);
    let job = cases::default_job(fixedbrot_core::Format::I4F60, 64);
    let mut buf = vec![0u8; MAX_FRAME_LEN];
    let mut bytes = wire::encode(
        &request(
            9,
            TileRequest {
                job,
                tile: fixedbrot_core::TileIndex(3),
            },
        ),
        &mut buf,
    )
    .unwrap()
    .to_vec();
    bytes[0] = WIRE_VERSION + 1;
    let mut frame = vec![0u8; bytes.len() + 4];
    let len = cobs::encode(&bytes, &mut frame);
    frame.truncate(len);
    frame.push(0);
    board.send(&frame);
    let answer = wire::decode_cobs(&mut board.receive()).unwrap();
    assert_eq!(answer.job_id, JobId(9));
    assert_eq!(
        answer.message,
        Message::Refused(Refusal {
            tile: None,
            reason: Reason::UnsupportedVersion(WIRE_VERSION + 1)
        })
    );
}
