//! Time to protect and to unprotect a 20 ms G.711 packet (172 bytes of RTP), one core.
//! `cargo run --release -p switchboard-srtp --example srtp_throughput`

use std::time::Instant;

use switchboard_srtp::{MasterKey, SrtpContext, Suite};

fn main() {
    const N: u32 = 200_000;
    let key = MasterKey::new([3; 16], [5; 14]);
    let mut tx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key);
    let mut rx = SrtpContext::new(Suite::AesCm128HmacSha1_80, &key);
    let mut packets = Vec::with_capacity(N as usize);
    let mut buf = [0u8; 192];
    let t = Instant::now();
    for i in 0..N {
        buf[..12].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7]);
        buf[2..4].copy_from_slice(&(i as u16).to_be_bytes());
        buf[12..172].fill(0xd5);
        let n = tx.protect_rtp(&mut buf, 172).expect("protect");
        if i < 60_000 {
            packets.push(buf[..n].to_vec());
        }
    }
    let protect = t.elapsed() / N;
    let m = packets.len() as u32;
    let t = Instant::now();
    for p in &mut packets {
        rx.unprotect_rtp(p).expect("unprotect");
    }
    let unprotect = t.elapsed() / m;
    println!(
        "AES_CM_128_HMAC_SHA1_80, 172-byte RTP: protect {protect:?}/packet, unprotect {unprotect:?}/packet \
         (one call leg sends and receives 50 packets/s)"
    );
}
