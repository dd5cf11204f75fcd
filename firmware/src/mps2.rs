//! UART0 of an Arm MPS2 FPGA image (a CMSDK APB UART): 115200 8N1, polled. The only `unsafe`
//! here: volatile accesses to fixed, documented register addresses.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};

// AN386: UART0 at 0x40004000. AN505: at 0x40200000, reached from Secure state through its
// Secure alias (address bit 28 set), which the peripheral protection controller allows after
// reset.
#[cfg(feature = "mps2-an386")]
const UART0: usize = 0x4000_4000;
#[cfg(feature = "mps2-an505")]
const UART0: usize = 0x5020_0000;

// CMSDK APB UART registers (Arm DDI 0479, Cortex-M System Design Kit, 4.3).
const DATA: *mut u32 = UART0 as *mut u32;
const STATE: *mut u32 = (UART0 + 0x004) as *mut u32;
const CTRL: *mut u32 = (UART0 + 0x008) as *mut u32;
const BAUDDIV: *mut u32 = (UART0 + 0x010) as *mut u32;

const STATE_TX_FULL: u32 = 1;
const STATE_RX_FULL: u32 = 1 << 1;
const CTRL_TX_EN: u32 = 1;
const CTRL_RX_EN: u32 = 1 << 1;

/// 25 MHz / 115200: the MPS2's peripheral clock over the baud rate.
const DIVIDER: u32 = 217;

/// UART0, configured. There is one, so `new` is called once, by `main`.
pub struct Uart(());

impl Uart {
    /// Sets the baud rate and enables both directions.
    pub fn new() -> Uart {
        // SAFETY: the board's UART0 registers (its application note's memory map); main owns
        // them alone and calls this once.
        unsafe {
            write_volatile(BAUDDIV, DIVIDER);
            write_volatile(CTRL, CTRL_TX_EN | CTRL_RX_EN);
        }
        Uart(())
    }
}

impl crate::Serial for Uart {
    fn read(&mut self) -> u8 {
        // SAFETY: UART0 STATE and DATA, owned by this value.
        unsafe {
            while read_volatile(STATE) & STATE_RX_FULL == 0 {}
            read_volatile(DATA) as u8
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: UART0 STATE and DATA, owned by this value.
            unsafe {
                while read_volatile(STATE) & STATE_TX_FULL != 0 {}
                write_volatile(DATA, u32::from(byte));
            }
        }
    }
}
