//! Which sources the inbound SIP queue serves first (decision 0046, spoofed many-source
//! floods): the source addresses of current registrations and the configured trunks'
//! addresses. A flood from a thousand forged addresses is a thousand unknown sources; the
//! queue serves these known ones before them and keeps a quarter of its room for them
//! (`switchboard_transport::PriorityClass`).
//!
//! The registered sources are recomputed when the location table changes (its generation
//! moves: a binding added, refreshed, removed or expired), checked once per turn of the
//! driver's loop; a REGISTER that fails authentication changes nothing. The trunks' are
//! set once at start.

use std::net::IpAddr;
use std::time::SystemTime;

use switchboard_transport::PriorityClass;

use super::SipDriver;

impl SipDriver {
    /// Tells the inbound queue the trunks' addresses: trusted trunks (any transport, per
    /// entry, inbound `[[trunks]]`) and every `[[trunks]]` peer we send to.
    pub(super) fn publish_trunk_sources(&self) {
        let mut ips: Vec<IpAddr> = self.trust.addresses().collect();
        ips.extend(self.trunks.specs.iter().map(|s| s.address.ip()));
        ips.sort();
        ips.dedup();
        tracing::debug!(
            trunks = ips.len(),
            "inbound SIP queue: trunk addresses served first"
        );
        self.transport
            .set_priority_sources(PriorityClass::Trunks, ips);
    }

    /// Tells the inbound queue the current registrations' source addresses, when the
    /// location table changed since the last time.
    pub(super) fn sync_registered_sources(&mut self) {
        let generation = self.location.generation();
        if self.priority_generation == Some(generation) {
            return;
        }
        self.priority_generation = Some(generation);
        let now = SystemTime::now();
        let mut ips: Vec<IpAddr> = self
            .location
            .export()
            .into_iter()
            .filter(|(_, b)| b.expires_at > now)
            .map(|(_, b)| b.source.ip())
            .collect();
        ips.sort();
        ips.dedup();
        self.transport
            .set_priority_sources(PriorityClass::Registered, ips);
    }
}
