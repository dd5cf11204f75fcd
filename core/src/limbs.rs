//! Integers of many limbs, little-endian: the few operations the wide formats need, on
//! slices, with no allocation. Unsigned unless a function says two's complement.
//!
//! Numbers are stored in 32-bit limbs ([`Limb`]): every CPU the core runs on multiplies two
//! of them into 64 bits, a Cortex-M0 too. The kernel may compute in 64-bit words where the CPU
//! multiplies those into 128 bits ([`Word`]): the same integers, a quarter of the multiplies.
use core::ops::{BitAnd, BitOr, Not, Shl, Shr};

/// One limb of a stored number.
pub(crate) type Limb = u32;

/// Bits in a limb.
pub(crate) const LIMB_BITS: u32 = Limb::BITS;

/// A word the arithmetic runs on: `u32` or `u64`, with the double-width product.
pub(crate) trait Word:
    Copy
    + Default
    + Ord
    + core::fmt::Debug
    + Not<Output = Self>
    + BitAnd<Output = Self>
    + BitOr<Output = Self>
    + Shl<u32, Output = Self>
    + Shr<u32, Output = Self>
{
    const BITS: u32;
    const ZERO: Self;
    const ONE: Self;
    const MAX: Self;
    /// `a · b + c + d` as (low, high) words; it never overflows: (2^w - 1)² + 2 (2^w - 1) =
    /// 2^2w - 1.
    fn mul_add2(a: Self, b: Self, c: Self, d: Self) -> (Self, Self);
    /// `a + b + carry`, and the carry out.
    fn add_carry(a: Self, b: Self, carry: bool) -> (Self, bool);
    /// `a - b - borrow`, and the borrow out.
    fn sub_borrow(a: Self, b: Self, borrow: bool) -> (Self, bool);
    fn leading_zeros(self) -> u32;
    fn from_u32(value: u32) -> Self;
    fn to_u64(self) -> u64;
}

macro_rules! word {
    ($word:ty, $double:ty) => {
        impl Word for $word {
            const BITS: u32 = <$word>::BITS;
            const ZERO: $word = 0;
            const ONE: $word = 1;
            const MAX: $word = <$word>::MAX;
            #[inline(always)]
            fn mul_add2(a: $word, b: $word, c: $word, d: $word) -> ($word, $word) {
                let t = <$double>::from(a) * <$double>::from(b)
                    + <$double>::from(c)
                    + <$double>::from(d);
                (t as $word, (t >> <$word>::BITS) as $word)
            }
            #[inline(always)]
            fn add_carry(a: $word, b: $word, carry: bool) -> ($word, bool) {
                let (sum, first) = a.overflowing_add(b);
                let (sum, second) = sum.overflowing_add(<$word>::from(carry));
                (sum, first | second)
            }
            #[inline(always)]
            fn sub_borrow(a: $word, b: $word, borrow: bool) -> ($word, bool) {
                let (difference, first) = a.overflowing_sub(b);
                let (difference, second) = difference.overflowing_sub(<$word>::from(borrow));
                (difference, first | second)
            }
            #[inline(always)]
            fn leading_zeros(self) -> u32 {
                <$word>::leading_zeros(self)
            }
            #[inline(always)]
            fn from_u32(value: u32) -> $word {
                value as $word
            }
            #[inline(always)]
            fn to_u64(self) -> u64 {
                self as u64
            }
        }
    };
}

word!(u32, u64);
word!(u64, u128);

/// `a += b` over `a`'s length (`b` no longer than `a`, and zero-extended); the carry out.
#[inline]
pub(crate) fn add<W: Word>(a: &mut [W], b: &[W]) -> bool {
    let (low, high) = a.split_at_mut(b.len());
    let mut carry = false;
    for (x, &y) in low.iter_mut().zip(b) {
        (*x, carry) = W::add_carry(*x, y, carry);
    }
    for x in high {
        if !carry {
            break;
        }
        (*x, carry) = W::add_carry(*x, W::ZERO, carry);
    }
    carry
}

/// `a -= b` over `a`'s length (`b` no longer than `a`, and zero-extended); the borrow out.
#[inline]
pub(crate) fn sub<W: Word>(a: &mut [W], b: &[W]) -> bool {
    let (low, high) = a.split_at_mut(b.len());
    let mut borrow = false;
    for (x, &y) in low.iter_mut().zip(b) {
        (*x, borrow) = W::sub_borrow(*x, y, borrow);
    }
    for x in high {
        if !borrow {
            break;
        }
        (*x, borrow) = W::sub_borrow(*x, W::ZERO, borrow);
    }
    borrow
}

/// `a = -a` in two's complement.
#[inline]
pub(crate) fn negate<W: Word>(a: &mut [W]) {
    let mut carry = true;
    for limb in a.iter_mut() {
        (*limb, carry) = W::add_carry(!*limb, W::ZERO, carry);
    }
}

/// Whether `a`, read as two's complement, is negative.
#[inline]
pub(crate) fn is_negative<W: Word>(a: &[W]) -> bool {
    a.last().is_some_and(|&top| top >> (W::BITS - 1) != W::ZERO)
}

