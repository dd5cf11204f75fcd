//! The wide formats held to the independent oracle (`num-bigint`): the kernel's counts, exact
//! decimal text, and the zoom's pixel step, at several widths.
use fixedbrot_core::{escape_wide, Fixed, WidePoint, Width, Zoom};
use fixedbrot_tests::oracle;
use num_bigint::BigInt;
use proptest::prelude::*;

fn width(bits: u32) -> Width {
    Width::from_bits(bits).unwrap()
}

fn big(x: &Fixed) -> BigInt {
    fixedbrot_tests::cases::big(x)
}

fn fixed(width: Width, raw: &BigInt) -> Fixed {
    let mut bytes = raw.to_signed_bytes_le();
    let fill = if raw.sign() == num_bigint::Sign::Minus {
        0xff
    } else {
        0
    };
    bytes.resize(width.limbs() * 4, fill);
    let limbs: Vec<u32> = bytes
        .chunks(4)
        .map(|b| u32::from_le_bytes(b.try_into().unwrap()))
        .collect();
    Fixed::from_limbs(&limbs).unwrap()
}

/// `x · 2^frac`, exactly, for a finite f64.
fn scaled(x: f64, frac: u32) -> BigInt {
    let bits = x.to_bits();
    let exponent = ((bits >> 52) & 0x7ff) as i32;
    let mantissa = if exponent == 0 {
        (bits & ((1 << 52) - 1)) << 1
    } else {
        (bits & ((1 << 52) - 1)) | (1 << 52)
    };
    let shift = exponent - 1075 + frac as i32;
    let magnitude = if shift >= 0 {
        BigInt::from(mantissa) << shift as u32
    } else {
        BigInt::from(mantissa) >> (-shift) as u32
    };
    if x < 0.0 {
        -magnitude
    } else {
        magnitude
    }
}

fn widths() -> impl Strategy<Value = Width> {
    prop_oneof![Just(96u32), Just(128), Just(256), Just(1024)].prop_map(width)
}

/// A point anywhere in the set's neighbourhood, or just inside or outside the cardioid or the
/// period-2 bulb, where orbits take longest; with random bits below an f64's precision.
fn points(width: Width) -> impl Strategy<Value = WidePoint> {
    let frac = width.frac_bits();
    let anywhere = (-2.2f64..0.8, -1.3f64..1.3);
    let boundary =
        (0.0f64..std::f64::consts::TAU, 0.98f64..1.001, any::<bool>()).prop_map(|(t, r, bulb)| {
            if bulb {
                (-1.0 + r * t.cos() / 4.0, r * t.sin() / 4.0)
            } else {
                let (re, im) = (
                    t.cos() / 2.0 - (2.0 * t).cos() / 4.0,
                    t.sin() / 2.0 - (2.0 * t).sin() / 4.0,
                );
                (r * (re - 0.25) + 0.25, r * im)
            }
        });
    (prop_oneof![anywhere, boundary], any::<[u64; 2]>()).prop_map(move |((re, im), low)| {
        let below = |x: f64, noise: u64| {
            let noise = BigInt::from(noise) << frac.saturating_sub(120);
            fixed(width, &(scaled(x, frac) + noise))
        };
        WidePoint {
            re: below(re, low[0]),
            im: below(im, low[1]),
        }
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Periodicity and the limbs change no count: the kernel is the plain loop, in integers of
    /// any size, at limits up to 100,000.
    #[test]
    fn the_wide_kernel_is_the_plain_loop(
        (width, c) in widths().prop_flat_map(|w| (Just(w), points(w))),
        limit in prop_oneof![4 => 1..3_000u32, 1 => 3_000..=100_000u32],
    ) {
        prop_assume!(c.re.is_safe() && c.im.is_safe());
        let plain = oracle::escape_big(width.frac_bits(), &big(&c.re), &big(&c.im), limit);
        prop_assert_eq!(escape_wide(&c, limit), plain, "{} bits, c = {:?}", width.bits(), c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// From 1,536 bits the step's squares leave out their lowest columns when they can: the
    /// counts are still the plain loop's.
    #[test]
    fn the_widest_kernel_is_the_plain_loop(
        (width, c) in prop_oneof![Just(2048u32), Just(4096)].prop_map(width).prop_flat_map(|w| (Just(w), points(w))),
        limit in 1..2_000u32,
    ) {
        prop_assume!(c.re.is_safe() && c.im.is_safe());
        let plain = oracle::escape_big(width.frac_bits(), &big(&c.re), &big(&c.im), limit);
        prop_assert_eq!(escape_wide(&c, limit), plain, "{} bits, c = {:?}", width.bits(), c);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Decimal text of any length is read with one rounding, to nearest, ties up, and written
    /// back digit for digit.
    #[test]
    fn decimals_are_read_exactly_and_written_back(
        width in prop_oneof![Just(96u32), Just(128), Just(160), Just(4096)].prop_map(width),
        negative in any::<bool>(),
        whole in 0..8u8,
        fraction in "[0-9]{0,1300}",
    ) {
        let text = format!("{}{whole}.{fraction}", if negative { "-" } else { "" });
        let Some(read) = Fixed::from_decimal(width, &text) else {
            // Only a magnitude that rounds to 8 is refused.
            prop_assert!(whole == 7 && fraction.starts_with("99999999999999999999"), "{}", text);
            return Ok(());
        };
        prop_assert_eq!(big(&read), oracle::read_decimal_big(width.frac_bits(), &text));
        let written = read.to_string();
        prop_assert_eq!(Fixed::from_decimal(width, &written), Some(read));
    }

    /// A zoom's pixel step, `4 / (zoom · height)`, is rounded once like everything else.
    #[test]
    fn a_zoom_step_is_rounded_once(
        width in prop_oneof![Just(96u32), Just(128), Just(1024), Just(4096)].prop_map(width),
        digits in 1..1_000_000_000u64,
        places in 0..9usize,
        exponent in 0..1290i32,
        height in 1..65_535u32,
    ) {
        let mut mantissa = digits.to_string();
        if places < mantissa.len() {
            mantissa.insert(mantissa.len() - places, '.');
        }
        let zoom = Zoom::parse(&format!("{mantissa}E{exponent}")).unwrap();
        let expected = oracle::zoom_step_big(
            width.frac_bits(),
            digits.into(),
            exponent - mantissa.split_once('.').map_or(0, |(_, f)| f.len()) as i32,
            height,
        );
        match zoom.step(width, height) {
            Some(step) => prop_assert_eq!(big(&step), expected),
            None => prop_assert!(expected >= BigInt::from(1) << (width.bits() - 1)),
        }
    }
}

#[test]
fn the_widest_format_resolves_a_step_of_1e_minus_1000() {
    let step = Zoom::parse("4E1000")
        .unwrap()
        .step(Width::WIDEST, 1)
        .unwrap();
    // 1e-1000 · 2^4092 is about 2^770: hundreds of guard bits below the pixel.
    assert_eq!(big(&step).bits(), 771);
}
