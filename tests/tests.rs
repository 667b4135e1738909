//! End-to-end tests: one test crate (it links once), with a harness in `util` that runs a
//! private tmux server, the real npair binary and real OpenSSH guests in their own ptys.

mod util;

#[path = "cases/approve.rs"]
mod approve;
#[path = "cases/audit.rs"]
mod audit;
#[path = "cases/auth.rs"]
mod auth;
#[path = "cases/burst.rs"]
mod burst;
#[path = "cases/cli.rs"]
mod cli;
#[path = "cases/clients.rs"]
mod clients;
#[path = "cases/control.rs"]
mod control;
#[path = "cases/errors.rs"]
mod errors;
#[path = "cases/exact.rs"]
mod exact;
#[path = "cases/faults.rs"]
mod faults;
#[path = "cases/guests.rs"]
mod guests;
#[path = "cases/host.rs"]
mod host;
#[path = "cases/hostile.rs"]
mod hostile;
#[path = "cases/hostile_web.rs"]
mod hostile_web;
#[path = "cases/integrity.rs"]
mod integrity;
#[path = "cases/keys.rs"]
mod keys;
#[path = "cases/leaks.rs"]
mod leaks;
#[path = "cases/lifecycle.rs"]
mod lifecycle;
#[path = "cases/limits.rs"]
mod limits;
#[path = "cases/load.rs"]
mod load;
#[path = "cases/names.rs"]
mod names;
#[path = "cases/network.rs"]
mod network;
#[path = "cases/own.rs"]
mod own;
#[path = "cases/record.rs"]
mod record;
#[path = "cases/refusals.rs"]
mod refusals;
#[path = "cases/screen.rs"]
mod screen;
#[path = "cases/size_policy.rs"]
mod size_policy;
#[path = "cases/sizes.rs"]
mod sizes;
#[path = "cases/socket.rs"]
mod socket;
#[path = "cases/tls.rs"]
mod tls;
#[path = "cases/via.rs"]
mod via;
#[path = "cases/web.rs"]
mod web;
