//! UART0 of the LM3S6965 (a PL011): 115200 8N1 on PA0/PA1, polled. The only `unsafe` in the
//! firmware: volatile accesses to fixed, documented register addresses.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};

// LM3S6965 data sheet: System Control, GPIO port A and UART0 register addresses.
const RCGC1: *mut u32 = 0x400F_E104 as *mut u32; // bit 0: UART0 clock
const RCGC2: *mut u32 = 0x400F_E108 as *mut u32; // bit 0: GPIO port A clock
const GPIOA_AFSEL: *mut u32 = 0x4000_4420 as *mut u32;
const GPIOA_DEN: *mut u32 = 0x4000_451C as *mut u32;
const UART0: usize = 0x4000_C000;
const DR: *mut u32 = UART0 as *mut u32;
const FR: *mut u32 = (UART0 + 0x018) as *mut u32;
const IBRD: *mut u32 = (UART0 + 0x024) as *mut u32;
const FBRD: *mut u32 = (UART0 + 0x028) as *mut u32;
const LCRH: *mut u32 = (UART0 + 0x02C) as *mut u32;
const CTL: *mut u32 = (UART0 + 0x030) as *mut u32;

const FR_RXFE: u32 = 1 << 4; // receive FIFO empty
const FR_TXFF: u32 = 1 << 5; // transmit FIFO full
const LCRH_FEN: u32 = 1 << 4; // FIFOs on (16 bytes each way)
const LCRH_WLEN8: u32 = 0b11 << 5;
const CTL_UARTEN: u32 = 1;
const CTL_TXE: u32 = 1 << 8;
const CTL_RXE: u32 = 1 << 9;

/// UART0, configured. There is one, so `new` is called once, by `main`.
pub struct Uart(());

impl Uart {
    /// Clocks UART0 and port A, routes PA0/PA1 to the UART, and sets 115200 baud 8N1 for the
    /// 12 MHz clock the chip runs on after reset (12e6 / (16 * 115200) = 6 + 33/64).
    pub fn new() -> Uart {
        // SAFETY: these addresses are the LM3S6965's system-control, GPIO A and UART0
        // registers (data sheet, memory map); main owns them alone and calls this once.
        unsafe {
            write_volatile(RCGC1, read_volatile(RCGC1) | 1);
            write_volatile(RCGC2, read_volatile(RCGC2) | 1);
            write_volatile(GPIOA_AFSEL, read_volatile(GPIOA_AFSEL) | 0b11);
            write_volatile(GPIOA_DEN, read_volatile(GPIOA_DEN) | 0b11);
            write_volatile(CTL, 0);
            write_volatile(IBRD, 6);
            write_volatile(FBRD, 33);
            write_volatile(LCRH, LCRH_WLEN8 | LCRH_FEN);
            write_volatile(CTL, CTL_UARTEN | CTL_TXE | CTL_RXE);
        }
        Uart(())
    }
}

impl crate::Serial for Uart {
    fn read(&mut self) -> u8 {
        // SAFETY: UART0 FR and DR, owned by this value.
        unsafe {
            while read_volatile(FR) & FR_RXFE != 0 {}
            read_volatile(DR) as u8
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: UART0 FR and DR, owned by this value.
            unsafe {
                while read_volatile(FR) & FR_TXFF != 0 {}
                write_volatile(DR, u32::from(byte));
            }
        }
    }
}
