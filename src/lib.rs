//! npair: share a tmux session over a built-in SSH server.
//!
//! `share` wires the parts: one tmux client in a `pty`, whose output the [`hub`] models and
//! fans out to [`ssh`] guests and `web` viewers; the [`size`] policy decides the pty's size;
//! [`host`] is the host's own terminal; the `registry` knows who is connected, and the
//! [`control`] socket lets the host act on it while the share runs. `admission` guards the door
//! before anyone has authenticated; `logins` knows where guests reach the share.

pub(crate) mod admission;
pub mod cli;
pub mod control;
pub mod host;
pub mod hub;
pub mod input;
pub(crate) mod keys;
pub(crate) mod logins;
pub(crate) mod own;
pub(crate) mod platform;
pub(crate) mod pty;
pub(crate) mod record;
pub(crate) mod registry;
pub mod share;
pub(crate) mod shutdown;
pub mod size;
pub mod ssh;
pub mod tmux;
pub mod tokens;
pub mod via;

pub use platform::raise_open_files;
pub(crate) mod web;
