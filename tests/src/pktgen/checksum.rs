//! The Internet checksum (RFC 1071), split so a frame's fixed part is
//! summed once and only the per-frame stamp is added for every frame.

/// Ones-complement partial sum of `data` as big-endian 16-bit words (an odd
/// last byte is the high half of a word). Sums of word-aligned pieces add.
pub fn sum(data: &[u8]) -> u64 {
    let (words, rest) = data.as_chunks::<2>();
    let mut s: u64 = 0;
    for w in words {
        s += u16::from_be_bytes(*w) as u64;
    }
    if let [last] = rest {
        s += (*last as u64) << 8;
    }
    s
}

/// Fold a partial sum to 16 bits and complement it: the checksum field.
pub fn finish(mut s: u64) -> u16 {
    while s > 0xffff {
        s = (s & 0xffff) + (s >> 16);
    }
    !(s as u16)
}

/// The checksum of `data` alone.
pub fn checksum(data: &[u8]) -> u16 {
    finish(sum(data))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: words 0001 f203 f4f5 f6f7 sum to ddf2 (folded).
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data), !0xddf2);
    }

    #[test]
    fn data_with_its_checksum_sums_to_zero() {
        let mut data: Vec<u8> = (0..40u8).map(|b| b.wrapping_mul(37)).collect();
        data.extend_from_slice(&[0, 0, 0x5a]); // checksum field at 40, odd total length
        let c = checksum(&data);
        data[40..42].copy_from_slice(&c.to_be_bytes());
        assert_eq!(checksum(&data), 0);
    }

    #[test]
    fn pieces_add_up() {
        let data: Vec<u8> = (0..100u8).collect();
        assert_eq!(finish(sum(&data[..40]) + sum(&data[40..])), checksum(&data));
    }
}
