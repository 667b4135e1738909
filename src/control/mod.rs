//! The control socket: the host's commands to a running share. One Unix socket per share
//! (`socket.rs`: where it lives, who may use it, how a command finds it), the share's side that
//! answers (`server.rs`), and the subcommands' side that asks and prints (`client.rs`).
//!
//! The protocol is one JSON line each way per connection: a [`Request`], then an answer, the
//! request's own kind of reply with `"ok":true`, or `{"ok":false,"error":"..."}`. Both ends use
//! the types below. The server asks the registry, the size policy, the tokens and the logins;
//! it never reaches into a transport.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::admission::limiter::FailedLogins;
use crate::logins::LoginsInfo;
use crate::registry::{GuestInfo, GuestRef, Who};
use crate::size::{Policy, Sizing};

mod client;
mod server;
mod socket;

pub(crate) use client::duration;
pub use client::run_client;
pub(crate) use server::{serve, Control};
pub(crate) use socket::{bind, is_running};

/// The longest request line read: requests are a few dozen bytes; a client sending more is
/// not ours.
const MAX_REQUEST: u64 = 4096;
/// How long a client has to send its request, and a command to get its answer: the server
/// answers from memory, so anything slower is stuck.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The longest response read by the client: a status with many guests (about 300 bytes each).
const MAX_RESPONSE: u64 = 4 * 1024 * 1024;

/// Which guests a kick is for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Target {
    Guest(Who),
    /// Every read-only guest and web viewer.
    AllRo,
    All,
}

/// A command to the running share.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    Kick { target: Target },
    Rotate { rw: bool, ro: bool, kick: bool },
    Promote { id: Who },
    Demote { id: Who },
    Approve { id: Who },
    Deny { id: Who },
    SizePolicy { policy: Policy },
    Stop,
}

/// The share's options, as `npair status` shows them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Options {
    pub read_only: bool,
    pub approve: bool,
    pub max_guests: Option<usize>,
    pub expires_secs: Option<u64>,
    /// How many keys `--authorized-keys` listed.
    pub authorized_keys: Option<usize>,
    /// The `--record` file.
    pub record: Option<String>,
}

/// The answer to `status`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Status {
    pub session: String,
    pub pid: u32,
    pub uptime_secs: u64,
    pub host_key: String,
    pub logins: LoginsInfo,
    pub options: Options,
    pub expires_in_secs: Option<u64>,
    /// The size policy and the session's size (`size_policy`, `size`, ...).
    #[serde(flatten)]
    pub sizing: Sizing,
    pub guests: Vec<GuestInfo>,
    /// Addresses that sent wrong tokens since the share began.
    pub failed_logins: Vec<FailedLogins>,
}

/// The answer to `kick`: who was disconnected.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Kicked {
    pub kicked: Vec<u64>,
    /// The same guests, with their names.
    #[serde(default)]
    pub guests: Vec<GuestRef>,
}

/// The answer to `promote`, `demote`, `approve` and `deny`: the guest it was done to (`None`
/// from a share that an older npair runs, which answered with nothing).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Acted {
    #[serde(default)]
    pub guest: Option<GuestRef>,
}

/// The answer to `rotate`: the new logins, and who was disconnected (with `--kick`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Rotated {
    pub logins: LoginsInfo,
    pub kicked: Vec<u64>,
}

/// The answer to `size_policy`: the policy and the session's size, before and after.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PolicySet {
    pub was: Sizing,
    pub now: Sizing,
}

/// A successful answer, by request.
#[derive(Clone, Debug, Serialize)]
#[serde(untagged)]
enum Reply {
    Status(Box<Status>),
    Kicked(Kicked),
    Rotated(Rotated),
    PolicySet(PolicySet),
    /// Promote, demote, approve and deny.
    Acted(Acted),
    /// Stop: nothing to say but that it was done.
    Done,
}

/// Whether a request succeeded, as every answer says, beside the reply's own fields.
#[derive(Debug, Serialize, Deserialize)]
struct Outcome {
    ok: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Outcome {
    /// The line for a successful reply: its fields and `"ok":true`.
    fn ok(reply: &Reply) -> String {
        let mut v = serde_json::to_value(reply).unwrap_or_else(|_| serde_json::json!({}));
        if !v.is_object() {
            v = serde_json::json!({});
        }
        v["ok"] = serde_json::Value::Bool(true);
        v.to_string()
    }

    /// The line for a refused request.
    fn error(error: String) -> String {
        serde_json::to_string(&Outcome {
            ok: false,
            error: Some(error),
        })
        .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_object_each() {
        let r = Request::Kick {
            target: Target::Guest(Who::Id(3)),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"kick","target":{"guest":3}}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        // A guest by name is the same request with a string where the id was.
        let r = Request::Promote {
            id: Who::parse("alice"),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"promote","id":"alice"}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        assert!(serde_json::from_str::<Request>(r#"{"cmd":"rm -rf"}"#).is_err());
    }

    #[test]
    fn a_size_policy_travels_as_the_host_writes_it() {
        let r = Request::SizePolicy {
            policy: Policy::Fixed(crate::size::Size::new(100, 30)),
        };
        let s = serde_json::to_string(&r).unwrap();
        assert_eq!(s, r#"{"cmd":"size_policy","policy":"100x30"}"#);
        assert_eq!(serde_json::from_str::<Request>(&s).unwrap(), r);
        let bad = serde_json::from_str::<Request>(r#"{"cmd":"size_policy","policy":"5x5"}"#);
        assert!(bad.unwrap_err().to_string().contains("'5x5'"));
    }
}
