//! Crypto suites, master keys and the AES-CM key derivation of RFC 3711 §4.3.

use aes::cipher::{generic_array::GenericArray, BlockEncrypt, KeyInit};
use aes::Aes128;

/// Length of an AES-128 master key in bytes.
pub const MASTER_KEY_LEN: usize = 16;
/// Length of a master salt in bytes (112 bits).
pub const MASTER_SALT_LEN: usize = 14;

/// The SDES crypto suites we implement (RFC 4568 §6.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Suite {
    /// AES-128 counter mode, HMAC-SHA1 with an 80-bit tag on RTP and RTCP.
    AesCm128HmacSha1_80,
    /// AES-128 counter mode, HMAC-SHA1 with a 32-bit tag on RTP (80-bit on RTCP,
    /// RFC 4568 §6.2.2).
    AesCm128HmacSha1_32,
}

impl Suite {
    /// Authentication tag length of SRTP packets, in bytes.
    pub fn rtp_tag_len(self) -> usize {
        match self {
            Suite::AesCm128HmacSha1_80 => 10,
            Suite::AesCm128HmacSha1_32 => 4,
        }
    }

    /// Authentication tag length of SRTCP packets, in bytes (80 bits for both suites).
    pub fn rtcp_tag_len(self) -> usize {
        10
    }

    /// The SDP name (`a=crypto` suite token).
    pub fn as_str(self) -> &'static str {
        match self {
            Suite::AesCm128HmacSha1_80 => "AES_CM_128_HMAC_SHA1_80",
            Suite::AesCm128HmacSha1_32 => "AES_CM_128_HMAC_SHA1_32",
        }
    }

    /// Parses an SDP suite token (case-sensitive, as RFC 4568 registers them).
    pub fn from_name(name: &str) -> Option<Suite> {
        match name {
            "AES_CM_128_HMAC_SHA1_80" => Some(Suite::AesCm128HmacSha1_80),
            "AES_CM_128_HMAC_SHA1_32" => Some(Suite::AesCm128HmacSha1_32),
            _ => None,
        }
    }
}

/// A master key and master salt (the 30 bytes of an SDES `inline:` key parameter).
/// `Debug` prints no key material.
#[derive(Clone, PartialEq, Eq)]
pub struct MasterKey {
    key: [u8; MASTER_KEY_LEN],
    salt: [u8; MASTER_SALT_LEN],
}

impl MasterKey {
    /// A master key from its key and salt.
    pub fn new(key: [u8; MASTER_KEY_LEN], salt: [u8; MASTER_SALT_LEN]) -> MasterKey {
        MasterKey { key, salt }
    }

    /// From the concatenation key || salt (30 bytes); `None` for any other length.
    pub fn from_concatenated(bytes: &[u8]) -> Option<MasterKey> {
        if bytes.len() != MASTER_KEY_LEN + MASTER_SALT_LEN {
            return None;
        }
        let (k, s) = bytes.split_at(MASTER_KEY_LEN);
        Some(MasterKey {
            key: k.try_into().ok()?,
            salt: s.try_into().ok()?,
        })
    }

    /// key || salt, as SDES carries it.
    pub fn concatenated(&self) -> [u8; MASTER_KEY_LEN + MASTER_SALT_LEN] {
        let mut out = [0u8; MASTER_KEY_LEN + MASTER_SALT_LEN];
        let (k, s) = out.split_at_mut(MASTER_KEY_LEN);
        k.copy_from_slice(&self.key);
        s.copy_from_slice(&self.salt);
        out
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// Key derivation labels (RFC 3711 §4.3.1 and §4.3.2).
#[derive(Debug, Clone, Copy)]
pub(crate) enum Label {
    RtpEncryption = 0,
    RtpAuthentication = 1,
    RtpSalt = 2,
    RtcpEncryption = 3,
    RtcpAuthentication = 4,
    RtcpSalt = 5,
}

/// XORs the AES-CM keystream for the 128-bit `iv` (whose low 16 bits are the block
/// counter, starting at the value they hold) into `data` (RFC 3711 §4.1.1). At most
/// 2^16 blocks, far more than any datagram.
pub(crate) fn apply_keystream(cipher: &Aes128, iv: &[u8; 16], data: &mut [u8]) {
    let start = u16::from_be_bytes([iv[14], iv[15]]);
    for (i, chunk) in data.chunks_mut(16).enumerate() {
        let mut counter_block = *iv;
        let counter = start.wrapping_add(i as u16).to_be_bytes();
        counter_block[14] = counter[0];
        counter_block[15] = counter[1];
        let mut block = GenericArray::from(counter_block);
        cipher.encrypt_block(&mut block);
        for (d, k) in chunk.iter_mut().zip(block.iter()) {
            *d ^= k;
        }
    }
}

/// Derives `out.len()` bytes of the session key with `label` from the master key, with a
/// key derivation rate of 0 (RFC 3711 §4.3.1: x = (label || r) XOR master salt, r = 0).
pub(crate) fn derive(master: &MasterKey, label: Label, out: &mut [u8]) {
    let cipher = Aes128::new(GenericArray::from_slice(&master.key));
    let mut iv = [0u8; 16];
    iv[..MASTER_SALT_LEN].copy_from_slice(&master.salt);
    // key_id = label || index/kdr (48 bits, 0 here) is 56 bits, aligned to the low
    // end of the 112-bit salt: the label lands on byte 7.
    iv[7] ^= label as u8;
    out.fill(0);
    apply_keystream(&cipher, &iv, out);
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used)]
mod tests {
    use super::*;

