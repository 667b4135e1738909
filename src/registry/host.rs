//! What the host does to guests through the registry (the control socket's commands): find them
//! by id or name, kick them, change their role, let them in or turn them away.

use std::sync::Arc;

use super::guest::Entry;
use super::names::{self, Candidate, GuestRef, Who};
use super::{GuestRole, Kind, Registry};
use crate::tokens::{Login, Role};

impl Registry {
    /// The guest the host means, by id or by name.
    pub(super) fn get(&self, who: &Who) -> Result<Arc<Entry>, String> {
        let guests = &self.lock().guests;
        let id = match who {
            Who::Id(id) => *id,
            Who::Name(name) => {
                let candidates: Vec<Candidate> = guests
                    .values()
                    .map(|e| {
                        let s = e.state();
                        Candidate {
                            id: e.id,
                            name: s.name.clone(),
                            about: format!("{}, from {}", e.label(s.role), e.addr),
                        }
                    })
                    .collect();
                names::resolve(name, &candidates)?
            }
        };
        guests.get(&id).cloned().ok_or_else(|| {
            format!("no guest {id} is connected; `npair status` lists the guests and their ids")
        })
    }

    /// Disconnects one guest, telling it `reason`.
    pub fn kick(&self, who: &Who, reason: &str) -> Result<GuestRef, String> {
        let e = self.get(who)?;
        e.kick.fire(reason);
        let guest = e.reference(&e.state());
        Ok(guest)
    }

    /// Disconnects every guest `which` picks by what it is now and the token it logged in
    /// with; returns them.
    pub fn kick_where(
        &self,
        which: impl Fn(GuestRole, Login) -> bool,
        reason: &str,
    ) -> Vec<GuestRef> {
        let entries: Vec<Arc<Entry>> = self.lock().guests.values().cloned().collect();
        entries
            .iter()
            .filter(|e| which(e.label(e.state().role), e.login))
            .map(|e| {
                e.kick.fire(reason);
                e.reference(&e.state())
            })
            .collect()
    }

    /// Changes an SSH guest's role while it stays connected; its size vote follows.
    pub fn set_role(&self, who: &Who, role: Role) -> Result<GuestRef, String> {
        let e = self.get(who)?;
        let mut s = e.state();
        let guest = e.reference(&s);
        if e.kind == Kind::Web {
            return Err(format!(
                "{guest} is a web viewer; the web viewer is read-only, so it cannot be promoted or demoted"
            ));
        }
        if s.role == role {
            return Err(format!("{guest} is already {}", role.short()));
        }
        s.role = role;
        s.revote(e.kind, &self.sizes);
        drop(s);
        let what = match role {
            Role::ReadWrite => "promoted to read-write",
            Role::ReadOnly => "demoted to read-only",
        };
        self.notice(format!("{guest} {what}"));
        Ok(guest)
    }

    /// Lets a waiting guest in.
    pub fn admit(&self, who: &Who) -> Result<GuestRef, String> {
        let e = self.get(who)?;
        let mut s = e.state();
        let guest = e.reference(&s);
        let Some(tx) = s.admit.take() else {
            return Err(format!("{guest} is not waiting; it is already in"));
        };
        s.admitted = true;
        s.revote(e.kind, &self.sizes);
        let who = e.who(&s);
        drop(s);
        let _ = tx.send(());
        self.notice(format!("{who} let in, from {}", e.addr));
        Ok(guest)
    }

    /// Turns a waiting guest away; it never sees the session.
    pub fn deny(&self, who: &Who) -> Result<GuestRef, String> {
        let e = self.get(who)?;
        let s = e.state();
        let guest = e.reference(&s);
        if s.admitted {
            return Err(format!(
                "{guest} is not waiting; it is already in (use `npair kick {}` to disconnect it)",
                e.id
            ));
        }
        drop(s);
        e.kick.fire("the host did not let you in");
        Ok(guest)
    }
}
