//! The firmware on QEMU's emulated boards, a board's UART on a TCP socket: what the firmware
//! tests and the board benchmark talk to.
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fixedbrot_core::limits::MAX_FRAME_LEN;
use fixedbrot_core::wire::{self, Envelope};

/// A board QEMU emulates, with the firmware `just firmware` builds for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Machine {
    /// TI Stellaris LM3S6965 evaluation board: Cortex-M3, 64 KiB RAM.
    Lm3s6965,
    /// BBC micro:bit: nRF51822, Cortex-M0 (no 64-bit multiply), 16 KiB RAM.
    Microbit,
    /// Arm MPS2 with the AN386 image: Cortex-M4F (ARMv7E-M).
    Mps2An386,
    /// Arm MPS2 with the AN505 image: Cortex-M33 (ARMv8-M Mainline), running Secure.
    Mps2An505,
    /// SiFive E (FE310, the HiFive1): RISC-V RV32IMAC, 16 KiB RAM.
    SifiveE,
    /// The LM3S6965 with a firmware that takes tiles of at most 256 pixels, so the bridge
    /// splits larger ones (`just firmware` builds it into `firmware/target/small-tiles`).
    SmallTiles,
}

impl Machine {
    /// Every board, each with its own instruction set (the small-tiles build is an LM3S6965).
    pub const ALL: [Machine; 5] = [
        Machine::Lm3s6965,
        Machine::Microbit,
        Machine::Mps2An386,
        Machine::Mps2An505,
        Machine::SifiveE,
    ];

    /// The widest format the board's firmware computes, in bits: its RAM's worth.
    pub fn max_bits(self) -> u32 {
        match self {
            Machine::Microbit | Machine::SifiveE => 1024,
            _ => 4096,
        }
    }

    /// The most values of a reference orbit the board's firmware holds.
    pub fn max_orbit_points(self) -> u32 {
        match self {
            Machine::Microbit | Machine::SifiveE => 16,
            Machine::Lm3s6965 | Machine::SmallTiles => 64,
            _ => 8192,
        }
    }

    /// The QEMU program and its machine.
    fn qemu(self) -> (&'static str, &'static str) {
        match self {
            Machine::Lm3s6965 | Machine::SmallTiles => ("qemu-system-arm", "lm3s6965evb"),
            Machine::Microbit => ("qemu-system-arm", "microbit"),
            Machine::Mps2An386 => ("qemu-system-arm", "mps2-an386"),
            Machine::Mps2An505 => ("qemu-system-arm", "mps2-an505"),
            Machine::SifiveE => ("qemu-system-riscv32", "sifive_e"),
        }
    }

    /// The firmware's target and where `just firmware` builds it, under `firmware/`.
    pub fn target(self) -> (&'static str, &'static str) {
        match self {
            Machine::Lm3s6965 => ("thumbv7m-none-eabi", "target"),
            Machine::Microbit => ("thumbv6m-none-eabi", "target"),
            Machine::Mps2An386 => ("thumbv7em-none-eabihf", "target"),
            Machine::Mps2An505 => ("thumbv8m.main-none-eabi", "target"),
            Machine::SifiveE => ("riscv32imac-unknown-none-elf", "target"),
            Machine::SmallTiles => ("thumbv7m-none-eabi", "target/small-tiles"),
        }
    }

    pub fn elf(self) -> PathBuf {
        let (target, dir) = self.target();
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../firmware")
            .join(dir)
            .join(target)
            .join("release/fixedbrot-firmware")
    }
}

/// Starts the firmware on `machine` under QEMU, its UART on `serial` (a QEMU character
/// device, such as `tcp:127.0.0.1:4444,server=on,wait=on`).
pub fn qemu(machine: Machine, serial: &str) -> Child {
    let elf = machine.elf();
    assert!(
        elf.exists(),
        "{} is missing: run `just firmware`",
        elf.display()
    );
    let (program, name) = machine.qemu();
    Command::new(program)
        .args(["-machine", name, "-nographic", "-monitor", "none"])
        .args([
            "-semihosting-config",
            "enable=on,target=native",
            "-serial",
            serial,
        ])
        .arg("-kernel")
        .arg(&elf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} (Debian qemu-system-arm, qemu-system-misc): {e}"))
}

/// A booted board; QEMU is stopped when it is dropped.
pub struct Board {
    qemu: Child,
    uart: TcpStream,
}

impl Board {
    /// Boots the firmware `just firmware` built for `machine`.
    pub fn boot(machine: Machine) -> Board {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let qemu = qemu(machine, &format!("tcp:127.0.0.1:{port},nodelay=on"));
        let (uart, _) = listener.accept().unwrap();
        uart.set_read_timeout(Some(Duration::from_secs(60)))
            .unwrap();
        Board { qemu, uart }
    }

    /// Sends raw bytes down the line.
    pub fn send(&mut self, bytes: &[u8]) {
        self.uart.write_all(bytes).unwrap();
    }

    /// The next frame from the board, delimiter included.
    pub fn receive(&mut self) -> Vec<u8> {
        let mut frame = Vec::new();
        let mut byte = [0u8];
        while frame.last() != Some(&0) {
            self.uart.read_exact(&mut byte).expect("the board answers");
            frame.push(byte[0]);
            assert!(
                frame.len() <= MAX_FRAME_LEN,
                "a frame longer than any message"
            );
        }
        frame
    }

    /// Sends a message as a COBS frame and returns the next frame.
    pub fn ask(&mut self, envelope: &Envelope) -> Vec<u8> {
        let mut buf = vec![0u8; MAX_FRAME_LEN];
        self.send(wire::encode_cobs(envelope, &mut buf).unwrap());
        self.receive()
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        let _ = self.qemu.kill();
        let _ = self.qemu.wait();
    }
}