    fn h(s: &str) -> Vec<u8> {
        hex::decode(s.replace(' ', "")).unwrap()
    }

    fn b3_master() -> MasterKey {
        MasterKey::from_concatenated(&h(
            "E1F97A0D3E018BE0D64FA32C06DE4139 0EC675AD498AFEEBB6960B3AABE6",
        ))
        .unwrap()
    }

    /// RFC 3711 Appendix B.3 (key derivation test vectors).
    #[test]
    fn rfc3711_b3_key_derivation() {
        let m = b3_master();
        let mut key = [0u8; 16];
        derive(&m, Label::RtpEncryption, &mut key);
        assert_eq!(key.to_vec(), h("C61E7A93744F39EE10734AFE3FF7A087"));
        let mut salt = [0u8; 14];
        derive(&m, Label::RtpSalt, &mut salt);
        assert_eq!(salt.to_vec(), h("30CBBC08863D8C85D49DB34A9AE1"));
        let mut auth = [0u8; 94];
        derive(&m, Label::RtpAuthentication, &mut auth);
        assert_eq!(
            auth.to_vec(),
            h(
                "CEBE321F6FF7716B6FD4AB49AF256A15 6D38BAA48F0A0ACF3C34E2359E6CDBCE \
               E049646C43D9327AD175578EF7227098 6371C10C9A369AC2F94A8C5FBCDDDC25 \
               6D6E919A48B610EF17C2041E47403576 6B68642C59BBFC2F34DB60DBDFB2"
            )
        );
    }

    /// RFC 3711 Appendix B.2 (AES-CM keystream): session key 2B7E..., salt F0F1...FD,
    /// SSRC 0, index 0.
    #[test]
    fn rfc3711_b2_keystream() {
        let cipher = Aes128::new(GenericArray::from_slice(&h(
            "2B7E151628AED2A6ABF7158809CF4F3C",
        )));
        let mut iv = [0u8; 16];
        iv[..14].copy_from_slice(&h("F0F1F2F3F4F5F6F7F8F9FAFBFCFD"));
        let mut ks = vec![0u8; 16 * 0xFF02];
        apply_keystream(&cipher, &iv, &mut ks);
        let block = |n: usize| ks[n * 16..n * 16 + 16].to_vec();
        assert_eq!(block(0), h("E03EAD0935C95E80E166B16DD92B4EB4"));
        assert_eq!(block(1), h("D23513162B02D0F72A43A2FE4A5F97AB"));
        assert_eq!(block(2), h("41E95B3BB0A2E8DD477901E4FCA894C0"));
        assert_eq!(block(0xFEFF), h("EC8CDF7398607CB0F2D21675EA9EA1E4"));
        assert_eq!(block(0xFF00), h("362B7C3C6773516318A077D7FC5073AE"));
        assert_eq!(block(0xFF01), h("6A2CC3787889374FBEB4C81B17BA6C44"));
    }

    #[test]
    fn debug_hides_key_material() {
        let text = format!("{:?}", b3_master());
        assert!(!text.to_ascii_uppercase().contains("E1F9"), "{text}");
    }

    #[test]
    fn concatenation_round_trips_and_rejects_other_lengths() {
        let m = b3_master();
        assert_eq!(MasterKey::from_concatenated(&m.concatenated()), Some(m));
        assert_eq!(MasterKey::from_concatenated(&[0u8; 29]), None);
    }
}
