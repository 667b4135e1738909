//! The two per-run tokens: the SSH username (and, for the read-only one, the web path) that
//! admits a guest. They live only in this process and die with it.

use subtle::ConstantTimeEq;

/// Bytes of randomness per token: 128 bits, as the issue and DESIGN require.
pub const TOKEN_BYTES: usize = 16;
/// Marks the read-only token so that people can tell the two apart.
pub const RO_PREFIX: &str = "ro-";

/// What a token grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Types into the session and votes on its size.
    ReadWrite,
    /// Watches; its input is dropped and its size never counts.
    ReadOnly,
}

impl Role {
    pub fn short(self) -> &'static str {
        match self {
            Role::ReadWrite => "rw",
            Role::ReadOnly => "ro",
        }
    }
}

pub struct Tokens {
    rw: String,
    ro: String,
}

/// 128 bits from the OS-seeded CSPRNG, as lowercase hex: safe in an SSH username, a URL path
/// and a shell command line without quoting.
fn random_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::fill(&mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Tokens {
    pub fn generate() -> Tokens {
        Tokens {
            rw: random_token(),
            ro: format!("{RO_PREFIX}{}", random_token()),
        }
    }

    pub fn rw(&self) -> &str {
        &self.rw
    }

    pub fn ro(&self) -> &str {
        &self.ro
    }

    /// The role a presented token grants, if any. Both comparisons always run, each in
    /// constant time, so the time taken says nothing about how much of a guess was right.
    pub fn check(&self, presented: &str) -> Option<Role> {
        let p = presented.as_bytes();
        let rw: bool = p.ct_eq(self.rw.as_bytes()).into();
        let ro: bool = p.ct_eq(self.ro.as_bytes()).into();
        match (rw, ro) {
            (true, _) => Some(Role::ReadWrite),
            (_, true) => Some(Role::ReadOnly),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_long_and_tell_their_role() {
        let a = Tokens::generate();
        let b = Tokens::generate();
        assert_ne!(a.rw(), b.rw());
        assert_ne!(a.rw(), a.ro().trim_start_matches(RO_PREFIX));
        assert_eq!(a.rw().len(), 32);
        assert!(a.ro().starts_with("ro-") && a.ro().len() == 35);
        assert!(a.rw().bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.check(a.rw()), Some(Role::ReadWrite));
        assert_eq!(a.check(a.ro()), Some(Role::ReadOnly));
        assert_eq!(a.check(b.rw()), None);
        assert_eq!(a.check(&a.rw()[..31]), None);
        assert_eq!(a.check(""), None);
        assert_eq!(a.check(&format!("{}x", a.rw())), None);
    }
}
