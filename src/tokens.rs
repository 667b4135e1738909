//! The per-run tokens: the SSH username (and, for the read-only one, the web path) that admits
//! a guest. [`Tokens`] owns them; they live only in this process, die with it, and the host
//! may replace them while the share runs (`npair rotate`).

use std::sync::RwLock;

use subtle::ConstantTimeEq;

/// Bytes of randomness per token: 128 bits, past any guessing at the lockout's rate.
pub const TOKEN_BYTES: usize = 16;
/// Marks the read-only token so that people can tell the two apart.
pub const RO_PREFIX: &str = "ro-";

/// What a guest may do.
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

/// Which token a guest presented: its role, and which generation of that token (a rotation
/// makes a new one), so that `npair rotate --kick` can find the guests who used an old one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login {
    pub role: Role,
    pub generation: u64,
}

/// The current tokens, as plain strings, for banners and logins.
#[derive(Clone, Debug)]
pub struct Current {
    /// `None` when the share is read-only (`--read-only`).
    pub rw: Option<String>,
    pub ro: String,
}

/// The share's tokens. One per share; `npair rotate` replaces them in place, so the SSH server
/// and the web viewer always check against the same, current pair.
pub struct Tokens {
    inner: RwLock<Pair>,
}

struct Pair {
    rw: Option<String>,
    ro: String,
    rw_generation: u64,
    ro_generation: u64,
}

/// 128 bits from the OS-seeded CSPRNG, as lowercase hex: safe in an SSH username, a URL path
/// and a shell command line without quoting.
fn random_token() -> String {
    let mut bytes = [0u8; TOKEN_BYTES];
    rand::fill(&mut bytes[..]);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn random_ro() -> String {
    format!("{RO_PREFIX}{}", random_token())
}

/// Constant-time equality; a length mismatch is false.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

impl Tokens {
    /// Fresh tokens; with `read_only`, there is no read-write token at all.
    pub fn generate(read_only: bool) -> Tokens {
        Tokens {
            inner: RwLock::new(Pair {
                rw: (!read_only).then(random_token),
                ro: random_ro(),
                rw_generation: 0,
                ro_generation: 0,
            }),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Pair> {
        self.inner.read().unwrap_or_else(|e| e.into_inner())
    }

    pub fn current(&self) -> Current {
        let p = self.read();
        Current {
            rw: p.rw.clone(),
            ro: p.ro.clone(),
        }
    }

    pub fn read_only(&self) -> bool {
        self.read().rw.is_none()
    }

    /// The role a presented token grants, if any. Both comparisons always run, each in
    /// constant time, so the time taken says nothing about how much of a guess was right.
    pub fn check(&self, presented: &str) -> Option<Login> {
        let p = self.read();
        let presented = presented.as_bytes();
        let rw =
            p.rw.as_deref()
                .is_some_and(|t| same(presented, t.as_bytes()));
        let ro = same(presented, p.ro.as_bytes());
        match (rw, ro) {
            (true, _) => Some(Login {
                role: Role::ReadWrite,
                generation: p.rw_generation,
            }),
            (_, true) => Some(Login {
                role: Role::ReadOnly,
                generation: p.ro_generation,
            }),
            _ => None,
        }
    }

    /// The login a presented read-only token grants (the web viewer accepts no other).
    pub fn check_ro(&self, presented: &str) -> Option<Login> {
        let p = self.read();
        same(presented.as_bytes(), p.ro.as_bytes()).then_some(Login {
            role: Role::ReadOnly,
            generation: p.ro_generation,
        })
    }

    /// Replaces the read-write token, the read-only one, or both. Guests already in stay in.
    pub fn rotate(&self, rw: bool, ro: bool) -> Result<(), String> {
        let mut p = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if rw && p.rw.is_none() {
            return Err(
                "this share is read-only (--read-only): it has no read-write token to rotate"
                    .to_owned(),
            );
        }
        if rw {
            p.rw = Some(random_token());
            p.rw_generation += 1;
        }
        if ro {
            p.ro = random_ro();
            p.ro_generation += 1;
        }
        Ok(())
    }

    /// Whether a guest's login used a token that has since been replaced.
    pub fn is_stale(&self, login: Login) -> bool {
        let p = self.read();
        match login.role {
            Role::ReadWrite => login.generation != p.rw_generation,
            Role::ReadOnly => login.generation != p.ro_generation,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_long_and_tell_their_role() {
        let a = Tokens::generate(false);
        let b = Tokens::generate(false);
        let (ac, bc) = (a.current(), b.current());
        let (arw, brw) = (ac.rw.unwrap(), bc.rw.unwrap());
        assert_ne!(arw, brw);
        assert_ne!(arw, ac.ro.trim_start_matches(RO_PREFIX));
        assert_eq!(arw.len(), 32);
        assert!(ac.ro.starts_with("ro-") && ac.ro.len() == 35);
        assert!(arw.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(a.check(&arw).map(|l| l.role), Some(Role::ReadWrite));
        assert_eq!(a.check(&ac.ro).map(|l| l.role), Some(Role::ReadOnly));
        assert_eq!(a.check(&brw), None);
        assert_eq!(a.check(&arw[..31]), None);
        assert_eq!(a.check(""), None);
        assert_eq!(a.check(&format!("{arw}x")), None);
        assert_eq!(a.check_ro(&arw), None);
    }

    #[test]
    fn rotation_replaces_tokens_and_marks_old_logins_stale() {
        let t = Tokens::generate(false);
        let old = t.current();
        let rw_login = t.check(old.rw.as_deref().unwrap()).unwrap();
        let ro_login = t.check(&old.ro).unwrap();
        t.rotate(true, false).unwrap();
        assert_eq!(t.check(old.rw.as_deref().unwrap()), None);
        assert!(t.is_stale(rw_login) && !t.is_stale(ro_login));
        assert_eq!(t.check(&old.ro), Some(ro_login));
        t.rotate(false, true).unwrap();
        assert!(t.is_stale(ro_login));
        assert!(t.check_ro(&t.current().ro).is_some());
    }

    #[test]
    fn a_read_only_share_has_no_read_write_token() {
        let t = Tokens::generate(true);
        assert!(t.read_only() && t.current().rw.is_none());
        assert_eq!(t.check(""), None);
        assert!(t.rotate(true, false).unwrap_err().contains("read-only"));
        assert!(t.rotate(false, true).is_ok());
    }
}
