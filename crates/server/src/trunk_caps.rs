//! Transaction caps of their own for the carriers' addresses (issue #12 item 4, session 9):
//! a configured trunk sends far more than any phone, so the per-source caps sized for
//! unknown sources (`limits.transactions_per_source`, `limits.transaction_bytes_per_source`)
//! and the budget they share (`limits.transaction_bytes`) would answer a busy carrier with
//! 503s. Each trunk's address IP gets `switchboard_sip::SourceCaps` instead, from its
//! `[[trunks]] max_transactions` / `transaction_bytes` or defaults sized from its
//! `calls_per_second`; the addresses trusted by `sip.trusted_trunks` and
//! `[[sip.trunk_trust]]` get the defaults of a trunk without limits. Everything stays
//! bounded: the table then holds at most the shared caps plus the sum of these.
//!
//! Not here: which requests a trunk may send (`trunk_trust`), its call limits
//! (`trunk_config`, `switchboard_trunk`).

use std::collections::HashMap;
use std::net::IpAddr;

use anyhow::bail;
use switchboard_sip::SourceCaps;

use crate::config::Config;

/// The most live transactions one address's caps may reach (the shared table's default
/// size), and the most bytes.
pub(crate) const MAX_TRANSACTIONS: usize = 65_536;
pub(crate) const MAX_BYTES: usize = 1 << 30;
/// The least bytes a trunk's own cap may be set to.
const MIN_BYTES: usize = 64 << 10;

/// Transactions one call leaves behind for 32 s (INVITE, BYE, and room for a re-INVITE or
/// UPDATE and an OPTIONS probe), times those 32 s: the default cap per call per second.
const PER_CALL_PER_SECOND: f64 = 4.0 * 32.0;

/// Without a `calls_per_second` limit a trunk gets this many times an unknown source's
/// caps.
const UNLIMITED_FACTOR: usize = 16;

/// Checks a `[[trunks]]` entry's `max_transactions` / `transaction_bytes`.
pub(crate) fn validate(
    max_transactions: Option<usize>,
    transaction_bytes: Option<usize>,
) -> anyhow::Result<()> {
    if let Some(n) = max_transactions {
        if !(1..=MAX_TRANSACTIONS).contains(&n) {
            bail!("max_transactions must be 1..={MAX_TRANSACTIONS}, not {n}");
        }
    }
    if let Some(b) = transaction_bytes {
        if !(MIN_BYTES..=MAX_BYTES).contains(&b) {
            bail!("transaction_bytes must be {MIN_BYTES}..={MAX_BYTES}, not {b}");
        }
    }
    Ok(())
}

/// One trunk's caps: as configured, or sized from its call rate (`calls_per_second` x
/// 128 transactions, else 16 x `limits.transactions_per_source`; at least an unknown
/// source's cap, at most 65,536), bytes in proportion to an unknown source's
/// (`transaction_bytes_per_source / transactions_per_source` each, 4 KiB by default; at
/// least `transaction_bytes_per_source`, at most 1 GiB).
pub(crate) fn trunk_caps(
    cfg: &Config,
    calls_per_second: Option<f64>,
    max_transactions: Option<usize>,
    transaction_bytes: Option<usize>,
) -> SourceCaps {
    let l = &cfg.limits;
    let per_source = l.transactions_per_source.max(1);
    let count = max_transactions.unwrap_or_else(|| {
        let sized = match calls_per_second {
            Some(cps) => (cps * PER_CALL_PER_SECOND).ceil() as usize,
            None => per_source.saturating_mul(UNLIMITED_FACTOR),
        };
        sized.min(MAX_TRANSACTIONS).max(per_source)
    });
    let bytes = transaction_bytes.unwrap_or_else(|| {
        let each = (l.transaction_bytes_per_source / per_source).max(1);
        count
            .saturating_mul(each)
            .min(MAX_BYTES)
            .max(l.transaction_bytes_per_source)
    });
    SourceCaps {
        max_transactions: count,
        max_bytes: bytes,
    }
}

