//! What a delta's mantissa width costs, for BENCHMARKS.md (`just bench-mantissa`): the
//! perturbed step `δ ← 2·Z·δ + δ² + δc` in block floating point as `core/src/delta.rs` takes
//! it (each term exact in the double width, rounded once to the largest's unit, the sum
//! rounded once to the mantissa), with 32-bit mantissas (products in `i64`) and with 64-bit
//! ones (products in `i128`, the kernels' choice), over one orbit of 2^16 values, one core.
//! Only the arithmetic: the kernels' escape test and rebasing cost the same at either width.
//!   mantissa [STEPS]
use std::hint::black_box;
use std::time::Instant;

/// One width's delta and its step.
macro_rules! block_float {
    ($name:ident, $m:ty, $w:ty) => {
        #[derive(Clone, Copy)]
        struct $name {
            re: $m,
            im: $m,
            exp: i32,
        }

        impl $name {
            /// Bits of a normal mantissa (the larger's magnitude below 2^BITS).
            const BITS: u32 = <$m>::BITS - 2;
            /// A double-width term's room: three terms sum without overflow.
            const ROOM: u32 = <$w>::BITS - 3;

            fn normalised(re: $w, im: $w, exp: i32) -> $name {
                let bits = <$w>::BITS - (re.unsigned_abs() | im.unsigned_abs()).leading_zeros();
                if bits == 0 {
                    return $name {
                        re: 0,
                        im: 0,
                        exp: 0,
                    };
                }
                let mut shift = bits as i32 - Self::BITS as i32;
                let align = Self::align;
                let (mut r, mut i) = (align(re, shift), align(im, shift));
                if <$w>::BITS - (r.unsigned_abs() | i.unsigned_abs()).leading_zeros() > Self::BITS {
                    shift += 1;
                    (r, i) = (align(re, shift), align(im, shift));
                }
                $name {
                    re: r as $m,
                    im: i as $m,
                    exp: exp + shift,
                }
            }

            /// `x · 2^-shift`, rounded as `round_shift` does (exact for `shift <= 0`).
            fn align(x: $w, shift: i32) -> $w {
                match shift {
                    ..=0 => x << -shift,
                    s if s >= <$w>::BITS as i32 - 1 => 0,
                    s => (x + (1 << (s - 1))) >> s,
                }
            }

            fn top(re: $w, im: $w, exp: i32) -> i32 {
                exp + (<$w>::BITS - (re.unsigned_abs() | im.unsigned_abs()).leading_zeros()) as i32
            }

            fn step(&self, z: &$name, dc: &$name) -> $name {
                let (a, b) = (<$w>::from(self.re), <$w>::from(self.im));
                let (zr, zi) = (<$w>::from(z.re), <$w>::from(z.im));
                let terms = [
                    (zr * a - zi * b, zr * b + zi * a, z.exp + self.exp + 1),
                    (<$w>::from(dc.re), <$w>::from(dc.im), dc.exp),
                    (a * a - b * b, 2 * a * b, 2 * self.exp),
                ];
                let top = terms
                    .iter()
                    .map(|&(r, i, e)| Self::top(r, i, e))
                    .max()
                    .unwrap();
                let unit = top - Self::ROOM as i32;
                let (mut re, mut im) = (0, 0);
                for (r, i, e) in terms {
                    re += Self::align(r, unit - e);
                    im += Self::align(i, unit - e);
                }
                $name::normalised(re, im, unit)
            }
        }
    };
}

block_float!(Delta32, i32, i64);
block_float!(Delta64, i64, i128);

fn main() {
    let steps: u64 = match std::env::args().nth(1).map(|s| s.parse()) {
        None => 100_000_000,
        Some(Ok(n)) => n,
        Some(Err(e)) => {
            eprintln!("mantissa: {e}\nusage: mantissa [STEPS]");
            std::process::exit(2);
        }
    };
    // An orbit of values on the unit circle's neighbourhood, from a fixed generator.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as i64 - (1 << 23)
    };
    let values: Vec<(i64, i64)> = (0..1 << 16).map(|_| (next(), next())).collect();
    println!("| mantissa | ns a step | steps a second (one core) |");
    println!("|---|---|---|");
    macro_rules! time {
        ($name:ident, $label:expr) => {{
            let orbit: Vec<$name> = values
                .iter()
                .map(|&(re, im)| $name::normalised(re.into(), im.into(), -23))
                .collect();
            let dc = $name::normalised(3, -5, -170);
            let mut delta = dc;
            let started = Instant::now();
            for n in 0..steps {
                delta = delta.step(black_box(&orbit[n as usize & 0xffff]), &dc);
                // Keep δ small, as rebasing would: far below Z.
                if delta.exp > -100 {
                    delta = dc;
                }
            }
            black_box(delta.re);
            let ns = started.elapsed().as_nanos() as f64 / steps as f64;
            println!("| {} | {ns:.1} | {:.0} million |", $label, 1e3 / ns);
        }};
    }
    time!(Delta32, "32 bits (30 kept, i64 products)");
    time!(Delta64, "64 bits (62 kept, i128 products)");
}
