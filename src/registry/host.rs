//! What the host does to guests through the registry (the control socket's commands): kick
//! them, change their role, let them in or turn them away.

use std::sync::Arc;

use super::guest::Entry;
use super::{GuestRole, Kind, Registry};
use crate::tokens::{Login, Role};

impl Registry {
    pub(super) fn get(&self, id: u64) -> Result<Arc<Entry>, String> {
        self.lock().guests.get(&id).cloned().ok_or_else(|| {
            format!("no guest {id} is connected; `npair status` lists the guests and their ids")
        })
    }

    /// Disconnects one guest, telling it `reason`.
    pub fn kick(&self, id: u64, reason: &str) -> Result<(), String> {
        self.get(id)?.kick.fire(reason);
        Ok(())
    }

    /// Disconnects every guest `which` picks by what it is now and the token it logged in
    /// with; returns their ids.
    pub fn kick_where(&self, which: impl Fn(GuestRole, Login) -> bool, reason: &str) -> Vec<u64> {
        let entries: Vec<Arc<Entry>> = self.lock().guests.values().cloned().collect();
        let picked: Vec<u64> = entries
            .iter()
            .filter(|e| which(e.label(e.state().role), e.login))
            .map(|e| e.id)
            .collect();
        for &id in &picked {
            let _ = self.kick(id, reason);
        }
        picked
    }

    /// Changes an SSH guest's role while it stays connected; its size vote follows.
    pub fn set_role(&self, id: u64, role: Role) -> Result<(), String> {
        let e = self.get(id)?;
        if e.kind == Kind::Web {
            return Err(format!(
                "guest {id} is a web viewer; the web viewer is read-only, so it cannot be promoted or demoted"
            ));
        }
        let mut s = e.state();
        if s.role == role {
            return Err(format!("guest {id} is already {}", role.short()));
        }
        s.role = role;
        s.revote(e.kind, &self.sizes);
        drop(s);
        let what = match role {
            Role::ReadWrite => "promoted to read-write",
            Role::ReadOnly => "demoted to read-only",
        };
        self.notice(format!("guest {id} {what}"));
        Ok(())
    }

    /// Lets a waiting guest in.
    pub fn admit(&self, id: u64) -> Result<(), String> {
        let e = self.get(id)?;
        let mut s = e.state();
        let Some(tx) = s.admit.take() else {
            return Err(format!("guest {id} is not waiting; it is already in"));
        };
        s.admitted = true;
        s.revote(e.kind, &self.sizes);
        drop(s);
        let _ = tx.send(());
        self.notice(format!(
            "guest {id} ({}) let in, from {}",
            e.label(e.state().role),
            e.addr
        ));
        Ok(())
    }

    /// Turns a waiting guest away; it never sees the session.
    pub fn deny(&self, id: u64) -> Result<(), String> {
        let e = self.get(id)?;
        if e.state().admitted {
            return Err(format!(
                "guest {id} is not waiting; it is already in (use `npair kick {id}` to disconnect it)"
            ));
        }
        e.kick.fire("the host did not let you in");
        Ok(())
    }
}
