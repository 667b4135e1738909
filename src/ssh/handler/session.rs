//! Opening a guest's terminal session, following the host or in its own view, and switching
//! between the two.

use std::sync::Arc;

use russh::server::Session;
use russh::ChannelId;

use bytes::Bytes;

use super::Conn;
use crate::own::{OwnView, Switch};
use crate::registry::Registration;
use crate::ssh::watchdog::{disconnect_message, Phase};
use crate::tokens::Role;

/// Ends a session channel with a message on stderr and exit status 1: how a request npair does
/// not grant is refused, since a plain failure loses the message (OpenSSH prints only
/// "exec request failed").
pub(super) fn refuse_channel(
    session: &mut Session,
    ch: ChannelId,
    msg: &str,
) -> Result<(), russh::Error> {
    session.channel_success(ch)?;
    session.extended_data(ch, 1, Bytes::from(format!("{msg}\r\n")))?;
    session.exit_status_request(ch, 1)?;
    session.eof(ch)?;
    session.close(ch)
}

impl Conn {
    /// Opens an own view for guest `id` (tmux commands, off the runtime's threads).
    async fn open_own_view(&self, id: u64) -> Result<Arc<OwnView>, String> {
        let views = Arc::clone(&self.shared.own);
        match tokio::task::spawn_blocking(move || views.open(id)).await {
            Ok(Ok(view)) => Ok(Arc::new(view)),
            Ok(Err(e)) => Err(format!("{e:#}")),
            Err(e) => Err(e.to_string()),
        }
    }

    /// Switches the guest between following the host and its own view.
    pub(super) async fn switch_view(&mut self, to: Switch) {
        let Some(g) = &self.guest else { return };
        let (id, view) = (g.reg.id(), Arc::clone(&g.view));
        let own = view.borrow().clone();
        match (to, own) {
            (Switch::Own, Some(own)) if !own.has_ended() => {}
            (Switch::Own, _) => match self.open_own_view(id).await {
                Ok(own) => {
                    view.send_replace(Some(own));
                }
                Err(e) => self.notice(format!("cannot open an own view for guest {id}: {e}")),
            },
            (Switch::Follow, None) => {}
            (Switch::Follow, Some(_)) => {
                view.send_replace(None);
            }
        }
    }

    /// Opens the guest's terminal session, following the host or in its own view (`ssh ...
    /// own`), or refuses it with the reason.
    pub(super) async fn open_session(
        &mut self,
        ch: ChannelId,
        session: &mut Session,
        view: Switch,
    ) -> Result<(), russh::Error> {
        let reg = match (&self.reg, self.ours(ch) && self.guest.is_none()) {
            (Some(reg), true) => Arc::clone(reg),
            _ => return session.channel_failure(ch),
        };
        // Refused after logging in (a name it may not have): the watchdog is disconnecting it
        // with the reason, and the host has been told; no session opens ahead of that.
        let refused = match &*self.phase.borrow() {
            Phase::Refused(reason) => Some(disconnect_message(reason)),
            _ => None,
        };
        if let Some(msg) = refused {
            return refuse_channel(session, ch, &msg);
        }
        let mut refusal = self.refusal(&reg);
        let own = if view == Switch::Own && refusal.is_none() {
            if reg.login().role != Role::ReadWrite && !reg.can_type() {
                refusal = Some(
                    "npair: a read-only guest follows the host (the host shares what it shows); \
                     connect without `own` to watch"
                        .to_owned(),
                );
                None
            } else {
                match self.open_own_view(reg.id()).await {
                    Ok(own) => Some(own),
                    Err(e) => {
                        refusal = Some(format!("npair: cannot open your own view: {e}"));
                        None
                    }
                }
            }
        } else {
            None
        };
        if let Some(msg) = refusal {
            self.notice(format!(
                "refused a session from guest {} ({}): {}",
                reg.id(),
                self.peer,
                msg.trim_start_matches("npair: ")
            ));
            self.phase.send_replace(Phase::Done);
            return refuse_channel(session, ch, &msg);
        }
        session.channel_success(ch)?;
        self.start_guest(ch, reg, session, own);
        Ok(())
    }

    /// Why the guest's terminal session may not open, if it may not.
    fn refusal(&self, reg: &Registration) -> Option<String> {
        if reg.kicked().has_fired() {
            // Kicked a moment ago, with the disconnect on its way: no session opens after a kick.
            Some("npair: the host disconnected you".to_owned())
        } else if !self.pty {
            // Without a terminal the guest would get the raw screen stream, and its typing would
            // land in the session unechoed.
            Some("npair needs a terminal: run ssh with -t (for example `ssh -t ...`)".to_owned())
        } else if self.shared.tokens.is_stale(reg.login()) {
            // A new session is a new join: a token the host has replaced does not open one, even
            // on a connection that logged in before the rotation.
            Some(
                "npair: the host has replaced the token this connection logged in with; ask the \
                 host for the new login"
                    .to_owned(),
            )
        } else {
            None
        }
    }
}