/// `a` compared with `b`, both unsigned and of the same length.
#[inline]
pub(crate) fn compare<W: Word>(a: &[W], b: &[W]) -> core::cmp::Ordering {
    a.iter().rev().cmp(b.iter().rev())
}

/// Whether every limb is zero.
#[inline]
pub(crate) fn is_zero<W: Word>(a: &[W]) -> bool {
    a.iter().all(|&limb| limb == W::ZERO)
}

/// `out = a²`, all of `out` written; `out` exactly `2 · a.len()` long.
///
/// Squaring takes each cross product once and doubles the sum, about half the multiplies of
/// a product; the kernel's step is three squares ([`crate::wide`]). It is [`square_from`]
/// from column 0 without that function's column checks, which cost the exact step 5 to 9%
/// at 256 to 1,024 bits (BENCHMARKS.md).
#[inline]
pub(crate) fn square<W: Word>(a: &[W], out: &mut [W]) {
    let n = a.len();
    out.fill(W::ZERO);
    for (i, &x) in a.iter().enumerate() {
        let mut carry = W::ZERO;
        for (o, &y) in out[2 * i + 1..i + n].iter_mut().zip(&a[i + 1..]) {
            (*o, carry) = W::mul_add2(x, y, *o, carry);
        }
        out[i + n] = carry;
    }
    shift_left_one(out);
    let mut carry = false;
    for (pair, &x) in out.chunks_exact_mut(2).zip(a) {
        let (low, high) = W::mul_add2(x, x, W::ZERO, W::ZERO);
        (pair[0], carry) = W::add_carry(pair[0], low, carry);
        (pair[1], carry) = W::add_carry(pair[1], high, carry);
    }
}

/// [`square`] with only the products a_i·a_j for which i + j >= `from`: below a² by less
/// than `2 · from · B^(from + 1)` for words of `B`, and a² itself for `from` 0. For a caller
/// that needs the top words only, and checks that the low ones cannot change them.
#[inline]
pub(crate) fn square_from<W: Word>(a: &[W], out: &mut [W], from: usize) {
    let n = a.len();
    out.fill(W::ZERO);
    // Cross products a_i·a_j, i < j, row by row: out[i + j] for j from the first term kept,
    // then the carry into out[i + n]. Zipped slices, so the loop has no bounds checks.
    for (i, &x) in a.iter().enumerate() {
        let first = (i + 1).max(from.saturating_sub(i));
        if first >= n {
            continue;
        }
        let mut carry = W::ZERO;
        for (o, &y) in out[i + first..i + n].iter_mut().zip(&a[first..]) {
            (*o, carry) = W::mul_add2(x, y, *o, carry);
        }
        out[i + n] = carry;
    }
    // Doubled: the sum of cross products is below a² / 2, so no bit leaves the top.
    shift_left_one(out);
    // Plus the squares a_i² on the diagonal (those of the kept columns).
    let mut carry = false;
    for (i, (pair, &x)) in out.chunks_exact_mut(2).zip(a).enumerate() {
        let (low, high) = if 2 * i + 1 >= from {
            W::mul_add2(x, x, W::ZERO, W::ZERO)
        } else {
            (W::ZERO, W::ZERO)
        };
        (pair[0], carry) = W::add_carry(pair[0], low, carry);
        (pair[1], carry) = W::add_carry(pair[1], high, carry);
    }
}

/// Whether bits `from..to` of `a` are all zero or all one: a value whose bits there are
/// neither lies at least `2^from` away from every multiple of `2^to`.
#[inline]
pub(crate) fn uniform_bits<W: Word>(a: &[W], from: u32, to: u32) -> bool {
    let bit = |k: u32| (a[(k / W::BITS) as usize] >> (k % W::BITS)) & W::ONE != W::ZERO;
    let first = bit(from);
    // Word by word where whole words lie inside, bit by bit at the ends.
    let mut k = from;
    while k < to {
        if k.is_multiple_of(W::BITS) && k + W::BITS <= to {
            let word = a[(k / W::BITS) as usize];
            let expected = if first { W::MAX } else { W::ZERO };
            if word != expected {
                return false;
            }
            k += W::BITS;
        } else {
            if bit(k) != first {
                return false;
            }
            k += 1;
        }
    }
    true
}

/// `a <<= 1`; the bit shifted out.
#[inline]
pub(crate) fn shift_left_one<W: Word>(a: &mut [W]) -> bool {
    let mut top = W::ZERO;
    for limb in a.iter_mut() {
        let next = *limb >> (W::BITS - 1);
        *limb = (*limb << 1) | top;
        top = next;
    }
    top != W::ZERO
}

/// `a = a · m + add`; the limb carried out.
#[inline]
pub(crate) fn mul_small<W: Word>(a: &mut [W], m: W, add: W) -> W {
    let mut carry = add;
    for limb in a.iter_mut() {
        (*limb, carry) = W::mul_add2(*limb, m, carry, W::ZERO);
    }
    carry
}

