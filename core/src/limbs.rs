//! Integers of many 32-bit limbs, little-endian: the few operations the wide formats need,
//! on slices, with no allocation. Unsigned unless a function says two's complement.
//!
//! 32-bit limbs because every CPU the core runs on multiplies two of them into 64 bits, a
//! Cortex-M0 too; wider limbs would make its products calls to a general routine.

/// One limb.
pub(crate) type Limb = u32;

/// Bits in a limb.
pub(crate) const LIMB_BITS: u32 = Limb::BITS;

/// `a += b` over `a`'s length (`b` no longer than `a`, and zero-extended); the carry out.
#[inline]
pub(crate) fn add(a: &mut [Limb], b: &[Limb]) -> bool {
    let mut carry = 0u64;
    for (i, limb) in a.iter_mut().enumerate() {
        let sum = u64::from(*limb) + u64::from(b.get(i).copied().unwrap_or(0)) + carry;
        *limb = sum as Limb;
        carry = sum >> LIMB_BITS;
        if i >= b.len() && carry == 0 {
            break;
        }
    }
    carry != 0
}

/// `a -= b` over `a`'s length (`b` no longer than `a`, and zero-extended); the borrow out.
#[inline]
pub(crate) fn sub(a: &mut [Limb], b: &[Limb]) -> bool {
    let mut borrow = 0u64;
    for (i, limb) in a.iter_mut().enumerate() {
        let other = u64::from(b.get(i).copied().unwrap_or(0)) + borrow;
        let value = u64::from(*limb);
        *limb = value.wrapping_sub(other) as Limb;
        borrow = u64::from(value < other);
        if i >= b.len() && borrow == 0 {
            break;
        }
    }
    borrow != 0
}

/// `a = -a` in two's complement.
#[inline]
pub(crate) fn negate(a: &mut [Limb]) {
    let mut carry = true;
    for limb in a.iter_mut() {
        let (value, overflow) = (!*limb).overflowing_add(Limb::from(carry));
        *limb = value;
        carry = overflow;
    }
}

/// Whether `a`, read as two's complement, is negative.
#[inline]
pub(crate) fn is_negative(a: &[Limb]) -> bool {
    a.last().is_some_and(|top| top >> (LIMB_BITS - 1) != 0)
}

/// `a` compared with `b`, both unsigned and of the same length.
#[inline]
pub(crate) fn compare(a: &[Limb], b: &[Limb]) -> core::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// Whether every limb is zero.
#[inline]
pub(crate) fn is_zero(a: &[Limb]) -> bool {
    a.iter().all(|&limb| limb == 0)
}

/// `out = a²`, all of `out` written; `out` exactly `2 · a.len()` long.
///
/// Squaring takes each cross product once and doubles the sum, about half the multiplies of
/// a product; the kernel's step is three squares ([`crate::wide`]).
#[inline]
pub(crate) fn square(a: &[Limb], out: &mut [Limb]) {
    let n = a.len();
    out.fill(0);
    // Cross products a_i·a_j, i < j.
    for i in 0..n {
        let x = u64::from(a[i]);
        let mut carry = 0u64;
        for j in i + 1..n {
            let t = x * u64::from(a[j]) + u64::from(out[i + j]) + carry;
            out[i + j] = t as Limb;
            carry = t >> LIMB_BITS;
        }
        out[i + n] = carry as Limb;
    }
    // Doubled: the sum of cross products is below a² / 2, so no bit leaves the top.
    let mut top = 0;
    for limb in out.iter_mut() {
        let next = *limb >> (LIMB_BITS - 1);
        *limb = (*limb << 1) | top;
        top = next;
    }
    // Plus the squares a_i² on the diagonal.
    let mut carry = 0u64;
    for i in 0..n {
        let x = u64::from(a[i]);
        let t = x * x + u64::from(out[2 * i]) + carry;
        out[2 * i] = t as Limb;
        let t = u64::from(out[2 * i + 1]) + (t >> LIMB_BITS);
        out[2 * i + 1] = t as Limb;
        carry = t >> LIMB_BITS;
    }
}

/// `a <<= 1`; the bit shifted out.
#[inline]
pub(crate) fn shift_left_one(a: &mut [Limb]) -> bool {
    let mut top = 0;
    for limb in a.iter_mut() {
        let next = *limb >> (LIMB_BITS - 1);
        *limb = (*limb << 1) | top;
        top = next;
    }
    top != 0
}

/// `a = a · m + add`; the limb carried out.
#[inline]
pub(crate) fn mul_small(a: &mut [Limb], m: Limb, add: Limb) -> Limb {
    let mut carry = u64::from(add);
    for limb in a.iter_mut() {
        let t = u64::from(*limb) * u64::from(m) + carry;
        *limb = t as Limb;
        carry = t >> LIMB_BITS;
    }
    carry as Limb
}

/// `out = a >> shift`, the bits of `a` from `shift` up that fit `out`, zero-filled above
/// `a`'s top (so unsigned); `shift` may be any amount.
#[inline]
pub(crate) fn shift_right_into(a: &[Limb], shift: u32, out: &mut [Limb]) {
    let (limbs, bits) = ((shift / LIMB_BITS) as usize, shift % LIMB_BITS);
    let at = |i: usize| a.get(i).copied().unwrap_or(0);
    for (i, limb) in out.iter_mut().enumerate() {
        let low = at(i + limbs);
        *limb = if bits == 0 {
            low
        } else {
            (low >> bits) | (at(i + limbs + 1) << (LIMB_BITS - bits))
        };
    }
}

