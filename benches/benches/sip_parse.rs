//! SIP message layer: parse and serialize a typical INVITE with SDP and a REGISTER.
//! `cargo bench -p switchboard-benches --bench sip_parse`; throughput is in messages/s.
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use switchboard_sip_message::{parse_datagram, parse_stream, Limits, Message};

const INVITE: &[u8] = b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP pc33.atlanta.example.com:5060;branch=z9hG4bK776asdhds;rport\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n\
Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n\
CSeq: 314159 INVITE\r\n\
Contact: <sip:alice@pc33.atlanta.example.com;transport=udp>\r\n\
Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, REFER, NOTIFY, UPDATE\r\n\
Supported: replaces, timer\r\n\
Session-Expires: 1800;refresher=uac\r\n\
User-Agent: switchboard-bench/0.1\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 212\r\n\
\r\n\
v=0\r\n\
o=alice 2890844526 2890844526 IN IP4 pc33.atlanta.example.com\r\n\
s=-\r\n\
c=IN IP4 192.0.2.101\r\n\
t=0 0\r\n\
m=audio 49172 RTP/AVP 0 8 101\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

const REGISTER: &[u8] = b"REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP bobspc.biloxi.example.com:5060;branch=z9hG4bKnashds7\r\n\
Max-Forwards: 70\r\n\
To: Bob <sip:bob@biloxi.example.com>\r\n\
From: Bob <sip:bob@biloxi.example.com>;tag=456248\r\n\
Call-ID: 843817637684230@998sdasdh09\r\n\
CSeq: 1826 REGISTER\r\n\
Contact: <sip:bob@192.0.2.4>;expires=3600\r\n\
Authorization: Digest username=\"bob\", realm=\"biloxi.example.com\", nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", uri=\"sip:registrar.biloxi.example.com\", response=\"6629fae49393a05397450978507c4ef1\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"0a4f113b\"\r\n\
Expires: 3600\r\n\
Content-Length: 0\r\n\
\r\n";

fn bench(c: &mut Criterion) {
    let limits = Limits::default();
    assert!(parse_datagram(INVITE, &limits).is_ok());
    assert!(parse_datagram(REGISTER, &limits).is_ok());
    let mut g = c.benchmark_group("sip_parse");
    g.throughput(Throughput::Elements(1));
    g.bench_function("invite_parse", |b| {
        b.iter(|| parse_datagram(black_box(INVITE), &limits))
    });
    g.bench_function("invite_parse_serialize", |b| {
        b.iter(|| {
            let m = parse_datagram(black_box(INVITE), &limits).expect("parses");
            m.to_bytes()
        })
    });
    g.bench_function("invite_parse_typed_serialize", |b| {
        b.iter(|| {
            let m = parse_datagram(black_box(INVITE), &limits).expect("parses");
            let h = m.headers();
            let typed = (h.top_via(), h.from(), h.to(), h.cseq(), h.contacts());
            black_box(&typed);
            m.to_bytes()
        })
    });
    g.bench_function("invite_stream_parse", |b| {
        b.iter(|| parse_stream(black_box(INVITE), &limits))
    });
    g.bench_function("register_parse_serialize", |b| {
        b.iter(|| {
            let m: Message = parse_datagram(black_box(REGISTER), &limits).expect("parses");
            m.to_bytes()
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