/// `out = a >> shift`, the bits of `a` from `shift` up that fit `out`, zero-filled above
/// `a`'s top (so unsigned); `shift` may be any amount.
#[inline]
pub(crate) fn shift_right_into<W: Word>(a: &[W], shift: u32, out: &mut [W]) {
    let (limbs, bits) = ((shift / W::BITS) as usize, shift % W::BITS);
    let at = |i: usize| a.get(i).copied().unwrap_or(W::ZERO);
    for (i, limb) in out.iter_mut().enumerate() {
        let low = at(i + limbs);
        *limb = if bits == 0 {
            low
        } else {
            (low >> bits) | (at(i + limbs + 1) << (W::BITS - bits))
        };
    }
}

/// `out = a << shift`, truncated to `out`'s length; `shift` may be any amount.
#[inline]
pub(crate) fn shift_left_into<W: Word>(a: &[W], shift: u32, out: &mut [W]) {
    let (limbs, bits) = ((shift / W::BITS) as usize, shift % W::BITS);
    let at = |i: usize| {
        i.checked_sub(limbs)
            .and_then(|i| a.get(i))
            .copied()
            .unwrap_or(W::ZERO)
    };
    for (i, limb) in out.iter_mut().enumerate() {
        let high = at(i);
        *limb = if bits == 0 {
            high
        } else {
            let low = i.checked_sub(1).map_or(W::ZERO, at);
            (high << bits) | (low >> (W::BITS - bits))
        };
    }
}

/// The number of significant bits of `a` (0 for zero).
pub(crate) fn bit_length<W: Word>(a: &[W]) -> u32 {
    match a.iter().rposition(|&limb| limb != W::ZERO) {
        Some(i) => i as u32 * W::BITS + (W::BITS - a[i].leading_zeros()),
        None => 0,
    }
}

/// Whether `a` (unsigned) is above `2^k`: a higher bit set, or bit `k` and any below it.
#[inline]
pub(crate) fn above_power_of_two<W: Word>(a: &[W], k: u32) -> bool {
    let length = bit_length(a);
    if length != k + 1 {
        return length > k + 1;
    }
    let (limb, bit) = ((k / W::BITS) as usize, k % W::BITS);
    let below = !(W::MAX << bit);
    a[limb] & below != W::ZERO || !is_zero(&a[..limb])
}

/// `quotient = floor(numerator / divisor)`, and the remainder left in `numerator`, by binary
/// long division: the numerator's bits from the top into a remainder as long as the divisor,
/// one compare and at most one subtraction each; slow but small, for the few divisions a view
/// needs once. `divisor` must not be zero; `quotient` is truncated to its length; `scratch`
/// is at least one limb longer than the divisor's significant limbs.
pub(crate) fn divide(
    numerator: &mut [Limb],
    divisor: &[Limb],
    quotient: &mut [Limb],
    scratch: &mut [Limb],
) {
    quotient.fill(0);
    let significant = (bit_length(divisor) as usize).div_ceil(LIMB_BITS as usize);
    if significant == 0 {
        return;
    }
    let divisor = &divisor[..significant];
    let remainder = &mut scratch[..significant + 1];
    remainder.fill(0);
    for bit in (0..bit_length(numerator)).rev() {
        let (limb, shift) = ((bit / LIMB_BITS) as usize, bit % LIMB_BITS);
        shift_left_one(remainder);
        remainder[0] |= (numerator[limb] >> shift) & 1;
        // The remainder is below twice the divisor, so one limb more holds it.
        let (low, top) = remainder.split_at_mut(significant);
        if top[0] != 0 || compare(low, divisor).is_ge() {
            sub(remainder, divisor);
            if let Some(q) = quotient.get_mut(limb) {
                *q |= 1 << shift;
            }
        }
    }
    // Below the divisor now: its significant limbs hold it.
    numerator.fill(0);
    let kept = significant.min(numerator.len());
    numerator[..kept].copy_from_slice(&remainder[..kept]);
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

    /// A square from a column is below the whole square by less than the bound it promises.
    #[test]
    fn a_square_from_a_column_is_within_its_bound() {
        for a in numbers() {
            let b = a.rotate_left(17) ^ 0x5555;
            let x: [u32; 4] = from_u128(u128::from(a) | (u128::from(b) << 64));
            let (mut whole, mut part) = ([0u32; 8], [0u32; 8]);
            square(&x, &mut whole);
            for from in 0..8usize {
                square_from(&x, &mut part, from);
                // Compare as numbers: whole - part in [0, 2·from·2^(32(from+1))).
                let mut difference = whole;
                assert!(!sub(&mut difference, &part), "below the square");
                assert!(
                    bit_length(&difference) <= 32 * (from as u32 + 1) + 4,
                    "from {from}: {difference:?}"
                );
            }
        }
    }

    #[test]
    fn uniform_bits_are_found_between_any_two_positions() {
        let a: [u64; 2] = [0xffff_ffff_0000_0000, 0x0000_0000_ffff_ffff];
        assert!(uniform_bits(&a, 32, 96));
        assert!(!uniform_bits(&a, 31, 96));
        assert!(!uniform_bits(&a, 32, 97));
        assert!(uniform_bits(&a, 0, 32));
        assert!(uniform_bits(&a, 100, 128));
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
