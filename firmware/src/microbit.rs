//! UART0 of the nRF51822 on a BBC micro:bit: 115200 8N1 on P0.24 (TX) and P0.25 (RX), the
//! USB serial port. The only `unsafe` here: volatile accesses to fixed register addresses.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};

// nRF51 Reference Manual, UART: base 0x40002000.
const UART0: usize = 0x4000_2000;
const STARTRX: *mut u32 = UART0 as *mut u32;
const STARTTX: *mut u32 = (UART0 + 0x008) as *mut u32;
const RXDRDY: *mut u32 = (UART0 + 0x108) as *mut u32;
const TXDRDY: *mut u32 = (UART0 + 0x11C) as *mut u32;
const ENABLE: *mut u32 = (UART0 + 0x500) as *mut u32;
const PSELTXD: *mut u32 = (UART0 + 0x50C) as *mut u32;
const PSELRXD: *mut u32 = (UART0 + 0x514) as *mut u32;
const RXD: *mut u32 = (UART0 + 0x518) as *mut u32;
const TXD: *mut u32 = (UART0 + 0x51C) as *mut u32;
const BAUDRATE: *mut u32 = (UART0 + 0x524) as *mut u32;
const BAUD_115200: u32 = 0x01D7_E000;

/// UART0, configured. There is one, so `new` is called once, by `main`.
pub struct Uart(());

impl Uart {
    /// Routes the UART to the micro:bit's USB serial pins and starts both directions.
    pub fn new() -> Uart {
        // SAFETY: the nRF51's UART0 registers (reference manual, memory map); main owns them
        // alone and calls this once.
        unsafe {
            write_volatile(PSELTXD, 24);
            write_volatile(PSELRXD, 25);
            write_volatile(BAUDRATE, BAUD_115200);
            write_volatile(ENABLE, 4);
            write_volatile(STARTRX, 1);
            write_volatile(STARTTX, 1);
        }
        Uart(())
    }
}

impl crate::Serial for Uart {
    fn read(&mut self) -> u8 {
        // SAFETY: UART0 event and data registers, owned by this value.
        unsafe {
            while read_volatile(RXDRDY) == 0 {}
            write_volatile(RXDRDY, 0);
            read_volatile(RXD) as u8
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: UART0 event and data registers, owned by this value.
            unsafe {
                write_volatile(TXDRDY, 0);
                write_volatile(TXD, u32::from(byte));
                while read_volatile(TXDRDY) == 0 {}
            }
        }
    }
}
