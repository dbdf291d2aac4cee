//! Payload value types of the outbound campaign events (`campaign.*`, `survey.answer`).

use serde::{Deserialize, Serialize};

words!(
    /// How one campaign attempt ended (the same words as `switchboard_campaign::Outcome`).
    CampaignOutcome {
        /// A person answered (for agent campaigns: and reached an agent).
        Answered = "answered",
        /// Busy (486/600); retried.
        Busy = "busy",
        /// Rang out, 408, 480 or 487; retried.
        NoAnswer = "no_answer",
        /// An answering machine picked up.
        Machine = "machine",
        /// Answered with no agent free; retried.
        Abandoned = "abandoned",
        /// No trunk could take the call; retried without using an attempt.
        NoTrunk = "no_trunk",
        /// The server stopped during the call; retried without using an attempt.
        Interrupted = "interrupted",
        /// Another final failure (404, 603, ...).
        Failed = "failed",
        /// The dial policy refused the number (a `call.refused` event says why).
        Refused = "refused",
    }
);

words!(
    /// A campaign's run state.
    CampaignState {
        /// Defined, not started.
        Created = "created",
        /// Placing calls.
        Running = "running",
        /// No new calls until started again.
        Paused = "paused",
        /// Stopped by an operator.
        Stopped = "stopped",
        /// Every row is done.
        Finished = "finished",
    }
);

words!(
    /// What a row ended as, in a `campaign.result`.
    CampaignRowStatus {
        /// Waiting for its next attempt (`next_at`).
        Pending = "pending",
        /// Finished with this attempt's outcome.
        Done = "done",
        /// Out of attempts.
        Exhausted = "exhausted",
    }
);
