//! Authentication: the token (the SSH username) by whatever method the client tries, a listed
//! key with `--authorized-keys`, and the refusal of a wrong token, counted against its address,
//! told to the host, and told to the guest by the watchdog's disconnect message.

use russh::server::Auth;
use russh::{MethodKind, MethodSet};

use super::super::watchdog::Phase;
use super::Conn;
use crate::admission::limiter::{Failure, MAX_FAILURES};
use crate::tokens::Login;

/// A rejection that asks for a key: the right token without a listed key (--authorized-keys).
/// OpenSSH reads an empty method list as "try everything" and would prompt for a password;
/// naming only publickey ends, when no key fits, with its ordinary
/// "Permission denied (publickey)." and exit status 255, with no prompt.
fn need_a_key() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(&[MethodKind::PublicKey][..])),
        partial_success: false,
    }
}

/// The rejection of a wrong token. The watchdog then disconnects the client with a message
/// that says so; the methods named keep the client asking until that message arrives, so that
/// it is printed. OpenSSH tries publickey and keyboard-interactive before password, so it never
/// prompts for a password first; a client that only does password (paramiko) is told
/// "authentication failed" rather than that its method is unsupported.
fn wrong_token() -> Auth {
    Auth::Reject {
        proceed_with_methods: Some(MethodSet::from(
            &[
                MethodKind::PublicKey,
                MethodKind::KeyboardInteractive,
                MethodKind::Password,
            ][..],
        )),
        partial_success: false,
    }
}

/// What a guest who presented a wrong token is told. It says nothing about valid tokens.
const WRONG_TOKEN: &str = "that token is not valid for this share; check the login the \
     host gave you (tokens are new each time npair starts, and the host may have replaced them)";

impl Conn {
    fn refused(&self) -> bool {
        matches!(*self.phase.borrow(), Phase::Refused(_))
    }

    /// Refuses the connection: the watchdog disconnects it with `msg` (said after "npair: ").
    pub(super) fn refuse(&self, msg: String) {
        self.phase.send_replace(Phase::Refused(msg));
    }

    /// The login a username grants. A wrong token is counted against the address, told to
    /// the host, and refuses the connection (once: the client's later attempts on the same
    /// connection are refused without counting again).
    fn check_token(&self, user: &str) -> Option<Login> {
        if self.refused() {
            return None;
        }
        let ip = self.peer.ip();
        if !self.limiter.allowed(ip) {
            self.refuse(format!(
                "too many wrong tokens from {ip}; wait a minute, then try the login the \
                 host gave you"
            ));
            return None;
        }
        let login = self.shared.tokens.check(user);
        if login.is_none() {
            match self.limiter.failed(ip) {
                Failure::Counted => self.notice(format!("a wrong token from {}", self.peer)),
                Failure::LockedOut => self.notice(format!(
                    "{ip} is locked out for a minute after {MAX_FAILURES} wrong tokens"
                )),
            }
            self.refuse(WRONG_TOKEN.to_owned());
        }
        login
    }

    /// A method that carries only the token (`none`, `password`, `keyboard-interactive`).
    pub(super) fn by_token(&mut self, user: &str) -> Auth {
        match self.check_token(user) {
            // With --authorized-keys the token alone is not enough: the client goes on to
            // `publickey` (the only method named), where the token is checked again with the key.
            Some(_) if self.shared.authorized_keys.is_some() => need_a_key(),
            Some(login) => {
                self.login = Some(login);
                Auth::Accept
            }
            None => wrong_token(),
        }
    }

    /// A key: any key with the right token, or with --authorized-keys a listed one.
    pub(super) fn by_key(&mut self, user: &str, key: &russh::keys::PublicKey) -> Option<Login> {
        let login = self.check_token(user)?;
        match &self.shared.authorized_keys {
            Some(keys) if !keys.allows(key) => None,
            _ => Some(login),
        }
    }

    pub(super) fn key_answer(&self, login: Option<Login>) -> Auth {
        match login {
            Some(_) => Auth::Accept,
            None if self.refused() => wrong_token(),
            None => need_a_key(),
        }
    }
}
