//! UART0 of a SiFive FE310 (HiFive1): 115200 8N1, polled. The only `unsafe` here: volatile
//! accesses to fixed, documented register addresses.
#![allow(unsafe_code)]

use core::ptr::{read_volatile, write_volatile};

// FE310-G000 manual, chapter 18 (UART): base 0x10013000.
const UART0: usize = 0x1001_3000;
const TXDATA: *mut u32 = UART0 as *mut u32;
const RXDATA: *mut u32 = (UART0 + 0x04) as *mut u32;
const TXCTRL: *mut u32 = (UART0 + 0x08) as *mut u32;
const RXCTRL: *mut u32 = (UART0 + 0x0C) as *mut u32;
const DIV: *mut u32 = (UART0 + 0x18) as *mut u32;

/// TXDATA: the FIFO is full. RXDATA: the FIFO was empty (no byte read).
const FLAG: u32 = 1 << 31;
const ENABLE: u32 = 1;

/// 16 MHz / 115200 - 1: the crystal's clock over the baud rate.
const DIVIDER: u32 = 138;

// Chapter 6 (PRCI): the clock. The chip starts on its internal oscillator (about 13.8 MHz);
// the HiFive1's 16 MHz crystal, through the PLL bypassed, gives the clock DIVIDER is for.
const HFXOSCCFG: *mut u32 = 0x1000_8004 as *mut u32;
const PLLCFG: *mut u32 = 0x1000_8008 as *mut u32;
const HFXOSC_ENABLE: u32 = 1 << 30;
const HFXOSC_READY: u32 = 1 << 31;
const PLL_SELECT: u32 = 1 << 16;
const PLL_REFERENCE_CRYSTAL: u32 = 1 << 17;
const PLL_BYPASS: u32 = 1 << 18;

// Chapter 17 (GPIO): UART0 reaches its pins, GPIO 16 (RX) and 17 (TX), as their IOF0.
const IOF_EN: *mut u32 = 0x1001_2038 as *mut u32;
const IOF_SEL: *mut u32 = 0x1001_203C as *mut u32;
const UART0_PINS: u32 = (1 << 16) | (1 << 17);

/// UART0, configured. There is one, so `new` is called once, by `main`.
pub struct Uart(());

impl Uart {
    /// Runs the chip from the crystal, routes UART0 to its pins, sets the baud rate and
    /// enables both directions (one stop bit, the reset default).
    pub fn new() -> Uart {
        // SAFETY: the FE310's PRCI, GPIO and UART0 registers (its manual's memory map); main
        // owns them alone and calls this once.
        unsafe {
            write_volatile(HFXOSCCFG, read_volatile(HFXOSCCFG) | HFXOSC_ENABLE);
            while read_volatile(HFXOSCCFG) & HFXOSC_READY == 0 {}
            write_volatile(PLLCFG, PLL_SELECT | PLL_REFERENCE_CRYSTAL | PLL_BYPASS);
            write_volatile(IOF_SEL, read_volatile(IOF_SEL) & !UART0_PINS);
            write_volatile(IOF_EN, read_volatile(IOF_EN) | UART0_PINS);
            write_volatile(DIV, DIVIDER);
            write_volatile(TXCTRL, ENABLE);
            write_volatile(RXCTRL, ENABLE);
        }
        Uart(())
    }
}

impl crate::Serial for Uart {
    fn read(&mut self) -> u8 {
        loop {
            // SAFETY: UART0 RXDATA, owned by this value; reading it takes the byte.
            let data = unsafe { read_volatile(RXDATA) };
            if data & FLAG == 0 {
                return data as u8;
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            // SAFETY: UART0 TXDATA, owned by this value.
            unsafe {
                while read_volatile(TXDATA) & FLAG != 0 {}
                write_volatile(TXDATA, u32::from(byte));
            }
        }
    }
}