/// `out = a << shift`, truncated to `out`'s length; `shift` may be any amount.
#[inline]
pub(crate) fn shift_left_into(a: &[Limb], shift: u32, out: &mut [Limb]) {
    let (limbs, bits) = ((shift / LIMB_BITS) as usize, shift % LIMB_BITS);
    let at = |i: usize| {
        i.checked_sub(limbs)
            .and_then(|i| a.get(i))
            .copied()
            .unwrap_or(0)
    };
    for (i, limb) in out.iter_mut().enumerate() {
        let high = at(i);
        *limb = if bits == 0 {
            high
        } else {
            let low = i.checked_sub(1).map_or(0, at);
            (high << bits) | (low >> (LIMB_BITS - bits))
        };
    }
}

/// The number of significant bits of `a` (0 for zero).
pub(crate) fn bit_length(a: &[Limb]) -> u32 {
    match a.iter().rposition(|&limb| limb != 0) {
        Some(i) => i as u32 * LIMB_BITS + (LIMB_BITS - a[i].leading_zeros()),
        None => 0,
    }
}

/// `quotient = floor(numerator / divisor)`, and the remainder left in `numerator`, by binary
/// long division: one compare and at most one subtraction a quotient bit, slow but small,
/// for the few divisions a view needs once. `divisor` must not be zero; `quotient` is
/// truncated to its length; `scratch` is at least as long as `numerator`.
pub(crate) fn divide(
    numerator: &mut [Limb],
    divisor: &[Limb],
    quotient: &mut [Limb],
    scratch: &mut [Limb],
) {
    quotient.fill(0);
    let (top, bottom) = (bit_length(numerator), bit_length(divisor));
    if bottom == 0 || top < bottom {
        return;
    }
    let scratch = &mut scratch[..numerator.len()];
    for shift in (0..=top - bottom).rev() {
        // divisor << shift fits the numerator's length, since it is at most its top bit.
        shift_left_into(divisor, shift, scratch);
        if compare(numerator, scratch).is_ge() {
            sub(numerator, scratch);
            if let Some(limb) = quotient.get_mut((shift / LIMB_BITS) as usize) {
                *limb |= 1 << (shift % LIMB_BITS);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn to_u128(a: &[Limb]) -> u128 {
        a.iter()
            .rev()
            .fold(0u128, |value, &limb| (value << 32) | u128::from(limb))
    }

    fn from_u128(mut value: u128) -> [Limb; 4] {
        core::array::from_fn(|_| {
            let limb = value as Limb;
            value >>= 32;
            limb
        })
    }

    fn numbers() -> impl Iterator<Item = u64> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let edges = [
            0,
            1,
            2,
            0xffff_ffff,
            0x1_0000_0000,
            u64::MAX,
            u64::MAX - 1,
            1 << 63,
        ];
        (0..4000).map(move |round| {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1442695040888963407);
            if round < 64 {
                edges[round % 8] ^ edges[round / 8]
            } else {
                state >> (state % 64)
            }
        })
    }

    #[test]
    fn squares_are_those_of_u128() {
        for a in numbers() {
            let x = from_u128(a.into());
            let mut out = [0; 4];
            square(&x[..2], &mut out);
            assert_eq!(to_u128(&out), u128::from(a) * u128::from(a));
        }
    }

    #[test]
    fn sums_differences_and_shifts_are_those_of_u128() {
        for (a, b) in numbers().zip(numbers().skip(3)) {
            let (wide_a, wide_b) = (u128::from(a) << 20 | u128::from(b), u128::from(b) << 9);
            let mut x = from_u128(wide_a);
            let carry = add(&mut x, &from_u128(wide_b));
            let (sum, overflow) = wide_a.overflowing_add(wide_b);
            assert_eq!((to_u128(&x), carry), (sum, overflow));
            let mut x = from_u128(wide_a);
            let borrow = sub(&mut x, &from_u128(wide_b));
            let (difference, under) = wide_a.overflowing_sub(wide_b);
            assert_eq!((to_u128(&x), borrow), (difference, under));
            let mut x = from_u128(wide_a);
            negate(&mut x);
            assert_eq!(to_u128(&x), wide_a.wrapping_neg());
            assert_eq!(is_negative(&x), (wide_a.wrapping_neg() as i128) < 0);
            let shift = (a % 130) as u32;
            let mut out = [0; 4];
            shift_right_into(&from_u128(wide_a), shift, &mut out);
            assert_eq!(to_u128(&out), wide_a.checked_shr(shift).unwrap_or(0));
            shift_left_into(&from_u128(wide_a), shift, &mut out);
            assert_eq!(to_u128(&out), wide_a.checked_shl(shift).unwrap_or(0));
            assert_eq!(bit_length(&from_u128(wide_a)), 128 - wide_a.leading_zeros());
            let mut x = from_u128(wide_a >> 40);
            let carry = mul_small(&mut x, b as u32, a as u32);
            let product = (wide_a >> 40) * u128::from(b as u32) + u128::from(a as u32);
            assert_eq!((to_u128(&x), carry), (product, 0));
        }
    }

    #[test]
    fn long_division_is_that_of_u128() {
        for (a, b) in numbers().zip(numbers().skip(5)) {
            let numerator = u128::from(a) << 50 | u128::from(b);
            let divisor = u128::from(b >> (a % 64)).max(1);
            let (mut n, mut q, mut scratch) = (from_u128(numerator), [0; 4], [0; 4]);
            divide(&mut n, &from_u128(divisor), &mut q, &mut scratch);
            assert_eq!(to_u128(&q), numerator / divisor, "{numerator} / {divisor}");
            assert_eq!(to_u128(&n), numerator % divisor);
        }
    }
}