/// The caps of every trunk source: each `[[trunks]]` address IP (several trunks on one IP
/// add up), then the trusted addresses no `[[trunks]]` entry names.
pub(crate) fn source_caps(cfg: &Config) -> HashMap<IpAddr, SourceCaps> {
    let mut caps: HashMap<IpAddr, SourceCaps> = HashMap::new();
    for t in &cfg.trunk_specs {
        let own = trunk_caps(
            cfg,
            t.limits.calls_per_second,
            t.max_transactions,
            t.transaction_bytes,
        );
        caps.entry(t.address.ip())
            .and_modify(|c| {
                c.max_transactions =
                    (c.max_transactions + own.max_transactions).min(MAX_TRANSACTIONS);
                c.max_bytes = c.max_bytes.saturating_add(own.max_bytes).min(MAX_BYTES);
            })
            .or_insert(own);
    }
    let trusted = cfg
        .sip
        .trusted_trunks
        .iter()
        .copied()
        .chain(cfg.sip.trunk_trust.iter().map(|e| e.address));
    for ip in trusted {
        caps.entry(ip)
            .or_insert_with(|| trunk_caps(cfg, None, None, None));
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, text: &str) -> anyhow::Result<Config> {
        let dir = std::env::temp_dir().join(format!("sb-trunk-caps-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let p = dir.join(format!("{name}.toml"));
        std::fs::write(&p, text).expect("write");
        Config::load(Some(&p))
    }

    fn cfg(name: &str, text: &str) -> Config {
        load(name, text).expect("config loads")
    }

    #[test]
    fn defaults_follow_the_call_rate_and_stay_bounded() {
        let c = cfg("defaults", "");
        // No limit: 16 x the per-source caps (2,048 transactions, 8 MiB).
        let free = trunk_caps(&c, None, None, None);
        assert_eq!(free.max_transactions, 32_768);
        assert_eq!(free.max_bytes, 128 << 20);
        // 100 calls/s: 12,800 transactions of 4 KiB.
        let hundred = trunk_caps(&c, Some(100.0), None, None);
        assert_eq!(hundred.max_transactions, 12_800);
        assert_eq!(hundred.max_bytes, 12_800 * 4096);
        // A slow trunk keeps at least an unknown source's caps; a fast one at most 65,536.
        let slow = trunk_caps(&c, Some(1.0), None, None);
        assert_eq!(slow.max_transactions, 2048);
        assert_eq!(slow.max_bytes, 8 << 20);
        let fast = trunk_caps(&c, Some(5_000.0), None, None);
        assert_eq!(fast.max_transactions, MAX_TRANSACTIONS);
        assert_eq!(fast.max_bytes, 256 << 20);
        // Configured values win.
        let set = trunk_caps(&c, Some(100.0), Some(500), Some(1 << 20));
        assert_eq!((set.max_transactions, set.max_bytes), (500, 1 << 20));
    }

    #[test]
    fn every_trunk_address_gets_caps_and_shared_addresses_add_up() {
        let c = cfg(
            "shared",
            "[sip]\ntrusted_trunks = [\"192.0.2.9\"]\n\
             [[trunks]]\nname = \"a\"\naddress = \"192.0.2.1:5060\"\ncalls_per_second = 10\n\
             [[trunks]]\nname = \"b\"\naddress = \"192.0.2.1:5070\"\nmax_transactions = 100\n\
             transaction_bytes = 1048576\n\
             [[trunks]]\nname = \"c\"\naddress = \"192.0.2.2:5060\"\n",
        );
        let caps = source_caps(&c);
        let one = caps[&"192.0.2.1".parse::<IpAddr>().expect("ip")];
        assert_eq!(one.max_transactions, 2048 + 100);
        assert_eq!(one.max_bytes, (8 << 20) + (1 << 20));
        assert_eq!(
            caps[&"192.0.2.2".parse::<IpAddr>().expect("ip")].max_transactions,
            32_768
        );
        assert_eq!(
            caps[&"192.0.2.9".parse::<IpAddr>().expect("ip")].max_transactions,
            32_768
        );
        assert_eq!(caps.len(), 3);
    }

    #[test]
    fn out_of_range_caps_are_refused_at_load() {
        let err = load(
            "zero",
            "[[trunks]]\nname = \"a\"\naddress = \"192.0.2.1:5060\"\nmax_transactions = 0\n",
        )
        .expect_err("refused");
        assert!(
            format!("{err:#}").contains("max_transactions must be"),
            "{err:#}"
        );
        let err = load(
            "tiny",
            "[[trunks]]\nname = \"a\"\naddress = \"192.0.2.1:5060\"\ntransaction_bytes = 10\n",
        )
        .expect_err("refused");
        assert!(
            format!("{err:#}").contains("transaction_bytes must be"),
            "{err:#}"
        );
    }
}
