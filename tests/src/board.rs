//! The firmware on QEMU's emulated LM3S6965 board, its UART0 on a TCP socket: what the
//! firmware tests and the board benchmark talk to.
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
}

impl Machine {
    /// Both boards.
    pub const ALL: [Machine; 2] = [Machine::Lm3s6965, Machine::Microbit];

    fn qemu_name(self) -> &'static str {
        match self {
            Machine::Lm3s6965 => "lm3s6965evb",
            Machine::Microbit => "microbit",
        }
    }

    fn elf(self) -> PathBuf {
        let target = match self {
            Machine::Lm3s6965 => "thumbv7m-none-eabi",
            Machine::Microbit => "thumbv6m-none-eabi",
        };
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../firmware/target")
            .join(target)
            .join("release/fixedbrot-firmware")
    }
}

/// Starts the firmware on `machine` under qemu-system-arm, its UART on `serial` (a QEMU
/// character device, such as `tcp:127.0.0.1:4444,server=on,wait=on`).
pub fn qemu(machine: Machine, serial: &str) -> Child {
    let elf = machine.elf();
    assert!(
        elf.exists(),
        "{} is missing: run `just firmware`",
        elf.display()
    );
    Command::new("qemu-system-arm")
        .args([
            "-machine",
            machine.qemu_name(),
            "-nographic",
            "-monitor",
            "none",
        ])
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
        .expect("qemu-system-arm (Debian package qemu-system-arm)")
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
        let qemu = qemu(machine, &format!("tcp:127.0.0.1:{port}"));
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
