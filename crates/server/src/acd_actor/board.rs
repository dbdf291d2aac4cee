//! The live view the HTTP API reads (`GET /api/v1/queues`, `/agents`): rebuilt by the ACD
//! actor after every change and at least once a second.

use std::time::Duration;

use serde_json::{json, Value};
use switchboard_acd::{AgentId, QueueId};

use super::AcdActor;
use crate::core_events;

impl AcdActor {
    /// Rebuilds the wallboard view: O(queues + agents + memberships), never per waiting
    /// caller.
    pub(super) fn refresh_board(&self) {
        let now = self.now();
        let queues: Vec<Value> = self
            .dir
            .names
            .queues
            .iter()
            .enumerate()
            .filter_map(|(i, name)| {
                let st = self.acd.queue_stats(QueueId(i as u16))?;
                Some(json!({
                    "queue": name,
                    "waiting": st.waiting,
                    "joined": st.joined,
                    "answered": st.answered,
                    "abandoned": st.abandoned,
                    "timed_out": st.timed_out,
                    "exited": st.exited,
                    "overflowed": st.overflowed,
                    "callbacks_pending": st.callbacks_pending,
                    "stats": self.queue_stats_json(QueueId(i as u16), now),
                }))
            })
            .collect();
        let agents: Vec<Value> = self
            .dir
            .agents
            .iter()
            .enumerate()
            .map(|(i, name)| {
                let state = self.acd.agent_state(AgentId(i as u32));
                let word = state
                    .map(|s| core_events::agent_state_name(s).as_str())
                    .unwrap_or_default();
                let queues = self.active_queue_names(AgentId(i as u32));
                let mut entry = self.desk.agent_json(i as u32, name, word, state, now);
                entry["queues"] = json!(queues);
                entry
            })
            .collect();
        if let Ok(mut b) = self.board.write() {
            *b = json!({"queues": queues, "agents": agents});
        }
    }

    /// The `stats` object of a queue (docs/api.md): the interval, the day and the live figures.
    fn queue_stats_json(&self, queue: QueueId, now: Duration) -> Value {
        let Some(snap) = self.stats.snapshot(queue, now, &self.acd) else {
            return Value::Null;
        };
        let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64());
        let window = |t: &switchboard_acd::Tally, minutes: Option<u64>| {
            json!({
                "since": self
                    .calendar
                    .wall(t.since)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, false),
                "minutes": minutes,
                "offered": t.offered,
                "answered": t.answered,
                "answered_within_threshold": t.answered_within,
                "abandoned": t.abandoned,
                "short_abandoned": t.short_abandoned,
                "exited": t.exited,
                "overflowed": t.overflowed,
                "service_level": t.service_level(),
                "abandon_rate": t.abandon_rate(),
                "asa_s": secs(t.asa()),
                "aht_s": secs(t.aht()),
                "handled": t.handled,
                "talk_s": t.talk.as_secs_f64(),
                "wrap_up_s": t.wrap_up.as_secs_f64(),
                "max_wait_s": t.max_wait.as_secs_f64(),
                "occupancy": t.occupancy(),
                "ewt": {
                    "scored": t.ewt_resolved,
                    "coverage": t.ewt_coverage(),
                    "mae_s": secs(t.ewt_mae()),
                },
            })
        };
        let a = snap.agents;
        json!({
            "sl_threshold_s": snap.service_level.within.as_secs_f64(),
            "sl_target": snap.service_level.share,
            "short_abandon_s": snap.short_abandon.as_secs_f64(),
            "interval": window(&snap.interval, Some(self.calendar.interval.as_secs() / 60)),
            "today": window(&snap.today, None),
            "live": {
                "waiting": snap.waiting,
                "longest_wait_s": snap.longest_wait.as_secs_f64(),
                "callbacks_pending": snap.callbacks_pending,
                "agents": {
                    "logged_out": a.logged_out,
                    "available": a.available,
                    "ringing": a.ringing,
                    "reserved": a.reserved,
                    "busy": a.busy,
                    "wrap_up": a.wrap_up,
                    "paused": a.paused,
                    "unreachable": a.unreachable,
                },
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::acd_actor::AcdActor;

    /// The HTTP API may answer before the actor's task first runs: the board already lists
    /// every configured queue and agent when the actor is made (a configured agent was a
    /// 404 for that moment, seen under load in ops_api).
    #[test]
    fn the_board_lists_every_queue_and_agent_before_the_actor_runs() {
        let (actor, cfg, dir) = AcdActor::for_test("board");
        let board = actor.board();
        let board = board.read().unwrap();
        let names = |part: &str, key: &str| -> Vec<String> {
            board[part]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v[key].as_str().map(String::from))
                .collect()
        };
        let agents = names("agents", "agent");
        assert_eq!(agents.len(), cfg.users.len(), "{agents:?}");
        assert!(agents.contains(&"1001".to_string()));
        assert_eq!(names("queues", "queue").len(), cfg.queues.len());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
