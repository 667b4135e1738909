//! The algorithms the SSH server offers, and why each list is what it is. `ssh-audit` finds
//! nothing to remove from them (the only notes left are that the classic curve25519 key
//! exchanges are not post-quantum; the post-quantum one comes first).

use std::borrow::Cow;

use russh::{cipher, compression, kex, mac, Preferred};

/// Key exchanges, most preferred first: the post-quantum hybrid (OpenSSH 9.9+), then X25519 for
/// older clients (PuTTY, Dropbear, OpenSSH 6.5+), and the two markers russh needs to announce
/// (RFC 8308 extensions, and strict key exchange against Terrapin).
///
/// No finite-field Diffie-Hellman at all (group14/15/16/17/18, group exchange). It is the
/// costliest key exchange by far and anyone can ask for it before authenticating: russh computes
/// it with a generic big-integer library, inline on the connection's task, and an 8192-bit
/// group18 exchange took 1.08 s of a core here (X25519: well under a millisecond). Ten
/// concurrent connections asking for it (`ssh-audit --dheat=10`) held both of tokio's worker
/// threads on a 2-core machine, and no guest got in for 15 s. Every client we support has X25519.
const KEX: &[kex::Name] = &[
    kex::MLKEM768X25519_SHA256,
    kex::CURVE25519,
    kex::CURVE25519_PRE_RFC_8731,
    kex::EXTENSION_SUPPORT_AS_SERVER,
    kex::EXTENSION_OPENSSH_STRICT_KEX_AS_SERVER,
];

/// MACs, for the CTR ciphers only (the AEAD ciphers carry their own): encrypt-then-MAC only.
/// The encrypt-and-MAC `hmac-sha2-*` compute the MAC over the plaintext, which ssh-audit warns
/// about; every client with SHA-2 MACs has the `-etm` forms or an AEAD cipher.
const MAC: &[mac::Name] = &[mac::HMAC_SHA512_ETM, mac::HMAC_SHA256_ETM];

/// Compression: none, or `zlib@openssh.com`, which starts only after authentication. Plain
/// `zlib` would run the decompressor on whatever an unauthenticated client sends.
const COMPRESSION: &[compression::Name] = &[compression::NONE, compression::ZLIB_LEGACY];

/// What the server offers. Host keys: ours is ed25519, the only one offered. Ciphers: russh's
/// defaults (chacha20-poly1305, aes256-gcm, then aes-ctr with the MACs above), none of which
/// ssh-audit flags.
pub fn preferred() -> Preferred {
    Preferred {
        kex: Cow::Borrowed(KEX),
        mac: Cow::Borrowed(MAC),
        compression: Cow::Borrowed(COMPRESSION),
        cipher: Cow::Borrowed(&[
            cipher::CHACHA20_POLY1305,
            cipher::AES_256_GCM,
            cipher::AES_256_CTR,
            cipher::AES_192_CTR,
            cipher::AES_128_CTR,
        ]),
        ..Preferred::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_post_quantum_key_exchange_comes_first_and_no_finite_field_dh_is_offered() {
        let p = preferred();
        assert_eq!(p.kex[0], kex::MLKEM768X25519_SHA256);
        for k in p.kex.iter() {
            let name: &str = k.as_ref();
            assert!(!name.starts_with("diffie-hellman"), "{name} is offered");
        }
    }

    #[test]
    fn only_encrypt_then_mac_and_no_compression_before_authentication() {
        let p = preferred();
        for m in p.mac.iter() {
            let name: &str = m.as_ref();
            assert!(name.ends_with("-etm@openssh.com"), "{name} is offered");
        }
        assert!(!p.compression.contains(&compression::ZLIB));
    }
}
